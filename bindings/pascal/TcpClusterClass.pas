{ TcpClusterClass — TTcpClusterNode: joins a TTcpServer to servers in other processes and
  machines through Redis, on the cluster library (libtcpcluster.so, tcpcluster.h; the raw
  mirror is TcpClusterApi).

  A node gives its server a broadcast that reaches every link of every node, sends to a link
  on any node by (node id, link id), topics delivered to OnTopic on every node, and presence
  keys (a name held by one link; send to the name wherever it is). Delivery to other nodes is
  at most once: what was lost is counted (Counter: TC_COUNTER_QUEUE_DROPPED, _DOWN_DROPPED,
  _GAPS, ...) and reported (OnGap, OnSendFailed); local delivery happens in the call and never
  waits for Redis. The link to Redis is not encrypted: run Redis on a private network.

  The node sits between the library and the server's events (it removes a closed link's keys):
  create it while the server is stopped; the server's events work as before. The library is
  loaded when the first node is created (LoadTcpCluster): it exists on Linux only, so elsewhere
  the constructor raises ETcpClusterError saying so, and the program itself still starts.
  Threads: any method from any thread (events included) but Start, Stop and Free from the
  node's own events. The node's events run on the library's threads; assign them before Start.
  An exception raised by one is logged (UTcpServer.ReportCallbackError) and goes no further. }
unit TcpClusterClass;

{$IFDEF FPC}{$mode delphi}{$ENDIF}
{$IFDEF MSWINDOWS}{$DEFINE TS_STDCALL}{$ENDIF}

interface

uses
  SysUtils, UTcpServer, TcpServerClass, TcpClusterApi;

