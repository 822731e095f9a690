{ test_binding — the UTcpServer unit against the real library: layout check, start on port 0,
  echo through GetIOMem/PostSend, the link and worker records as the original program reads
  them, OnConnect refusal, an exception in OnReceive (logged, link closed, server keeps
  serving), StopTcpServer refused inside a callback, stop from the main thread while a handler
  waits in TThread.Synchronize, thread create/exit pairing, stop/start, errors and misc calls;
  the API 1.1 flat calls: link ids, broadcast-except, pause/resume, queued bytes, the default
  server's handle.
  Prints "N passed, M failed"; exits non-zero on any failure. }
program test_binding;

{$IFDEF FPC}{$mode delphi}{$ENDIF}

uses
  {$IFDEF UNIX}cthreads,{$ENDIF}
  SysUtils, Classes, UTcpServer, TestSupport;

type
  ETestThrow = class(Exception);

  { Holds the method a handler runs on the main thread through TThread.Synchronize. }
  TMainThreadWork = class
  public
    procedure Run;
    procedure Queued;
  end;

var
  WorkerMarker, ServerMarker: Integer; { their addresses are the thread Data values }
  Refuse: Boolean = False;
  LogLock: TRTLCriticalSection;
  LogText: String = '';
  ThrowLogLevel: Integer = -1;

  Connects, Receives, Disconnects, ThreadCreates, ThreadExits, BadExitData: Integer;
  LastConnectId: UInt64;
  LastRemoteIP, LastRemoteIPText: String;
  LastRemotePort: Cardinal;
  LastLinkCount: PtrUInt;          { Link^.Data used as a per-link receive counter }
  LastWorkerDataOk: Boolean;
  LastCloseReason: Integer = -1;
  StopInCallbackResult: Boolean = True;
  StopInCallbackError: Integer = -1;
  InSync: Boolean = False;
  SyncRan: Boolean = False;
  QueuedRan: Boolean = False;
  MainWork: TMainThreadWork;

procedure TMainThreadWork.Run;
begin
  SyncRan := GetCurrentThreadId = MainThreadID;
end;

procedure TMainThreadWork.Queued;
begin
  QueuedRan := GetCurrentThreadId = MainThreadID;
end;

{ ---- Callbacks with the original signatures -------------------------------------------- }

function OnWorkerThreadCreate(IsWorkerThread: Boolean): Pointer;
begin
  InterLockedIncrement(ThreadCreates);
  Result := @WorkerMarker;
end;

function OnServerThreadCreate(IsWorkerThread: Boolean): Pointer;
begin
  InterLockedIncrement(ThreadCreates);
  Result := @ServerMarker;
end;

procedure OnThreadExit(IsWorkerThread: Boolean; Data: Pointer);
begin
  if (IsWorkerThread and (Data <> @WorkerMarker)) or
     (not IsWorkerThread and (Data <> @ServerMarker)) then
    InterLockedIncrement(BadExitData);
  InterLockedIncrement(ThreadExits);
end;

function OnConnect(Link: PLink): Boolean;
begin
  LastConnectId := Link^.Id;
  InterLockedIncrement(Connects);
  Result := not Refuse;
end;

function StartsWith(Buf: PByte; Len: Integer; const Word: AnsiString): Boolean;
begin
  Result := (Len >= Length(Word)) and CompareMem(Buf, PAnsiChar(Word), Length(Word));
end;

function Echo(Link: PLink; Buf: PByte; Len: Integer): Boolean;
var
  Mem: Pointer;
begin
  Result := True;
  Mem := GetIOMem;
  if Mem = nil then
    Exit;
  Move(Buf^, Mem^, Len);
  if not PostSend(Link, Mem, Len) then
    FreeIOMem(Mem);
end;

