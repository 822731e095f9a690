{ test_component — TTcpServerComponent (the palette component of the Delphi/Lazarus packages)
  against the real library: every option of the header is a published property (RTTI, as the
  Object Inspector reads them), only the options set are streamed, a form that streams
  Active = True starts serving when loaded, events on engine threads by default and, with
  MainThreadEvents, on the main thread in the engine's order (TThread.Queue, pumped here with
  CheckSynchronize as a GUI message loop would), a refusal from the main thread, and freeing
  the component with events still queued.
  Prints "N passed, M failed"; exits non-zero on any failure. }
program test_component;

{$IFDEF FPC}{$mode delphi}{$ENDIF}

uses
  {$IFDEF UNIX}cthreads,{$ENDIF}
  SysUtils, Classes, SyncObjs, TypInfo, UTcpServer, TcpServerApi, TcpServerComponent, TestSupport;

type
  TRecorder = class
  public
    Log: TStringList;
    Lock: TCriticalSection;
    OffMainThread: Integer;
    Refuse: Boolean;
    Component: TTcpServerComponent;
    constructor Create;
    destructor Destroy; override;
    procedure Connect(Sender: TObject; const Link: TTcpLinkInfo; var Accept: Boolean);
    procedure Receive(Sender: TObject; const Link: TTcpLinkInfo; Data: Pointer; Len: Integer);
    procedure Disconnect(Sender: TObject; const Link: TTcpLinkInfo);
    procedure Note(const Line: String);
  end;

var
  Recorder: TRecorder;

constructor TRecorder.Create;
begin
  Log := TStringList.Create;
  Lock := TCriticalSection.Create;
end;

destructor TRecorder.Destroy;
begin
  Log.Free;
  Lock.Free;
  inherited Destroy;
end;

procedure TRecorder.Note(const Line: String);
begin
  if GetCurrentThreadId <> MainThreadID then
    InterLockedIncrement(OffMainThread);
  Lock.Enter;
  try
    Log.Add(Line);
  finally
    Lock.Leave;
  end;
end;

procedure TRecorder.Connect(Sender: TObject; const Link: TTcpLinkInfo; var Accept: Boolean);
begin
  Note('connect ' + Link.RemoteIP);
  Accept := not Refuse;
end;

procedure TRecorder.Receive(Sender: TObject; const Link: TTcpLinkInfo; Data: Pointer;
  Len: Integer);
var
  Text: AnsiString;
begin
  SetString(Text, PAnsiChar(Data), Len);
  Note('receive ' + String(Text));
  Component.SendText(Link.Id, UpperCase(Text));
end;

procedure TRecorder.Disconnect(Sender: TObject; const Link: TTcpLinkInfo);
begin
  Note('disconnect ' + IntToStr(Link.CloseReason));
end;

function LogCount: Integer;
begin
  Recorder.Lock.Enter;
  try
    Result := Recorder.Log.Count;
  finally
    Recorder.Lock.Leave;
  end;
end;

var
  Wanted: Integer;

function EnoughLogged: Boolean;
begin
  Result := LogCount >= Wanted;
end;

{ Runs queued events (as a GUI message loop does) until Count lines are logged. }
function PumpUntilLogged(Count: Integer): Boolean;
var
  Deadline: QWord;
begin
  Deadline := GetTickCount64 + DeadlineMs;
  while (LogCount < Count) and (GetTickCount64 < Deadline) do
    CheckSynchronize(20);
  Result := LogCount >= Count;
end;

procedure PublishedProperties;
const
  { Options of API 1.0 and of 1.3 (the memory budget): the generated include has them all. }
  Names: array[0..6] of String = ('MaxLinks', 'IdleTimeoutMs', 'TcpNoDelay', 'Framing',
    'IPv6Only', 'MemoryBudget', 'AcceptRate');
  Events: array[0..4] of String = ('OnConnect', 'OnReceive', 'OnDisconnect', 'OnIdle', 'OnLog');
  Others: array[0..3] of String = ('Active', 'Ip', 'Port', 'MainThreadEvents');
