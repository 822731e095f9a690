{ TcpServerClass — a component-style TTcpServer over UTcpServer: "of object" events,
  properties for the options, Start/Stop that raise ETcpServerError on failure.

  The engine's API is flat, so one TTcpServer runs at a time in a process (starting a second
  raises). Options and events are taken at Start; an option never set keeps the engine's
  current value. Events run on engine threads (see UTcpServer); an exception raised by one is
  logged and closes the link. }
unit TcpServerClass;

{$IFDEF FPC}{$mode delphi}{$ENDIF}

interface

uses
  SysUtils, UTcpServer;

type
  TTcpServer = class;

  { Accept starts True; set it False to refuse the link (no other event follows for it). }
  TTcpConnectEvent = procedure(Sender: TTcpServer; Link: PLink; var Accept: Boolean) of object;
  { Buf is valid only during the call. KeepLink starts True; False closes the link after the
    pending sends. }
  TTcpReceiveEvent = procedure(Sender: TTcpServer; Link: PLink; Buf: PByte; Len: Integer;
    var KeepLink: Boolean) of object;
  { OnDisconnect and OnIdle: Link^.CloseReason says why. The link is gone after the call. }
  TTcpLinkEvent = procedure(Sender: TTcpServer; Link: PLink) of object;
  { Runs on the new thread; Data becomes its Worker^.Data. }
  TTcpThreadCreateEvent = procedure(Sender: TTcpServer; IsWorkerThread: Boolean;
    var Data: Pointer) of object;
  TTcpThreadExitEvent = procedure(Sender: TTcpServer; IsWorkerThread: Boolean;
    Data: Pointer) of object;
  TTcpLogEvent = procedure(Sender: TTcpServer; Level: Integer; const Text: String) of object;

  TTcpServer = class
  private
    FOptions: array[TS_OPT_MAX_LINKS..TS_OPT_LOG_LEVEL] of Int64; { -1: keep the engine's }
    FOnConnect: TTcpConnectEvent;
    FOnReceive: TTcpReceiveEvent;
    FOnDisconnect: TTcpLinkEvent;
    FOnIdle: TTcpLinkEvent;
    FOnThreadCreate: TTcpThreadCreateEvent;
    FOnThreadExit: TTcpThreadExitEvent;
    FOnLog: TTcpLogEvent;
    function GetOption(Option: Integer): Int64;
    procedure SetOption(Option: Integer; Value: Int64);
    function GetFlag(Option: Integer): Boolean;
    procedure SetFlag(Option: Integer; Value: Boolean);
    function GetActive: Boolean;
    function GetPort: Cardinal;
    procedure ApplyOptions;
  public
    constructor Create;
    { Stops the server if this instance runs it. }
    destructor Destroy; override;
    { Bind Ip ('' = all interfaces) and Port (0 = ephemeral, see Port) and serve. }
    procedure Start(const Ip: String; Port: Cardinal);
    { Idempotent. Raises from inside an event (it would deadlock). }
    procedure Stop;
    { Copies Len bytes (any length) and queues them; False if nothing could be queued. }
    function Send(Link: PLink; Buf: Pointer; Len: Integer): Boolean;
    function SendText(Link: PLink; const Text: AnsiString): Boolean;
    { Safe from any thread at any time: the id of a closed link is simply refused. }
    function SendById(LinkId: UInt64; Buf: Pointer; Len: Integer): Boolean;
    { To every open link; returns how many. }
    function Broadcast(Buf: Pointer; Len: Integer): Integer;
    { Pending sends flush first unless Abort. }
    function CloseLink(Link: PLink; Abort: Boolean = False): Boolean;
    function CloseLinkById(LinkId: UInt64; Abort: Boolean = False): Boolean;
    { A TS_COUNTER_* total. }
    function Counter(Which: Integer): Int64;

    property Active: Boolean read GetActive;
    { The bound port while running, else 0. }
    property Port: Cardinal read GetPort;

    property MaxLinks: Int64 index TS_OPT_MAX_LINKS read GetOption write SetOption;
    property IoBufferSize: Int64 index TS_OPT_IO_BUFFER_SIZE read GetOption write SetOption;
    property IoBufferCount: Int64 index TS_OPT_IO_BUFFER_COUNT read GetOption write SetOption;
    property IdleTimeoutMs: Int64 index TS_OPT_IDLE_TIMEOUT_MS read GetOption write SetOption;
    property WorkerThreads: Int64 index TS_OPT_WORKER_THREADS read GetOption write SetOption;
    property ListenBacklog: Int64 index TS_OPT_LISTEN_BACKLOG read GetOption write SetOption;
    property SendQueueLimit: Int64 index TS_OPT_SEND_QUEUE_LIMIT read GetOption write SetOption;
    property SendQueuePolicy: Int64 index TS_OPT_SEND_QUEUE_POLICY read GetOption write SetOption;
    property NoDelay: Boolean index TS_OPT_TCP_NODELAY read GetFlag write SetFlag;
    property KeepAlive: Boolean index TS_OPT_KEEPALIVE read GetFlag write SetFlag;
    property ReusePort: Boolean index TS_OPT_REUSEPORT read GetFlag write SetFlag;
    property ReuseAddr: Boolean index TS_OPT_REUSEADDR read GetFlag write SetFlag;
    property LogLevel: Int64 index TS_OPT_LOG_LEVEL read GetOption write SetOption;

    property OnConnect: TTcpConnectEvent read FOnConnect write FOnConnect;
    property OnReceive: TTcpReceiveEvent read FOnReceive write FOnReceive;
    property OnDisconnect: TTcpLinkEvent read FOnDisconnect write FOnDisconnect;
    property OnIdle: TTcpLinkEvent read FOnIdle write FOnIdle;
    property OnThreadCreate: TTcpThreadCreateEvent read FOnThreadCreate write FOnThreadCreate;
    property OnThreadExit: TTcpThreadExitEvent read FOnThreadExit write FOnThreadExit;
    property OnLog: TTcpLogEvent read FOnLog write FOnLog;
  end;

implementation

var
  { The instance the engine serves: set before StartTcpServer, cleared after the stop. }
  Running: TTcpServer = nil;

{ ---- Plain procedures handed to UTcpServer (which catches what the events raise) ---------- }

function DoConnect(Link: PLink): Boolean;
begin
  Result := True;
  Running.FOnConnect(Running, Link, Result);
end;

function DoReceive(Link: PLink; Buf: PByte; Len: Integer): Boolean;
begin
  Result := True;
  Running.FOnReceive(Running, Link, Buf, Len, Result);
end;

procedure DoDisconnect(Link: PLink);
begin
  Running.FOnDisconnect(Running, Link);
end;

procedure DoIdle(Link: PLink);
begin
  Running.FOnIdle(Running, Link);
end;

function DoThreadCreate(IsWorkerThread: Boolean): Pointer;
begin
  Result := nil;
  Running.FOnThreadCreate(Running, IsWorkerThread, Result);
end;

procedure DoThreadExit(IsWorkerThread: Boolean; Data: Pointer);
begin
  Running.FOnThreadExit(Running, IsWorkerThread, Data);
end;

procedure DoLog(Level: Integer; const Text: String);
begin
  if Running <> nil then
    Running.FOnLog(Running, Level, Text);
end;

procedure RaiseLastError(const What: String);
begin
  raise ETcpServerError.CreateFmt('%s: %s (error %d)', [What, GetLastErrorText, GetLastErrorCode]);
end;

{ ---- TTcpServer ------------------------------------------------------------------------- }

constructor TTcpServer.Create;
var
  Option: Integer;
begin
  inherited Create;
  for Option := Low(FOptions) to High(FOptions) do
    FOptions[Option] := -1;
end;

destructor TTcpServer.Destroy;
begin
  if Running = Self then
    Stop;
  inherited Destroy;
end;

function TTcpServer.GetOption(Option: Integer): Int64;
begin
  Result := FOptions[Option];
  if Result < 0 then
    Result := GetServerOption(Option);
end;

procedure TTcpServer.SetOption(Option: Integer; Value: Int64);
begin
  if Value < 0 then
    raise ETcpServerError.CreateFmt('option %d: %d is negative', [Option, Value]);
  FOptions[Option] := Value;
  if Option = TS_OPT_LOG_LEVEL then { the one option the engine applies at once }
    SetServerOption(Option, Value);
end;

function TTcpServer.GetFlag(Option: Integer): Boolean;
begin
  Result := GetOption(Option) <> 0;
end;

procedure TTcpServer.SetFlag(Option: Integer; Value: Boolean);
begin
  SetOption(Option, Ord(Value));
end;

function TTcpServer.GetActive: Boolean;
begin
  Result := (Running = Self) and IsTcpServerActive;
end;

function TTcpServer.GetPort: Cardinal;
begin
  Result := 0;
  if GetActive then
    Result := GetServerPort;
end;

procedure TTcpServer.ApplyOptions;
var
  Option: Integer;
begin
  for Option := Low(FOptions) to High(FOptions) do
    if (FOptions[Option] >= 0) and not SetServerOption(Option, FOptions[Option]) then
      RaiseLastError(Format('TTcpServer: option %d = %d', [Option, FOptions[Option]]));
end;

procedure TTcpServer.Start(const Ip: String; Port: Cardinal);
var
  Receive: TOnReceiveEvt;
  Disconnect: TOnDisconnectEvt;
  Idle: TOnLinkIdleOvertimeEvt;
  ThreadCreate: TOnThreadCreateEvt;
  ThreadExit: TOnThreadExitEvt;
  Connect: TOnConnectEvt;
begin
  if Running = Self then
    raise ETcpServerError.Create('TTcpServer.Start: this server is already running');
  if Running <> nil then
    raise ETcpServerError.Create('TTcpServer.Start: another TTcpServer is running; the ' +
      'engine serves one server per process');
  ApplyOptions;
  { An event left unassigned stays nil for the engine, which then does its default: echo for
    OnReceive, OnDisconnect for idle links, accept every link. }
  Receive := nil;
  Disconnect := nil;
  Idle := nil;
  ThreadCreate := nil;
  ThreadExit := nil;
  Connect := nil;
  if Assigned(FOnReceive) then Receive := DoReceive;
  if Assigned(FOnDisconnect) then Disconnect := DoDisconnect;
  if Assigned(FOnIdle) then Idle := DoIdle;
  if Assigned(FOnThreadCreate) then ThreadCreate := DoThreadCreate;
  if Assigned(FOnThreadExit) then ThreadExit := DoThreadExit;
  if Assigned(FOnConnect) then Connect := DoConnect;
  Running := Self;
  try
    SetEventProc(Receive, Disconnect, Idle, ThreadCreate, ThreadCreate);
    SetConnectProc(Connect);
    SetThreadExitProc(ThreadExit);
    if Assigned(FOnLog) then
      SetLogProc(DoLog);
    if not StartTcpServer(Ip, Port) then
      RaiseLastError(Format('TTcpServer.Start(''%s'', %d)', [Ip, Port]));
  except
    if Assigned(FOnLog) then
      SetLogProc(nil);
    Running := nil;
    raise;
  end;
end;

procedure TTcpServer.Stop;
begin
  if Running <> Self then
    Exit;
  if not StopTcpServer then
    RaiseLastError('TTcpServer.Stop');
  if Assigned(FOnLog) then
    SetLogProc(nil);
  Running := nil;
end;

function TTcpServer.Send(Link: PLink; Buf: Pointer; Len: Integer): Boolean;
begin
  Result := SendBuffer(Link, Buf, Len);
end;

function TTcpServer.SendText(Link: PLink; const Text: AnsiString): Boolean;
begin
  Result := SendBuffer(Link, PAnsiChar(Text), Length(Text));
end;

function TTcpServer.SendById(LinkId: UInt64; Buf: Pointer; Len: Integer): Boolean;
begin
  Result := SendBufferById(LinkId, Buf, Len);
end;

function TTcpServer.Broadcast(Buf: Pointer; Len: Integer): Integer;
begin
  Result := PostBroadcast(Buf, Len);
end;

function TTcpServer.CloseLink(Link: PLink; Abort: Boolean): Boolean;
const
  Flags: array[Boolean] of Integer = (0, TS_CLOSE_FLAG_ABORT);
begin
  Result := CloseLinkEx(Link, Flags[Abort]);
end;

function TTcpServer.CloseLinkById(LinkId: UInt64; Abort: Boolean): Boolean;
const
  Flags: array[Boolean] of Integer = (0, TS_CLOSE_FLAG_ABORT);
begin
  Result := CloseLinkByIdEx(LinkId, Flags[Abort]);
end;

function TTcpServer.Counter(Which: Integer): Int64;
begin
  Result := GetServerCounter(Which);
end;

end.