function OnReceive(Link: PLink; Buf: PByte; Len: Integer): Boolean;
begin
  InterLockedIncrement(Receives);
  if StartsWith(Buf, Len, 'THROW') then
    raise ETestThrow.Create('thrown on purpose by the test');
  if StartsWith(Buf, Len, 'STOP') then
  begin
    StopInCallbackResult := StopTcpServer;
    StopInCallbackError := GetLastErrorCode;
  end
  else if StartsWith(Buf, Len, 'SYNC') then
  begin
    InSync := True;
    TThread.Queue(nil, MainWork.Queued);
    TThread.Synchronize(nil, MainWork.Run); { waits for the main thread }
  end
  else
  begin
    { What an original program reads from the records. }
    Link^.Data := Pointer(PtrUInt(Link^.Data) + 1);
    LastLinkCount := PtrUInt(Link^.Data);
    LastRemoteIP := Link^.RemoteIP;
    LastRemoteIPText := LinkRemoteIP(Link);
    LastRemotePort := Link^.RemotePort;
    LastWorkerDataOk := (Link^.Worker <> nil) and (Link^.Worker^.Data = @WorkerMarker);
  end;
  Result := Echo(Link, Buf, Len);
end;

procedure OnDisconnect(Link: PLink);
begin
  LastCloseReason := Link^.CloseReason;
  InterLockedIncrement(Disconnects);
end;

procedure OnLog(Level: Integer; const Text: String);
begin
  EnterCriticalSection(LogLock);
  try
    LogText := LogText + Text + LineEnding;
    if Pos('ETestThrow', Text) > 0 then
      ThrowLogLevel := Level;
  finally
    LeaveCriticalSection(LogLock);
  end;
end;

function LogContains(const Part: String): Boolean;
begin
  EnterCriticalSection(LogLock);
  try
    Result := Pos(Part, LogText) > 0;
  finally
    LeaveCriticalSection(LogLock);
  end;
end;

{ ---- Conditions for WaitUntil ----------------------------------------------------------- }

var
  ExpectedDisconnects: Integer;

function DisconnectsReached: Boolean;
begin
  Result := Disconnects >= ExpectedDisconnects;
end;

function ThrowLogged: Boolean;
begin
  Result := LogContains('ETestThrow') and LogContains('thrown on purpose by the test');
end;

function HandlerInSync: Boolean;
begin
  Result := InSync;
end;

{ ---- The tests ------------------------------------------------------------------------- }

{ One client: connect, send, expect the echo, close, and wait for the link's OnDisconnect, so
  that the next test starts with no callback of this one still on its way. }
function EchoRoundTrip(const Text: AnsiString): Boolean;
var
  Client: TTestClient;
begin
  Client := TTestClient.Create;
  try
    Result := Client.Connect(GetServerPort) and Client.SendText(Text) and
      (Client.Receive(Length(Text)) = Text);
    ExpectedDisconnects := Disconnects + 1;
  finally
    Client.Free;
  end;
  Result := Result and WaitUntil(DisconnectsReached);
end;

procedure TestStartErrors;
begin
  Check(CheckTcpServerLibrary = '', 'the library matches the binding''s record layout: ' +
    CheckTcpServerLibrary);
  Check(Pos('TcpLink.size: library 999', CompareAbiLayout(StringReplace(GetAbiLayout,
    'TcpLink.size=', 'TcpLink.size=999;x=', []), GetVersion)) > 0,
    'a record size that differs is reported');
  Check(Pos('TcpWorker.Data: library 8', CompareAbiLayout(StringReplace(GetAbiLayout,
    'TcpWorker.Data=0', 'TcpWorker.Data=8', []), GetVersion)) > 0,
    'a field offset that differs is reported');
  Check(Pos('major version', CompareAbiLayout(GetAbiLayout, 20000)) > 0,
    'another major version is reported');
  Check(Pos('lacks TcpLink.Id', CompareAbiLayout('version=10000;ptr=8', GetVersion)) > 0,
    'a layout text without the records is reported');
  Check(GetVersion div 10000 = TCPSERVER_VERSION_MAJOR, 'GetVersion major is ' +
    IntToStr(TCPSERVER_VERSION_MAJOR));
  Check(GetVersionText <> '', 'GetVersionText: ' + GetVersionText);
  Check(not StartTcpServer('not-an-ip', 0), 'StartTcpServer refuses a bad IP');
  Check(GetLastErrorCode = TS_ERR_BAD_ADDRESS, 'the error code is TS_ERR_BAD_ADDRESS');
  Check(Pos('not-an-ip', GetLastErrorText) > 0, 'the error text names the bad IP: ' +
    GetLastErrorText);
  Check(not IsTcpServerActive, 'a failed start leaves the server stopped');