type
  { A failed cluster call: Code is the library's TC_ERR_* (-1: the library is missing). }
  ETcpClusterError = class(Exception)
  public
    Code: Integer;
    constructor CreateCode(ACode: Integer; const Text: String);
  end;

  TTcpClusterNode = class;

  { A message published on Topic by node Publisher (this node's own inside its Publish call).
    Data is valid only during the call. }
  TClusterTopicEvent = procedure(Sender: TTcpClusterNode; const Topic: String; Publisher: UInt64;
    Data: PByte; Len: Integer) of object;
  { A SendToLink / SendToKey failed after its call returned; Reason is TC_SEND_*. Node and
    LinkId are the target when known (else 0), Key the key of a SendToKey (else ''). }
  TClusterSendFailedEvent = procedure(Sender: TTcpClusterNode; Tag: UInt64; Reason: Integer;
    Node, LinkId: UInt64; const Key, Text: String) of object;
  { Missed messages from Publisher on Channel (TC_CHANNEL_*) never arrived here. }
  TClusterGapEvent = procedure(Sender: TTcpClusterNode; Publisher: UInt64; Channel: Integer;
    Missed: Int64) of object;
  { The node's state changed (TC_STATE_*); Text says why. }
  TClusterStateEvent = procedure(Sender: TTcpClusterNode; State: Integer;
    const Text: String) of object;

  TTcpClusterNode = class
  private
    FNode: PTcpClusterNode;
    FServer: TTcpServer;
    FId: UInt64;
    FOnTopic: TClusterTopicEvent;
    FOnSendFailed: TClusterSendFailedEvent;
    FOnGap: TClusterGapEvent;
    FOnState: TClusterStateEvent;
    procedure RouteEvents(Receive: TOnReceiveEx; Disconnect: TOnDisconnectEx;
      Idle: TOnLinkIdleOvertimeEx; ThreadCreate: TOnThreadCreateEx; Connect: TOnConnectEx);
    function GetState: Integer;
  public
    { A stopped node for Server (stopped too). RedisUrl:
      redis://[[user]:password@]host[:port][/db]. KeyPrefix: the start of every Redis key and
      channel ('' = 'tcpcluster:'); nodes with the same prefix form one cluster. NodeName: free
      text stored in the node's liveness key. Raises ETcpClusterError. }
    constructor Create(Server: TTcpServer; const RedisUrl: String; const KeyPrefix: String = '';
      const NodeName: String = '');
    { Stops the node, then its server (whose events go through the node), and frees the node:
      the server gets its own events back and can start again without it. }
    destructor Destroy; override;
    { Starts the node's threads; they connect to Redis in the background (Start succeeds while
      Redis is down: OnState reports, the node keeps trying). A start after a stop draws a new
      Id. Start the server before or after, as you like. }
    procedure Start;
    { Publishes what is queued (bounded by TC_OPT_REPLY_TIMEOUT_MS), deletes the node's keys in
      Redis, disconnects, joins its threads. Local delivery goes on; remote parts are then
      dropped and counted (TC_COUNTER_DOWN_DROPPED). Idempotent. }
    procedure Stop;
    { Len bytes (1..TC_OPT_MAX_MESSAGE) to every open link of every node, but link
      ExceptLinkId of this node (0 = none). Local links get it in the call; returns how many.
      A remote part that cannot be queued is counted, not an error. }
    function Broadcast(Buf: Pointer; Len: Integer; ExceptLinkId: UInt64 = 0): Integer;
    function BroadcastText(const Text: AnsiString; ExceptLinkId: UInt64 = 0): Integer;
    { Len bytes to link LinkId of node NodeId (this node's own: at once). Raises when the
      failure is known in the call (TC_ERR_LINK_CLOSED for a local link, _QUEUE_FULL,
      _BROKER_DOWN, _TOO_LARGE); one found later comes to OnSendFailed with Tag. }
    procedure SendToLink(NodeId, LinkId: UInt64; Buf: Pointer; Len: Integer; Tag: UInt64 = 0);
    procedure SendTextToLink(NodeId, LinkId: UInt64; const Text: AnsiString; Tag: UInt64 = 0);
    { Len bytes (may be 0) to OnTopic of every node, this one included (at once, on this
      thread). Topic: 1..255 bytes of UTF-8. }
    procedure Publish(const Topic: String; Buf: Pointer; Len: Integer);
    { Link LinkId (open, on this node's server) holds Key in the whole cluster; the last set
      anywhere wins; it goes when the link closes. }
    procedure SetKey(LinkId: UInt64; const Key: String);
    { This node gives Key up; raises (TC_ERR_KEY_NOT_HELD) if it does not hold it. }
    procedure ClearKey(const Key: String);
    { Len bytes to the link that holds Key, wherever it is; failures as SendToLink (a key no
      link holds comes to OnSendFailed, reason TC_SEND_NO_SUCH_KEY). }
    procedure SendToKey(const Key: String; Buf: Pointer; Len: Integer; Tag: UInt64 = 0);
    procedure SendTextToKey(const Key: String; const Text: AnsiString; Tag: UInt64 = 0);
    { A TC_COUNTER_* value: totals since the node was made, or a "now" figure. }
    function Counter(Which: Integer): Int64;
    { TC_OPT_* while the node is stopped. }
    function GetOption(Option: Integer): Int64;
    procedure SetOption(Option: Integer; Value: Int64);

    { 64 random bits, never 0, never repeated (a new one at each start after a stop). }
    property Id: UInt64 read FId;
    { TC_STATE_*. }
    property State: Integer read GetState;
    property Server: TTcpServer read FServer;
    property OnTopic: TClusterTopicEvent read FOnTopic write FOnTopic;
    property OnSendFailed: TClusterSendFailedEvent read FOnSendFailed write FOnSendFailed;
    property OnGap: TClusterGapEvent read FOnGap write FOnGap;
    property OnState: TClusterStateEvent read FOnState write FOnState;
  end;

{ Loads the cluster library and binds every export of TcpClusterApi, once: '' on success, else
  why it cannot (the library exists on Linux only; $TCPCLUSTER_LIBRARY names it, else the
  loader's search for TC_LIBRARY). Thread-safe. }
function LoadTcpCluster: String;

implementation

uses
  {$IFDEF FPC}dynlibs,{$ELSE}Windows,{$ENDIF} SyncObjs;

const
  WhyMissing = 'the tcpserver cluster library exists on Linux only: it is built with ' +
    'tcpserver where hiredis is found (Debian: libhiredis-dev); there is no Windows build ' +
    '(Debian ships no hiredis for mingw)';

constructor ETcpClusterError.CreateCode(ACode: Integer; const Text: String);
begin
  inherited Create(Text);
  Code := ACode;
end;

procedure RaiseLastClusterError(const What: String);
var
  Code: Integer;
begin
  Code := TcpClusterGetLastErrorCode();
  raise ETcpClusterError.CreateCode(Code, Format('%s: %s (tcpcluster error %d)',
    [What, String(UTF8String(TcpClusterGetLastErrorText())), Code]));
end;

{ ---- Loading the library ------------------------------------------------------------------- }

var
  LoadLock: TCriticalSection;
  Loaded: Boolean;

function LoadTcpCluster: String;
var
  Names: array of String;
  Tried: String;
  Handle: {$IFDEF FPC}TLibHandle{$ELSE}HMODULE{$ENDIF};
  i: Integer;

  function Find(const Name: String): Pointer;
  begin
    {$IFDEF FPC}
    Result := GetProcedureAddress(Handle, Name);
    {$ELSE}
    Result := GetProcAddress(Handle, PChar(Name));
    {$ENDIF}
    if Result = nil then
      raise ETcpClusterError.CreateCode(-1, Format('the cluster library has no export %s: it ' +
        'is not the cluster library of this version', [Name]));
  end;

begin
  Result := '';
  LoadLock.Enter;
  try
    if Loaded then
      Exit;
    {$IFDEF MSWINDOWS}
    Result := 'TTcpClusterNode is not available on Windows: ' + WhyMissing;
    Exit;
    {$ENDIF}
    if GetEnvironmentVariable('TCPCLUSTER_LIBRARY') <> '' then
      Names := [GetEnvironmentVariable('TCPCLUSTER_LIBRARY')]
    else
      Names := [TC_LIBRARY, 'libtcpcluster.so'];
    Handle := 0;
    Tried := '';
    for i := 0 to High(Names) do
    begin
      {$IFDEF FPC}
      Handle := LoadLibrary(Names[i]);
      {$ELSE}
      Handle := LoadLibrary(PChar(Names[i]));
      {$ENDIF}
      if Handle <> 0 then
        Break;
      Tried := Tried + ' ' + Names[i];
      {$IFDEF FPC}
      Tried := Tried + ' (' + GetLoadErrorStr + ')';
      {$ENDIF}
    end;
    if Handle = 0 then
    begin
      Result := 'cannot load the tcpserver cluster library; ' + WhyMissing +
        '. Set TCPCLUSTER_LIBRARY to its path, or put it on the loader''s path. Tried:' + Tried;
      Exit;
    end;
    try
      {$I TcpClusterBind.inc}
    except
      on E: ETcpClusterError do
      begin
        Result := E.Message;
        Exit;
      end;
    end;
    if TcpClusterGetVersion() div 10000 <> TCPCLUSTER_VERSION_MAJOR then
    begin
      Result := Format('the cluster library is version %d; this binding needs %d.x',
        [TcpClusterGetVersion(), TCPCLUSTER_VERSION_MAJOR]);
      Exit;
    end;
    Loaded := True;
  finally
    LoadLock.Leave;
  end;
end;

{ ---- The library's callbacks: Context is the node -------------------------------------------- }

procedure HandlerFailed(const Event: String);
begin
  ReportCallbackError(DescribeCallbackException('TTcpClusterNode.' + Event, nil));
end;

procedure DoTopic(Context: Pointer; Topic: PAnsiChar; Publisher: UInt64; Data: PByte;
  Len: Integer); {$IFDEF TS_STDCALL}stdcall{$ELSE}cdecl{$ENDIF};
var
  Node: TTcpClusterNode;
begin
  Node := TTcpClusterNode(Context);
  try
    if Assigned(Node.FOnTopic) then
      Node.FOnTopic(Node, String(UTF8String(Topic)), Publisher, Data, Len);
  except
    HandlerFailed('OnTopic');
  end;
end;

procedure DoSendFailed(Context: Pointer; Tag: UInt64; Reason: Integer; Target: UInt64;
  LinkId: UInt64; Key: PAnsiChar; Text: PAnsiChar); {$IFDEF TS_STDCALL}stdcall{$ELSE}cdecl{$ENDIF};
var
  Node: TTcpClusterNode;
begin
  Node := TTcpClusterNode(Context);
  try
    if Assigned(Node.FOnSendFailed) then
      Node.FOnSendFailed(Node, Tag, Reason, Target, LinkId, String(UTF8String(Key)),
        String(UTF8String(Text)));
  except
    HandlerFailed('OnSendFailed');
  end;
end;

procedure DoGap(Context: Pointer; Publisher: UInt64; Channel: Integer; Missed: Int64);
  {$IFDEF TS_STDCALL}stdcall{$ELSE}cdecl{$ENDIF};
var
  Node: TTcpClusterNode;
begin
  Node := TTcpClusterNode(Context);
  try
    if Assigned(Node.FOnGap) then
      Node.FOnGap(Node, Publisher, Channel, Missed);
  except
    HandlerFailed('OnGap');
  end;
end;

procedure DoState(Context: Pointer; State: Integer; Text: PAnsiChar);
  {$IFDEF TS_STDCALL}stdcall{$ELSE}cdecl{$ENDIF};
var
  Node: TTcpClusterNode;
begin
  Node := TTcpClusterNode(Context);
  try
    if Assigned(Node.FOnState) then
      Node.FOnState(Node, State, String(UTF8String(Text)));
  except
    HandlerFailed('OnState');
  end;
end;

{ ---- TTcpClusterNode ----------------------------------------------------------------------- }

function Utf8(const Text: String): UTF8String;
begin
  Result := UTF8String(Text);
end;

constructor TTcpClusterNode.Create(Server: TTcpServer; const RedisUrl: String;
  const KeyPrefix: String; const NodeName: String);
var
  Why: String;
begin
  inherited Create;
  Why := LoadTcpCluster;
  if Why <> '' then
    raise ETcpClusterError.CreateCode(-1, Why);
  FServer := Server;
  FNode := TcpClusterCreate(Server.Handle, PAnsiChar(Utf8(RedisUrl)), PAnsiChar(Utf8(KeyPrefix)),
    PAnsiChar(Utf8(NodeName)), Self);
  if FNode = nil then
    RaiseLastClusterError('TTcpClusterNode.Create');
  if not TcpClusterSetClusterProc(FNode, DoTopic, DoSendFailed, DoGap, DoState) then
    RaiseLastClusterError('TTcpClusterNode.Create');
  FId := TcpClusterGetNodeId(FNode);
  Server.EventRouter := RouteEvents;
end;

destructor TTcpClusterNode.Destroy;
begin
  if FNode <> nil then
  begin
    Stop;
    FServer.Stop;
    if not TcpClusterDestroy(FNode) then
      RaiseLastClusterError('TTcpClusterNode.Destroy');
    FNode := nil;
    if TMethod(FServer.EventRouter).Data = Pointer(Self) then
      FServer.EventRouter := nil;
  end;
  inherited Destroy;
end;

procedure TTcpClusterNode.RouteEvents(Receive: TOnReceiveEx; Disconnect: TOnDisconnectEx;
  Idle: TOnLinkIdleOvertimeEx; ThreadCreate: TOnThreadCreateEx; Connect: TOnConnectEx);
begin
  { The node records each link and removes a closed link's keys, then calls these. }
  if not TcpClusterSetEventProc(FNode, Receive, Disconnect, Idle, ThreadCreate, ThreadCreate) or
     not TcpClusterSetConnectProc(FNode, Connect) then
    RaiseLastClusterError('TTcpServer.Start: the cluster node takes the events');
end;

procedure TTcpClusterNode.Start;
begin
  if not TcpClusterStart(FNode) then
    RaiseLastClusterError('TTcpClusterNode.Start');
  FId := TcpClusterGetNodeId(FNode);
end;

procedure TTcpClusterNode.Stop;
begin
  if not TcpClusterStop(FNode) then
    RaiseLastClusterError('TTcpClusterNode.Stop');
end;

function TTcpClusterNode.GetState: Integer;
begin
  Result := TcpClusterGetState(FNode);
  if Result < 0 then
    RaiseLastClusterError('TTcpClusterNode.State');
end;

function TTcpClusterNode.Broadcast(Buf: Pointer; Len: Integer; ExceptLinkId: UInt64): Integer;
begin
  Result := TcpClusterBroadcast(FNode, Buf, Len, ExceptLinkId);
  if Result < 0 then
    RaiseLastClusterError('TTcpClusterNode.Broadcast');
end;

function TTcpClusterNode.BroadcastText(const Text: AnsiString; ExceptLinkId: UInt64): Integer;
begin
  Result := Broadcast(PAnsiChar(Text), Length(Text), ExceptLinkId);
end;

procedure TTcpClusterNode.SendToLink(NodeId, LinkId: UInt64; Buf: Pointer; Len: Integer;
  Tag: UInt64);
begin
  if not TcpClusterSendToLink(FNode, NodeId, LinkId, Buf, Len, Tag) then
    RaiseLastClusterError(Format('TTcpClusterNode.SendToLink(%u, %u)', [NodeId, LinkId]));
end;

procedure TTcpClusterNode.SendTextToLink(NodeId, LinkId: UInt64; const Text: AnsiString;
  Tag: UInt64);
begin
  SendToLink(NodeId, LinkId, PAnsiChar(Text), Length(Text), Tag);
end;

procedure TTcpClusterNode.Publish(const Topic: String; Buf: Pointer; Len: Integer);
begin
  if not TcpClusterPublish(FNode, PAnsiChar(Utf8(Topic)), Buf, Len) then
    RaiseLastClusterError('TTcpClusterNode.Publish(''' + Topic + ''')');
end;

procedure TTcpClusterNode.SetKey(LinkId: UInt64; const Key: String);
begin
  if not TcpClusterSetKey(FNode, LinkId, PAnsiChar(Utf8(Key))) then
    RaiseLastClusterError('TTcpClusterNode.SetKey(''' + Key + ''')');
end;

procedure TTcpClusterNode.ClearKey(const Key: String);
begin
  if not TcpClusterClearKey(FNode, PAnsiChar(Utf8(Key))) then
    RaiseLastClusterError('TTcpClusterNode.ClearKey(''' + Key + ''')');
end;

procedure TTcpClusterNode.SendToKey(const Key: String; Buf: Pointer; Len: Integer; Tag: UInt64);
begin
  if not TcpClusterSendToKey(FNode, PAnsiChar(Utf8(Key)), Buf, Len, Tag) then
    RaiseLastClusterError('TTcpClusterNode.SendToKey(''' + Key + ''')');
end;

procedure TTcpClusterNode.SendTextToKey(const Key: String; const Text: AnsiString; Tag: UInt64);
begin
  SendToKey(Key, PAnsiChar(Text), Length(Text), Tag);
end;

function TTcpClusterNode.Counter(Which: Integer): Int64;
begin
  Result := TcpClusterGetCounter(FNode, Which);
  if Result < 0 then
    RaiseLastClusterError(Format('TTcpClusterNode.Counter(%d)', [Which]));
end;

function TTcpClusterNode.GetOption(Option: Integer): Int64;
begin
  Result := TcpClusterGetOption(FNode, Option);
  if Result < 0 then
    RaiseLastClusterError(Format('TTcpClusterNode.GetOption(%d)', [Option]));
end;

procedure TTcpClusterNode.SetOption(Option: Integer; Value: Int64);
begin
  if not TcpClusterSetOption(FNode, Option, Value) then
    RaiseLastClusterError(Format('TTcpClusterNode.SetOption(%d, %d)', [Option, Value]));
end;

initialization
  LoadLock := TCriticalSection.Create;

finalization
  LoadLock.Free;

end.
