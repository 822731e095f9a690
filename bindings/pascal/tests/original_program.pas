{ original_program — acceptance item 2: a program written only from the ORIGINAL UTcpServer
  interface (the 2009 unit's declarations: callbacks with their original signatures, PLink
  fields, GetIOMem/PostSend/FreeIOMem as its sample echo did, the statistics calls) must
  compile unchanged against the binding and serve an echo round trip.

  Only the harness lines are new: cthreads (required by Free Pascal on Unix), and TestSupport,
  which plays the client (the original interface cannot tell an ephemeral port) and prints
  "N passed, M failed". Everything between "begin of the original program" and its end is
  source an original program could contain. }
program original_program;

{$IFDEF FPC}{$mode delphi}{$ENDIF}

uses
  {$IFDEF UNIX}cthreads,{$ENDIF}
  SysUtils, UTcpServer,
  TestSupport; { harness }

{ ---- begin of the original program ------------------------------------------------------ }

type
  { What the application keeps per link, hung on Link^.Data. }
  PSession = ^TSession;
  TSession = record
    Peer: String;
    Bytes: Integer;
  end;

var
  WorkerTag: Integer;         { stands for a per-thread database connection }
  WorkerDataSeen: Boolean = False;
  LastPeer: String = '';
  LastBytes: Integer = 0;
  Disconnects: Integer = 0;

function OnServerThreadCreate(IsWorkerThread: Boolean): Pointer;
begin
  Result := nil;
end;

function OnWorkerThreadCreate(IsWorkerThread: Boolean): Pointer;
begin
  Result := @WorkerTag;
end;

function OnReceive(Link: PLink; Buf: PByte; Len: Integer): Boolean;
var
  IOMem: Pointer;
  Session: PSession;
begin
  Result := True;
  if Link^.Data = nil then
  begin
    New(Session);
    Session^.Peer := Format('%s:%d', [Link^.RemoteIP, Link^.RemotePort]);
    Session^.Bytes := 0;
    Link^.Data := Session;
  end;
  Session := Link^.Data;
  Session^.Bytes := Session^.Bytes + Len;
  if Link^.Worker^.Data = @WorkerTag then
    WorkerDataSeen := True;
  IOMem := GetIOMem();
  if IOMem = nil then
    Exit;
  Move(Buf^, IOMem^, Len);
  if not PostSend(Link, IOMem, Len) then
    FreeIOMem(IOMem);
end;

procedure OnDisconnect(Link: PLink);
var
  Session: PSession;
begin
  Session := Link^.Data;
  if Session <> nil then
  begin
    LastPeer := Session^.Peer;
    LastBytes := Session^.Bytes;
    Dispose(Session);
    Link^.Data := nil;
  end;
  Disconnects := Disconnects + 1;
end;

procedure OnLinkIdleOvertime(Link: PLink);
begin
  WriteLog(Format('idle link %s:%d closed', [Link^.RemoteIP, Link^.RemotePort]));
  OnDisconnect(Link);
end;

procedure ShowStatistics;
var
  i: Integer;
  TickCount: DWord;
begin
  WriteLn(Format('links %.1f%% (%d used, %d free, %d bytes), IO memory %.1f%% (%d free, %d bytes)',
    [GetLinkUse(), GetLinkCount(), GetLinkFree(), GetLinkSize(), GetIOMemUse(), GetIOMemFree(),
     GetIOMemSize()]));
  for i := 1 to GetWorkerCount() do
    WriteLn(Format('worker %d (thread %d): %d executions, busy %d ms',
      [i, GetWorkerID(i), GetWorkerExecInfo(i, TickCount), TickCount]));
  WriteLn(Format('service thread: %d passes, last %d ms; local IP %s',
    [GetServerExecCount(), GetServerExecLong(), GetLocalIP(False)]));
end;

function RunOriginalProgram: Boolean;
begin
  SetEventProc(OnReceive, OnDisconnect, OnLinkIdleOvertime, OnServerThreadCreate,
    OnWorkerThreadCreate);
  Result := StartTcpServer('127.0.0.1', 0);
  if not Result then
    WriteLog('StartTcpServer failed');
end;

procedure StopOriginalProgram;
begin
  ShowStatistics;
  if IsTcpServerActive() then
    StopTcpServer();
end;

{ ---- end of the original program -------------------------------------------------------- }

const
  Greeting = 'hello from a program written for the original UTcpServer';
begin
  Check(RunOriginalProgram, 'the original program starts its server');
  Check(EchoThroughServer(Greeting) = Greeting, 'its OnReceive echoes a round trip');
  StopOriginalProgram;
  Check(not IsTcpServerActive(), 'StopTcpServer stops it');
  Check(Disconnects = 1, 'OnDisconnect ran once for the link');
  Check(Copy(LastPeer, 1, 10) = '127.0.0.1:', 'Link^.RemoteIP / RemotePort formatted: ' + LastPeer);
  Check(LastBytes = Length(Greeting), 'Link^.Data carried the session between callbacks');
  Check(WorkerDataSeen, 'Link^.Worker^.Data is what OnWorkerThreadCreate returned');
  Summary;
end.
