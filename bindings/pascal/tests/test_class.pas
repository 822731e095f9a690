{ test_class — TTcpServer (TcpServerClass) against the real library: options as properties,
  "of object" events, Start errors as ETcpServerError, echo, a send larger than one IO buffer,
  OnConnect refusal, an exception in OnReceive, OnIdle, SendById/CloseLinkById from the main
  thread, stop/start, Free stops; and since each instance owns its own server: two servers
  at once with their own events, options and counters, link ids, broadcast-except,
  pause/resume, queued bytes, a length-prefixed framing round trip and its errors, IPv6Only
  and keep-alive options, per-server statistics (links, pool, workers, service thread),
  Stop from its own event, Free while an event synchronizes.
  Prints "N passed, M failed"; exits non-zero on any failure. }
program test_class;

{$IFDEF FPC}{$mode delphi}{$ENDIF}

uses
  {$IFDEF UNIX}cthreads,{$ENDIF}
  SysUtils, Classes, UTcpServer, TcpServerClass, TestSupport;

const
  BigSize = 100000; { many IO buffers' worth: SendBuffer chains them }

type
  ETestThrow = class(Exception);

  TEvents = class
  public
    Refuse: Boolean;
    LastLinkId: UInt64;
    LastSender: TTcpServer;
    Connects, Disconnects, Idles, ThreadCreates, ThreadExits, BadThreadData: Integer;
    Receives, LastLen: Integer;
    InSync, SyncRan: Boolean;
    StopRaised: String;
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
    procedure RunOnMainThread;
    function Logged(const Part: String): Boolean;
    procedure ClearLog;
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
  LastSender := Sender;
  LastLinkId := Link^.Id;
  InterLockedIncrement(Connects);
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
  LastSender := Sender;
  LastLen := Len;
  InterLockedIncrement(Receives);
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
  if Starts(Buf, Len, 'SYNC') then
  begin
    InSync := True;
    TThread.Synchronize(nil, RunOnMainThread); { waits for the main thread }
  end;
  if Starts(Buf, Len, 'STOP') then
    try
      Sender.Stop;
    except
      on E: ETcpServerError do
        StopRaised := E.Message;
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

procedure TEvents.RunOnMainThread;
begin
  SyncRan := GetCurrentThreadId = MainThreadID;
end;

procedure TEvents.ClearLog;
begin
  EnterCriticalSection(LogLock);
  LogLines := '';
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
  Sent: Boolean;
  Error: String;
begin
  Server.Start('127.0.0.1', 0);
  Check(Server.Active and (Server.Port > 0), 'Start(''127.0.0.1'', 0): port ' +
    IntToStr(Server.Port));
  Check(TcpServerGetOption(Server.Handle, TS_OPT_WORKER_THREADS) = 2,
    'the options were applied to the instance''s server at Start');
  Check(Server.WorkerCount = 2, 'two workers run');
  Check(not IsTcpServerActive, 'the default server (the flat API''s) is not the instance''s');
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
    Sent := Server.SendById(Events.LastLinkId, PAnsiChar('x'), 1);
    Error := GetLastErrorText; { read first: Pascal may evaluate Check's arguments in any order }
    Check(not Sent and (GetLastErrorCode = TS_ERR_LINK_CLOSED),
      'a stale id is refused (TS_ERR_LINK_CLOSED): ' + Error);

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

{ ---- Several instances, each with its own server --------------------------------------- }

var
  OtherEvents: TEvents;
  Other: TTcpServer;
  ExpectedConnects: Integer;

function OtherConnectsReached: Boolean;
begin
  Result := OtherEvents.Connects >= ExpectedConnects;
end;

function OtherDisconnectsReached: Boolean;
begin
  Result := OtherEvents.Disconnects >= ExpectedDisconnects;
end;

function OtherThrowLogged: Boolean;
begin
  Result := OtherEvents.Logged('ETestThrow');
end;

function NewServer(Handlers: TEvents): TTcpServer;
begin
  Result := TTcpServer.Create;
  Result.OnConnect := Handlers.Connect;
  Result.OnReceive := Handlers.Receive;
  Result.OnDisconnect := Handlers.Disconnect;
  Result.OnIdle := Handlers.Idle;
  Result.OnLog := Handlers.Log;
end;

{ Connects Client to Other and returns the new link's id, learnt from OnConnect. }
function ConnectToOther(Client: TTestClient): UInt64;
begin
  Result := 0;
  ExpectedConnects := OtherEvents.Connects + 1;
  if Client.Connect(Other.Port) and WaitUntil(OtherConnectsReached) then
    Result := OtherEvents.LastLinkId;
end;

function Contains(const Ids: TLinkIdArray; Id: UInt64): Boolean;
var
  i: Integer;
begin
  Result := False;
  for i := 0 to High(Ids) do
    if Ids[i] = Id then
      Result := True;
end;

procedure TestTwoServersAtOnce;
var
  Client: TTestClient;
  Accepts, OtherAccepts: Int64;
  Raised: String;
begin
  Other := NewServer(OtherEvents);
  Check(Other.Handle <> Server.Handle, 'each instance has its own server handle');
  Check(TcpServerGetContext(Other.Handle) = Pointer(Other), 'whose Context is the instance');
  Other.Start('127.0.0.1', 0);
  Check(Server.Active and Other.Active and (Other.Port <> Server.Port),
    Format('a second TTcpServer runs beside the first (ports %d and %d)',
    [Server.Port, Other.Port]));
  Check((Other.IdleTimeoutMs <> 300) and (Other.WorkerThreads <> 2),
    'with its own options (the first one''s were not applied to it)');
  Raised := '';
  try
    Other.Start('127.0.0.1', 0);
  except
    on E: ETcpServerError do
      Raised := E.Message;
  end;
  Check(Pos('already running', Raised) > 0, 'starting a running instance raises: ' + Raised);

  Accepts := Server.Counter(TS_COUNTER_ACCEPTS);
  OtherAccepts := Other.Counter(TS_COUNTER_ACCEPTS);
  Client := TTestClient.Create;
  try
    Check((ConnectToOther(Client) <> 0) and Client.SendText('other echo') and
      (Client.Receive(10) = 'other echo'), 'the second server echoes through its own events');
    Check((OtherEvents.LastSender = Other) and (OtherEvents.Receives = 1) and
      (Events.LastSender <> Other), 'its events get it as Sender; the first one''s do not run');
    Check((Other.Counter(TS_COUNTER_ACCEPTS) = OtherAccepts + 1) and
      (Server.Counter(TS_COUNTER_ACCEPTS) = Accepts), 'each server counts its own accepts');
    Check((Other.LinkCount = 1) and (Length(Other.LinkIds) = 1) and
      (Other.LinkIds[0] = OtherEvents.LastLinkId), 'and lists its own links');

    Events.ClearLog;
    ExpectedDisconnects := OtherEvents.Disconnects + 1;
    Check(Client.SendText('THROW') and Client.WaitClosed and WaitUntil(OtherDisconnectsReached),
      'an exception in the second server''s handler closes that link');
    Check(WaitUntil(OtherThrowLogged), 'and is logged through the second instance''s OnLog');
    Check(not Events.Logged('ETestThrow'), 'not through the first one''s');
  finally
    Client.Free;
  end;
  Check(Roundtrip('first still serves'), 'the first server is untouched');
end;

var
  IdB: UInt64;

function NothingQueuedOnB: Boolean;
begin
  Result := Other.QueuedBytesById(IdB) = 0;
end;

procedure TestLinkControl;
var
  A, B: TTestClient;
  IdA: UInt64;
  Ids: TLinkIdArray;
  Flood: AnsiString;
  Received: Int64;
const
  FloodSize = 12 * 1024 * 1024; { far more than the socket buffers take while nobody reads }
begin
  A := TTestClient.Create;
  B := TTestClient.Create;
  try
    IdA := ConnectToOther(A);
    IdB := ConnectToOther(B);
    Ids := Other.LinkIds;
    Check((IdA <> 0) and (IdB <> 0) and (Length(Ids) = 2) and Contains(Ids, IdA) and
      Contains(Ids, IdB), 'LinkIds lists both open links');
    Check(not Contains(Server.LinkIds, IdA), 'and the other server does not');

    Check(Other.BroadcastExcept(PAnsiChar('all but A'), 9, IdA) = 1,
      'BroadcastExcept reaches one link of two');
    Check(B.Receive(9) = 'all but A', 'the other one');
    Check(A.Receive(1, 200) = '', 'not the excepted one');
    Check(Other.Broadcast(PAnsiChar('all'), 3) = 2, 'Broadcast reaches both');
    Check((A.Receive(3) = 'all') and (B.Receive(3) = 'all'), 'both get it');

    Check(Other.PauseReceiveById(IdA), 'PauseReceiveById');
    Check(Other.PauseReceiveById(IdA), 'pausing a paused link succeeds');
    Check(A.SendText('paused'), 'a paused link''s peer can still write');
    Check(A.Receive(6, 300) = '', 'but nothing of it is read (no echo while paused)');
    Check(B.SendText('B runs') and (B.Receive(6) = 'B runs'), 'the other link is unaffected');
    Check(Other.ResumeReceiveById(IdA), 'ResumeReceiveById');
    Check(A.Receive(6) = 'paused', 'the held bytes are read and echoed once resumed');

    Check(Other.QueuedBytesById(IdB) = 0, 'nothing queued on an idle link');
    Check(Other.PauseReceiveById(IdB), 'pause B so it echoes nothing while flooded');
    SetLength(Flood, FloodSize);
    FillChar(Flood[1], FloodSize, Ord('f'));
    Check(Other.SendById(IdB, @Flood[1], FloodSize), Format(
      'SendById of %d bytes to a client that does not read', [FloodSize]));
    Check(Other.QueuedBytesById(IdB) > 0, Format('QueuedBytesById shows what is waiting (%d)',
      [Other.QueuedBytesById(IdB)]));
    Received := B.Discard(FloodSize, 20000);
    Check(Received = FloodSize, Format('the client reads it all (%d bytes)', [Received]));
    Check(WaitUntil(NothingQueuedOnB), 'then nothing is queued');
    Check((Other.QueuedBytesById(UInt64(-1)) = -1) and
      not Other.PauseReceiveById(UInt64(-1)), 'an unknown id is refused (-1, False)');
  finally
    A.Free;
    B.Free;
  end;
end;

{ ---- Framing ------------------------------------------------------------------------------ }

var
  FramedEvents: TEvents;
  Framed: TTcpServer;
  ExpectedReceives: Integer;

function FramedReceivesReached: Boolean;
begin
  Result := FramedEvents.Receives >= ExpectedReceives;
end;

function FramedDisconnectsReached: Boolean;
begin
  Result := FramedEvents.Disconnects >= ExpectedDisconnects;
end;

function TooLargeLogged: Boolean;
begin
  Result := FramedEvents.Logged('TS_OPT_MAX_MESSAGE_SIZE=100000');
end;

procedure TestFraming;
var
  Client: TTestClient;
  Big, Whole, Reply: AnsiString;
  Len: Integer;
begin
  FramedEvents := TEvents.Create;
  Framed := NewServer(FramedEvents);
  try
    Framed.Framing := TS_FRAMING_LENGTH_PREFIXED;
    Framed.MaxMessageSize := 100000;
    Framed.LogLevel := TS_LOG_INFO; { the log level is process-wide: set back below }
    Check(Framed.Framing = TS_FRAMING_LENGTH_PREFIXED, 'Framing reads back');
    Framed.Start('127.0.0.1', 0);
    Check(Framed.Active and Other.Active and Server.Active, 'a third server, framed, runs too');
    Client := TTestClient.Create;
    try
      Check(Client.Connect(Framed.Port) and Client.SendText(Frame('one') + Frame('two!')),
        'two messages in one write');
      Reply := Client.ReceiveFrame;
      Reply := Reply + '|' + Client.ReceiveFrame;
      Check(Reply = 'one|two!', 'come back as two framed messages (the engine adds the ' +
        'header): ' + String(Reply));
      SetLength(Big, 50000);
      FillChar(Big[1], Length(Big), Ord('m'));
      Big[Length(Big)] := '.';
      Whole := Frame(Big);
      ExpectedReceives := FramedEvents.Receives + 1;
      Check(Client.SendText(Copy(Whole, 1, 3)) and Client.SendText(Copy(Whole, 4, 20000)) and
        Client.SendText(Copy(Whole, 20004, MaxInt)), 'a 50 kB message written in three pieces');
      Check(WaitUntil(FramedReceivesReached), 'is delivered');
      Len := FramedEvents.LastLen;
      Check(Len = Length(Big), Format('whole, in one OnReceive (%d bytes)', [Len]));
      Check(Client.ReceiveFrame = Big, 'and echoed whole');
      ExpectedReceives := FramedEvents.Receives + 1;
      Check(Client.SendText(Frame('') + Frame('after heartbeat')) and
        (Client.ReceiveFrame = 'after heartbeat') and (FramedEvents.Receives =
        ExpectedReceives), 'a zero-length message is a heartbeat, never delivered');

      ExpectedDisconnects := FramedEvents.Disconnects + 1;
      Check(Client.SendText(Frame('', 100001)) and Client.WaitClosed and
        WaitUntil(FramedDisconnectsReached), 'a header over MaxMessageSize closes the link');
      Check(FramedEvents.LastCloseReason = TS_CLOSE_FRAME_TOO_LARGE,
        'with TS_CLOSE_FRAME_TOO_LARGE');
      Check(Framed.Counter(TS_COUNTER_FRAMING_ERRORS) = 1, 'counted in FRAMING_ERRORS');
      Check(WaitUntil(TooLargeLogged), 'the library''s log line about it reaches OnLog');
      Check((Server.Counter(TS_COUNTER_FRAMING_ERRORS) = 0) and
        (Other.Counter(TS_COUNTER_FRAMING_ERRORS) = 0), 'of that server only');
    finally
      Client.Free;
    end;
  finally
    Framed.LogLevel := TS_LOG_WARN;
    Framed.Free;
    FramedEvents.Free;
  end;
  Check(Other.Active, 'freeing the framed server left the others running');
end;

{ ---- Socket options --------------------------------------------------------------------- }

var
  DualStartError: String;

{ Whether an IPv4 client reaches a server with IPv6Only started on the IPv4-mapped IPv6
  loopback address (an IPv6 socket that only IPv4 peers can reach while dual-stack; tests
  bind loopback addresses only). }
function ReachableOverIPv4(IPv6Only: Boolean): Boolean;
var
  Dual: TTcpServer;
  Client: TTestClient;
begin
  Dual := TTcpServer.Create;
  Client := TTestClient.Create;
  try
    Dual.IPv6Only := IPv6Only;
    Dual.KeepAlive := True;
    Dual.KeepAliveIdleS := 30;
    Dual.KeepAliveIntervalS := 5;
    Dual.KeepAliveCount := 3;
    try
      Dual.Start('::ffff:127.0.0.1', 0);
    except
      on E: ETcpServerError do
        DualStartError := E.Message;
    end;
    Check((TcpServerGetOption(Dual.Handle, TS_OPT_IPV6_ONLY) = Ord(IPv6Only)) and
      (TcpServerGetOption(Dual.Handle, TS_OPT_KEEPALIVE) = 1) and
      (TcpServerGetOption(Dual.Handle, TS_OPT_KEEPALIVE_IDLE_S) = 30) and
      (TcpServerGetOption(Dual.Handle, TS_OPT_KEEPALIVE_INTERVAL_S) = 5) and
      (TcpServerGetOption(Dual.Handle, TS_OPT_KEEPALIVE_COUNT) = 3),
      'IPv6Only and the keep-alive properties reach the instance''s server');
    Result := Dual.Active and Client.Connect(Dual.Port) and Client.SendText('v4') and (Client.Receive(2) = 'v4');
  finally
    Client.Free;
    Dual.Free;
  end;
end;

procedure TestIPv6Only;
var
  Reachable: Boolean;
begin
  Check(ReachableOverIPv4(False), 'an IPv6 socket with IPv6Only = False serves IPv4 clients');
  DualStartError := '';
  Reachable := ReachableOverIPv4(True);
  Check(not Reachable and (DualStartError <> ''),
    'with IPv6Only = True it does not: the socket refuses the IPv4-mapped address (' +
    DualStartError + ')');
end;

{ ---- Statistics of one server (API 1.2) --------------------------------------------------- }

var
  SmallEvents, WideEvents: TEvents;
  Small, Wide: TTcpServer; { different limits, pool and worker threads }
  ExpectedSmallConnects, ExpectedWideConnects: Integer;
  ExpectedWideExecs: Int64;

function StatsConnectsReached: Boolean;
begin
  Result := (SmallEvents.Connects >= ExpectedSmallConnects) and
    (WideEvents.Connects >= ExpectedWideConnects);
end;

{ The events every worker of Instance has run, summed; -1 if a worker could not be read. }
function WorkerExecs(Instance: TTcpServer): Int64;
var
  i, Execs: Integer;
  BusyMs: Cardinal;
begin
  Result := 0;
  for i := 1 to Instance.WorkerCount do
  begin
    Execs := Instance.WorkerExecInfo(i, BusyMs);
    if Execs < 0 then
      Exit(-1);
    Inc(Result, Execs);
  end;
end;

function WideExecsReached: Boolean;
begin
  Result := WorkerExecs(Wide) >= ExpectedWideExecs;
end;

function ServicePassesRan: Boolean;
begin
  Result := (Small.ExecCount >= 1) and (Wide.ExecCount >= 1);
end;

function NewStatsServer(Handlers: TEvents; MaxLinks, BufferCount, BufferSize,
  Workers: Integer): TTcpServer;
begin
  Result := NewServer(Handlers);
  Result.MaxLinks := MaxLinks;
  Result.IoBufferCount := BufferCount;
  Result.IoBufferSize := BufferSize;
  Result.WorkerThreads := Workers;
  Result.IdleTimeoutMs := 0; { no idle events: a server without traffic runs no event at all }
  Result.Start('127.0.0.1', 0);
end;

procedure TestStatistics;
const
  Rounds = 5;
var
  A1, A2, B1: TTestClient;
  Held: Pointer;
  SmallW1, SmallW2, WideW1: Integer;
  SmallExecs, WideExecs: Int64;
  BusyMs: Cardinal;
  i, BadIndex, BadIndexError: Integer;
  Reached: Boolean;
begin
  SmallEvents := TEvents.Create;
  WideEvents := TEvents.Create;
  Small := nil;
  Wide := nil;
  A1 := TTestClient.Create;
  A2 := TTestClient.Create;
  B1 := TTestClient.Create;
  try
    Small := NewStatsServer(SmallEvents, 4, 100, 1024, 2);
    Wide := NewStatsServer(WideEvents, 40, 200, 4096, 1);
    Check((Small.LinkFree = 4) and (Wide.LinkFree = 40),
      Format('LinkFree of each server is its own MaxLinks (%d, %d)', [Small.LinkFree,
      Wide.LinkFree]));
    Check((Small.LinkSize > 0) and (Wide.LinkSize = 10 * Small.LinkSize),
      Format('LinkSize grows with MaxLinks (%d, %d bytes)', [Small.LinkSize, Wide.LinkSize]));
    Check((Small.IoMemSize >= 100 * 1024) and (Small.IoMemSize < 100 * 4096) and
      (Wide.IoMemSize >= 200 * 4096), Format(
      'IoMemSize follows each pool''s buffer count and size (%d, %d bytes)',
      [Small.IoMemSize, Wide.IoMemSize]));

    ExpectedSmallConnects := 2;
    ExpectedWideConnects := 1;
    Check(A1.Connect(Small.Port) and A2.Connect(Small.Port) and B1.Connect(Wide.Port) and
      WaitUntil(StatsConnectsReached), 'two clients connect to the small server, one to the wide');
    Check((Small.LinkFree = 2) and (Wide.LinkFree = 39), Format(
      'LinkFree counts each server''s own links (%d, %d)', [Small.LinkFree, Wide.LinkFree]));
    Check((Small.LinkUse = 50.0) and (Wide.LinkUse = 2.5), Format(
      'LinkUse is a percentage of each MaxLinks (%g, %g)', [Small.LinkUse, Wide.LinkUse]));

    Held := TcpServerGetIOMem(Small.Handle);
    Check(Held <> nil, 'a buffer of the small server''s pool is held');
    Check((Small.IoMemUse = 1.0) and (Wide.IoMemUse = 0.0), Format(
      'IoMemUse: 1 of 100 buffers in the small pool, none in the wide one (%g, %g)',
      [Small.IoMemUse, Wide.IoMemUse]));
    Check(FreeIOMem(Held), 'the buffer is given back');

    SmallW1 := Small.WorkerId(1);
    SmallW2 := Small.WorkerId(2);
    WideW1 := Wide.WorkerId(1);
    Check((SmallW1 <> 0) and (SmallW2 <> 0) and (WideW1 <> 0) and (SmallW1 <> SmallW2) and
      (SmallW1 <> WideW1) and (SmallW2 <> WideW1), Format(
      'WorkerId: three distinct thread ids, two workers of one server, one of the other ' +
      '(%d, %d, %d)', [SmallW1, SmallW2, WideW1]));
    BadIndex := Small.WorkerId(3);
    BadIndexError := GetLastErrorCode;
    Check((BadIndex = 0) and (BadIndexError = TS_ERR_INVALID_ARGUMENT),
      'WorkerId of an index past WorkerCount is 0 (TS_ERR_INVALID_ARGUMENT)');
    BusyMs := 12345;
    BadIndex := Wide.WorkerExecInfo(2, BusyMs);
    BadIndexError := GetLastErrorCode;
    Check((BadIndex = -1) and (BadIndexError = TS_ERR_INVALID_ARGUMENT) and (BusyMs = 0),
      'WorkerExecInfo of an index past WorkerCount is -1 (TS_ERR_INVALID_ARGUMENT), ' +
      'TickCount 0');

    { Each OnConnect ran on a worker of its own server. }
    SmallExecs := WorkerExecs(Small);
    WideExecs := WorkerExecs(Wide);
    Check((SmallExecs >= 2) and (WideExecs >= 1), Format(
      'WorkerExecInfo counts each server''s connects on its own workers (%d, %d)',
      [SmallExecs, WideExecs]));
    for i := 1 to Rounds do
      Check(B1.SendText('ping') and (B1.Receive(4) = 'ping'), Format(
        'round trip %d through the wide server', [i]));
    ExpectedWideExecs := WideExecs + Rounds;
    Reached := WaitUntil(WideExecsReached); { before Format reads the figures it prints }
    Check(Reached, Format('its worker exec count grows with the traffic (%d -> %d)',
      [WideExecs, WorkerExecs(Wide)]));
    Check(WorkerExecs(Small) = SmallExecs,
      'the small server''s does not (it had no traffic)');

    Reached := WaitUntil(ServicePassesRan);
    Check(Reached, Format('ExecCount: each service thread ran (%d, %d passes)',
      [Small.ExecCount, Wide.ExecCount]));
    Check((Small.ExecLong >= 0) and (Wide.ExecLong >= 0), 'ExecLong reads (ms, not -1)');
  finally
    A1.Free;
    A2.Free;
    B1.Free;
    Small.Free;
    Wide.Free;
    SmallEvents.Free;
    WideEvents.Free;
  end;
end;

{ ---- Stop, restart, Free ----------------------------------------------------------------- }

function OtherInSync: Boolean;
begin
  Result := OtherEvents.InSync;
end;

procedure TestStopStart;
var
  Raised: Boolean;
  OldPort: Cardinal;
  Client: TTestClient;
begin
  Client := TTestClient.Create;
  try
    Check(Client.Connect(Other.Port) and Client.SendText('STOP') and (Client.Receive(4) = 'STOP'),
      'an event calls Stop on its own server');
    Check(Pos(Format('(error %d)', [TS_ERR_IN_CALLBACK]), OtherEvents.StopRaised) > 0,
      'which raises ETcpServerError (TS_ERR_IN_CALLBACK): ' + OtherEvents.StopRaised);
    Check(Other.Active, 'and the server keeps running');
    Check(Client.SendText('SYNC'), 'an event of the second server calls TThread.Synchronize');
    Check(WaitUntil(OtherInSync), 'and waits for the main thread');
  finally
    Client.Free;
  end;
  { Deliberately no CheckSynchronize here: only Free (Stop) can serve it. }
  Other.Free;
  Other := nil;
  Check(OtherEvents.SyncRan, 'Free (Stop) from the main thread served it: no deadlock');
  Check(Server.Active and Roundtrip('after other freed'),
    'freeing one instance left the other one serving');
  Server.Stop;
  Check(not Server.Active, 'Stop stops the server');
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
  OldPort := Server.Port;
  Server.Free;
  Server := nil;
  Client := TTestClient.Create;
  try
    Check(not Client.Connect(OldPort), 'Free stops the running server (its port is closed)');
  finally
    Client.Free;
  end;
end;

begin
  Events := TEvents.Create;
  OtherEvents := TEvents.Create;
  Server := NewServer(Events);
  Server.OnThreadCreate := Events.ThreadCreate;
  Server.OnThreadExit := Events.ThreadExit;
  try
    TestOptionsAndStartErrors;
    TestServing;
    TestTwoServersAtOnce;
    TestLinkControl;
    TestFraming;
    TestIPv6Only;
    TestStatistics;
    TestStopStart;
  except
    on E: Exception do
      Check(False, 'unexpected ' + E.ClassName + ': ' + E.Message);
  end;
  Other.Free;
  Server.Free;
  OtherEvents.Free;
  Events.Free;
  Summary;
end.
