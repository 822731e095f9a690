{ conformance_server — the conformance server of tests/conformance/PROTOCOL.md, on the Pascal
  binding: the first server through UTcpServer's flat (original) API with plain procedures,
  the second one (--second-server) as a TTcpServer instance (TcpServerClass), which owns a
  server of the handle-based family.

  Echoes everything. A chunk (with --framing 1: a message) ending in #10 can be a command:
  BCAST, BCASTX, STATS, CLOSE, THROW (raises in the handler: the binding logs it and closes
  the link), REFUSE ON|OFF, ID, LINKS, PAUSE, RESUME, QUEUED, FLOOD, TLS. Standard input:
  "stats", "stats2", "stop2", and "quit" or end of input. With --tls-cert the first server
  speaks TLS: one SetTlsCertificateFile call and the option, as a program written for the
  original unit would gain it.

  Run: conformance_server_pascal [--port N] [--ip TEXT] [--idle-ms N] [--max-links N]
       [--workers N] [--buffer-size N] [--buffer-count N] [--framing N] [--max-message N]
       [--send-queue-limit N] [--send-queue-policy N] [--keepalive-idle N]
       [--keepalive-interval N] [--keepalive-count N] [--ipv6-only N] [--memory-budget N]
       [--send-high-water N] [--message-timeout-ms N] [--max-links-per-address N]
       [--accept-rate N] [--tls-cert FILE [--tls-key FILE] [--tls-password TEXT]]
       [--tls-min-version N] [--tls-client-cert N] [--tls-handshake-timeout-ms N]
       [--tls-max-handshakes N] [--tls-session-tickets N] [--second-server] }
program conformance_server;

{$IFDEF FPC}{$mode delphi}{$ENDIF}

uses
  {$IFDEF UNIX}cthreads,{$ENDIF}
  SysUtils, UTcpServer, TcpServerClass;

type
  EThrowRequested = class(Exception);

  { One server of the sample and what the sample counts for it. Instance is nil for the
    first server, which goes through the flat API. }
  TSampleServer = class
  private
    FRefuse: Boolean;
    FDisconnects: Integer;
    FIdle: Integer;
    FClosed: array[TS_CLOSE_PEER_CLOSED..TS_CLOSE_TLS_NO_CLOSE_NOTIFY] of Integer;
    procedure CountClose(Link: PLink);
    function Counter(Which: Integer): Int64;
    function Broadcast(Buf: Pointer; Len: Integer; ExceptLinkId: UInt64): Integer;
    function LinkIdsLine: AnsiString;
  public
    Instance: TTcpServer;
    function Receive(Link: PLink; Buf: PByte; Len: Integer): Boolean;
    function StatsLine(const Name: String): AnsiString;
    { The events of the second server (TTcpServer), routed to the same logic. }
    procedure HandleConnect(Sender: TTcpServer; Link: PLink; var Accept: Boolean);
    procedure HandleReceive(Sender: TTcpServer; Link: PLink; Buf: PByte; Len: Integer;
      var KeepLink: Boolean);
    procedure HandleDisconnect(Sender: TTcpServer; Link: PLink);
    procedure HandleIdle(Sender: TTcpServer; Link: PLink);
    property Disconnects: Integer read FDisconnects;
    property Idle: Integer read FIdle;
  end;

var
  First, Second: TSampleServer;

{ ---- What both servers share ----------------------------------------------------------- }

procedure TSampleServer.CountClose(Link: PLink);
begin
  if (Link^.CloseReason >= Low(FClosed)) and (Link^.CloseReason <= High(FClosed)) then
    InterLockedIncrement(FClosed[Link^.CloseReason]);
end;

function TSampleServer.Counter(Which: Integer): Int64;
begin
  if Instance = nil then
    Result := GetServerCounter(Which)
  else
    Result := Instance.Counter(Which);
end;

function TSampleServer.Broadcast(Buf: Pointer; Len: Integer; ExceptLinkId: UInt64): Integer;
begin
  if Instance <> nil then
    Result := Instance.BroadcastExcept(Buf, Len, ExceptLinkId)
  else if ExceptLinkId = 0 then
    Result := PostBroadcast(Buf, Len)
  else
    Result := PostBroadcastExcept(Buf, Len, ExceptLinkId);
