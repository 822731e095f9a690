{ UTcpServer — the interface of the original Delphi IOCP unit UTcpServer, on tcpserver
  (tcpserver.dll / libtcpserver.so). A program written for the original switches by
  recompiling: same unit name, same procedures, same callback signatures, same record names
  (PLink, TLink, PWorker, TWorker) and fields it read (Data, RemoteIP, RemotePort,
  TickCountActive, Worker^.Data).

  What the unit adds on top of the raw C ABI (TcpServerApi):
  - your callbacks are plain Pascal procedures/functions; the unit hands the library its own
    trampolines with the C calling convention, converts Boolean/String, and catches every
    exception your code raises (it is logged with WriteLog; the link is closed);
  - StartTcpServer first checks the library's version and record layout (ETcpServerError on
    a mismatch) and, on Unix, that a thread manager (cthreads) is installed;
  - StopTcpServer keeps serving TThread.Synchronize/Queue while it waits when called from the
    main thread, so handlers that synchronize with the main thread cannot deadlock it.

  On Linux, list cthreads first in the program's uses clause: callbacks run on engine threads. }
unit UTcpServer;

{$IFDEF FPC}{$mode delphi}{$ENDIF}
{$IFDEF MSWINDOWS}{$DEFINE TS_STDCALL}{$ENDIF}

interface

uses
  SysUtils, TcpServerApi;

const
{$I TcpServerConsts.inc}

