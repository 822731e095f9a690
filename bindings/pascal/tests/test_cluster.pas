{ test_cluster — TTcpClusterNode (TcpClusterClass) against a private redis-server this program
  starts on 127.0.0.1 (a free port; killed at the end, and with this program), with two nodes
  in this process, each on a TTcpServer of its own, and socket clients: a cluster broadcast
  reaches every link of both nodes once but the excepted one; SendToLink reaches a link of the
  other node and later failures come to OnSendFailed; presence keys route SendToKey and go
  with their link; topics reach OnTopic on both nodes; counters are readable and a stopped node
  counts its drops while serving locally; bad input raises ETcpClusterError; Free hands the
  server its events back; a missing library is reported as such (a child run of this program
  with --expect-missing-library). Linux only, like the library.
  Prints "N passed, M failed"; exits non-zero on any failure. }
program test_cluster;

{$IFDEF FPC}{$mode delphi}{$ENDIF}

uses
  cthreads, SysUtils, BaseUnix, Sockets, UTcpServer, TcpServerClass, TcpClusterApi,
  TcpClusterClass, TestSupport;

const
  Wait = 30000; { ms any condition may take: several threads and a redis-server on 2 cores }
  PR_SET_PDEATHSIG = 1;

function prctl(Option: LongInt; Arg2, Arg3, Arg4, Arg5: PtrUInt): LongInt; cdecl;
  external 'c' name 'prctl';
function setenv(Name, Value: PAnsiChar; Overwrite: LongInt): LongInt; cdecl;
  external 'c' name 'setenv';