var
  Component: TTcpServerComponent;
  Name: String;
  Info: PPropInfo;
  Missing: String;
begin
  Component := TTcpServerComponent.Create(nil);
  try
    Missing := '';
    for Name in Names do
      if GetPropInfo(Component, Name) = nil then
        Missing := Missing + ' ' + Name;
    for Name in Events do
    begin
      Info := GetPropInfo(Component, Name);
      if (Info = nil) or (Info^.PropType^.Kind <> tkMethod) then
        Missing := Missing + ' ' + Name;
    end;
    for Name in Others do
      if GetPropInfo(Component, Name) = nil then
        Missing := Missing + ' ' + Name;
    Check(Missing = '', 'the options, events, Ip, Port, Active, MainThreadEvents are published' +
      Missing);
    Check(GetPropInfo(Component, 'TcpNoDelay')^.PropType^.Kind in [tkBool, tkEnumeration],
      'a 0..1 option is a Boolean property');
    Check((Component.MaxLinks = 3000) and Component.TcpNoDelay,
      'unset options read the library''s defaults (3000 links, TCP_NODELAY on)');
  finally
    Component.Free;
  end;
end;

procedure Streaming;
var
  Source, Loaded: TTcpServerComponent;
  Stream, Text: TMemoryStream;
  Form: String;
  Client: TTestClient;