type
  { The records, as declared by the library (see TcpServerApi for the fields). }
  TTcpWorker = TcpServerApi.TTcpWorker;
  PTcpWorker = TcpServerApi.PTcpWorker;
  TTcpLink = TcpServerApi.TTcpLink;
  PTcpLink = TcpServerApi.PTcpLink;
  PWorker = PTcpWorker;
  TWorker = TTcpWorker;
  PLink = PTcpLink;
  TLink = TTcpLink;

  { The handle-based family (several servers in one process), as declared by the library:
    its callbacks take the C convention and must not let an exception escape. TTcpServer
    (TcpServerClass) wraps it with "of object" events and exception handling. }
  TTcpServerHandle = TcpServerApi.TTcpServerHandle;
  PTcpServerHandle = TcpServerApi.PTcpServerHandle;
  TOnReceiveEx = TcpServerApi.TOnReceiveEx;
  TOnDisconnectEx = TcpServerApi.TOnDisconnectEx;
  TOnLinkIdleOvertimeEx = TcpServerApi.TOnLinkIdleOvertimeEx;
  TOnThreadCreateEx = TcpServerApi.TOnThreadCreateEx;
  TOnThreadExitEx = TcpServerApi.TOnThreadExitEx;
  TOnConnectEx = TcpServerApi.TOnConnectEx;

  { The original callback types, unchanged. }
  TOnLinkIdleOvertimeEvt = procedure(Link: PLink);
  TOnDisconnectEvt = procedure(Link: PLink);
  { True keeps the link; False closes it (pending sends flush first). }
  TOnReceiveEvt = function(Link: PLink; Buf: PByte; Len: Integer): Boolean;
  TOnThreadCreateEvt = function(IsWorkerThread: Boolean): Pointer;
  { New: False refuses the link (no other callback follows for it). }
  TOnConnectEvt = function(Link: PLink): Boolean;
  { New: runs on an engine thread just before it ends; Data is what OnXxxThreadCreate returned. }
  TOnThreadExitEvt = procedure(IsWorkerThread: Boolean; Data: Pointer);
  { New: every log line of the engine and of WriteLog (Level is TS_LOG_*). }
  TOnLogEvt = procedure(Level: Integer; const Text: String);

  { GetLinkIdList's result. }
  TLinkIdArray = array of UInt64;

  { Raised when the binding cannot work at all: a library of another version or record
    layout, or (on Unix) a program without a thread manager. }
  ETcpServerError = class(Exception);

{ ---- The original interface ------------------------------------------------------------ }

{ Bind RemoteIP ('' = all interfaces) and RemotePort (0 = ephemeral, see GetServerPort).
  False: see GetLastErrorCode / GetLastErrorText. }
function StartTcpServer(RemoteIP: String; RemotePort: Cardinal): Boolean;
{ Close every link (each gets OnDisconnect), wait for every callback, join every thread.
  From the main thread it serves TThread.Synchronize/Queue while it waits. False (and
  TS_ERR_IN_CALLBACK) when called from inside a callback. }
function StopTcpServer: Boolean;
{ Set before StartTcpServer; any may be nil (a nil OnReceive echoes everything back). }
procedure SetEventProc(OnReceive: TOnReceiveEvt; OnDisconnect: TOnDisconnectEvt;
  OnLinkIdleOvertime: TOnLinkIdleOvertimeEvt; OnServerThreadCreate: TOnThreadCreateEvt;
  OnWorkerThreadCreate: TOnThreadCreateEvt);
{ Sends Log to the library's log (OnLog if set, else standard error). }
procedure WriteLog(Log: String);
{ A local interface address (no network lookups): a public one if IsIntnetIP, else a private
  one; '' on failure. }
function GetLocalIP(IsIntnetIP: Boolean): String;

{ ---- New in tcpserver ----------------------------------------------------------------- }

function SetConnectProc(OnConnect: TOnConnectEvt): Boolean;
function SetThreadExitProc(OnThreadExit: TOnThreadExitEvt): Boolean;
{ nil = standard error. May be called at any time. }
procedure SetLogProc(OnLog: TOnLogEvt);
{ The calling thread's last error text ('' if none yet). }
function GetLastErrorText: String;
function GetVersionText: String;
function GetCloseReasonText(Reason: Integer): String;
function GetAbiLayout: String;
{ The link's peer address as a Pascal string. }
function LinkRemoteIP(Link: PLink): String;
{ '' when the loaded library matches this binding (version major and every size/offset of
  TTcpLink/TTcpWorker), else what differs. StartTcpServer raises ETcpServerError with it. }
function CheckTcpServerLibrary: String;
{ The comparison behind it, for a given GetAbiLayout text and GetVersion number. }
function CompareAbiLayout(const LayoutText: String; Version: Integer): String;

{ ---- New in API 1.1 ---------------------------------------------------------------------- }

{ The ids of the open links of Server (nil = the default server, the one the flat API
  drives), however many there are; an empty array on error (see GetLastErrorCode). }
function GetLinkIdList(Server: PTcpServerHandle = nil): TLinkIdArray;
{ What StartTcpServer checks first, for code that starts servers through the handle family
  (TTcpServer does): raises ETcpServerError when the library does not match this unit or (on
  Unix) no thread manager is installed, and makes the RTL thread-safe (IsMultiThread). }
procedure EnsureTcpServerUsable;
{ StopTcpServer for a server made by CreateTcpServer (nil = the default server): waits for
  every callback, serving TThread.Synchronize/Queue meanwhile when called from the main
  thread. False (see GetLastErrorCode) when called from one of that server's callbacks. }
function StopTcpServerAndWait(Server: PTcpServerHandle): Boolean;
{ For code that calls back into Pascal handlers itself (TTcpServer does): the text that
  describes the exception being handled, raised by the handler named Callback (Link may be
  nil), and the report of such a text at TS_LOG_ERROR through SetLogProc's procedure or the
  library's log. Call them only inside an except block; they never raise. }
function DescribeCallbackException(const Callback: String; Link: PLink): String;
procedure ReportCallbackError(const Text: String);

{ ---- New in API 1.3: TLS (README "TLS") ------------------------------------------------ }

{ The default server's certificate and key: CertFile holds a PEM chain (and the key when
  KeyFile is ''), a DER certificate or a PKCS#12/PFX (the key inside); Password opens an
  encrypted key or a PFX ('' = none). With SetServerOption(TS_OPT_TLS, 1) before
  StartTcpServer every link speaks TLS: OnConnect (and the rest) run once its handshake is
  done, Buf holds plaintext. On a running server it applies to new handshakes. False: see
  GetLastErrorCode (TS_ERR_TLS_CERTIFICATE) and GetLastErrorText (what to fix). The other
  settings are the raw calls below (SetTlsAlpn, SetTlsClientCA, AddTlsServerName, ...). }
function SetTlsCertificateFile(const CertFile: String; const KeyFile: String = '';
  const Password: String = ''): Boolean;
{ A TLS fact (TS_TLS_INFO_*) of a link, valid from OnConnect on. False (Text = '') when the
  link has none: GetLastErrorCode says why (TS_ERR_TLS_NOT_ESTABLISHED: not a TLS link). }
function LinkTlsInfo(Link: PLink; What: Integer; out Text: String): Boolean; overload;
function LinkTlsInfo(LinkId: UInt64; What: Integer; out Text: String): Boolean; overload;

{ Everything else, declared as in tcpserver.h: GetIOMem, FreeIOMem, PostSend, PostSendById,
  SendBuffer, SendBufferById, PostRecv, PostBroadcast, CloseLink*, IsTcpServerActive,
  GetServerPort, StopTcpServerEx, Set/GetServerOption, the statistics, GetServerCounter,
  GetTickCount32, GetVersion, GetLastErrorCode; since API 1.1 PauseReceive/ResumeReceive
  (and *ById), GetSendQueueBytes(ById), GetLinkIds, PostBroadcastExcept and the handle-based
  CreateTcpServer / TcpServer* family. LongBool results read as Boolean. }
{$I TcpServerImports.inc}

implementation

uses
  {$IFDEF MSWINDOWS}Windows,{$ENDIF} Classes;  { Delphi: GetCurrentThreadId on Windows }

var
  UserReceive: TOnReceiveEvt;
  UserDisconnect: TOnDisconnectEvt;
  UserIdle: TOnLinkIdleOvertimeEvt;
  UserServerThreadCreate: TOnThreadCreateEvt;
  UserWorkerThreadCreate: TOnThreadCreateEvt;
  UserConnect: TOnConnectEvt;
  UserThreadExit: TOnThreadExitEvt;
  UserLog: TOnLogEvt;
  LibraryChecked: Boolean = False;

{ ---- Strings: the library speaks UTF-8 ------------------------------------------------- }

function FromUtf8(Text: PAnsiChar): String;
var
  Utf8: UTF8String;
  Len: Integer;
begin
  Result := '';
  if Text = nil then
    Exit;
  Len := 0;
  while Text[Len] <> #0 do
    Inc(Len);
  SetString(Utf8, Text, Len);
  Result := String(Utf8);
end;

function ToUtf8(const Text: String): UTF8String;
begin
  Result := UTF8String(Text);
end;

{ ---- Exceptions never reach the engine -------------------------------------------------- }

procedure ReportCallbackError(const Text: String);
begin
  { An exception in a handler is an error: it goes at TS_LOG_ERROR to the log procedure set
    with SetLogProc, else through WriteLog (always written: to the engine's log sink, or to
    standard error). }
  if GetServerOption(TS_OPT_LOG_LEVEL) > TS_LOG_ERROR then
    Exit;
  if Assigned(UserLog) then
    UserLog(TS_LOG_ERROR, Text)
  else
    TcpServerApi.WriteLog(PAnsiChar(ToUtf8('error: ' + Text)));
end;

function DescribeCallbackException(const Callback: String; Link: PLink): String;
var
  Obj: TObject;
  Text: String;
begin
  { Must not raise in turn: this runs inside an except block on an engine thread. }
  Result := Callback + ' raised an exception';
  try
    Obj := ExceptObject;
    if Obj is Exception then
      Text := Obj.ClassName + ': ' + Exception(Obj).Message
    else if Obj <> nil then
      Text := Obj.ClassName
    else
      Text := 'unknown exception';
    if Link <> nil then
      Result := Format('%s raised %s (link %d from %s:%d); the link is closed',
        [Callback, Text, Link^.Id, LinkRemoteIP(Link), Link^.RemotePort])
    else
      Result := Format('%s raised %s', [Callback, Text]);
  except
  end;
end;

procedure LogCallbackException(const Callback: String; Link: PLink);
begin
  try
    ReportCallbackError(DescribeCallbackException(Callback, Link));
  except
  end;
end;

{ ---- Trampolines: the C calling convention, on engine threads --------------------------- }

function ReceiveTrampoline(Link: PTcpLink; Buf: PByte; Len: Integer): LongBool;
  {$IFDEF TS_STDCALL}stdcall{$ELSE}cdecl{$ENDIF};
begin
  try
    Result := UserReceive(Link, Buf, Len);
  except
    LogCallbackException('OnReceive', Link);
    Result := False; { closes the link }
  end;
end;

procedure DisconnectTrampoline(Link: PTcpLink); {$IFDEF TS_STDCALL}stdcall{$ELSE}cdecl{$ENDIF};
begin
  try
    UserDisconnect(Link);
  except
    LogCallbackException('OnDisconnect', Link);
  end;
end;

procedure IdleTrampoline(Link: PTcpLink); {$IFDEF TS_STDCALL}stdcall{$ELSE}cdecl{$ENDIF};
begin
  try
    UserIdle(Link);
  except
    LogCallbackException('OnLinkIdleOvertime', Link);
  end;
end;

function ServerThreadCreateTrampoline(IsWorkerThread: LongBool): Pointer;
  {$IFDEF TS_STDCALL}stdcall{$ELSE}cdecl{$ENDIF};
begin
  try
    Result := UserServerThreadCreate(IsWorkerThread);
  except
    LogCallbackException('OnServerThreadCreate', nil);
    Result := nil;
  end;
end;

function WorkerThreadCreateTrampoline(IsWorkerThread: LongBool): Pointer;
  {$IFDEF TS_STDCALL}stdcall{$ELSE}cdecl{$ENDIF};
begin
  try
    Result := UserWorkerThreadCreate(IsWorkerThread);
  except
    LogCallbackException('OnWorkerThreadCreate', nil);
    Result := nil;
  end;
end;

function ConnectTrampoline(Link: PTcpLink): LongBool; {$IFDEF TS_STDCALL}stdcall{$ELSE}cdecl{$ENDIF};
begin
  try
    Result := UserConnect(Link);
  except
    LogCallbackException('OnConnect', Link);
    Result := False; { refuses the link }
  end;
end;

procedure ThreadExitTrampoline(IsWorkerThread: LongBool; Data: Pointer);
  {$IFDEF TS_STDCALL}stdcall{$ELSE}cdecl{$ENDIF};
begin
  try
    UserThreadExit(IsWorkerThread, Data);
  except
    LogCallbackException('OnThreadExit', nil);
  end;
end;

procedure LogTrampoline(Level: Integer; Text: PAnsiChar); {$IFDEF TS_STDCALL}stdcall{$ELSE}cdecl{$ENDIF};
begin
  { An exception here cannot be logged (that would call us again): it is dropped. }
  try
    UserLog(Level, FromUtf8(Text));
  except
  end;
end;

{ ---- Checks made at first use ----------------------------------------------------------- }

function ThreadSupportProblem: String;
{$IF DEFINED(FPC) AND DEFINED(UNIX)}
var
  Manager: TThreadManager;
begin
  { Without cthreads, FPC's threadvars, heap and exceptions are not thread-safe, and the
    engine calls back on its own threads. }
  Result := '';
  GetThreadManager(Manager);
  if not Assigned(Manager.InitManager) then
    Result := 'no thread manager is installed, but callbacks run on the engine''s threads: ' +
      'put cthreads first in the program''s uses clause';
end;
{$ELSE}
begin
  Result := '';
end;
{$IFEND}

function CheckTcpServerLibrary: String;
begin
  Result := CompareAbiLayout(FromUtf8(TcpServerApi.GetAbiLayout), GetVersion);
end;

function CompareAbiLayout(const LayoutText: String; Version: Integer): String;
var
  Reported: TStringList;
  Problems: String;

  procedure Compare(const Name: String; Ours: NativeInt);
  var
    Theirs: String;
  begin
    if Reported.IndexOfName(Name) < 0 then
      Exit;
    Theirs := Reported.Values[Name];
    if StrToIntDef(Theirs, -1) <> Ours then
      Problems := Problems + Format('; %s: library %s, binding %d', [Name, Theirs, Ours]);
  end;

  procedure Require(const Name: String);
  begin
    if Reported.IndexOfName(Name) < 0 then
      Problems := Problems + '; the library''s layout text lacks ' + Name;
  end;

begin
  Problems := '';
  if Version div 10000 <> TCPSERVER_VERSION_MAJOR then
    Problems := Format('; library version %d.%d.%d, this binding needs major version %d',
      [Version div 10000, Version div 100 mod 100, Version mod 100, TCPSERVER_VERSION_MAJOR]);
  Reported := TStringList.Create;
  try
    Reported.Delimiter := ';';
    Reported.StrictDelimiter := True;
    Reported.DelimitedText := LayoutText;
    Require('ptr');
    Require('TcpLink.size');
    Require('TcpLink.Id');
    Require('TcpWorker.size');
    { Every size and offset of the records, generated from tcpserver.h by tools/abi/abi.py. }
    {$I TcpServerLayout.inc}
  finally
    Reported.Free;
  end;
  Result := '';
  if Problems <> '' then
    Result := 'the tcpserver library does not match this UTcpServer unit (' +
      Copy(Problems, 3, MaxInt) + '); use the library this unit was written for';
end;

procedure EnsureTcpServerUsable;
var
  Problem: String;
begin
  if LibraryChecked then
    Exit;
  Problem := ThreadSupportProblem;
  if Problem = '' then
    Problem := CheckTcpServerLibrary;
  if Problem <> '' then
    raise ETcpServerError.Create('UTcpServer: ' + Problem);
  IsMultiThread := True; { the RTL must lock from now on: callbacks come from other threads }
  LibraryChecked := True;
end;

{ ---- The original interface ------------------------------------------------------------ }

function StartTcpServer(RemoteIP: String; RemotePort: Cardinal): Boolean;
begin
  EnsureTcpServerUsable;
  Result := TcpServerApi.StartTcpServer(PAnsiChar(ToUtf8(RemoteIP)), RemotePort);
end;

function IsMainThread: Boolean;
begin
  Result := GetCurrentThreadId = MainThreadID;
end;

function StopTcpServer: Boolean;
begin
  Result := StopTcpServerAndWait(nil);
end;

function StopTcpServerAndWait(Server: PTcpServerHandle): Boolean;
const
  SliceMs = 10; { how long each wait lasts before the main thread serves its queue again }

  function StopSlice: Boolean;
  begin
    if Server = nil then
      Result := TcpServerApi.StopTcpServerEx(SliceMs)
    else
      Result := TcpServerApi.TcpServerStop(Server, SliceMs);
  end;

begin
  { A handler blocked in TThread.Synchronize waits for the main thread; if the main thread
    waited for the handler, neither would move. So it waits in slices and serves the
    synchronize queue between them. }
  while not StopSlice do
  begin
    if GetLastErrorCode <> TS_ERR_TIMEOUT then
    begin
      Result := False;
      Exit;
    end;
    if IsMainThread then
      CheckSynchronize(0);
  end;
  if IsMainThread then
    CheckSynchronize(0); { run what handlers queued (TThread.Queue) before they finished }
  Result := True;
end;

procedure SetEventProc(OnReceive: TOnReceiveEvt; OnDisconnect: TOnDisconnectEvt;
  OnLinkIdleOvertime: TOnLinkIdleOvertimeEvt; OnServerThreadCreate: TOnThreadCreateEvt;
  OnWorkerThreadCreate: TOnThreadCreateEvt);
var
  Receive: TOnReceive;
  Disconnect: TOnDisconnect;
  Idle: TOnLinkIdleOvertime;
  ServerCreate, WorkerCreate: TOnThreadCreate;
begin
  { While running the library refuses the change (TS_ERR_ALREADY_ACTIVE), and so do we: the
    trampolines must keep calling what the library was given. }
  if IsTcpServerActive then
  begin
    TcpServerApi.SetEventProc(nil, nil, nil, nil, nil); { sets the error, changes nothing }
    Exit;
  end;
  UserReceive := OnReceive;
  UserDisconnect := OnDisconnect;
  UserIdle := OnLinkIdleOvertime;
  UserServerThreadCreate := OnServerThreadCreate;
  UserWorkerThreadCreate := OnWorkerThreadCreate;
  { A nil callback stays nil for the library: it then does its default (echo, ...). }
  Receive := nil;
  Disconnect := nil;
  Idle := nil;
  ServerCreate := nil;
  WorkerCreate := nil;
  if Assigned(OnReceive) then
    Receive := ReceiveTrampoline;
  if Assigned(OnDisconnect) then
    Disconnect := DisconnectTrampoline;
  if Assigned(OnLinkIdleOvertime) then
    Idle := IdleTrampoline;
  if Assigned(OnServerThreadCreate) then
    ServerCreate := ServerThreadCreateTrampoline;
  if Assigned(OnWorkerThreadCreate) then
    WorkerCreate := WorkerThreadCreateTrampoline;
  TcpServerApi.SetEventProc(Receive, Disconnect, Idle, ServerCreate, WorkerCreate);
end;

procedure WriteLog(Log: String);
begin
  TcpServerApi.WriteLog(PAnsiChar(ToUtf8(Log)));
end;

function GetLocalIP(IsIntnetIP: Boolean): String;
var
  Buf: array[0..63] of AnsiChar;
begin
  Result := '';
  if TcpServerApi.GetLocalIP(IsIntnetIP, @Buf[0], Length(Buf)) >= 0 then
    Result := FromUtf8(@Buf[0]);
end;

{ ---- New in tcpserver ----------------------------------------------------------------- }

function SetConnectProc(OnConnect: TOnConnectEvt): Boolean;
begin
  Result := False;
  if IsTcpServerActive then
  begin
    TcpServerApi.SetConnectProc(nil); { sets TS_ERR_ALREADY_ACTIVE, changes nothing }
    Exit;
  end;
  UserConnect := OnConnect;
  if Assigned(OnConnect) then
    Result := TcpServerApi.SetConnectProc(ConnectTrampoline)
  else
    Result := TcpServerApi.SetConnectProc(nil);
end;

function SetThreadExitProc(OnThreadExit: TOnThreadExitEvt): Boolean;
begin
  Result := False;
  if IsTcpServerActive then
  begin
    TcpServerApi.SetThreadExitProc(nil);
    Exit;
  end;
  UserThreadExit := OnThreadExit;
  if Assigned(OnThreadExit) then
    Result := TcpServerApi.SetThreadExitProc(ThreadExitTrampoline)
  else
    Result := TcpServerApi.SetThreadExitProc(nil);
end;

procedure SetLogProc(OnLog: TOnLogEvt);
begin
  { The library may be logging on another thread right now: give it nil first, so it never
    calls the trampoline while UserLog changes. }
  TcpServerApi.SetLogProc(nil);
  UserLog := OnLog;
  if Assigned(OnLog) then
    TcpServerApi.SetLogProc(LogTrampoline);
end;

function GetLastErrorText: String;
begin
  Result := FromUtf8(TcpServerApi.GetLastErrorText);
end;

function GetVersionText: String;
begin
  Result := FromUtf8(TcpServerApi.GetVersionText);
end;

function GetCloseReasonText(Reason: Integer): String;
begin
  Result := FromUtf8(TcpServerApi.GetCloseReasonText(Reason));
end;

function GetAbiLayout: String;
begin
  Result := FromUtf8(TcpServerApi.GetAbiLayout);
end;

function LinkRemoteIP(Link: PLink): String;
begin
  Result := '';
  if Link <> nil then
    Result := FromUtf8(@Link^.RemoteIP[0]);
end;

{ ---- New in API 1.3: TLS ------------------------------------------------------------------ }

function SetTlsCertificateFile(const CertFile: String; const KeyFile: String;
  const Password: String): Boolean;
var
  Cert, Key, Pass: UTF8String;
  KeyArg, PassArg: PAnsiChar;
begin
  Cert := ToUtf8(CertFile);
  Key := ToUtf8(KeyFile);
  Pass := ToUtf8(Password);
  KeyArg := nil;
  PassArg := nil;
  if Key <> '' then
    KeyArg := PAnsiChar(Key);
  if Pass <> '' then
    PassArg := PAnsiChar(Pass);
  Result := TcpServerApi.SetTlsCertificateFile(PAnsiChar(Cert), KeyArg, PassArg);
end;

{ GetLinkTlsInfo of Link, or GetLinkTlsInfoById of Id when Link is nil, with a buffer grown
  until the text fits. }
function ReadTlsInfo(Link: PLink; Id: UInt64; What: Integer; out Text: String): Boolean;
var
  Buf: array of AnsiChar;
  Len: Integer;
begin
  Text := '';
  SetLength(Buf, 256);
  repeat
    if Link <> nil then
      Len := TcpServerApi.GetLinkTlsInfo(Link, What, @Buf[0], Length(Buf))
    else
      Len := TcpServerApi.GetLinkTlsInfoById(Id, What, @Buf[0], Length(Buf));
    if (Len < 0) and (GetLastErrorCode = TS_ERR_BUFFER_TOO_SMALL) and
       (Length(Buf) < 1 shl 20) then
      SetLength(Buf, Length(Buf) * 4)
    else
      Break;
  until False;
  Result := Len >= 0;
  if Result then
    Text := FromUtf8(@Buf[0]);
end;

function LinkTlsInfo(Link: PLink; What: Integer; out Text: String): Boolean;
begin
  Text := '';
  if Link = nil then
    Result := TcpServerApi.GetLinkTlsInfo(nil, What, nil, 0) >= 0 { sets the error }
  else
    Result := ReadTlsInfo(Link, 0, What, Text);
end;

function LinkTlsInfo(LinkId: UInt64; What: Integer; out Text: String): Boolean;
begin
  Result := ReadTlsInfo(nil, LinkId, What, Text);
end;

{ ---- New in API 1.1 ---------------------------------------------------------------------- }

function GetLinkIdList(Server: PTcpServerHandle): TLinkIdArray;
var
  Count: Integer;

  function Fetch(Ids: PUInt64; Capacity: Integer): Integer;
  begin
    if Server = nil then
      Result := TcpServerApi.GetLinkIds(Ids, Capacity)
    else
      Result := TcpServerApi.TcpServerGetLinkIds(Server, Ids, Capacity);
  end;

begin
  { Links come and go between the calls: ask again while the array was too short. }
  Result := nil;
  Count := Fetch(nil, 0);
  while Count > Length(Result) do
  begin
    SetLength(Result, Count + 16);
    Count := Fetch(@Result[0], Length(Result));
  end;
  if Count < 0 then
    Count := 0;
  SetLength(Result, Count);
end;

end.