end;

procedure TestEcho;
var
  Client: TTestClient;
  Before: Integer;
begin
  Check(StartTcpServer('127.0.0.1', 0), 'StartTcpServer(''127.0.0.1'', 0) succeeds');
  Check(IsTcpServerActive, 'IsTcpServerActive after the start');
  Check(GetServerPort > 0, 'GetServerPort tells the ephemeral port: ' + IntToStr(GetServerPort));
  Check(GetWorkerCount = 2, 'two workers, as set with TS_OPT_WORKER_THREADS');
  Before := Connects;
  Client := TTestClient.Create;
  try
    Check(Client.Connect(GetServerPort), 'a client connects');
    Check(Client.SendText('hello pascal') and (Client.Receive(12) = 'hello pascal'),
      'echo round trip through GetIOMem/PostSend');
    Check(Client.SendText('again') and (Client.Receive(5) = 'again'), 'a second round trip');
    Check(Connects = Before + 1, 'OnConnect ran once for the link');
    Check(LastLinkCount = 2, 'Link^.Data keeps what the application stored between receives');
    Check(LastRemoteIP = '127.0.0.1', 'Link^.RemoteIP reads as a string: ' + LastRemoteIP);
    Check(LastRemoteIPText = '127.0.0.1', 'LinkRemoteIP(Link)');
    Check(LastRemotePort = Client.LocalPort, 'Link^.RemotePort is the client''s port');
    Check(LastWorkerDataOk, 'Link^.Worker^.Data is what OnWorkerThreadCreate returned');
    ExpectedDisconnects := Disconnects + 1;
    Client.Close;
    Check(WaitUntil(DisconnectsReached), 'OnDisconnect follows the client''s close');
    Check(LastCloseReason = TS_CLOSE_PEER_CLOSED, 'CloseReason is TS_CLOSE_PEER_CLOSED');
  finally
    Client.Free;
  end;
end;

procedure TestRefusal;
var
  Client: TTestClient;
  Refused: Int64;
  DisconnectsBefore, ReceivesBefore: Integer;
begin
  Refused := GetServerCounter(TS_COUNTER_REFUSED);
  DisconnectsBefore := Disconnects;
  ReceivesBefore := Receives;
  Refuse := True;
  Client := TTestClient.Create;
  try
    Client.Connect(GetServerPort);
    Client.SendText('refused?');
    Check(Client.WaitClosed, 'OnConnect returning False closes the connection');
  finally
    Client.Free;
    Refuse := False;
  end;
  Check(GetServerCounter(TS_COUNTER_REFUSED) = Refused + 1, 'TS_COUNTER_REFUSED counts it');
  Check((Disconnects = DisconnectsBefore) and (Receives = ReceivesBefore),
    'a refused link gets no OnReceive and no OnDisconnect');
  Check(EchoRoundTrip('after refusal'), 'links are accepted again once OnConnect says True');
end;

procedure TestException;
var
  Client: TTestClient;