end;

function TSampleServer.LinkIdsLine: AnsiString;
var
  Ids: TLinkIdArray;
  i: Integer;
begin
  if Instance = nil then
    Ids := GetLinkIdList
  else
    Ids := Instance.LinkIds;
  Result := 'LINKS';
  for i := 0 to High(Ids) do
    Result := Result + ' ' + AnsiString(IntToStr(Ids[i]));
end;

function TSampleServer.StatsLine(const Name: String): AnsiString;
var
  LinkCount, IoMemFree, Workers, Disconnects, Idles: Integer;
  IoMemCount: Int64;
  Reason: Integer;
  Closed: String;
begin
  { The counts before the reasons: a close is counted by reason first (CountClose), so a
    client that saw disconnects=n finds the n reasons too. }
  Disconnects := InterLockedExchangeAdd(FDisconnects, 0);
  Idles := InterLockedExchangeAdd(FIdle, 0);
  if Instance = nil then
  begin
    LinkCount := GetLinkCount;
    IoMemFree := GetIOMemFree;
    IoMemCount := GetServerOption(TS_OPT_IO_BUFFER_COUNT);
    Workers := GetWorkerCount;
  end
  else
  begin
    LinkCount := Instance.LinkCount;
    IoMemFree := Instance.IoMemFree;
    IoMemCount := Instance.IoBufferCount;
    Workers := Instance.WorkerCount;
  end;
  Closed := '';
  for Reason := Low(FClosed) to High(FClosed) do
    Closed := Closed + Format(' closed_%d=%d', [Reason, FClosed[Reason]]);
  Result := AnsiString(Format('%s links=%d accepts=%d refused=%d closed=%d idle_closed=%d ' +
    'bytes_in=%d bytes_out=%d msgs_in=%d msgs_out=%d iomem_free=%d iomem_count=%d ' +
    'workers=%d disconnects=%d idle=%d framing_errors=%d tls_handshakes=%d tls_resumed=%d ' +
    'tls_failures=%d',
    [Name, LinkCount, Counter(TS_COUNTER_ACCEPTS), Counter(TS_COUNTER_REFUSED),
     Counter(TS_COUNTER_CLOSED), Counter(TS_COUNTER_IDLE_CLOSED), Counter(TS_COUNTER_BYTES_IN),
     Counter(TS_COUNTER_BYTES_OUT), Counter(TS_COUNTER_MSGS_IN), Counter(TS_COUNTER_MSGS_OUT),
     IoMemFree, IoMemCount, Workers, Disconnects, Idles,
     Counter(TS_COUNTER_FRAMING_ERRORS), Counter(TS_COUNTER_TLS_HANDSHAKES),
     Counter(TS_COUNTER_TLS_RESUMED), Counter(TS_COUNTER_TLS_HANDSHAKE_FAILURES)]) + Closed);
end;

function IsCommand(Buf: PByte; Len: Integer; const Word: AnsiString): Boolean;
begin
  Result := (Len >= Length(Word)) and CompareMem(Buf, PAnsiChar(Word), Length(Word));
end;