type
  TFailure = record
    Tag: UInt64;
    Reason: Integer;
    Node: UInt64;
    Key, Text: String;
  end;

  { A server, its node, its open links and what its node's events heard. }
  TMember = class
  public
    Server: TTcpServer;
    Node: TTcpClusterNode;
    Lock: TRTLCriticalSection;
    Links: array of UInt64;
    Failures: array of TFailure;
    Topics: array of String; { 'topic|publisher|data' }
    Connected: Boolean; { OnState said TC_STATE_CONNECTED }
    constructor Create(const Name: String; const RedisUrl: String);
    destructor Destroy; override;
    procedure LinkUp(Sender: TTcpServer; Link: PLink; var Accept: Boolean);
    procedure LinkDown(Sender: TTcpServer; Link: PLink);
    procedure Received(Sender: TTcpServer; Link: PLink; Buf: PByte; Len: Integer;
      var KeepLink: Boolean);
    procedure SendFailed(Sender: TTcpClusterNode; Tag: UInt64; Reason: Integer;
      Target, LinkId: UInt64; const Key, Text: String);
    procedure Topic(Sender: TTcpClusterNode; const Name: String; Publisher: UInt64;
      Data: PByte; Len: Integer);
    procedure StateChanged(Sender: TTcpClusterNode; State: Integer; const Text: String);
    function LinkCount: Integer;
    function FailureCount: Integer;
    function TopicCount: Integer;
    { A client connected to this server, and its link id there. }
    function NewClient(out LinkId: UInt64): TTestClient;
  end;

type
  TTestProc = procedure;

var
  RedisPid: TPid = 0;
  RedisPort: Word;
  RedisDir: String;
  A, B: TMember;
  WantLinks: Integer;
  WantFailures: Integer;
  RedisKey, RedisWant: String;

{ ---- redis-server --------------------------------------------------------------------------- }

function FreePort: Word;
var
  S: LongInt;
  Addr: TInetSockAddr;
  Len: TSockLen;
begin
  S := fpSocket(AF_INET, SOCK_STREAM, 0);
  FillChar(Addr, SizeOf(Addr), 0);
  Addr.sin_family := AF_INET;
  Addr.sin_addr := StrToNetAddr('127.0.0.1');
  fpBind(S, @Addr, SizeOf(Addr));
  Len := SizeOf(Addr);
  fpGetSockName(S, @Addr, @Len);
  Result := NToHs(Addr.sin_port);
  CloseSocket(S);
end;

{ One command over RESP; the reply's first line without its type byte ('PONG', '1', ...). }
function RedisCommand(const Words: array of String): String;
var
  Client: TTestClient;
  Request: AnsiString;
  i: Integer;
begin
  Result := '';
  Client := TTestClient.Create;
  try
    if not Client.Connect(RedisPort) then
      Exit;
    Request := '*' + IntToStr(Length(Words)) + #13#10;
    for i := 0 to High(Words) do
      Request := Request + '$' + IntToStr(Length(Words[i])) + #13#10 + Words[i] + #13#10;
    Client.SendText(Request);
    Result := Trim(Copy(Client.ReceiveLine(5000), 2, MaxInt));
  finally
    Client.Free;
  end;
end;

function RedisAnswers: Boolean;
begin
  Result := RedisCommand(['PING']) = 'PONG';
end;

function StartRedis: Boolean;
var
  Path: String;
  Args: array of AnsiString;
  Argv: array of PAnsiChar;
  i, Attempt: Integer;
  Status: cint;
begin
  Result := False;
  Path := GetEnvironmentVariable('TCPSERVER_REDIS_SERVER');
  if Path = '' then
    Path := '/usr/bin/redis-server';
  RedisDir := GetTempDir(False) + 'tcpcluster-pascal-' + IntToStr(fpGetPid);
  ForceDirectories(RedisDir);
  for Attempt := 1 to 3 do { a free port may be taken between the probe and the bind }
  begin
    RedisPort := FreePort;
    Args := [Path, '--port', IntToStr(RedisPort), '--bind', '127.0.0.1', '--save', '',
      '--appendonly', 'no', '--dir', RedisDir, '--logfile', RedisDir + '/redis.log',
      '--protected-mode', 'yes'];
    SetLength(Argv, Length(Args) + 1);
    for i := 0 to High(Args) do
      Argv[i] := PAnsiChar(Args[i]);
    Argv[Length(Args)] := nil;
    RedisPid := fpFork;
    if RedisPid = 0 then
    begin
      prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0); { no Redis left behind a killed test }
      fpExecv(Argv[0], @Argv[0]);
      fpExit(127);
    end;
    if WaitUntil(RedisAnswers, 20000) then
      Exit(True);
    fpKill(RedisPid, SIGKILL);
    fpWaitPid(RedisPid, @Status, 0);
    RedisPid := 0;
  end;
  WriteLn('redis-server (', Path, ') did not start (install Debian''s redis-server); see ',
    RedisDir, '/redis.log');
end;

procedure StopRedis;
var
  Status: cint;
begin
  if RedisPid > 0 then
  begin
    fpKill(RedisPid, SIGKILL);
    fpWaitPid(RedisPid, @Status, 0);
    RedisPid := 0;
  end;
  DeleteFile(RedisDir + '/redis.log');
  RemoveDir(RedisDir);
end;

function RedisUrl: String;
begin
  Result := 'redis://127.0.0.1:' + IntToStr(RedisPort);
end;

{ ---- TMember ------------------------------------------------------------------------------- }

function BothConnected: Boolean;
begin
  Result := (A.Node.State = TC_STATE_CONNECTED) and ((B = nil) or
    (B.Node.State = TC_STATE_CONNECTED));
end;

constructor TMember.Create(const Name: String; const RedisUrl: String);
begin
  inherited Create;
  InitCriticalSection(Lock);
  Server := TTcpServer.Create;
  Server.WorkerThreads := 2;
  Server.OnConnect := LinkUp;
  Server.OnDisconnect := LinkDown;
  Server.OnReceive := Received;
  Node := TTcpClusterNode.Create(Server, RedisUrl, '', Name);
  Node.OnSendFailed := SendFailed;
  Node.OnTopic := Topic;
  Node.OnState := StateChanged;
  Node.Start;
  Server.Start('127.0.0.1', 0);
end;

destructor TMember.Destroy;
begin
  Node.Free; { stops the server too }
  Server.Free;
  DoneCriticalSection(Lock);
  inherited Destroy;
end;

procedure TMember.LinkUp(Sender: TTcpServer; Link: PLink; var Accept: Boolean);
begin
  EnterCriticalSection(Lock);
  SetLength(Links, Length(Links) + 1);
  Links[High(Links)] := Link^.Id;
  LeaveCriticalSection(Lock);
end;

procedure TMember.LinkDown(Sender: TTcpServer; Link: PLink);
var
  i: Integer;
begin
  EnterCriticalSection(Lock);
  for i := 0 to High(Links) do
    if Links[i] = Link^.Id then
    begin
      Links[i] := Links[High(Links)];
      SetLength(Links, Length(Links) - 1);
      Break;
    end;
  LeaveCriticalSection(Lock);
end;

procedure TMember.Received(Sender: TTcpServer; Link: PLink; Buf: PByte; Len: Integer;
  var KeepLink: Boolean);
begin
  { the clients only listen }
end;

procedure TMember.SendFailed(Sender: TTcpClusterNode; Tag: UInt64; Reason: Integer;
  Target, LinkId: UInt64; const Key, Text: String);
var
  F: TFailure;
begin
  F.Tag := Tag;
  F.Reason := Reason;
  F.Node := Target;
  F.Key := Key;
  F.Text := Text;
  EnterCriticalSection(Lock);
  SetLength(Failures, Length(Failures) + 1);
  Failures[High(Failures)] := F;
  LeaveCriticalSection(Lock);
end;

procedure TMember.Topic(Sender: TTcpClusterNode; const Name: String; Publisher: UInt64;
  Data: PByte; Len: Integer);
var
  Text: AnsiString;
begin
  SetString(Text, PAnsiChar(Data), Len);
  EnterCriticalSection(Lock);
  SetLength(Topics, Length(Topics) + 1);
  Topics[High(Topics)] := Name + '|' + IntToStr(Publisher) + '|' + Text;
  LeaveCriticalSection(Lock);
end;

procedure TMember.StateChanged(Sender: TTcpClusterNode; State: Integer; const Text: String);
begin
  if State = TC_STATE_CONNECTED then
    Connected := True;
end;

function TMember.LinkCount: Integer;
begin
  EnterCriticalSection(Lock);
  Result := Length(Links);
  LeaveCriticalSection(Lock);
end;

function TMember.FailureCount: Integer;
begin
  EnterCriticalSection(Lock);
  Result := Length(Failures);
  LeaveCriticalSection(Lock);
end;

function TMember.TopicCount: Integer;
begin
  EnterCriticalSection(Lock);
  Result := Length(Topics);
  LeaveCriticalSection(Lock);
end;

var
  Waiting: TMember;

function WaitingHasLinks: Boolean;
begin
  Result := Waiting.LinkCount >= WantLinks;
end;

function TMember.NewClient(out LinkId: UInt64): TTestClient;
begin
  Waiting := Self;
  WantLinks := LinkCount + 1; { before connecting: the link may be up when Connect returns }
  Result := TTestClient.Create;
  Check(Result.Connect(Server.Port), 'a client connects');
  Check(WaitUntil(WaitingHasLinks, Wait), 'the server sees the new link');
  EnterCriticalSection(Lock);
  LinkId := Links[High(Links)];
  LeaveCriticalSection(Lock);
end;

function AHasFailures: Boolean;
begin
  Result := A.FailureCount >= WantFailures;
end;

function RedisHasWant: Boolean;
begin
  Result := RedisCommand(['EXISTS', RedisKey]) = RedisWant;
end;

function BHasTopic: Boolean;
begin
  Result := B.TopicCount >= 1;
end;

function ReceivedCounted: Boolean;
begin
  Result := (A.Node.Counter(TC_COUNTER_RECEIVED) = 2) and (B.Node.Counter(TC_COUNTER_RECEIVED) = 1);
end;

procedure NewPair;
begin
  A := TMember.Create('a', RedisUrl);
  B := TMember.Create('b', RedisUrl);
  Check(WaitUntil(BothConnected, Wait), 'both nodes connect');
end;

procedure FreePair;
begin
  FreeAndNil(A);
  FreeAndNil(B);
end;

function ClusterErrorOf(Code: Integer; E: Exception): Boolean;
begin
  Result := (E is ETcpClusterError) and (ETcpClusterError(E).Code = Code);
end;

{ ---- the checks ------------------------------------------------------------------------------ }

procedure TestBroadcast;
var
  A1, A2, B1, B2: TTestClient;
  Id, B1Id: UInt64;
begin
  NewPair;
  A1 := A.NewClient(Id);
  A2 := A.NewClient(Id);
  B1 := B.NewClient(B1Id);
  B2 := B.NewClient(Id);
  Check(A.Node.BroadcastText('from a'#10) = 2, 'Broadcast: the local links get it in the call');
  Check((A1.ReceiveLine(Wait) = 'from a'#10) and (A2.ReceiveLine(Wait) = 'from a'#10) and
    (B1.ReceiveLine(Wait) = 'from a'#10) and (B2.ReceiveLine(Wait) = 'from a'#10),
    'Broadcast: every link of both nodes gets it');
  Check(B.Node.BroadcastText('from b'#10, B1Id) = 1, 'Broadcast: all local links but the excepted');
  Check((A1.ReceiveLine(Wait) = 'from b'#10) and (A2.ReceiveLine(Wait) = 'from b'#10) and
    (B2.ReceiveLine(Wait) = 'from b'#10), 'Broadcast: every other link gets it');
  B.Node.BroadcastText('end'#10);
  Check(B1.ReceiveLine(Wait) = 'end'#10, 'Broadcast: the excepted link never got it');
  Check((A1.ReceiveLine(Wait) = 'end'#10) and (A2.ReceiveLine(Wait) = 'end'#10) and
    (B2.ReceiveLine(Wait) = 'end'#10), 'Broadcast: in order');
  Check(WaitUntil(ReceivedCounted, Wait), 'Broadcast: each node counts what it received');
  Check((A.Node.Counter(TC_COUNTER_GAPS) = 0) and (B.Node.Counter(TC_COUNTER_GAPS) = 0) and
    (A.Node.Counter(TC_COUNTER_QUEUE_DROPPED) + A.Node.Counter(TC_COUNTER_DOWN_DROPPED) = 0),
    'Broadcast: no gap, no drop');
  A1.Free; A2.Free; B1.Free; B2.Free;
  FreePair;
end;

procedure TestSendToLink;
var
  A1, B1: TTestClient;
  A1Id, B1Id: UInt64;
  i: Integer;
  Raised: Boolean;
  Gone8, Gone9: Boolean;
begin
  NewPair;
  A1 := A.NewClient(A1Id);
  B1 := B.NewClient(B1Id);
  A.Node.SendTextToLink(B.Node.Id, B1Id, 'direct'#10, 7);
  Check(B1.ReceiveLine(Wait) = 'direct'#10, 'SendToLink: a link of the other node');
  B.Node.SendTextToLink(A.Node.Id, A1Id, 'back'#10);
  Check(A1.ReceiveLine(Wait) = 'back'#10, 'SendToLink: and back');
  A.Node.SendTextToLink(B.Node.Id, 999999999, 'nobody'#10, 8);
  A.Node.SendTextToLink($5EED, 1, 'ghost'#10, 9);
  WantFailures := 2;
  Check(WaitUntil(AHasFailures, Wait), 'SendToLink: two failures reported');
  Gone8 := False;
  Gone9 := False;
  for i := 0 to High(A.Failures) do
    with A.Failures[i] do
    begin
      if (Tag = 8) and (Reason = TC_SEND_LINK_GONE) and (Node = B.Node.Id) then Gone8 := True;
      if (Tag = 9) and (Reason = TC_SEND_NODE_GONE) and (Pos(IntToStr($5EED), Text) > 0) then
        Gone9 := True;
    end;
  Check(Gone8 and Gone9, 'SendToLink: link gone and node gone, with their tags');
  Check(A.Node.Counter(TC_COUNTER_SEND_FAILED) = 2, 'SendToLink: failures counted');
  Raised := False;
  try
    A.Node.SendTextToLink(A.Node.Id, 999999999, 'x'#10);
  except
    on E: Exception do
      Raised := ClusterErrorOf(TC_ERR_LINK_CLOSED, E);
  end;
  Check(Raised, 'SendToLink: a local link that is not open raises TC_ERR_LINK_CLOSED');
  A1.Free; B1.Free;
  FreePair;
end;

procedure TestPresence;
var
  B1: TTestClient;
  B1Id: UInt64;
  Raised: Boolean;
begin
  NewPair;
  B1 := B.NewClient(B1Id);
  B.Node.SetKey(B1Id, 'alice');
  RedisKey := 'tcpcluster:key:alice';
  RedisWant := '1';
  Check(WaitUntil(RedisHasWant, Wait), 'SetKey: the key reaches Redis');
  Check(B.Node.Counter(TC_COUNTER_KEYS) = 1, 'SetKey: the node holds one key');
  A.Node.SendTextToKey('alice', 'hi alice'#10, 3);
  Check(B1.ReceiveLine(Wait) = 'hi alice'#10, 'SendToKey: the link that holds the key');
  B1.Free;
  RedisWant := '0';
  Check(WaitUntil(RedisHasWant, Wait), 'SetKey: the closed link''s key goes');
  A.Node.SendTextToKey('alice', 'anyone?'#10, 4);
  WantFailures := 1;
  Check(WaitUntil(AHasFailures, Wait) and (A.Failures[0].Tag = 4) and
    (A.Failures[0].Reason = TC_SEND_NO_SUCH_KEY) and (A.Failures[0].Key = 'alice'),
    'SendToKey: a key no link holds comes to OnSendFailed');
  Raised := False;
  try
    B.Node.ClearKey('nobody');
  except
    on E: Exception do
      Raised := ClusterErrorOf(TC_ERR_KEY_NOT_HELD, E);
  end;
  Check(Raised, 'ClearKey: a key the node does not hold raises TC_ERR_KEY_NOT_HELD');
  FreePair;
end;

procedure TestTopics;
var
  Want: String;
begin
  NewPair;
  A.Node.Publish('news', PAnsiChar('extra'), 5);
  Want := 'news|' + IntToStr(A.Node.Id) + '|extra';
  Check((A.TopicCount = 1) and (A.Topics[0] = Want), 'Publish: this node''s own, in the call');
  Check(WaitUntil(BHasTopic, Wait) and (B.Topics[0] = Want), 'Publish: OnTopic on the other node');
  Check(A.Connected and B.Connected, 'OnState reported the connection');
  FreePair;
end;

function AConnected: Boolean;
begin
  Result := A.Node.State = TC_STATE_CONNECTED;
end;

procedure TestCountersAndDrops;
var
  A1: TTestClient;
  Id, Old: UInt64;
  Raised: Boolean;
  Which: Integer;
  Readable: Boolean;
begin
  NewPair;
  A1 := A.NewClient(Id);
  Readable := True;
  for Which := TC_COUNTER_PUBLISHED to TC_COUNTER_BROKER_ERRORS do
    Readable := Readable and (A.Node.Counter(Which) >= 0);
  Check(Readable and (A.Node.Counter(TC_COUNTER_STATE) = TC_STATE_CONNECTED),
    'Counter: every counter is readable');
  A.Node.Stop;
  Check(A.Node.State = TC_STATE_STOPPED, 'Stop: stopped');
  Check(A.Node.BroadcastText('local only'#10) = 1, 'Stop: local delivery goes on');
  Check(A1.ReceiveLine(Wait) = 'local only'#10, 'Stop: the local link got it');
  Check(A.Node.Counter(TC_COUNTER_DOWN_DROPPED) = 1, 'Stop: the remote part is dropped and counted');
  Raised := False;
  try
    A.Node.SendTextToLink(B.Node.Id, 1, 'x'#10);
  except
    on E: Exception do
      Raised := ClusterErrorOf(TC_ERR_BROKER_DOWN, E);
  end;
  Check(Raised and (A.Node.Counter(TC_COUNTER_DOWN_DROPPED) = 2),
    'Stop: a send raises TC_ERR_BROKER_DOWN and is counted');
  Old := A.Node.Id;
  A.Node.Start;
  Check((A.Node.Id <> Old) and (A.Node.Id <> 0), 'Start: a new life, a new id');
  Check(WaitUntil(AConnected, Wait), 'Start: the node reconnects');
  A1.Free;
  FreePair;
end;

procedure TestErrorsAndFree;
var
  Server: TTcpServer;
  Node: TTcpClusterNode;
  Raised: Boolean;
  Client: TTestClient;
begin
  Server := TTcpServer.Create;
  try
    Raised := False;
    try
      TTcpClusterNode.Create(Server, 'http://127.0.0.1:1');
    except
      on E: Exception do
        Raised := ClusterErrorOf(TC_ERR_BAD_URL, E) and (Pos('redis://', E.Message) > 0);
    end;
    Check(Raised, 'Create: a URL that is not redis:// raises TC_ERR_BAD_URL');
    Node := TTcpClusterNode.Create(Server, RedisUrl);
    Raised := False;
    try
      Node.SetOption(TC_OPT_QUEUE_MESSAGES, 0);
    except
      on E: Exception do
        Raised := ClusterErrorOf(TC_ERR_OPTION_RANGE, E);
    end;
    Check(Raised, 'SetOption: out of range raises TC_ERR_OPTION_RANGE');
    Node.SetOption(TC_OPT_KEY_TTL_MS, 5000);
    Check(Node.GetOption(TC_OPT_KEY_TTL_MS) = 5000, 'SetOption: set');
    Node.Start;
    Server.Start('127.0.0.1', 0);
    Node.Free; { stops the server, hands it its events back }
    Check(not Server.Active, 'Free: the server is stopped');
    Server.Start('127.0.0.1', 0); { no OnReceive: the library echoes }
    Client := TTestClient.Create;
    Check(Client.Connect(Server.Port) and Client.SendText('echo'#10) and
      (Client.ReceiveLine(Wait) = 'echo'#10), 'Free: the server runs without the node');
    Client.Free;
  finally
    Server.Free;
  end;
end;

procedure TestMissingLibrary;
var
  Pid: TPid;
  Status: cint;
  Argv: array[0..2] of PAnsiChar;
  Self_: AnsiString;
begin
  Self_ := ParamStr(0);
  Argv[0] := PAnsiChar(Self_);
  Argv[1] := '--expect-missing-library';
  Argv[2] := nil;
  Pid := fpFork;
  if Pid = 0 then
  begin
    setenv('TCPCLUSTER_LIBRARY', '/nonexistent/libtcpcluster.so', 1);
    fpExecv(Argv[0], @Argv[0]);
    fpExit(127);
  end;
  fpWaitPid(Pid, @Status, 0);
  Check(WIFEXITED(Status) and (WEXITSTATUS(Status) = 0),
    'a missing library raises ETcpClusterError saying why (child run)');
end;

function ExpectMissingLibrary: Integer;
var
  Server: TTcpServer;
begin
  Result := 1;
  Server := TTcpServer.Create;
  try
    try
      TTcpClusterNode.Create(Server, 'redis://127.0.0.1:1');
      WriteLn('a node was made without the library');
    except
      on E: ETcpClusterError do
      begin
        WriteLn(E.Message);
        if (E.Code = -1) and (Pos('Linux only', E.Message) > 0) and
           (Pos('hiredis', E.Message) > 0) and (Pos('/nonexistent/', E.Message) > 0) then
          Result := 0;
      end;
    end;
  finally
    Server.Free;
  end;
end;

{ Runs one check; an exception it raises fails it, and its members are freed. }
procedure Run(Test: TTestProc; const Name: String);
begin
  try
    Test;
  except
    on E: Exception do
    begin
      Check(False, Name + ' raised ' + E.ClassName + ': ' + E.Message);
      try
        FreePair;
      except
        on E2: Exception do
          WriteLn('  (cleanup: ', E2.Message, ')');
      end;
    end;
  end;
end;

begin
  if ParamStr(1) = '--expect-missing-library' then
  begin
    ExitCode := ExpectMissingLibrary;
    Exit;
  end;
  if not StartRedis then
  begin
    Check(False, 'redis-server starts');
    Summary;
    Exit;
  end;
  try
    Run(TestBroadcast, 'TestBroadcast');
    Run(TestSendToLink, 'TestSendToLink');
    Run(TestPresence, 'TestPresence');
    Run(TestTopics, 'TestTopics');
    Run(TestCountersAndDrops, 'TestCountersAndDrops');
    Run(TestErrorsAndFree, 'TestErrorsAndFree');
    Run(TestMissingLibrary, 'TestMissingLibrary');
  finally
    StopRedis;
  end;
  Summary;
end.
