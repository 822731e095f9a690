{ TcpServerApi — the raw mirror of dll/include/tcpserver.h: every constant, both records, every
  callback type and every export, with the C names and C types (LongBool for the int32
  booleans, PAnsiChar for UTF-8 strings). No logic lives here.

  Most programs use UTcpServer instead: the interface of the original Delphi unit, with Pascal
  strings, Boolean results and exception-safe callbacks. Use this unit when you want the C ABI
  exactly as it is (your callbacks must then be declared with the calling convention below and
  must never let an exception escape). }
unit TcpServerApi;

{$IFDEF FPC}{$mode delphi}{$PACKRECORDS C}{$ELSE}{$ALIGN 8}{$ENDIF}
{ TS_CALL of the header: __stdcall on Windows (Win64 has one convention and ignores it),
  the platform's C convention elsewhere. }
{$IFDEF MSWINDOWS}{$DEFINE TS_STDCALL}{$ENDIF}

interface

const
{$I TcpServerConsts.inc}

type
  { One engine thread (TcpWorker). Valid while that thread runs. }
  PTcpWorker = ^TTcpWorker;
  TTcpWorker = record
    Data: Pointer;            { what OnWorkerThreadCreate / OnServerThreadCreate returned }
    ID: Cardinal;             { OS thread id }
    Index: Integer;           { 1..GetWorkerCount for workers, 0 for the service thread }
    IsWorkerThread: LongBool;
    Reserved0: Integer;
    Reserved: array[0..3] of Pointer;
  end;

  { One connection (TcpLink). The application may read every field and write only Data. }
  PTcpLink = ^TTcpLink;
  TTcpLink = record
    Data: Pointer;            { application-owned, nil for a new link }
    Worker: PTcpWorker;       { the engine thread running the current callback }
    Id: UInt64;               { unique in the process, never reused, never 0 }
    RemoteIP: array[0..TS_REMOTE_IP_SIZE - 1] of AnsiChar; { NUL-terminated text }
    RemotePort: Cardinal;
    TickCountActive: Cardinal; { GetTickCount32 of the last receive }
    CloseReason: Integer;     { TS_CLOSE_*, set before OnDisconnect / OnLinkIdleOvertime }
    CloseError: Integer;      { OS error code when CloseReason = TS_CLOSE_ERROR }
    Reserved: array[0..3] of Pointer;
  end;

  { The original unit's names for the same records. }
  PLink = PTcpLink;
  TLink = TTcpLink;
  PWorker = PTcpWorker;
  TWorker = TTcpWorker;

  { Callback types of the header (TS_CALL). }
  TOnReceive = function(Link: PTcpLink; Buf: PByte; Len: Integer): LongBool;
    {$IFDEF TS_STDCALL}stdcall{$ELSE}cdecl{$ENDIF};
  TOnDisconnect = procedure(Link: PTcpLink); {$IFDEF TS_STDCALL}stdcall{$ELSE}cdecl{$ENDIF};
  TOnLinkIdleOvertime = procedure(Link: PTcpLink); {$IFDEF TS_STDCALL}stdcall{$ELSE}cdecl{$ENDIF};
  TOnThreadCreate = function(IsWorkerThread: LongBool): Pointer;
    {$IFDEF TS_STDCALL}stdcall{$ELSE}cdecl{$ENDIF};
  TOnThreadExit = procedure(IsWorkerThread: LongBool; Data: Pointer);
    {$IFDEF TS_STDCALL}stdcall{$ELSE}cdecl{$ENDIF};
  TOnConnect = function(Link: PTcpLink): LongBool; {$IFDEF TS_STDCALL}stdcall{$ELSE}cdecl{$ENDIF};
  TOnLog = procedure(Level: Integer; Text: PAnsiChar); {$IFDEF TS_STDCALL}stdcall{$ELSE}cdecl{$ENDIF};

  { A server of the handle-based family (CreateTcpServer); opaque. }
  TTcpServerHandle = record end;
  PTcpServerHandle = ^TTcpServerHandle;

  { Callback types of that family: Context is what CreateTcpServer was given. }
  TOnReceiveEx = function(Context: Pointer; Link: PTcpLink; Buf: PByte; Len: Integer): LongBool;
    {$IFDEF TS_STDCALL}stdcall{$ELSE}cdecl{$ENDIF};
  TOnDisconnectEx = procedure(Context: Pointer; Link: PTcpLink);
    {$IFDEF TS_STDCALL}stdcall{$ELSE}cdecl{$ENDIF};
  TOnLinkIdleOvertimeEx = procedure(Context: Pointer; Link: PTcpLink);
    {$IFDEF TS_STDCALL}stdcall{$ELSE}cdecl{$ENDIF};
  TOnThreadCreateEx = function(Context: Pointer; IsWorkerThread: LongBool): Pointer;
    {$IFDEF TS_STDCALL}stdcall{$ELSE}cdecl{$ENDIF};
  TOnThreadExitEx = procedure(Context: Pointer; IsWorkerThread: LongBool; Data: Pointer);
    {$IFDEF TS_STDCALL}stdcall{$ELSE}cdecl{$ENDIF};
  TOnConnectEx = function(Context: Pointer; Link: PTcpLink): LongBool;
    {$IFDEF TS_STDCALL}stdcall{$ELSE}cdecl{$ENDIF};

{ Exports whose UTcpServer counterpart has a Pascal shape (strings, Boolean, Pascal callbacks). }
function StartTcpServer(Ip: PAnsiChar; Port: Cardinal): LongBool;
  {$IFDEF TS_STDCALL}stdcall{$ELSE}cdecl{$ENDIF}; external TS_LIBRARY name 'StartTcpServer';
function StopTcpServer: LongBool;
  {$IFDEF TS_STDCALL}stdcall{$ELSE}cdecl{$ENDIF}; external TS_LIBRARY name 'StopTcpServer';
procedure SetEventProc(OnReceive: TOnReceive; OnDisconnect: TOnDisconnect;
  OnLinkIdleOvertime: TOnLinkIdleOvertime; OnServerThreadCreate: TOnThreadCreate;
  OnWorkerThreadCreate: TOnThreadCreate);
  {$IFDEF TS_STDCALL}stdcall{$ELSE}cdecl{$ENDIF}; external TS_LIBRARY name 'SetEventProc';
function SetConnectProc(OnConnect: TOnConnect): LongBool;
  {$IFDEF TS_STDCALL}stdcall{$ELSE}cdecl{$ENDIF}; external TS_LIBRARY name 'SetConnectProc';
function SetThreadExitProc(OnThreadExit: TOnThreadExit): LongBool;
  {$IFDEF TS_STDCALL}stdcall{$ELSE}cdecl{$ENDIF}; external TS_LIBRARY name 'SetThreadExitProc';
procedure SetLogProc(OnLog: TOnLog);
  {$IFDEF TS_STDCALL}stdcall{$ELSE}cdecl{$ENDIF}; external TS_LIBRARY name 'SetLogProc';
procedure WriteLog(Text: PAnsiChar);
  {$IFDEF TS_STDCALL}stdcall{$ELSE}cdecl{$ENDIF}; external TS_LIBRARY name 'WriteLog';
function GetLocalIP(IsInternetIP: LongBool; Buf: PAnsiChar; BufLen: Integer): Integer;
  {$IFDEF TS_STDCALL}stdcall{$ELSE}cdecl{$ENDIF}; external TS_LIBRARY name 'GetLocalIP';
function GetVersionText: PAnsiChar;
  {$IFDEF TS_STDCALL}stdcall{$ELSE}cdecl{$ENDIF}; external TS_LIBRARY name 'GetVersionText';
function GetLastErrorText: PAnsiChar;
  {$IFDEF TS_STDCALL}stdcall{$ELSE}cdecl{$ENDIF}; external TS_LIBRARY name 'GetLastErrorText';
function GetCloseReasonText(Reason: Integer): PAnsiChar;
  {$IFDEF TS_STDCALL}stdcall{$ELSE}cdecl{$ENDIF}; external TS_LIBRARY name 'GetCloseReasonText';
function GetAbiLayout: PAnsiChar;
  {$IFDEF TS_STDCALL}stdcall{$ELSE}cdecl{$ENDIF}; external TS_LIBRARY name 'GetAbiLayout';

{$I TcpServerImports.inc}

implementation

end.
