{ test_class — TTcpServer (TcpServerClass) against the real library: options as properties,
  "of object" events, Start errors as ETcpServerError, echo, a send larger than one IO buffer,
  OnConnect refusal, an exception in OnReceive, OnIdle, SendById/CloseLinkById from the main
  thread, one running server per process, stop/start, Free stops.
  Prints "N passed, M failed"; exits non-zero on any failure. }
program test_class;

{$IFDEF FPC}{$mode delphi}{$ENDIF}

uses
  {$IFDEF UNIX}cthreads,{$ENDIF}
  SysUtils, UTcpServer, TcpServerClass, TestSupport;

const
  BigSize = 100000; { many IO buffers' worth: SendBuffer chains them }

type
  ETestThrow = class(Exception);

  TEvents = class
  public
    Refuse: Boolean;
    LastLinkId: UInt64;
    Connects, Disconnects, Idles, ThreadCreates, ThreadExits, BadThreadData: Integer;
    LastCloseReason: Integer;
    LogLines: String;
    LogLock: TRTLCriticalSection;
    constructor Create;
    destructor Destroy; override;
    procedure Connect(Sender: TTcpServer; Link: PLink; var Accept: Boolean);
    procedure Receive(Sender: TTcpServer; Link: PLink; Buf: PByte; Len: Integer;
      var KeepLink: Boolean);
    procedure Disconnect(Sender: TTcpServer; Link: PLink);
    procedure Idle(Sender: TTcpServer; Link: PLink);
    procedure ThreadCreate(Sender: TTcpServer; IsWorkerThread: Boolean; var Data: Pointer);
    procedure ThreadExit(Sender: TTcpServer; IsWorkerThread: Boolean; Data: Pointer);
    procedure Log(Sender: TTcpServer; Level: Integer; const Text: String);
    function Logged(const Part: String): Boolean;
  end;

var
  Events: TEvents;
  Server: TTcpServer;
  ThreadTag: Integer;

constructor TEvents.Create;
begin
  inherited Create;
  InitCriticalSection(LogLock);
  LastCloseReason := -1;
end;

destructor TEvents.Destroy;
begin
  DoneCriticalSection(LogLock);
  inherited Destroy;
end;

procedure TEvents.Connect(Sender: TTcpServer; Link: PLink; var Accept: Boolean);
begin
  InterLockedIncrement(Connects);
  LastLinkId := Link^.Id;
  Accept := not Refuse;
end;

function Starts(Buf: PByte; Len: Integer; const Word: AnsiString): Boolean;
begin
  Result := (Len >= Length(Word)) and CompareMem(Buf, PAnsiChar(Word), Length(Word));
end;

procedure TEvents.Receive(Sender: TTcpServer; Link: PLink; Buf: PByte; Len: Integer;
  var KeepLink: Boolean);
var
  Big: AnsiString;
begin
  if Starts(Buf, Len, 'THROW') then
    raise ETestThrow.Create('raised by an of-object handler');
  if Starts(Buf, Len, 'BIG') then
  begin
    SetLength(Big, BigSize);
    FillChar(Big[1], BigSize, Ord('b'));
    Big[BigSize] := '!';
    KeepLink := Sender.SendText(Link, Big);
    Exit;
  end;
  if Starts(Buf, Len, 'QUIT') then
  begin
    KeepLink := Sender.SendText(Link, 'bye') and False; { False: close after the reply }
    Exit;
  end;
  KeepLink := Sender.Send(Link, Buf, Len);
end;

procedure TEvents.Disconnect(Sender: TTcpServer; Link: PLink);
begin
  LastCloseReason := Link^.CloseReason;
  InterLockedIncrement(Disconnects);
end;

procedure TEvents.Idle(Sender: TTcpServer; Link: PLink);
begin
  LastCloseReason := Link^.CloseReason;
  InterLockedIncrement(Idles);
end;

procedure TEvents.ThreadCreate(Sender: TTcpServer; IsWorkerThread: Boolean; var Data: Pointer);
begin
  InterLockedIncrement(ThreadCreates);
  Data := @ThreadTag;
end;

procedure TEvents.ThreadExit(Sender: TTcpServer; IsWorkerThread: Boolean; Data: Pointer);
begin
  if Data <> @ThreadTag then
    InterLockedIncrement(BadThreadData);
  InterLockedIncrement(ThreadExits);
end;

procedure TEvents.Log(Sender: TTcpServer; Level: Integer; const Text: String);
begin
  EnterCriticalSection(LogLock);
  LogLines := LogLines + Text + LineEnding;
  LeaveCriticalSection(LogLock);
end;

function TEvents.Logged(const Part: String): Boolean;
begin
  EnterCriticalSection(LogLock);
  Result := Pos(Part, LogLines) > 0;
  LeaveCriticalSection(LogLock);
end;

{ ---- Conditions ------------------------------------------------------------------------ }

var
  ExpectedDisconnects, ExpectedIdles: Integer;

function DisconnectsReached: Boolean;
begin
  Result := Events.Disconnects >= ExpectedDisconnects;
end;

function IdlesReached: Boolean;
begin
  Result := Events.Idles >= ExpectedIdles;
end;

function ThrowLogged: Boolean;
begin
  Result := Events.Logged('ETestThrow') and Events.Logged('raised by an of-object handler');
end;

{ ---- Tests ----------------------------------------------------------------------------- }

{ Echo through one client, then wait for its OnDisconnect so no callback of it is still on
  its way when the next check looks at LastCloseReason. }
function Roundtrip(const Text: AnsiString): Boolean;
var
  Client: TTestClient;
begin
  Client := TTestClient.Create;
  try
    Result := Client.Connect(Server.Port) and Client.SendText(Text) and
      (Client.Receive(Length(Text)) = Text);
    ExpectedDisconnects := Events.Disconnects + 1;
  finally
    Client.Free;
  end;
  Result := Result and WaitUntil(DisconnectsReached);
end;

procedure TestOptionsAndStartErrors;
var
  Raised: String;
begin
  Check(Server.WorkerThreads >= 0, 'an option never set reads the engine''s value');
  Server.WorkerThreads := 2;
  Server.IdleTimeoutMs := 300;
  Server.NoDelay := True;
  Check((Server.WorkerThreads = 2) and (Server.IdleTimeoutMs = 300) and Server.NoDelay,
    'options read back what was set');
  Raised := '';
  try
    Server.Start('300.1.2.3', 0);
  except
    on E: ETcpServerError do
      Raised := E.Message;
  end;
  Check(Pos('300.1.2.3', Raised) > 0, 'Start with a bad IP raises ETcpServerError: ' + Raised);
  Check(not Server.Active and (Server.Port = 0), 'and leaves the server stopped');
end;

procedure TestServing;
var
  Client: TTestClient;
  Big: AnsiString;
  Refused: Int64;
begin
  Server.Start('127.0.0.1', 0);
  Check(Server.Active and (Server.Port > 0), 'Start(''127.0.0.1'', 0): port ' +
    IntToStr(Server.Port));
  Check(GetServerOption(TS_OPT_WORKER_THREADS) = 2, 'the options were applied at Start');
  Check(GetWorkerCount = 2, 'two workers run');
  Check(Roundtrip('class echo'), 'OnReceive echoes with Sender.Send');

  Client := TTestClient.Create;
  try
    Check(Client.Connect(Server.Port) and Client.SendText('BIG'), 'a client asks for 100 kB');
    Big := Client.Receive(BigSize);
    Check((Length(Big) = BigSize) and (Big[BigSize] = '!') and (Big[1] = 'b'),
      Format('a send larger than one IO buffer arrives whole (%d bytes)', [Length(Big)]));

    Check(Server.SendById(Events.LastLinkId, PAnsiChar('by id'), 5) and
      (Client.Receive(5) = 'by id'), 'SendById from the main thread reaches the link');
    ExpectedDisconnects := Events.Disconnects + 1;
    Check(Server.CloseLinkById(Events.LastLinkId), 'CloseLinkById');
    Check(Client.WaitClosed and WaitUntil(DisconnectsReached), 'closes the link');
    Check(Events.LastCloseReason = TS_CLOSE_BY_APP, 'with TS_CLOSE_BY_APP');
    Check(not Server.SendById(Events.LastLinkId, PAnsiChar('x'), 1) and
      (GetLastErrorCode = TS_ERR_LINK_CLOSED), 'a stale id is refused (TS_ERR_LINK_CLOSED)');

    ExpectedDisconnects := Events.Disconnects + 1;
    Check(Client.Connect(Server.Port) and Client.SendText('QUIT') and
      (Client.Receive(3) = 'bye') and Client.WaitClosed and WaitUntil(DisconnectsReached),
      'KeepLink := False closes the link after its reply');
  finally
    Client.Free;
  end;

  Refused := Server.Counter(TS_COUNTER_REFUSED);
  Events.Refuse := True;
  Client := TTestClient.Create;
  try
    Check(Client.Connect(Server.Port) and Client.WaitClosed,
      'OnConnect with Accept := False refuses the link');
  finally
    Client.Free;
    Events.Refuse := False;
  end;
  Check(Server.Counter(TS_COUNTER_REFUSED) = Refused + 1, 'and it is counted');

  Client := TTestClient.Create;
  try
    ExpectedDisconnects := Events.Disconnects + 1;
    Check(Client.Connect(Server.Port) and Client.SendText('THROW'#10) and Client.WaitClosed,
      'an exception in an of-object OnReceive closes the link');
    Check(WaitUntil(DisconnectsReached) and (Events.LastCloseReason = TS_CLOSE_BY_APP),
      'its OnDisconnect follows with TS_CLOSE_BY_APP');
  finally
    Client.Free;
  end;
  Check(WaitUntil(ThrowLogged), 'it is logged through OnLog with class and message');
  Check(Roundtrip('still here'), 'the server keeps serving');

  Client := TTestClient.Create;
  try
    ExpectedIdles := Events.Idles + 1;
    Check(Client.Connect(Server.Port) and WaitUntil(IdlesReached),
      'a silent link gets OnIdle after IdleTimeoutMs');
    Check(Events.LastCloseReason = TS_CLOSE_IDLE, 'with TS_CLOSE_IDLE');
    Check(Client.WaitClosed, 'and is closed');
  finally
    Client.Free;
  end;
end;

procedure TestOneServerPerProcess;
var
  Other: TTcpServer;
  Raised: String;
begin
  Other := TTcpServer.Create;
  try
    Raised := '';
    try
      Other.Start('127.0.0.1', 0);
    except
      on E: ETcpServerError do
        Raised := E.Message;
    end;
    Check(Pos('another TTcpServer is running', Raised) > 0,
      'a second TTcpServer cannot start: ' + Raised);
  finally
    Other.Free; { must not stop the running one }
  end;
  Check(Server.Active, 'freeing the other one left the running server alone');
end;

procedure TestStopStart;
var
  Raised: Boolean;
begin
  Server.Stop;
  Check(not Server.Active and not IsTcpServerActive, 'Stop stops the engine');
  Check(Events.ThreadCreates = Events.ThreadExits, Format(
    'every OnThreadCreate has its OnThreadExit (%d/%d)', [Events.ThreadCreates,
    Events.ThreadExits]));
  Check(Events.BadThreadData = 0, 'OnThreadExit gets the Data OnThreadCreate gave');
  Raised := False;
  try
    Server.Stop;
  except
    Raised := True;
  end;
  Check(not Raised and not Server.Active, 'a second Stop is harmless');
  Server.Start('127.0.0.1', 0);
  Check(Roundtrip('restarted'), 'Start after Stop serves again');
  Server.Free;
  Server := nil;
  Check(not IsTcpServerActive, 'Free stops the running server');
end;

begin
  Events := TEvents.Create;
  Server := TTcpServer.Create;
  Server.OnConnect := Events.Connect;
  Server.OnReceive := Events.Receive;
  Server.OnDisconnect := Events.Disconnect;
  Server.OnIdle := Events.Idle;
  Server.OnThreadCreate := Events.ThreadCreate;
  Server.OnThreadExit := Events.ThreadExit;
  Server.OnLog := Events.Log;
  try
    TestOptionsAndStartErrors;
    TestServing;
    TestOneServerPerProcess;
    TestStopStart;
  except
    on E: Exception do
      Check(False, 'unexpected ' + E.ClassName + ': ' + E.Message);
  end;
  Server.Free;
  Events.Free;
  Summary;
end.
