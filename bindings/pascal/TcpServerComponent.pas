{ TcpServerComponent — TTcpServerComponent, the tcpserver engine as a component for Delphi's
  and Lazarus' tool palette: published properties (Ip, Port, Active, MainThreadEvents and every
  server option, the latter generated from tcpserver.h into TcpServerOptionProps.inc) and
  published events, so a form sets it up in the Object Inspector.

  It owns one TTcpServer (TcpServerClass), an engine server of its own. The name is not
  TTcpServer, which Delphi's Web.Win.Sockets already uses; code that uses our TTcpServer class
  keeps compiling, as TcpServerClass is unchanged.

  Threads: by default the events run on the engine's threads, as TTcpServer's do (Data is the
  engine's buffer, valid during the call). With MainThreadEvents = True (for GUI programs) each
  event is copied (the data too) and delivered on the main thread through TThread.Queue, in
  the engine's order; the main thread must then run its message loop (VCL and LCL programs do)
  or call CheckSynchronize. Start, Stop and the link methods are for the main thread (the link
  methods work from any thread). Windows-only code stays under MSWINDOWS: none is needed here. }
unit TcpServerComponent;

{$IFDEF FPC}{$mode delphi}{$ENDIF}

interface

uses
  Classes, SysUtils, SyncObjs, UTcpServer, TcpServerClass;