begin
  Source := TTcpServerComponent.Create(nil);
  Loaded := nil;
  Stream := TMemoryStream.Create;
  Text := TMemoryStream.Create;
  Client := TTestClient.Create;
  try
    Source.Ip := '127.0.0.1';
    Source.MaxLinks := 64;
    Source.WorkerThreads := 1;
    Source.TcpNoDelay := False;
    Source.Active := True;    { a running server streams Active = True, as a form would }
    Source.Stop;
    Source.Active := False;
    Stream.WriteComponent(Source);
    Stream.Position := 0;
    ObjectBinaryToText(Stream, Text);
    SetString(Form, PAnsiChar(Text.Memory), Text.Size);
    Check((Pos('MaxLinks = 64', Form) > 0) and (Pos('TcpNoDelay = False', Form) > 0) and
      (Pos('Ip = ''127.0.0.1''', Form) > 0), 'the options set are streamed');
    Check((Pos('IoBufferSize', Form) = 0) and (Pos('MemoryBudget', Form) = 0),
      'options never set are not streamed: ' + Form);

    { A form whose component says Active = True starts serving once loaded. }
    Form := StringReplace(Form, 'MaxLinks = 64', 'Active = True'#10'  MaxLinks = 64', []);
    Text.Clear;
    Text.WriteBuffer(PAnsiChar(AnsiString(Form))^, Length(Form));
    Text.Position := 0;
    Stream.Clear;
    ObjectTextToBinary(Text, Stream);
    Stream.Position := 0;
    Loaded := TTcpServerComponent.Create(nil);
    Stream.ReadComponent(Loaded);
    Check(Loaded.Active and (Loaded.BoundPort > 0) and (Loaded.MaxLinks = 64) and
      not Loaded.TcpNoDelay, 'a loaded Active = True starts it with the streamed options');
    Check(Client.Connect(Loaded.BoundPort) and Client.SendText('echo') and
      (Client.Receive(4) = 'echo'), 'without OnReceive it echoes');
  finally
    Client.Free;
    Loaded.Free;
    Source.Free;
    Stream.Free;
    Text.Free;
  end;
end;

procedure Events(MainThread: Boolean);
var
  Component: TTcpServerComponent;
  Client: TTestClient;
  Mode: String;
begin
  if MainThread then Mode := 'main thread' else Mode := 'engine threads';
  Recorder.Log.Clear;
  Recorder.OffMainThread := 0;
  Recorder.Refuse := False;
  Component := TTcpServerComponent.Create(nil);
  Recorder.Component := Component;
  Client := TTestClient.Create;
  try
    Component.Ip := '127.0.0.1';
    Component.WorkerThreads := 2;
    Component.MainThreadEvents := MainThread;
    Component.OnConnect := Recorder.Connect;
    Component.OnReceive := Recorder.Receive;
    Component.OnDisconnect := Recorder.Disconnect;
    Component.Active := True;
    Check(Client.Connect(Component.BoundPort) and Client.SendText('hello'), Mode + ': connect');
    if MainThread then
      Check(PumpUntilLogged(2), Mode + ': connect and receive delivered by the queue');
    Check(Client.Receive(5) = 'HELLO', Mode + ': the reply sent from the event arrives');
    Client.Close;
    if MainThread then
      PumpUntilLogged(3)
    else
    begin
      Wanted := 3;
      WaitUntil(EnoughLogged);
    end;
    Check((Recorder.Log.Count = 3) and (Recorder.Log[0] = 'connect 127.0.0.1') and
      (Recorder.Log[1] = 'receive hello') and (Recorder.Log[2] = 'disconnect ' +
      IntToStr(TS_CLOSE_PEER_CLOSED)), Mode + ': connect, receive, disconnect in order: ' +
      Recorder.Log.CommaText);
    if MainThread then
      Check(Recorder.OffMainThread = 0, Mode + ': every event ran on the main thread')
    else
      Check(Recorder.OffMainThread = 3, Mode + ': every event ran on an engine thread');
  finally
    Client.Free;
    Component.Free;
  end;
end;

procedure RefuseFromMainThreadAndFreeWithQueuedEvents;
var
  Component: TTcpServerComponent;
  Client: TTestClient;
  Logged: Integer;
begin
  Recorder.Log.Clear;
  Recorder.Refuse := True;
  Component := TTcpServerComponent.Create(nil);
  Recorder.Component := Component;
  Client := TTestClient.Create;
  try
    Component.Ip := '127.0.0.1';
    Component.MainThreadEvents := True;
    Component.OnConnect := Recorder.Connect;
    Component.OnDisconnect := Recorder.Disconnect;
    Component.Start;
    Check(Client.Connect(Component.BoundPort), 'main thread: a client connects');
    Check(PumpUntilLogged(1) and Client.WaitClosed,
      'main thread: Accept := False closes the accepted link');
    Check(PumpUntilLogged(2) and (Recorder.Log[1] = 'disconnect ' + IntToStr(TS_CLOSE_BY_APP)),
      'and its OnDisconnect follows (closed by the application): ' + Recorder.Log.CommaText);
    Client.Free;
    Client := TTestClient.Create;
    { No OnReceive: the engine echoes, and the echo comes after OnConnect queued its event. }
    Check(Client.Connect(Component.BoundPort) and Client.SendText('x') and
      (Client.Receive(1) = 'x'), 'a second link''s OnConnect is queued, not yet run');
    Check(Recorder.Log.Count = 2, 'nothing ran without the main thread pumping');
  finally
    Client.Free;
    { Free stops the server, which runs the queued events while it waits (from the main thread
      it serves TThread.Queue); one TThread.Queue entry per event stays behind, and Free must
      take them out: run after it they would call into a freed component. }
    Component.Free;
  end;
  Logged := Recorder.Log.Count;
  CheckSynchronize(50);
  Check(Logged = 4, 'Stop inside Free delivered the second link''s events: ' +
    Recorder.Log.CommaText);
  Check(Recorder.Log.Count = Logged, 'nothing queued ran after Free: ' + Recorder.Log.CommaText);
end;

begin
  Recorder := TRecorder.Create;
  try
    PublishedProperties;
    Streaming;
    Events(False);
    Events(True);
    RefuseFromMainThreadAndFreeWithQueuedEvents;
  finally
    Recorder.Free;
  end;
  Summary;
end.
