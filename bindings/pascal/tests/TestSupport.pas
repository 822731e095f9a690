{ TestSupport — what the Pascal binding tests share: named checks with a final
  "N passed, M failed" line and exit code, deadline-bounded waits, and a blocking TCP client
  whose every wait is bounded too (POSIX sockets on Linux, Winsock on Windows: the tests also
  run as win64 programs under Wine, scripts/windows/pascal.sh). }
unit TestSupport;

{$IFDEF FPC}{$mode delphi}{$ENDIF}

interface

uses
  SysUtils;

const
  DeadlineMs = 5000; { the longest any single wait may take before the check fails }

type
  TCondition = function: Boolean;
  { A socket handle: an int on Unix, a UINT_PTR on Windows (INVALID_SOCKET reads as -1). }
  TSocketHandle = {$IFDEF MSWINDOWS}PtrInt{$ELSE}Integer{$ENDIF};

  { A client connection to 127.0.0.1. }
  TTestClient = class
  private
    FSocket: TSocketHandle;
  public
    constructor Create;
    destructor Destroy; override;
    function Connect(Port: Cardinal): Boolean;
    function LocalPort: Cardinal;
    function SendText(const Text: AnsiString): Boolean;
    { Exactly Count bytes, or what arrived before the peer closed / the deadline passed. }
    function Receive(Count: Integer; TimeoutMs: Integer = DeadlineMs): AnsiString;
    { Reads until a #10 (included) or the deadline. }
    function ReceiveLine(TimeoutMs: Integer = DeadlineMs): AnsiString;
    { True when the server closed the connection (EOF or reset) before the deadline; data
      that arrives first is skipped. }
    function WaitClosed(TimeoutMs: Integer = DeadlineMs): Boolean;
    { Reads and drops Count bytes; returns how many arrived before EOF or the deadline. }
    function Discard(Count: Int64; TimeoutMs: Integer = DeadlineMs): Int64;
    { One length-prefixed message (TS_FRAMING_LENGTH_PREFIXED): its payload, or '' when
      none arrived whole before the deadline. }
    function ReceiveFrame(TimeoutMs: Integer = DeadlineMs): AnsiString;
    procedure Close;
  end;

{ Connects to the running server (port from GetServerPort), sends Text, returns what came
  back (Length(Text) bytes at most, within the deadline). For original_program, whose own
  source may use only the original interface, which cannot tell an ephemeral port. }
function EchoThroughServer(const Text: AnsiString): AnsiString;

{ Payload after its 4-byte big-endian length, as TS_FRAMING_LENGTH_PREFIXED puts it on the
  wire; Announced is the length written (Payload's own when negative). }
function Frame(const Payload: AnsiString; Announced: Int64 = -1): AnsiString;

procedure Check(Condition: Boolean; const What: String);
{ Polls Condition every few ms until it holds or TimeoutMs passes. }
function WaitUntil(Condition: TCondition; TimeoutMs: Integer = DeadlineMs): Boolean;
{ Prints "N passed, M failed" and sets ExitCode (non-zero on any failure). }
procedure Summary;
function Passed: Integer;
function Failed: Integer;

implementation

uses
  {$IFDEF MSWINDOWS}WinSock2,{$ELSE}BaseUnix,{$ENDIF} Sockets, TcpServerApi;

const
  { No SIGPIPE from a send to a closed peer (Windows has no such signal). }
  SendFlags = {$IFDEF MSWINDOWS}0{$ELSE}MSG_NOSIGNAL{$ENDIF};

var
  PassCount: Integer = 0;
  FailCount: Integer = 0;

procedure Check(Condition: Boolean; const What: String);
begin
  if Condition then
  begin
    Inc(PassCount);
    WriteLn('ok   ', What);
  end
  else
  begin
    Inc(FailCount);
    WriteLn('FAIL ', What);
  end;
  Flush(Output);
end;

function WaitUntil(Condition: TCondition; TimeoutMs: Integer): Boolean;
var
  Deadline: QWord;
begin
  Deadline := GetTickCount64 + QWord(TimeoutMs);
  repeat
    Result := Condition();
    if Result then
      Exit;
    Sleep(2);
  until GetTickCount64 > Deadline;
  Result := Condition();
end;

procedure Summary;
begin
  WriteLn(Format('%d passed, %d failed', [PassCount, FailCount]));
  if FailCount > 0 then
    ExitCode := 1;
end;

function Passed: Integer;
begin
  Result := PassCount;
end;

function Failed: Integer;
begin
  Result := FailCount;
end;

function Frame(const Payload: AnsiString; Announced: Int64): AnsiString;
var
  i: Integer;
begin
  if Announced < 0 then
    Announced := Length(Payload);
  SetLength(Result, 4);
  for i := 4 downto 1 do
  begin
    Result[i] := AnsiChar(Announced and $FF);
    Announced := Announced shr 8;
  end;
  Result := Result + Payload;
end;

function EchoThroughServer(const Text: AnsiString): AnsiString;
var
  Client: TTestClient;
begin
  Result := '';
  Client := TTestClient.Create;
  try
    if Client.Connect(GetServerPort) and Client.SendText(Text) then
      Result := Client.Receive(Length(Text));
  finally
    Client.Free;
  end;
end;

{ ---- TTestClient ---------------------------------------------------------------------- }

constructor TTestClient.Create;
begin
  inherited Create;
  FSocket := -1;
end;

destructor TTestClient.Destroy;
begin
  Close;
  inherited Destroy;
end;

function TTestClient.Connect(Port: Cardinal): Boolean;
var
  Address: TInetSockAddr;
begin
  Close;
  FSocket := fpSocket(AF_INET, SOCK_STREAM, 0);
  FillChar(Address, SizeOf(Address), 0);
  Address.sin_family := AF_INET;
  Address.sin_port := htons(Word(Port));
  Address.sin_addr := StrToNetAddr('127.0.0.1');
  Result := (FSocket >= 0) and (fpConnect(FSocket, @Address, SizeOf(Address)) = 0);
end;

function TTestClient.LocalPort: Cardinal;
var
  Address: TInetSockAddr;
  Len: TSockLen;
begin
  Len := SizeOf(Address);
  FillChar(Address, SizeOf(Address), 0);
  Result := 0;
  if fpGetSockName(FSocket, @Address, @Len) = 0 then
    Result := ntohs(Address.sin_port);
end;

function TTestClient.SendText(const Text: AnsiString): Boolean;
var
  Done, Sent: Integer;
begin
  Done := 0;
  while Done < Length(Text) do
  begin
    Sent := fpSend(FSocket, @Text[Done + 1], Length(Text) - Done, SendFlags);
    if Sent <= 0 then
      Break;
    Inc(Done, Sent);
  end;
  Result := Done = Length(Text);
end;

{ Waits for readability up to the deadline; False when it passed. }
function WaitReadable(Socket: TSocketHandle; Deadline: QWord): Boolean;
var
{$IFDEF MSWINDOWS}
  Readable: TFDSet;
  Wait: TTimeVal;
{$ELSE}
  Poll: TPollFd;
{$ENDIF}
  Now: QWord;
begin
  Now := GetTickCount64;
  Result := False;
  if Now >= Deadline then
    Exit;
{$IFDEF MSWINDOWS}
  FD_ZERO(Readable);
  FD_SET(TSocket(Socket), Readable);
  Wait.tv_sec := (Deadline - Now) div 1000;
  Wait.tv_usec := ((Deadline - Now) mod 1000) * 1000;
  Result := WinSock2.select(0, @Readable, nil, nil, @Wait) > 0;
{$ELSE}
  Poll.fd := Socket;
  Poll.events := POLLIN;
  Poll.revents := 0;
  Result := fpPoll(@Poll, 1, Integer(Deadline - Now)) > 0;
{$ENDIF}
end;

function TTestClient.Receive(Count: Integer; TimeoutMs: Integer): AnsiString;
var
  Deadline: QWord;
  Chunk: array[0..4095] of AnsiChar;
  Part: AnsiString;
  Got, Want: Integer;
begin
  Result := '';
  Deadline := GetTickCount64 + QWord(TimeoutMs);
  while (Length(Result) < Count) and WaitReadable(FSocket, Deadline) do
  begin
    Want := Count - Length(Result);
    if Want > SizeOf(Chunk) then
      Want := SizeOf(Chunk);
    Got := fpRecv(FSocket, @Chunk[0], Want, 0);
    if Got <= 0 then
      Break;
    SetString(Part, PAnsiChar(@Chunk[0]), Got); { binary-safe: Chunk may hold NUL bytes }
    Result := Result + Part;
  end;
end;

function TTestClient.ReceiveLine(TimeoutMs: Integer): AnsiString;
var
  Deadline: QWord;
  C: AnsiChar;
begin
  Result := '';
  Deadline := GetTickCount64 + QWord(TimeoutMs);
  while WaitReadable(FSocket, Deadline) do
  begin
    if fpRecv(FSocket, @C, 1, 0) <> 1 then
      Break;
    Result := Result + C;
    if C = #10 then
      Break;
  end;
end;

function TTestClient.WaitClosed(TimeoutMs: Integer): Boolean;
var
  Deadline: QWord;
  Chunk: array[0..4095] of Byte;
  Got: Integer;
begin
  Result := False;
  Deadline := GetTickCount64 + QWord(TimeoutMs);
  while WaitReadable(FSocket, Deadline) do
  begin
    Got := fpRecv(FSocket, @Chunk[0], SizeOf(Chunk), 0);
    if Got <= 0 then
    begin
      Result := True; { 0: orderly close; < 0: reset }
      Exit;
    end;
  end;
end;

function TTestClient.Discard(Count: Int64; TimeoutMs: Integer): Int64;
var
  Deadline: QWord;
  Chunk: array[0..65535] of Byte;
  Got, Want: Int64;
begin
  Result := 0;
  Deadline := GetTickCount64 + QWord(TimeoutMs);
  while (Result < Count) and WaitReadable(FSocket, Deadline) do
  begin
    Want := Count - Result;
    if Want > SizeOf(Chunk) then
      Want := SizeOf(Chunk);
    Got := fpRecv(FSocket, @Chunk[0], Want, 0);
    if Got <= 0 then
      Break;
    Inc(Result, Got);
  end;
end;

function TTestClient.ReceiveFrame(TimeoutMs: Integer): AnsiString;
var
  Header: AnsiString;
  Len, i: Integer;
begin
  Result := '';
  Header := Receive(4, TimeoutMs);
  if Length(Header) <> 4 then
    Exit;
  Len := 0;
  for i := 1 to 4 do
    Len := Len shl 8 or Ord(Header[i]);
  Result := Receive(Len, TimeoutMs);
  if Length(Result) <> Len then
    Result := '';
end;

procedure TTestClient.Close;
begin
  if FSocket >= 0 then
    CloseSocket(FSocket);
  FSocket := -1;
end;

end.