type
  { What an event knows of its link. It stays valid after the event (a copy), unlike PLink:
    keep Id to send or close later. CloseReason is a TS_CLOSE_* value in OnDisconnect and
    OnIdle, else TS_CLOSE_NONE. }
  TTcpLinkInfo = record
    Id: UInt64;
    RemoteIP: String;
    RemotePort: Cardinal;
    CloseReason: Integer;
  end;

  { Accept starts True; False refuses the link. With MainThreadEvents the link was accepted
    already: False then closes it. }
  TTcpServerConnectEvent = procedure(Sender: TObject; const Link: TTcpLinkInfo;
    var Accept: Boolean) of object;
  { Data: Len bytes (with Framing = TS_FRAMING_LENGTH_PREFIXED one whole message), valid during
    the call. }
  TTcpServerReceiveEvent = procedure(Sender: TObject; const Link: TTcpLinkInfo; Data: Pointer;
    Len: Integer) of object;
  TTcpServerLinkEvent = procedure(Sender: TObject; const Link: TTcpLinkInfo) of object;
  TTcpServerLogEvent = procedure(Sender: TObject; Level: Integer; const Text: String) of object;

  TTcpServerComponent = class(TComponent)
  private
    FServer: TTcpServer;
    FIp: String;
    FPort: Integer;
    FStreamedActive: Boolean;   { Active as read from the form, applied in Loaded }
    FMainThreadEvents: Boolean;
    FPending: TList;            { queued events (PQueuedEvent) for the main thread }
    FPendingLock: TCriticalSection;
    FOnConnect: TTcpServerConnectEvent;
    FOnReceive: TTcpServerReceiveEvent;
    FOnDisconnect: TTcpServerLinkEvent;
    FOnIdle: TTcpServerLinkEvent;
    FOnLog: TTcpServerLogEvent;
    function GetActive: Boolean;
    procedure SetActive(Value: Boolean);
    function GetBoundPort: Cardinal;
    function GetOption(Index: Integer): Int64;
    procedure SetOption(Index: Integer; Value: Int64);
    function GetFlag(Index: Integer): Boolean;
    procedure SetFlag(Index: Integer; Value: Boolean);
    function OptionStored(Index: Integer): Boolean;
    { TTcpServer's events (engine threads): call ours, or queue them for the main thread. }
    procedure ServerConnect(Sender: TTcpServer; Link: PLink; var Accept: Boolean);
    procedure ServerReceive(Sender: TTcpServer; Link: PLink; Buf: PByte; Len: Integer;
      var KeepLink: Boolean);
    procedure ServerDisconnect(Sender: TTcpServer; Link: PLink);
    procedure ServerIdle(Sender: TTcpServer; Link: PLink);
    procedure ServerLog(Sender: TTcpServer; Level: Integer; const Text: String);
    procedure Post(Kind: Integer; Link: PLink; Buf: PByte; Len: Integer; Level: Integer;
      const Text: String);
    procedure RunPosted; { on the main thread (TThread.Queue) }
    procedure DropPosted;
  protected
    procedure Loaded; override;
  public
    constructor Create(AOwner: TComponent); override;
    destructor Destroy; override;
    { Serve on Ip:Port with the options and events set now (Active := True does the same).
      Never at design time. ETcpServerError if it cannot. }
    procedure Start;
    { Idempotent; from the main thread it serves queued events while it waits. }
    procedure Stop;
    { By link id, from any thread: False when nothing was queued (the link is gone, ...). }
    function Send(LinkId: UInt64; Data: Pointer; Len: Integer): Boolean;
    function SendText(LinkId: UInt64; const Text: AnsiString): Boolean;
    function CloseLink(LinkId: UInt64; Abort: Boolean = False): Boolean;
    { To every open link; how many it was queued to (-1 on error). }
    function Broadcast(Data: Pointer; Len: Integer): Integer;
    { The engine server itself (statistics, counters, flow control). }
    property Server: TTcpServer read FServer;
    { The port bound while running (useful with Port = 0), else 0. }
    property BoundPort: Cardinal read GetBoundPort;
  published
    { True while serving. Set in the Object Inspector it starts the server when the form is
      loaded at run time (never in the designer). }
    property Active: Boolean read GetActive write SetActive default False;
    { The local address to bind: '' = every interface, or an IPv4 / IPv6 literal. }
    property Ip: String read FIp write FIp;
    { 0 = an ephemeral port (see BoundPort). }
    property Port: Integer read FPort write FPort default 0;
    { False: events run on engine threads (fast; keep them short, no GUI calls). True: on the
      main thread, in order, through TThread.Queue (copies each event's data). }
    property MainThreadEvents: Boolean read FMainThreadEvents write FMainThreadEvents
      default False;
    { Every option of tcpserver.h (generated); applied at Start, stored only when set. }
    {$I TcpServerOptionProps.inc}
    property OnConnect: TTcpServerConnectEvent read FOnConnect write FOnConnect;
    { Without OnReceive the engine echoes what it receives. }
    property OnReceive: TTcpServerReceiveEvent read FOnReceive write FOnReceive;
    property OnDisconnect: TTcpServerLinkEvent read FOnDisconnect write FOnDisconnect;
    { Without OnIdle, idle links get OnDisconnect (CloseReason TS_CLOSE_IDLE). }
    property OnIdle: TTcpServerLinkEvent read FOnIdle write FOnIdle;
    property OnLog: TTcpServerLogEvent read FOnLog write FOnLog;
  end;

implementation

const
  EV_CONNECT = 0;
  EV_RECEIVE = 1;
  EV_DISCONNECT = 2;
  EV_IDLE = 3;
  EV_LOG = 4;

type
  PQueuedEvent = ^TQueuedEvent;
  TQueuedEvent = record
    Kind: Integer;
    Link: TTcpLinkInfo;
    Data: TBytes;
    Level: Integer;
    Text: String;
  end;

function InfoOf(Link: PLink): TTcpLinkInfo;
begin
  Result.Id := Link^.Id;
  Result.RemoteIP := LinkRemoteIP(Link);
  Result.RemotePort := Link^.RemotePort;
  Result.CloseReason := Link^.CloseReason;
end;

constructor TTcpServerComponent.Create(AOwner: TComponent);
begin
  inherited Create(AOwner);
  FPending := TList.Create;
  FPendingLock := TCriticalSection.Create;
  FServer := TTcpServer.Create;
end;

destructor TTcpServerComponent.Destroy;
begin
  if FServer <> nil then
    FServer.Stop;
  TThread.RemoveQueuedEvents(RunPosted); { nothing queued may run on a freed component }
  FreeAndNil(FServer);
  if FPending <> nil then
    DropPosted;
  FreeAndNil(FPending);
  FreeAndNil(FPendingLock);
  inherited Destroy;
end;

procedure TTcpServerComponent.Loaded;
begin
  inherited Loaded;
  if FStreamedActive and not (csDesigning in ComponentState) then
    Start;
end;

function TTcpServerComponent.GetActive: Boolean;
begin
  if csDesigning in ComponentState then
    Result := FStreamedActive
  else
    Result := FServer.Active;
end;

procedure TTcpServerComponent.SetActive(Value: Boolean);
begin
  if (csDesigning in ComponentState) or (csLoading in ComponentState) then
    FStreamedActive := Value { the designer never serves; a loading form starts in Loaded }
  else if Value then
    Start
  else
    Stop;
end;

function TTcpServerComponent.GetBoundPort: Cardinal;
begin
  Result := FServer.Port;
end;

function TTcpServerComponent.GetOption(Index: Integer): Int64;
begin
  Result := FServer.GetOption(Index);
end;

procedure TTcpServerComponent.SetOption(Index: Integer; Value: Int64);
begin
  FServer.SetOption(Index, Value);
end;

function TTcpServerComponent.GetFlag(Index: Integer): Boolean;
begin
  Result := FServer.GetFlag(Index);
end;

procedure TTcpServerComponent.SetFlag(Index: Integer; Value: Boolean);
begin
  FServer.SetFlag(Index, Value);
end;

function TTcpServerComponent.OptionStored(Index: Integer): Boolean;
begin
  Result := FServer.OptionIsSet(Index);
end;

procedure TTcpServerComponent.Start;
begin
  if csDesigning in ComponentState then
    Exit;
  { Only the events assigned now reach the engine (an unassigned OnReceive echoes natively). }
  if Assigned(FOnConnect) then FServer.OnConnect := ServerConnect else FServer.OnConnect := nil;
  if Assigned(FOnReceive) then FServer.OnReceive := ServerReceive else FServer.OnReceive := nil;
  if Assigned(FOnDisconnect) then FServer.OnDisconnect := ServerDisconnect
  else FServer.OnDisconnect := nil;
  if Assigned(FOnIdle) then FServer.OnIdle := ServerIdle else FServer.OnIdle := nil;
  if Assigned(FOnLog) then FServer.OnLog := ServerLog else FServer.OnLog := nil;
  FServer.Start(FIp, FPort);
end;

procedure TTcpServerComponent.Stop;
begin
  FServer.Stop;
end;

function TTcpServerComponent.Send(LinkId: UInt64; Data: Pointer; Len: Integer): Boolean;
begin
  Result := FServer.SendById(LinkId, Data, Len);
end;

function TTcpServerComponent.SendText(LinkId: UInt64; const Text: AnsiString): Boolean;
begin
  Result := (Text = '') or FServer.SendById(LinkId, PAnsiChar(Text), Length(Text));
end;

function TTcpServerComponent.CloseLink(LinkId: UInt64; Abort: Boolean): Boolean;
begin
  Result := FServer.CloseLinkById(LinkId, Abort);
end;

function TTcpServerComponent.Broadcast(Data: Pointer; Len: Integer): Integer;
begin
  Result := FServer.Broadcast(Data, Len);
end;

{ ---- engine threads ---------------------------------------------------------------------- }

procedure TTcpServerComponent.ServerConnect(Sender: TTcpServer; Link: PLink;
  var Accept: Boolean);
begin
  if FMainThreadEvents then
    Post(EV_CONNECT, Link, nil, 0, 0, '')
  else
    FOnConnect(Self, InfoOf(Link), Accept);
end;

procedure TTcpServerComponent.ServerReceive(Sender: TTcpServer; Link: PLink; Buf: PByte;
  Len: Integer; var KeepLink: Boolean);
begin
  if FMainThreadEvents then
    Post(EV_RECEIVE, Link, Buf, Len, 0, '')
  else
    FOnReceive(Self, InfoOf(Link), Buf, Len);
end;

procedure TTcpServerComponent.ServerDisconnect(Sender: TTcpServer; Link: PLink);
begin
  if FMainThreadEvents then
    Post(EV_DISCONNECT, Link, nil, 0, 0, '')
  else
    FOnDisconnect(Self, InfoOf(Link));
end;

procedure TTcpServerComponent.ServerIdle(Sender: TTcpServer; Link: PLink);
begin
  if FMainThreadEvents then
    Post(EV_IDLE, Link, nil, 0, 0, '')
  else
    FOnIdle(Self, InfoOf(Link));
end;

procedure TTcpServerComponent.ServerLog(Sender: TTcpServer; Level: Integer; const Text: String);
begin
  if FMainThreadEvents then
    Post(EV_LOG, nil, nil, 0, Level, Text)
  else
    FOnLog(Self, Level, Text);
end;

procedure TTcpServerComponent.Post(Kind: Integer; Link: PLink; Buf: PByte; Len: Integer;
  Level: Integer; const Text: String);
var
  Event: PQueuedEvent;
begin
  New(Event);
  Event^.Kind := Kind;
  if Link <> nil then
    Event^.Link := InfoOf(Link);
  SetLength(Event^.Data, Len);
  if Len > 0 then
    Move(Buf^, Event^.Data[0], Len);
  Event^.Level := Level;
  Event^.Text := Text;
  FPendingLock.Enter;
  try
    FPending.Add(Event);
  finally
    FPendingLock.Leave;
  end;
  { One Queue per event; each RunPosted runs whatever is pending (later ones find none). }
  TThread.Queue(nil, RunPosted);
end;

{ ---- the main thread --------------------------------------------------------------------- }

procedure TTcpServerComponent.RunPosted;
var
  Event: PQueuedEvent;
  Accept: Boolean;
begin
  while True do
  begin
    FPendingLock.Enter;
    try
      if FPending.Count = 0 then
        Exit;
      Event := FPending[0];
      FPending.Delete(0);
    finally
      FPendingLock.Leave;
    end;
    try
      case Event^.Kind of
        EV_CONNECT:
          if Assigned(FOnConnect) then
          begin
            Accept := True;
            FOnConnect(Self, Event^.Link, Accept);
            if not Accept then
              CloseLink(Event^.Link.Id);
          end;
        EV_RECEIVE:
          if Assigned(FOnReceive) then
            FOnReceive(Self, Event^.Link, Pointer(Event^.Data), Length(Event^.Data));
        EV_DISCONNECT:
          if Assigned(FOnDisconnect) then
            FOnDisconnect(Self, Event^.Link);
        EV_IDLE:
          if Assigned(FOnIdle) then
            FOnIdle(Self, Event^.Link);
        EV_LOG:
          if Assigned(FOnLog) then
            FOnLog(Self, Event^.Level, Event^.Text);
      end;
    finally
      Dispose(Event);
    end;
  end;
end;

procedure TTcpServerComponent.DropPosted;
var
  Index: Integer;
begin
  for Index := 0 to FPending.Count - 1 do
    Dispose(PQueuedEvent(FPending[Index]));
  FPending.Clear;
end;

end.