begin
  Client := TTestClient.Create;
  try
    ExpectedDisconnects := Disconnects + 1; { before the send: the close may be quick }
    Check(Client.Connect(GetServerPort) and Client.SendText('THROW'#10),
      'a client asks the handler to raise');
    Check(Client.WaitClosed, 'an exception in OnReceive closes the link');
    Check(WaitUntil(DisconnectsReached), 'the link still gets its OnDisconnect');
    Check(LastCloseReason = TS_CLOSE_BY_APP, 'CloseReason is TS_CLOSE_BY_APP');
    Check(WaitUntil(ThrowLogged), 'the exception''s class and message are logged');
    Check(ThrowLogLevel = TS_LOG_ERROR, 'at TS_LOG_ERROR (seen at the default log level)');
  finally
    Client.Free;
  end;
  Check(EchoRoundTrip('still serving'), 'the server keeps serving after the exception');
end;

procedure TestStopInCallback;
begin
  Check(EchoRoundTrip('STOP'), 'a handler calls StopTcpServer (the link is still served)');
  Check(not StopInCallbackResult, 'StopTcpServer inside a callback returns False');
  Check(StopInCallbackError = TS_ERR_IN_CALLBACK, 'with TS_ERR_IN_CALLBACK');
  Check(IsTcpServerActive, 'and the server keeps running');
end;

procedure TestSetEventProcWhileRunning;
begin
  SetEventProc(nil, nil, nil, nil, nil);
  Check(GetLastErrorCode = TS_ERR_ALREADY_ACTIVE,
    'SetEventProc while running is refused (TS_ERR_ALREADY_ACTIVE)');
  Check(EchoRoundTrip('handlers unchanged') and (LastRemoteIP = '127.0.0.1'),
    'and the running handlers stay in place');
end;

procedure TestMiscCalls;
var
  Ticks: Cardinal;
  Min, Max: Int64;
begin
  SetServerOption(TS_OPT_LOG_LEVEL, TS_LOG_INFO); { WriteLog lines are TS_LOG_INFO }
  WriteLog('a line from WriteLog ' + IntToStr(GetServerPort));
  SetServerOption(TS_OPT_LOG_LEVEL, TS_LOG_WARN);
  Check(LogContains('a line from WriteLog ' + IntToStr(GetServerPort)),
    'WriteLog reaches the log procedure');
  Check(GetLocalIP(False) <> '', 'GetLocalIP(False): ' + GetLocalIP(False));
  Check(GetWorkerID(1) <> 0, 'GetWorkerID(1) is a thread id');
  Ticks := High(Cardinal);
  Check((GetWorkerExecInfo(1, Ticks) >= 0) and (Ticks <> High(Cardinal)),
    'GetWorkerExecInfo(1, TickCount) fills TickCount');
  Check((GetLinkUse >= 0) and (GetIOMemUse >= 0) and (GetIOMemFree > 0),
    'GetLinkUse / GetIOMemUse / GetIOMemFree');
  Check(GetServerCounter(TS_COUNTER_ACCEPTS) >= 5, 'GetServerCounter(TS_COUNTER_ACCEPTS)');
  Check(GetServerOptionRange(TS_OPT_MAX_LINKS, Min, Max) and (Min >= 1) and (Max >= 3000),
    'GetServerOptionRange(TS_OPT_MAX_LINKS)');
  Check(GetCloseReasonText(TS_CLOSE_PEER_CLOSED) <> '', 'GetCloseReasonText: ' +
    GetCloseReasonText(TS_CLOSE_PEER_CLOSED));
  Check(not FreeIOMem(@Min) and (GetLastErrorCode = TS_ERR_NOT_A_BUFFER),
    'FreeIOMem of a foreign pointer fails with TS_ERR_NOT_A_BUFFER');
end;

var
  ExpectedConnects: Integer;

function ConnectsReached: Boolean;
begin
  Result := Connects >= ExpectedConnects;
end;

{ Connects Client and returns its link's id, learnt from OnConnect (0 on failure). }
function ConnectAndLearnId(Client: TTestClient): UInt64;
begin
  Result := 0;
  ExpectedConnects := Connects + 1;
  if Client.Connect(GetServerPort) and WaitUntil(ConnectsReached) then
    Result := LastConnectId;
end;

procedure TestApi11FlatCalls;
var
  A, B: TTestClient;
  IdA, IdB: UInt64;
  Ids: TLinkIdArray;
  Raw: array[0..7] of UInt64;
begin
  Check(GetDefaultTcpServer <> nil, 'GetDefaultTcpServer');
  Check((TcpServerGetContext(GetDefaultTcpServer) = nil) and
    TcpServerIsActive(GetDefaultTcpServer) and
    (TcpServerGetPort(GetDefaultTcpServer) = GetServerPort),
    'it is the server the flat API drives (Context nil, same port)');
  A := TTestClient.Create;
  B := TTestClient.Create;
  try
    IdA := ConnectAndLearnId(A);
    IdB := ConnectAndLearnId(B);
    Ids := GetLinkIdList;
    Check((Length(Ids) = 2) and (((Ids[0] = IdA) and (Ids[1] = IdB)) or
      ((Ids[0] = IdB) and (Ids[1] = IdA))), 'GetLinkIdList: the two open links');
    Check((GetLinkIds(nil, 0) = 2) and (GetLinkIds(@Raw[0], 1) = 2) and
      ((Raw[0] = IdA) or (Raw[0] = IdB)),
      'GetLinkIds returns the count and fills what fits');
    Check(PostBroadcastExcept(PAnsiChar('not A'), 5, IdA) = 1, 'PostBroadcastExcept');
    Check((B.Receive(5) = 'not A') and (A.Receive(1, 200) = ''),
      'reaches every link but the excepted one');
    Check(PauseReceiveById(IdA) and A.SendText('held'), 'PauseReceiveById');
    Check(A.Receive(4, 300) = '', 'a paused link is not read (no echo)');
    Check(ResumeReceiveById(IdA) and (A.Receive(4) = 'held'),
      'ResumeReceiveById: the held bytes are read and echoed');
    Check(GetSendQueueBytesById(IdA) = 0, 'GetSendQueueBytesById of an idle link is 0');
    Check((GetSendQueueBytesById(0) = -1) and not PauseReceiveById(0),
      'id 0 is refused (-1, False)');
    ExpectedDisconnects := Disconnects + 2;
  finally
    A.Free;
    B.Free;
  end;
  Check(WaitUntil(DisconnectsReached), 'both links close');
end;

procedure TestStopWhileHandlerSynchronizes;
var
  Client: TTestClient;
  Started: QWord;
  Stopped: Boolean;
begin
  Client := TTestClient.Create;
  try
    Check(Client.Connect(GetServerPort) and Client.SendText('SYNC'),
      'a handler calls TThread.Synchronize');
    { Deliberately no CheckSynchronize here: the handler stays blocked until the stop. }
    Check(WaitUntil(HandlerInSync), 'the handler is waiting for the main thread');
    Started := GetTickCount64;
    Stopped := StopTcpServer;
    Check(Stopped, Format('StopTcpServer from the main thread returns True (%d ms)',
      [GetTickCount64 - Started]));
    Check(SyncRan, 'the synchronized method ran on the main thread during the stop');
    Check(QueuedRan, 'a method queued with TThread.Queue ran by the time the stop returned');
    Check(LastCloseReason = TS_CLOSE_SERVER_STOP, 'the link closed with TS_CLOSE_SERVER_STOP');
    Check(not IsTcpServerActive and (GetServerPort = 0), 'the server is stopped');
    Check(Client.WaitClosed, 'the client sees the connection closed');
  finally
    Client.Free;
  end;
  Check(ThreadCreates = ThreadExits, Format('every engine thread that started ended (%d/%d)',
    [ThreadCreates, ThreadExits]));
  Check(BadExitData = 0, 'OnThreadExit got what OnXxxThreadCreate returned');
end;

procedure TestRestart;
begin
  Check(StartTcpServer('127.0.0.1', 0), 'a second StartTcpServer works after the stop');
  Check(EchoRoundTrip('second life'), 'echo after the restart');
  Check(StopTcpServer, 'StopTcpServer again');
  Check(StopTcpServer, 'StopTcpServer when stopped is harmless');
end;

begin
  InitCriticalSection(LogLock);
  MainWork := TMainThreadWork.Create;
  SetLogProc(OnLog);
  SetServerOption(TS_OPT_WORKER_THREADS, 2);
  SetServerOption(TS_OPT_IDLE_TIMEOUT_MS, 0);
  SetEventProc(OnReceive, OnDisconnect, nil, OnServerThreadCreate, OnWorkerThreadCreate);
  SetConnectProc(OnConnect);
  SetThreadExitProc(OnThreadExit);
  try
    TestStartErrors;
    TestEcho;
    TestRefusal;
    TestException;
    TestStopInCallback;
    TestSetEventProcWhileRunning;
    TestMiscCalls;
    TestApi11FlatCalls;
    TestStopWhileHandlerSynchronizes;
    TestRestart;
  except
    on E: Exception do
      Check(False, 'unexpected ' + E.ClassName + ': ' + E.Message);
  end;
  StopTcpServer;
  SetLogProc(nil);
  MainWork.Free;
  DoneCriticalSection(LogLock);
  Summary;
end.
