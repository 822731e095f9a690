{ TcpServerClass — a component-style TTcpServer: "of object" events, properties for the
  options, Start/Stop that raise ETcpServerError on failure.

  Each instance owns its own server of the library's handle-based family (CreateTcpServer,
  with the instance as the Context), so any number of them run at once in a process, each
  with its own options, links, IO pool, threads and counters; none of them is the default
  server that UTcpServer's flat functions drive. Options and events are taken at Start; an
  option never set keeps the library's default for a new server. Events run on engine
  threads (see UTcpServer); an exception raised by one is logged (through the instance's
  OnLog if assigned) and closes the link.

  TLS: Tls := True and LoadCertificate (a PEM pair, a PFX, ...); the other TLS settings are
  methods (AddServerName, SetAlpn, SetClientCA, SetCiphers, SetTicketKeys) that apply at once,
  on a running server to new handshakes; TlsInfo reads a link's session. }
unit TcpServerClass;

{$IFDEF FPC}{$mode delphi}{$ENDIF}
{$IFDEF MSWINDOWS}{$DEFINE TS_STDCALL}{$ENDIF}

interface

uses
  SysUtils, UTcpServer;

type
  TTcpServer = class;

  { Accept starts True; set it False to refuse the link (no other event follows for it). }
  TTcpConnectEvent = procedure(Sender: TTcpServer; Link: PLink; var Accept: Boolean) of object;
  { Buf is valid only during the call. KeepLink starts True; False closes the link after the
    pending sends. With Framing = TS_FRAMING_LENGTH_PREFIXED, Buf is one whole message. }
  TTcpReceiveEvent = procedure(Sender: TTcpServer; Link: PLink; Buf: PByte; Len: Integer;
    var KeepLink: Boolean) of object;
  { OnDisconnect and OnIdle: Link^.CloseReason says why. The link is gone after the call. }
  TTcpLinkEvent = procedure(Sender: TTcpServer; Link: PLink) of object;
  { Runs on the new thread; Data becomes its Worker^.Data. }
  TTcpThreadCreateEvent = procedure(Sender: TTcpServer; IsWorkerThread: Boolean;
    var Data: Pointer) of object;
  TTcpThreadExitEvent = procedure(Sender: TTcpServer; IsWorkerThread: Boolean;
    Data: Pointer) of object;
  { The library's log lines while this instance runs (the log is shared by every server of
    the process), and the exceptions this instance's events raise. }
  TTcpLogEvent = procedure(Sender: TTcpServer; Level: Integer; const Text: String) of object;
  { Installs the server's callbacks (nil where no event is assigned) instead of Start, raising
    on failure: a cluster node (TcpClusterClass) that the server's events go through. }
  TTcpEventRouter = procedure(Receive: TOnReceiveEx; Disconnect: TOnDisconnectEx;
    Idle: TOnLinkIdleOvertimeEx; ThreadCreate: TOnThreadCreateEx; Connect: TOnConnectEx)
    of object;

  TTcpServer = class
  private
    FHandle: PTcpServerHandle;
    { Indexed by option number, room for every reserved range; -1: keep the library's (and
      numbers that are no option stay -1, so Start never sets them). }
    FOptions: array[TS_OPT_MAX_LINKS..63] of Int64;
    FListening: Boolean; { registered for the library's log lines }
    FOnConnect: TTcpConnectEvent;
    FOnReceive: TTcpReceiveEvent;
    FOnDisconnect: TTcpLinkEvent;
    FOnIdle: TTcpLinkEvent;
    FOnThreadCreate: TTcpThreadCreateEvent;
    FOnThreadExit: TTcpThreadExitEvent;
    FOnLog: TTcpLogEvent;
    FEventRouter: TTcpEventRouter;
    function GetActive: Boolean;
    function GetPort: Cardinal;
    procedure ApplyOptions;
    procedure ApplyEvents;
    procedure ListenToLog(Listen: Boolean);
  protected
    { Called inside the except block of an event that raised: logs the exception. }
    procedure HandlerFailed(const Event: String; Link: PLink);
  public
    { Creates the instance's server (stopped); ETcpServerError if the library cannot. }
    constructor Create;
    { Any TS_OPT_* option by number (the properties below name most of them): the value set
      on this instance, else the library's for this server. Applied at Start. }
    function GetOption(Option: Integer): Int64;
    procedure SetOption(Option: Integer; Value: Int64);
    function GetFlag(Option: Integer): Boolean;
    procedure SetFlag(Option: Integer; Value: Boolean);
    { True when SetOption gave Option a value (Start applies it), False while it keeps the
      library's. }
    function OptionIsSet(Option: Integer): Boolean;
    { Stops the server and frees it. Never from one of its own events. }
    destructor Destroy; override;
    { Bind Ip ('' = all interfaces) and Port (0 = ephemeral, see Port) and serve. }
    procedure Start(const Ip: String; Port: Cardinal);
    { Idempotent. Raises from inside one of its own events (it would wait for itself). From
      the main thread it serves TThread.Synchronize/Queue while it waits. }
    procedure Stop;
    { Copies Len bytes (any length) and queues them; False if nothing could be queued. These
      and the other link methods work for links of any server. }
    function Send(Link: PLink; Buf: Pointer; Len: Integer): Boolean;
    function SendText(Link: PLink; const Text: AnsiString): Boolean;
    { Safe from any thread at any time: the id of a closed link is simply refused. }
    function SendById(LinkId: UInt64; Buf: Pointer; Len: Integer): Boolean;
    { To every open link of this server; returns how many (-1 on error). }
    function Broadcast(Buf: Pointer; Len: Integer): Integer;
    { The same, skipping ExceptLinkId (0 = none). }
    function BroadcastExcept(Buf: Pointer; Len: Integer; ExceptLinkId: UInt64): Integer;
    { Pending sends flush first unless Abort. }
    function CloseLink(Link: PLink; Abort: Boolean = False): Boolean;
    function CloseLinkById(LinkId: UInt64; Abort: Boolean = False): Boolean;
    { Stop / restart reading a link (the peer then feels TCP backpressure); sends go on. }
    function PauseReceive(Link: PLink): Boolean;
    function ResumeReceive(Link: PLink): Boolean;
    function PauseReceiveById(LinkId: UInt64): Boolean;
    function ResumeReceiveById(LinkId: UInt64): Boolean;
    { Bytes queued on a link and not yet written to its socket; -1 on error. }
    function QueuedBytes(Link: PLink): Int64;
    function QueuedBytesById(LinkId: UInt64): Int64;
    { The ids of this server's open links. }
    function LinkIds: TLinkIdArray;
    { Statistics of this server alone (as UTcpServer's Get* functions are for the default
      server). Before the first Start, sizes and free counts follow the library's defaults,
      not the properties below: those are applied at Start. }
    function LinkCount: Integer;
    { Free link slots (MaxLinks - LinkCount). }
    function LinkFree: Integer;
    { Links in use, % of MaxLinks. }
    function LinkUse: Double;
    { Bytes of the link table. }
    function LinkSize: Int64;
    function IoMemFree: Integer;
    { Buffers in use (held by the application or in flight), % of the pool. }
    function IoMemUse: Double;
    { Bytes of the IO pool. }
    function IoMemSize: Int64;
    function WorkerCount: Integer;
    { Index is 1..WorkerCount; the worker's OS thread id, 0 for a bad Index. }
    function WorkerId(Index: Integer): Integer;
    { Events the worker has run (-1 for a bad Index); TickCount gets the ms it was busy since
      the previous call for that worker. }
    function WorkerExecInfo(Index: Integer; out TickCount: Cardinal): Integer;
    { Ms the last pass of the service thread (idle timeouts, ...) took. }
    function ExecLong: Int64;
    { Passes of the service thread so far. }
    function ExecCount: Integer;
    { A TS_COUNTER_* total of this server. }
    function Counter(Which: Integer): Int64;
    { Links this server closed with a TS_CLOSE_* reason (API 1.3). }
    function CloseCount(Reason: Integer): Int64;

    { ---- TLS (API 1.3; README "TLS"). Each call applies at once (on a running server to new
      handshakes; links already open keep theirs) and raises ETcpServerError, with what to
      fix, when the library refuses it (a refused call changes nothing). }
    { The certificate and key: CertFile holds a PEM chain (and the key when KeyFile is ''), a
      DER certificate or a PKCS#12/PFX (the key inside); Password opens an encrypted key or a
      PFX. }
    procedure LoadCertificate(const CertFile: String; const KeyFile: String = '';
      const Password: String = '');
    { The same from memory (KeyData nil: the key is in CertData). }
    procedure LoadCertificateData(const CertData: TBytes; const KeyData: TBytes = nil;
      const Password: String = '');
    { SNI: clients asking for HostPattern (a name, or '*.example.com': one label) get this
      certificate; others get LoadCertificate's. The same pattern again replaces it. }
    procedure AddServerName(const HostPattern, CertFile: String; const KeyFile: String = '';
      const Password: String = '');
    procedure AddServerNameData(const HostPattern: String; const CertData: TBytes;
      const KeyData: TBytes = nil; const Password: String = '');
    procedure RemoveServerName(const HostPattern: String);
    { ALPN protocols in order of preference (['h2', 'http/1.1']); [] turns ALPN off. A client
      offering ALPN with nothing in common is refused. }
    procedure SetAlpn(const Protocols: array of String);
    { The CAs client certificates must chain to (PEM bundle, DER or PKCS#12), for
      TlsClientCert; SetClientCAData(nil) removes them. }
    procedure SetClientCA(const CaFile: String);
    procedure SetClientCAData(const CaData: TBytes);
    { OpenSSL cipher list for TLS 1.2 and the TLS 1.3 suites; '' keeps the safe default. }
    procedure SetCiphers(const Tls12List: String; const Tls13Suites: String = '');
    { 1 to 16 session-ticket keys of 80 bytes shared by servers behind one balancer; nil: a
      new random key. }
    procedure SetTicketKeys(const Keys: TBytes);
    { A TLS fact (TS_TLS_INFO_*) of a link of this server, from OnConnect on; raises
      ETcpServerError when the link has none (not TLS, closed). }
    function TlsInfo(Link: PLink; What: Integer): String;
    { Handshakes of this server that failed for one TS_TLS_CAUSE_*. }
    function TlsFailureCount(Cause: Integer): Int64;

    { The library's handle of this instance's server, for the TcpServer* functions. }
    property Handle: PTcpServerHandle read FHandle;
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
    { TS_FRAMING_RAW or TS_FRAMING_LENGTH_PREFIXED. }
    property Framing: Int64 index TS_OPT_FRAMING read GetOption write SetOption;
    property LogLevel: Int64 index TS_OPT_LOG_LEVEL read GetOption write SetOption;
    property MaxMessageSize: Int64 index TS_OPT_MAX_MESSAGE_SIZE read GetOption write SetOption;
    { Used with KeepAlive = True. }
    property KeepAliveIdleS: Int64 index TS_OPT_KEEPALIVE_IDLE_S read GetOption write SetOption;
    property KeepAliveIntervalS: Int64 index TS_OPT_KEEPALIVE_INTERVAL_S read GetOption
      write SetOption;
    property KeepAliveCount: Int64 index TS_OPT_KEEPALIVE_COUNT read GetOption write SetOption;
    property IPv6Only: Boolean index TS_OPT_IPV6_ONLY read GetFlag write SetFlag;
    { The memory budget and the flood limits (API 1.3): bytes the server may hold for its links
      (0 = no budget); a link whose send queue reaches SendHighWater bytes is not read until it
      drains to half (0 = off); a framed message that stops growing for MessageTimeoutMs closes
      its link (0 = never); links per remote address (IPv6: per /64) and connections accepted
      per second (0 = no limit). }
    property MemoryBudget: Int64 index TS_OPT_MEMORY_BUDGET read GetOption write SetOption;
    property SendHighWater: Int64 index TS_OPT_SEND_HIGH_WATER read GetOption write SetOption;
    property MessageTimeoutMs: Int64 index TS_OPT_MESSAGE_TIMEOUT_MS read GetOption
      write SetOption;
    property MaxLinksPerAddress: Int64 index TS_OPT_MAX_LINKS_PER_ADDRESS read GetOption
      write SetOption;
    property AcceptRate: Int64 index TS_OPT_ACCEPT_RATE read GetOption write SetOption;
    { TLS (API 1.3), applied at Start: every link speaks TLS (a certificate is needed:
      LoadCertificate); the lowest version (TS_TLS_1_2, the default, or TS_TLS_1_3); client
      certificates (TS_TLS_CLIENT_CERT_NONE, _REQUEST or _REQUIRE, with SetClientCA); the
      handshake timeout and the cap on handshakes in progress; resumption with tickets. }
    property Tls: Boolean index TS_OPT_TLS read GetFlag write SetFlag;
    property TlsMinVersion: Int64 index TS_OPT_TLS_MIN_VERSION read GetOption write SetOption;
    property TlsClientCert: Int64 index TS_OPT_TLS_CLIENT_CERT read GetOption write SetOption;
    property TlsHandshakeTimeoutMs: Int64 index TS_OPT_TLS_HANDSHAKE_TIMEOUT_MS read GetOption
      write SetOption;
    property TlsMaxHandshakes: Int64 index TS_OPT_TLS_MAX_HANDSHAKES read GetOption
      write SetOption;
    property SessionTickets: Boolean index TS_OPT_TLS_SESSION_TICKETS read GetFlag
      write SetFlag;

    property OnConnect: TTcpConnectEvent read FOnConnect write FOnConnect;
    property OnReceive: TTcpReceiveEvent read FOnReceive write FOnReceive;
    property OnDisconnect: TTcpLinkEvent read FOnDisconnect write FOnDisconnect;
    property OnIdle: TTcpLinkEvent read FOnIdle write FOnIdle;
    property OnThreadCreate: TTcpThreadCreateEvent read FOnThreadCreate write FOnThreadCreate;
    property OnThreadExit: TTcpThreadExitEvent read FOnThreadExit write FOnThreadExit;
    property OnLog: TTcpLogEvent read FOnLog write FOnLog;
    { Set by a TTcpClusterNode while it exists: Start then hands it the callbacks. }
    property EventRouter: TTcpEventRouter read FEventRouter write FEventRouter;
  end;

implementation

uses
  Classes, SyncObjs;

{ ---- The library's callbacks: Context is the instance ------------------------------------ }

function DoReceive(Context: Pointer; Link: PTcpLink; Buf: PByte; Len: Integer): LongBool;
  {$IFDEF TS_STDCALL}stdcall{$ELSE}cdecl{$ENDIF};
var
  Server: TTcpServer;
  Keep: Boolean;
begin
  Server := TTcpServer(Context);
  try
    Keep := True;
    Server.FOnReceive(Server, Link, Buf, Len, Keep);
    Result := Keep;
  except
    Server.HandlerFailed('OnReceive', Link);
    Result := False; { closes the link }
  end;
end;

procedure DoDisconnect(Context: Pointer; Link: PTcpLink);
  {$IFDEF TS_STDCALL}stdcall{$ELSE}cdecl{$ENDIF};
var
  Server: TTcpServer;
begin
  Server := TTcpServer(Context);
  try
    Server.FOnDisconnect(Server, Link);
  except
    Server.HandlerFailed('OnDisconnect', Link);
  end;
end;

procedure DoIdle(Context: Pointer; Link: PTcpLink); {$IFDEF TS_STDCALL}stdcall{$ELSE}cdecl{$ENDIF};
var
  Server: TTcpServer;
begin
  Server := TTcpServer(Context);
  try
    Server.FOnIdle(Server, Link);
  except
    Server.HandlerFailed('OnIdle', Link);
  end;
end;

function DoThreadCreate(Context: Pointer; IsWorkerThread: LongBool): Pointer;
  {$IFDEF TS_STDCALL}stdcall{$ELSE}cdecl{$ENDIF};
var
  Server: TTcpServer;
begin
  Server := TTcpServer(Context);
  Result := nil;
  try
    Server.FOnThreadCreate(Server, IsWorkerThread, Result);
  except
    Server.HandlerFailed('OnThreadCreate', nil);
    Result := nil;
  end;
end;

procedure DoThreadExit(Context: Pointer; IsWorkerThread: LongBool; Data: Pointer);
  {$IFDEF TS_STDCALL}stdcall{$ELSE}cdecl{$ENDIF};
var
  Server: TTcpServer;
begin
  Server := TTcpServer(Context);
  try
    Server.FOnThreadExit(Server, IsWorkerThread, Data);
  except
    Server.HandlerFailed('OnThreadExit', nil);
  end;
end;

function DoConnect(Context: Pointer; Link: PTcpLink): LongBool;
  {$IFDEF TS_STDCALL}stdcall{$ELSE}cdecl{$ENDIF};
var
  Server: TTcpServer;
  Accept: Boolean;
begin
  Server := TTcpServer(Context);
  try
    Accept := True;
    Server.FOnConnect(Server, Link, Accept);
    Result := Accept;
  except
    Server.HandlerFailed('OnConnect', Link);
    Result := False; { refuses the link }
  end;
end;

{ ---- The library's log, shared by every server: to every running instance with OnLog ---- }

var
  LogLock: TCriticalSection;
  LogListeners: array of TTcpServer;

procedure DoLog(Level: Integer; const Text: String);
var
  i: Integer;
begin
  { Held while the events run, so an instance that stopped listening gets no more lines. }
  LogLock.Enter;
  try
    for i := 0 to High(LogListeners) do
      try
        LogListeners[i].FOnLog(LogListeners[i], Level, Text);
      except
        { a failing log handler cannot be logged: dropped }
      end;
  finally
    LogLock.Leave;
  end;
end;

procedure TTcpServer.ListenToLog(Listen: Boolean);
var
  i, Count: Integer;
begin
  if Listen = FListening then
    Exit;
  LogLock.Enter;
  try
    Count := Length(LogListeners);
    if Listen then
    begin
      SetLength(LogListeners, Count + 1);
      LogListeners[Count] := Self;
      if Count = 0 then
        SetLogProc(DoLog);
    end
    else
    begin
      for i := 0 to Count - 1 do
        if LogListeners[i] = Self then
        begin
          LogListeners[i] := LogListeners[Count - 1];
          SetLength(LogListeners, Count - 1);
          Break;
        end;
      if Length(LogListeners) = 0 then
        SetLogProc(nil);
    end;
    FListening := Listen;
  finally
    LogLock.Leave;
  end;
end;

procedure TTcpServer.HandlerFailed(const Event: String; Link: PLink);
var
  Text: String;
begin
  Text := DescribeCallbackException(Event, Link);
  if not Assigned(FOnLog) then
  begin
    ReportCallbackError(Text);
    Exit;
  end;
  try
    if TcpServerGetOption(FHandle, TS_OPT_LOG_LEVEL) <= TS_LOG_ERROR then
      FOnLog(Self, TS_LOG_ERROR, Text);
  except
    { the log handler failed too: nothing left to tell it with }
  end;
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
  FHandle := CreateTcpServer(Self);
  if FHandle = nil then
    RaiseLastError('TTcpServer.Create');
end;

destructor TTcpServer.Destroy;
begin
  if FHandle <> nil then
  begin
    Stop;
    if not DestroyTcpServer(FHandle) then
      RaiseLastError('TTcpServer.Destroy');
    FHandle := nil;
  end;
  inherited Destroy;
end;

function TTcpServer.GetOption(Option: Integer): Int64;
begin
  Result := FOptions[Option];
  if Result < 0 then
    Result := TcpServerGetOption(FHandle, Option);
end;

function TTcpServer.OptionIsSet(Option: Integer): Boolean;
begin
  Result := (Option >= Low(FOptions)) and (Option <= High(FOptions)) and (FOptions[Option] >= 0);
end;

procedure TTcpServer.SetOption(Option: Integer; Value: Int64);
begin
  if Value < 0 then
    raise ETcpServerError.CreateFmt('option %d: %d is negative', [Option, Value]);
  FOptions[Option] := Value;
  if Option = TS_OPT_LOG_LEVEL then { the one option the library applies at once }
    TcpServerSetOption(FHandle, Option, Value);
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
  Result := TcpServerIsActive(FHandle);
end;

function TTcpServer.GetPort: Cardinal;
begin
  Result := TcpServerGetPort(FHandle);
end;

procedure TTcpServer.ApplyOptions;
var
  Option: Integer;
begin
  for Option := Low(FOptions) to High(FOptions) do
    if (FOptions[Option] >= 0) and not TcpServerSetOption(FHandle, Option, FOptions[Option]) then
      RaiseLastError(Format('TTcpServer: option %d = %d', [Option, FOptions[Option]]));
end;

procedure TTcpServer.ApplyEvents;
var
  Receive: TOnReceiveEx;
  Disconnect: TOnDisconnectEx;
  Idle: TOnLinkIdleOvertimeEx;
  ThreadCreate: TOnThreadCreateEx;
  ThreadExit: TOnThreadExitEx;
  Connect: TOnConnectEx;
begin
  { An event left unassigned stays nil for the library, which then does its default: echo
    for OnReceive, OnDisconnect for idle links, accept every link. }
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
  if Assigned(FEventRouter) then
    FEventRouter(Receive, Disconnect, Idle, ThreadCreate, Connect)
  else if not TcpServerSetEventProc(FHandle, Receive, Disconnect, Idle, ThreadCreate,
      ThreadCreate) or not TcpServerSetConnectProc(FHandle, Connect) then
    RaiseLastError('TTcpServer: setting the events');
  if not TcpServerSetThreadExitProc(FHandle, ThreadExit) then
    RaiseLastError('TTcpServer: setting the events');
end;

procedure TTcpServer.Start(const Ip: String; Port: Cardinal);
begin
  if GetActive then
    raise ETcpServerError.Create('TTcpServer.Start: this server is already running');
  EnsureTcpServerUsable;
  ApplyOptions;
  ApplyEvents;
  if Assigned(FOnLog) then
    ListenToLog(True);
  if not TcpServerStart(FHandle, PAnsiChar(UTF8String(Ip)), Port) then
  begin
    ListenToLog(False);
    RaiseLastError(Format('TTcpServer.Start(''%s'', %d)', [Ip, Port]));
  end;
end;

procedure TTcpServer.Stop;
begin
  if not StopTcpServerAndWait(FHandle) then
    RaiseLastError('TTcpServer.Stop');
  ListenToLog(False);
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
  Result := TcpServerPostBroadcast(FHandle, Buf, Len, 0);
end;

function TTcpServer.BroadcastExcept(Buf: Pointer; Len: Integer; ExceptLinkId: UInt64): Integer;
begin
  Result := TcpServerPostBroadcast(FHandle, Buf, Len, ExceptLinkId);
end;

const
  CloseFlags: array[Boolean] of Integer = (0, TS_CLOSE_FLAG_ABORT);

function TTcpServer.CloseLink(Link: PLink; Abort: Boolean): Boolean;
begin
  Result := CloseLinkEx(Link, CloseFlags[Abort]);
end;

function TTcpServer.CloseLinkById(LinkId: UInt64; Abort: Boolean): Boolean;
begin
  Result := CloseLinkByIdEx(LinkId, CloseFlags[Abort]);
end;

function TTcpServer.PauseReceive(Link: PLink): Boolean;
begin
  Result := UTcpServer.PauseReceive(Link);
end;

function TTcpServer.ResumeReceive(Link: PLink): Boolean;
begin
  Result := UTcpServer.ResumeReceive(Link);
end;

function TTcpServer.PauseReceiveById(LinkId: UInt64): Boolean;
begin
  Result := UTcpServer.PauseReceiveById(LinkId);
end;

function TTcpServer.ResumeReceiveById(LinkId: UInt64): Boolean;
begin
  Result := UTcpServer.ResumeReceiveById(LinkId);
end;

function TTcpServer.QueuedBytes(Link: PLink): Int64;
begin
  Result := GetSendQueueBytes(Link);
end;

function TTcpServer.QueuedBytesById(LinkId: UInt64): Int64;
begin
  Result := GetSendQueueBytesById(LinkId);
end;

function TTcpServer.LinkIds: TLinkIdArray;
begin
  Result := GetLinkIdList(FHandle);
end;

function TTcpServer.LinkCount: Integer;
begin
  Result := TcpServerGetLinkCount(FHandle);
end;

function TTcpServer.LinkFree: Integer;
begin
  Result := TcpServerGetLinkFree(FHandle);
end;

function TTcpServer.LinkUse: Double;
begin
  Result := TcpServerGetLinkUse(FHandle);
end;

function TTcpServer.LinkSize: Int64;
begin
  Result := TcpServerGetLinkSize(FHandle);
end;

function TTcpServer.IoMemFree: Integer;
begin
  Result := TcpServerGetIOMemFree(FHandle);
end;

function TTcpServer.IoMemUse: Double;
begin
  Result := TcpServerGetIOMemUse(FHandle);
end;

function TTcpServer.IoMemSize: Int64;
begin
  Result := TcpServerGetIOMemSize(FHandle);
end;

function TTcpServer.WorkerCount: Integer;
begin
  Result := TcpServerGetWorkerCount(FHandle);
end;

function TTcpServer.WorkerId(Index: Integer): Integer;
begin
  Result := TcpServerGetWorkerID(FHandle, Index);
end;

function TTcpServer.WorkerExecInfo(Index: Integer; out TickCount: Cardinal): Integer;
begin
  TickCount := 0; { the library leaves it unwritten for a bad Index }
  Result := TcpServerGetWorkerExecInfo(FHandle, Index, TickCount);
end;

function TTcpServer.ExecLong: Int64;
begin
  Result := TcpServerGetExecLong(FHandle);
end;

function TTcpServer.ExecCount: Integer;
begin
  Result := TcpServerGetExecCount(FHandle);
end;

function TTcpServer.Counter(Which: Integer): Int64;
begin
  Result := TcpServerGetCounter(FHandle, Which);
end;

function TTcpServer.CloseCount(Reason: Integer): Int64;
begin
  Result := TcpServerGetCloseCount(FHandle, Reason);
end;

{ ---- TLS ------------------------------------------------------------------------------------ }

{ Text as a UTF-8 argument kept alive in Utf8; nil for ''. }
function TextArg(const Text: String; out Utf8: UTF8String): PAnsiChar;
begin
  Utf8 := UTF8String(Text);
  Result := nil;
  if Utf8 <> '' then
    Result := PAnsiChar(Utf8);
end;

function BytesArg(const Data: TBytes): PByte;
begin
  Result := nil;
  if Length(Data) > 0 then
    Result := @Data[0];
end;

function ReadFileBytes(const FileName: String): TBytes;
var
  Stream: TFileStream;
begin
  Result := nil;
  try
    Stream := TFileStream.Create(FileName, fmOpenRead or fmShareDenyWrite);
  except
    on E: Exception do
      raise ETcpServerError.CreateFmt('cannot read %s: %s', [FileName, E.Message]);
  end;
  try
    SetLength(Result, Stream.Size);
    if Length(Result) > 0 then
      Stream.ReadBuffer(Result[0], Length(Result));
  finally
    Stream.Free;
  end;
end;

procedure TTcpServer.LoadCertificate(const CertFile: String; const KeyFile: String;
  const Password: String);
var
  Cert, Key, Pass: UTF8String;
begin
  if not TcpServerSetTlsCertificateFile(FHandle, TextArg(CertFile, Cert), TextArg(KeyFile, Key),
      TextArg(Password, Pass)) then
    RaiseLastError('TTcpServer.LoadCertificate');
end;

procedure TTcpServer.LoadCertificateData(const CertData: TBytes; const KeyData: TBytes;
  const Password: String);
var
  Pass: UTF8String;
begin
  if not TcpServerSetTlsCertificate(FHandle, BytesArg(CertData), Length(CertData),
      BytesArg(KeyData), Length(KeyData), TextArg(Password, Pass)) then
    RaiseLastError('TTcpServer.LoadCertificateData');
end;

procedure TTcpServer.AddServerName(const HostPattern, CertFile: String; const KeyFile: String;
  const Password: String);
var
  Key: TBytes;
begin
  Key := nil;
  if KeyFile <> '' then
    Key := ReadFileBytes(KeyFile);
  AddServerNameData(HostPattern, ReadFileBytes(CertFile), Key, Password);
end;

procedure TTcpServer.AddServerNameData(const HostPattern: String; const CertData: TBytes;
  const KeyData: TBytes; const Password: String);
var
  Host, Pass: UTF8String;
begin
  if Length(CertData) = 0 then
    raise ETcpServerError.CreateFmt('TTcpServer.AddServerNameData(''%s''): no certificate ' +
      'data (RemoveServerName forgets a name)', [HostPattern]);
  if not TcpServerAddTlsServerName(FHandle, TextArg(HostPattern, Host), BytesArg(CertData),
      Length(CertData), BytesArg(KeyData), Length(KeyData), TextArg(Password, Pass)) then
    RaiseLastError(Format('TTcpServer.AddServerName(''%s'')', [HostPattern]));
end;

procedure TTcpServer.RemoveServerName(const HostPattern: String);
var
  Host: UTF8String;
begin
  if not TcpServerAddTlsServerName(FHandle, TextArg(HostPattern, Host), nil, 0, nil, 0, nil) then
    RaiseLastError(Format('TTcpServer.RemoveServerName(''%s'')', [HostPattern]));
end;

procedure TTcpServer.SetAlpn(const Protocols: array of String);
var
  List: String;
  Utf8: UTF8String;
  i: Integer;
begin
  List := '';
  for i := 0 to High(Protocols) do
  begin
    if (Protocols[i] = '') or (Pos(',', Protocols[i]) > 0) then
      raise ETcpServerError.CreateFmt('TTcpServer.SetAlpn: ''%s'' is not a protocol name ' +
        '(not empty, no commas)', [Protocols[i]]);
    if i > 0 then
      List := List + ',';
    List := List + Protocols[i];
  end;
  if not TcpServerSetTlsAlpn(FHandle, TextArg(List, Utf8)) then
    RaiseLastError(Format('TTcpServer.SetAlpn(''%s'')', [List]));
end;

procedure TTcpServer.SetClientCA(const CaFile: String);
begin
  SetClientCAData(ReadFileBytes(CaFile));
end;

procedure TTcpServer.SetClientCAData(const CaData: TBytes);
begin
  if not TcpServerSetTlsClientCA(FHandle, BytesArg(CaData), Length(CaData)) then
    RaiseLastError('TTcpServer.SetClientCA');
end;

procedure TTcpServer.SetCiphers(const Tls12List: String; const Tls13Suites: String);
var
  List12, List13: UTF8String;
begin
  if not TcpServerSetTlsCiphers(FHandle, TextArg(Tls12List, List12),
      TextArg(Tls13Suites, List13)) then
    RaiseLastError('TTcpServer.SetCiphers');
end;

procedure TTcpServer.SetTicketKeys(const Keys: TBytes);
begin
  if not TcpServerSetTlsTicketKeys(FHandle, BytesArg(Keys), Length(Keys)) then
    RaiseLastError('TTcpServer.SetTicketKeys');
end;

function TTcpServer.TlsInfo(Link: PLink; What: Integer): String;
begin
  Result := '';
  if not LinkTlsInfo(Link, What, Result) then
    RaiseLastError(Format('TTcpServer.TlsInfo(%d)', [What]));
end;

function TTcpServer.TlsFailureCount(Cause: Integer): Int64;
begin
  Result := TcpServerGetTlsFailureCount(FHandle, Cause);
  if Result < 0 then
    RaiseLastError(Format('TTcpServer.TlsFailureCount(%d)', [Cause]));
end;

initialization
  LogLock := TCriticalSection.Create;

finalization
  LogLock.Free;

end.