{ The number after a command word, up to the #10 ending the chunk; -1 if there is none. }
function Argument(Buf: PByte; Len: Integer; const Word: AnsiString): Int64;
var
  Text: AnsiString;
begin
  SetString(Text, PAnsiChar(Buf) + Length(Word), Len - Length(Word));
  Result := StrToInt64Def(Trim(String(Text)), -1);
end;

function Reply(Link: PLink; const Text: AnsiString): Boolean;
begin
  Result := SendBuffer(Link, PAnsiChar(Text), Length(Text));
end;

function ResultLine(Done: Boolean): AnsiString;
begin
  if Done then
    Result := 'OK'#10
  else
    Result := AnsiString(Format('ERR %d'#10, [GetLastErrorCode]));
end;

{ TLS <what>: 'TLS <text>' (LinkTlsInfo), or 'ERR <code>'. }
function TlsLine(Link: PLink; What: Int64): AnsiString;
var
  Text: String;
begin
  if LinkTlsInfo(Link, Integer(What), Text) then
    Result := 'TLS ' + UTF8Encode(Text) + #10
  else
    Result := AnsiString(Format('ERR %d'#10, [GetLastErrorCode]));
end;

function Flood(Link: PLink; Count: Int64): Boolean;
var
  Data: PByte;
  Size, i: Integer;
begin
  Result := True;
  if (Count <= 0) or (Count > High(Integer)) then
    Exit;
  Size := Integer(Count);
  GetMem(Data, Size);
  try
    for i := 0 to Size - 1 do
      Data[i] := Byte(i mod 251);
    SendBuffer(Link, Data, Size); { nothing is replied when it fails }
  finally
    FreeMem(Data);
  end;
end;

function TSampleServer.Receive(Link: PLink; Buf: PByte; Len: Integer): Boolean;
begin
  { Only a chunk ending in a newline can be a command. A refused echo (queue over its
    limit) closes the link, as the C sample does. }
  Result := True;
  if (Len > 0) and (PAnsiChar(Buf)[Len - 1] = #10) then
  begin
    if IsCommand(Buf, Len, 'BCASTX ') then
      Broadcast(PAnsiChar(Buf) + 7, Len - 7, Link^.Id)
    else if IsCommand(Buf, Len, 'BCAST ') then
      Broadcast(PAnsiChar(Buf) + 6, Len - 6, 0)
    else if IsCommand(Buf, Len, 'STATS'#10) then
      Result := Reply(Link, StatsLine('STATS') + #10)
    else if IsCommand(Buf, Len, 'CLOSE'#10) then
      CloseLink(Link)
    else if IsCommand(Buf, Len, 'THROW'#10) then
      raise EThrowRequested.Create('THROW requested by the client')
    else if IsCommand(Buf, Len, 'REFUSE ') then
    begin
      FRefuse := IsCommand(Buf, Len, 'REFUSE ON'#10);
      Result := Reply(Link, 'OK'#10);
    end
    else if IsCommand(Buf, Len, 'ID'#10) then
      Result := Reply(Link, AnsiString(Format('ID %d'#10, [Link^.Id])))
    else if IsCommand(Buf, Len, 'LINKS'#10) then
      Result := Reply(Link, LinkIdsLine + #10)
    else if IsCommand(Buf, Len, 'PAUSE ') then
      Result := Reply(Link, ResultLine(PauseReceiveById(UInt64(Argument(Buf, Len, 'PAUSE ')))))
    else if IsCommand(Buf, Len, 'RESUME ') then
      Result := Reply(Link, ResultLine(ResumeReceiveById(UInt64(Argument(Buf, Len,
        'RESUME ')))))
    else if IsCommand(Buf, Len, 'QUEUED ') then
      Result := Reply(Link, AnsiString(Format('QUEUED %d'#10,
        [GetSendQueueBytesById(UInt64(Argument(Buf, Len, 'QUEUED ')))])))
    else if IsCommand(Buf, Len, 'FLOOD ') then
      Result := Flood(Link, Argument(Buf, Len, 'FLOOD '))
    else if IsCommand(Buf, Len, 'TLS ') then
      Result := Reply(Link, TlsLine(Link, Argument(Buf, Len, 'TLS ')))
    else
      Result := SendBuffer(Link, Buf, Len);
    Exit;
  end;
  Result := SendBuffer(Link, Buf, Len);
end;

procedure TSampleServer.HandleConnect(Sender: TTcpServer; Link: PLink; var Accept: Boolean);
begin
  Accept := not FRefuse;
end;

procedure TSampleServer.HandleReceive(Sender: TTcpServer; Link: PLink; Buf: PByte;
  Len: Integer; var KeepLink: Boolean);
begin
  KeepLink := Receive(Link, Buf, Len);
end;

procedure TSampleServer.HandleDisconnect(Sender: TTcpServer; Link: PLink);
begin
  CountClose(Link);
  InterLockedIncrement(FDisconnects);
end;

procedure TSampleServer.HandleIdle(Sender: TTcpServer; Link: PLink);
begin
  CountClose(Link);
  InterLockedIncrement(FIdle);
end;

{ ---- The first server's callbacks: the original signatures ---------------------------- }

function FirstConnect(Link: PLink): Boolean;
begin
  Result := not First.FRefuse;
end;

function FirstReceive(Link: PLink; Buf: PByte; Len: Integer): Boolean;
begin
  Result := First.Receive(Link, Buf, Len);
end;

procedure FirstDisconnect(Link: PLink);
begin
  First.HandleDisconnect(nil, Link);
end;

procedure FirstIdle(Link: PLink);
begin
  First.HandleIdle(nil, Link);
end;

{ ---- Command line ------------------------------------------------------------------------ }

procedure Fail(Code: Integer; const Text: String);
begin
  WriteLn(ErrOutput, 'conformance_server: ', Text);
  Halt(Code);
end;

{ The option a numeric flag sets, or 0. }
function OptionOfFlag(const Flag: String): Integer;
const
  Flags: array[0..22] of String = ('--idle-ms', '--max-links', '--workers', '--buffer-size',
    '--buffer-count', '--framing', '--max-message', '--send-queue-limit',
    '--send-queue-policy', '--keepalive-idle', '--keepalive-interval', '--keepalive-count',
    '--ipv6-only', '--memory-budget', '--send-high-water', '--message-timeout-ms',
    '--max-links-per-address', '--accept-rate', '--tls-min-version', '--tls-client-cert',
    '--tls-handshake-timeout-ms', '--tls-max-handshakes', '--tls-session-tickets');
  Options: array[0..22] of Integer = (TS_OPT_IDLE_TIMEOUT_MS, TS_OPT_MAX_LINKS,
    TS_OPT_WORKER_THREADS, TS_OPT_IO_BUFFER_SIZE, TS_OPT_IO_BUFFER_COUNT, TS_OPT_FRAMING,
    TS_OPT_MAX_MESSAGE_SIZE, TS_OPT_SEND_QUEUE_LIMIT, TS_OPT_SEND_QUEUE_POLICY,
    TS_OPT_KEEPALIVE_IDLE_S, TS_OPT_KEEPALIVE_INTERVAL_S, TS_OPT_KEEPALIVE_COUNT,
    TS_OPT_IPV6_ONLY, TS_OPT_MEMORY_BUDGET, TS_OPT_SEND_HIGH_WATER, TS_OPT_MESSAGE_TIMEOUT_MS,
    TS_OPT_MAX_LINKS_PER_ADDRESS, TS_OPT_ACCEPT_RATE, TS_OPT_TLS_MIN_VERSION,
    TS_OPT_TLS_CLIENT_CERT, TS_OPT_TLS_HANDSHAKE_TIMEOUT_MS, TS_OPT_TLS_MAX_HANDSHAKES,
    TS_OPT_TLS_SESSION_TICKETS);
var
  i: Integer;
begin
  Result := 0;
  for i := Low(Flags) to High(Flags) do
    if Flags[i] = Flag then
      Result := Options[i];
end;

procedure SetOption(const Flag: String; Option: Integer; Value: Int64);
begin
  if not SetServerOption(Option, Value) then
    Fail(2, Flag + ': ' + GetLastErrorText);
end;

{ Applies the flags to the first (default) server; True with --second-server. }
function ParseArguments(var Ip: String; var Port: Cardinal): Boolean;
var
  i, Option: Integer;
  Flag, Value, TlsCert, TlsKey, TlsPassword: String;
  Number: Int64;
begin
  Result := False;
  TlsCert := '';
  TlsKey := '';
  TlsPassword := '';
  i := 1;
  while i <= ParamCount do
  begin
    Flag := ParamStr(i);
    Inc(i);
    if Flag = '--second-server' then
    begin
      Result := True;
      Continue;
    end;
    if i > ParamCount then
      Fail(2, Flag + ' needs a value');
    Value := ParamStr(i);
    Inc(i);
    if Flag = '--ip' then
    begin
      Ip := Value;
      Continue;
    end;
    if Flag = '--tls-cert' then
      TlsCert := Value
    else if Flag = '--tls-key' then
      TlsKey := Value
    else if Flag = '--tls-password' then
      TlsPassword := Value;
    if (Flag = '--tls-cert') or (Flag = '--tls-key') or (Flag = '--tls-password') then
      Continue;
    if not TryStrToInt64(Value, Number) or (Number < 0) then
      Fail(2, Flag + ': ' + Value + ' is not a non-negative number');
    Option := OptionOfFlag(Flag);
    if Flag = '--port' then
      Port := Cardinal(Number)
    else if Option = 0 then
      Fail(2, 'unknown flag ' + Flag)
    else
    begin
      SetOption(Flag, Option, Number);
      if Pos('--keepalive-', Flag) = 1 then
        SetOption(Flag, TS_OPT_KEEPALIVE, 1);
    end;
  end;
  if TlsCert <> '' then
  begin
    { What a program written for the original unit adds to speak TLS. }
    if not SetTlsCertificateFile(TlsCert, TlsKey, TlsPassword) then
      Fail(2, '--tls-cert: ' + GetLastErrorText);
    SetOption('--tls-cert', TS_OPT_TLS, 1);
  end
  else if (TlsKey <> '') or (TlsPassword <> '') then
    Fail(2, 'the --tls-* flags need --tls-cert FILE');
end;

{ ---- The second server ------------------------------------------------------------------- }

procedure StartSecond(const Ip: String);
begin
  Second := TSampleServer.Create;
  Second.Instance := TTcpServer.Create;
  Second.Instance.OnConnect := Second.HandleConnect;
  Second.Instance.OnReceive := Second.HandleReceive;
  Second.Instance.OnDisconnect := Second.HandleDisconnect;
  Second.Instance.OnIdle := Second.HandleIdle;
  try
    Second.Instance.Start(Ip, 0);
  except
    on E: Exception do
      Fail(1, 'cannot start the second server: ' + E.Message);
  end;
end;

{ Stops (its links get OnDisconnect) and destroys the second server. }
procedure DestroySecond;
begin
  if (Second = nil) or (Second.Instance = nil) then
    Exit;
  try
    Second.Instance.Free;
  except
    on E: Exception do
      Fail(1, 'stopping the second server failed: ' + E.Message);
  end;
  Second.Instance := nil;
end;

procedure Print(const Line: String);
begin
  WriteLn(Line);
  Flush(Output);
end;

var
  Ip, Line: String;
  Port: Cardinal;
  WantSecond: Boolean;
begin
  Ip := '127.0.0.1';
  Port := 0;
  WantSecond := ParseArguments(Ip, Port);
  First := TSampleServer.Create;
  SetEventProc(FirstReceive, FirstDisconnect, FirstIdle, nil, nil);
  SetConnectProc(FirstConnect);
  try
    if not StartTcpServer(Ip, Port) then
      Fail(1, 'cannot start: ' + GetLastErrorText);
  except
    on E: Exception do
      Fail(1, 'cannot start: ' + E.Message);
  end;
  Print(Format('PORT %d', [GetServerPort]));
  if WantSecond then
  begin
    StartSecond(Ip);
    Print(Format('PORT2 %d', [Second.Instance.Port]));
  end;
  while not Eof(Input) do
  begin
    ReadLn(Input, Line);
    Line := Trim(Line);
    if Line = 'stats' then
      Print(String(First.StatsLine('STATS')))
    else if (Line = 'stats2') and (Second <> nil) and (Second.Instance <> nil) then
      Print(String(Second.StatsLine('STATS2')))
    else if (Line = 'stop2') and (Second <> nil) and (Second.Instance <> nil) then
    begin
      DestroySecond;
      Print(Format('STOPPED2 disconnects=%d', [Second.Disconnects]));
    end
    else if Line = 'quit' then
      Break;
  end;
  if not StopTcpServer then
    Fail(1, 'stop failed: ' + GetLastErrorText);
  DestroySecond;
  Print(Format('STOPPED disconnects=%d idle=%d', [First.Disconnects, First.Idle]));
  Second.Free;
  First.Free;
end.
