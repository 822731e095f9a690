{ test_imports — TcpServerApi declares every export and every numeric constant of tcpserver.h.
  Each import is referenced by address, so linking this program fails if the library lacks a
  name; the header (path in the first argument) is read, so a function or constant added there
  but missing here fails a check. Prints "N passed, M failed"; exits non-zero on any failure. }
program test_imports;

{$IFDEF FPC}{$mode delphi}{$ENDIF}

uses
  {$IFDEF UNIX}cthreads,{$ENDIF}
  SysUtils, Classes, TcpServerApi, TestSupport;

var
  Imports, Constants: TStringList; { name -> address / value }

procedure Imported(const Name: String; Address: Pointer);
begin
  Check(Address <> nil, 'import ' + Name + ' resolves');
  Imports.Add(Name);
end;

procedure Constant(const Name: String; Value: Int64);
begin
  Constants.Values[Name] := IntToStr(Value);
end;

procedure DeclareAll;
begin
  Imported('StartTcpServer', @TcpServerApi.StartTcpServer);
  Imported('StopTcpServer', @TcpServerApi.StopTcpServer);
  Imported('StopTcpServerEx', @TcpServerApi.StopTcpServerEx);
  Imported('IsTcpServerActive', @TcpServerApi.IsTcpServerActive);
  Imported('GetServerPort', @TcpServerApi.GetServerPort);
  Imported('SetEventProc', @TcpServerApi.SetEventProc);
  Imported('SetConnectProc', @TcpServerApi.SetConnectProc);
  Imported('SetThreadExitProc', @TcpServerApi.SetThreadExitProc);
  Imported('SetLogProc', @TcpServerApi.SetLogProc);
  Imported('SetServerOption', @TcpServerApi.SetServerOption);
  Imported('GetServerOption', @TcpServerApi.GetServerOption);
  Imported('GetServerOptionRange', @TcpServerApi.GetServerOptionRange);
  Imported('GetIOMem', @TcpServerApi.GetIOMem);
  Imported('FreeIOMem', @TcpServerApi.FreeIOMem);
  Imported('PostSend', @TcpServerApi.PostSend);
  Imported('PostSendById', @TcpServerApi.PostSendById);
  Imported('SendBuffer', @TcpServerApi.SendBuffer);
  Imported('SendBufferById', @TcpServerApi.SendBufferById);
  Imported('PostRecv', @TcpServerApi.PostRecv);
  Imported('PostBroadcast', @TcpServerApi.PostBroadcast);
  Imported('CloseLink', @TcpServerApi.CloseLink);
  Imported('CloseLinkById', @TcpServerApi.CloseLinkById);
  Imported('CloseLinkEx', @TcpServerApi.CloseLinkEx);
  Imported('CloseLinkByIdEx', @TcpServerApi.CloseLinkByIdEx);
  Imported('GetLinkUse', @TcpServerApi.GetLinkUse);
  Imported('GetLinkSize', @TcpServerApi.GetLinkSize);
  Imported('GetLinkCount', @TcpServerApi.GetLinkCount);
  Imported('GetLinkFree', @TcpServerApi.GetLinkFree);
  Imported('GetIOMemUse', @TcpServerApi.GetIOMemUse);
  Imported('GetIOMemSize', @TcpServerApi.GetIOMemSize);
  Imported('GetIOMemFree', @TcpServerApi.GetIOMemFree);
  Imported('GetWorkerCount', @TcpServerApi.GetWorkerCount);
  Imported('GetWorkerID', @TcpServerApi.GetWorkerID);
  Imported('GetWorkerExecInfo', @TcpServerApi.GetWorkerExecInfo);
  Imported('GetServerExecLong', @TcpServerApi.GetServerExecLong);
  Imported('GetServerExecCount', @TcpServerApi.GetServerExecCount);
  Imported('GetServerCounter', @TcpServerApi.GetServerCounter);
  Imported('WriteLog', @TcpServerApi.WriteLog);
  Imported('GetLocalIP', @TcpServerApi.GetLocalIP);
  Imported('GetTickCount32', @TcpServerApi.GetTickCount32);
  Imported('GetTcpServerVersion', @TcpServerApi.GetTcpServerVersion);
  Imported('GetVersion', @TcpServerApi.GetVersion);
  Imported('GetVersionText', @TcpServerApi.GetVersionText);
  Imported('GetLastErrorCode', @TcpServerApi.GetLastErrorCode);
  Imported('GetLastErrorText', @TcpServerApi.GetLastErrorText);
  Imported('GetCloseReasonText', @TcpServerApi.GetCloseReasonText);
  Imported('GetAbiLayout', @TcpServerApi.GetAbiLayout);
  Imported('PauseReceive', @TcpServerApi.PauseReceive);
  Imported('ResumeReceive', @TcpServerApi.ResumeReceive);
  Imported('PauseReceiveById', @TcpServerApi.PauseReceiveById);
  Imported('ResumeReceiveById', @TcpServerApi.ResumeReceiveById);
  Imported('GetSendQueueBytes', @TcpServerApi.GetSendQueueBytes);
  Imported('GetSendQueueBytesById', @TcpServerApi.GetSendQueueBytesById);
  Imported('GetLinkIds', @TcpServerApi.GetLinkIds);
  Imported('PostBroadcastExcept', @TcpServerApi.PostBroadcastExcept);
  Imported('CreateTcpServer', @TcpServerApi.CreateTcpServer);
  Imported('DestroyTcpServer', @TcpServerApi.DestroyTcpServer);
  Imported('GetDefaultTcpServer', @TcpServerApi.GetDefaultTcpServer);
  Imported('TcpServerGetContext', @TcpServerApi.TcpServerGetContext);
  Imported('TcpServerStart', @TcpServerApi.TcpServerStart);
  Imported('TcpServerStop', @TcpServerApi.TcpServerStop);
  Imported('TcpServerIsActive', @TcpServerApi.TcpServerIsActive);
  Imported('TcpServerGetPort', @TcpServerApi.TcpServerGetPort);
  Imported('TcpServerSetEventProc', @TcpServerApi.TcpServerSetEventProc);
  Imported('TcpServerSetConnectProc', @TcpServerApi.TcpServerSetConnectProc);
  Imported('TcpServerSetThreadExitProc', @TcpServerApi.TcpServerSetThreadExitProc);
  Imported('TcpServerSetOption', @TcpServerApi.TcpServerSetOption);
  Imported('TcpServerGetOption', @TcpServerApi.TcpServerGetOption);
  Imported('TcpServerGetIOMem', @TcpServerApi.TcpServerGetIOMem);
  Imported('TcpServerPostBroadcast', @TcpServerApi.TcpServerPostBroadcast);
  Imported('TcpServerGetLinkIds', @TcpServerApi.TcpServerGetLinkIds);
  Imported('TcpServerGetLinkCount', @TcpServerApi.TcpServerGetLinkCount);
  Imported('TcpServerGetIOMemFree', @TcpServerApi.TcpServerGetIOMemFree);
  Imported('TcpServerGetWorkerCount', @TcpServerApi.TcpServerGetWorkerCount);
  Imported('TcpServerGetCounter', @TcpServerApi.TcpServerGetCounter);
  Imported('TcpServerGetLinkFree', @TcpServerApi.TcpServerGetLinkFree);
  Imported('TcpServerGetLinkUse', @TcpServerApi.TcpServerGetLinkUse);
  Imported('TcpServerGetLinkSize', @TcpServerApi.TcpServerGetLinkSize);
  Imported('TcpServerGetIOMemUse', @TcpServerApi.TcpServerGetIOMemUse);
  Imported('TcpServerGetIOMemSize', @TcpServerApi.TcpServerGetIOMemSize);
  Imported('TcpServerGetWorkerID', @TcpServerApi.TcpServerGetWorkerID);
  Imported('TcpServerGetWorkerExecInfo', @TcpServerApi.TcpServerGetWorkerExecInfo);
  Imported('TcpServerGetExecLong', @TcpServerApi.TcpServerGetExecLong);
  Imported('TcpServerGetExecCount', @TcpServerApi.TcpServerGetExecCount);
  Constant('TCPSERVER_VERSION_MAJOR', TCPSERVER_VERSION_MAJOR);
  Constant('TCPSERVER_VERSION_MINOR', TCPSERVER_VERSION_MINOR);
  Constant('TCPSERVER_VERSION_PATCH', TCPSERVER_VERSION_PATCH);
  Constant('TS_REMOTE_IP_SIZE', TS_REMOTE_IP_SIZE);
  Constant('TS_CLOSE_NONE', TS_CLOSE_NONE);
  Constant('TS_CLOSE_PEER_CLOSED', TS_CLOSE_PEER_CLOSED);
  Constant('TS_CLOSE_PEER_RESET', TS_CLOSE_PEER_RESET);
  Constant('TS_CLOSE_IDLE', TS_CLOSE_IDLE);
  Constant('TS_CLOSE_BY_APP', TS_CLOSE_BY_APP);
  Constant('TS_CLOSE_SEND_QUEUE_FULL', TS_CLOSE_SEND_QUEUE_FULL);
  Constant('TS_CLOSE_SERVER_STOP', TS_CLOSE_SERVER_STOP);
  Constant('TS_CLOSE_ERROR', TS_CLOSE_ERROR);
  Constant('TS_OK', TS_OK);
  Constant('TS_ERR_INVALID_ARGUMENT', TS_ERR_INVALID_ARGUMENT);
  Constant('TS_ERR_NOT_ACTIVE', TS_ERR_NOT_ACTIVE);
  Constant('TS_ERR_ALREADY_ACTIVE', TS_ERR_ALREADY_ACTIVE);
  Constant('TS_ERR_IN_CALLBACK', TS_ERR_IN_CALLBACK);
  Constant('TS_ERR_BAD_ADDRESS', TS_ERR_BAD_ADDRESS);
  Constant('TS_ERR_ADDRESS_IN_USE', TS_ERR_ADDRESS_IN_USE);
  Constant('TS_ERR_SOCKET', TS_ERR_SOCKET);
  Constant('TS_ERR_NOT_A_BUFFER', TS_ERR_NOT_A_BUFFER);
  Constant('TS_ERR_BUFFER_NOT_OWNED', TS_ERR_BUFFER_NOT_OWNED);
  Constant('TS_ERR_BAD_LENGTH', TS_ERR_BAD_LENGTH);
  Constant('TS_ERR_NOT_A_LINK', TS_ERR_NOT_A_LINK);
  Constant('TS_ERR_LINK_CLOSED', TS_ERR_LINK_CLOSED);
  Constant('TS_ERR_POOL_EXHAUSTED', TS_ERR_POOL_EXHAUSTED);
  Constant('TS_ERR_SEND_QUEUE_FULL', TS_ERR_SEND_QUEUE_FULL);
  Constant('TS_ERR_UNKNOWN_OPTION', TS_ERR_UNKNOWN_OPTION);
  Constant('TS_ERR_OPTION_RANGE', TS_ERR_OPTION_RANGE);
  Constant('TS_ERR_TIMEOUT', TS_ERR_TIMEOUT);
  Constant('TS_ERR_BUFFER_TOO_SMALL', TS_ERR_BUFFER_TOO_SMALL);
  Constant('TS_ERR_NOT_FOUND', TS_ERR_NOT_FOUND);
  Constant('TS_ERR_OUT_OF_MEMORY', TS_ERR_OUT_OF_MEMORY);
  Constant('TS_ERR_SYSTEM', TS_ERR_SYSTEM);
  Constant('TS_ERR_BUSY', TS_ERR_BUSY);
  Constant('TS_ERR_NOT_SUPPORTED', TS_ERR_NOT_SUPPORTED);
  Constant('TS_OPT_MAX_LINKS', TS_OPT_MAX_LINKS);
  Constant('TS_OPT_IO_BUFFER_SIZE', TS_OPT_IO_BUFFER_SIZE);
  Constant('TS_OPT_IO_BUFFER_COUNT', TS_OPT_IO_BUFFER_COUNT);
  Constant('TS_OPT_IDLE_TIMEOUT_MS', TS_OPT_IDLE_TIMEOUT_MS);
  Constant('TS_OPT_WORKER_THREADS', TS_OPT_WORKER_THREADS);
  Constant('TS_OPT_LISTEN_BACKLOG', TS_OPT_LISTEN_BACKLOG);
  Constant('TS_OPT_SEND_QUEUE_LIMIT', TS_OPT_SEND_QUEUE_LIMIT);
  Constant('TS_OPT_SEND_QUEUE_POLICY', TS_OPT_SEND_QUEUE_POLICY);
  Constant('TS_OPT_TCP_NODELAY', TS_OPT_TCP_NODELAY);
  Constant('TS_OPT_KEEPALIVE', TS_OPT_KEEPALIVE);
  Constant('TS_OPT_REUSEPORT', TS_OPT_REUSEPORT);
  Constant('TS_OPT_REUSEADDR', TS_OPT_REUSEADDR);
  Constant('TS_OPT_FRAMING', TS_OPT_FRAMING);
  Constant('TS_OPT_LOG_LEVEL', TS_OPT_LOG_LEVEL);
  Constant('TS_QUEUE_CLOSE_LINK', TS_QUEUE_CLOSE_LINK);
  Constant('TS_QUEUE_REFUSE_SEND', TS_QUEUE_REFUSE_SEND);
  Constant('TS_FRAMING_RAW', TS_FRAMING_RAW);
  Constant('TS_LOG_DEBUG', TS_LOG_DEBUG);
  Constant('TS_LOG_INFO', TS_LOG_INFO);
  Constant('TS_LOG_WARN', TS_LOG_WARN);
  Constant('TS_LOG_ERROR', TS_LOG_ERROR);
  Constant('TS_CLOSE_FLAG_ABORT', TS_CLOSE_FLAG_ABORT);
  Constant('TS_COUNTER_BYTES_IN', TS_COUNTER_BYTES_IN);
  Constant('TS_COUNTER_BYTES_OUT', TS_COUNTER_BYTES_OUT);
  Constant('TS_COUNTER_MSGS_IN', TS_COUNTER_MSGS_IN);
  Constant('TS_COUNTER_MSGS_OUT', TS_COUNTER_MSGS_OUT);
  Constant('TS_COUNTER_ACCEPTS', TS_COUNTER_ACCEPTS);
  Constant('TS_COUNTER_REFUSED', TS_COUNTER_REFUSED);
  Constant('TS_COUNTER_SEND_QUEUE_DROPS', TS_COUNTER_SEND_QUEUE_DROPS);
  Constant('TS_COUNTER_CLOSED', TS_COUNTER_CLOSED);
  Constant('TS_COUNTER_IDLE_CLOSED', TS_COUNTER_IDLE_CLOSED);
  Constant('TS_COUNTER_RECV_PAUSES', TS_COUNTER_RECV_PAUSES);
  Constant('TS_CLOSE_FRAME_TOO_LARGE', TS_CLOSE_FRAME_TOO_LARGE);
  Constant('TS_CLOSE_BAD_FRAME', TS_CLOSE_BAD_FRAME);
  Constant('TS_CLOSE_FRAME_TRUNCATED', TS_CLOSE_FRAME_TRUNCATED);
  Constant('TS_OPT_MAX_MESSAGE_SIZE', TS_OPT_MAX_MESSAGE_SIZE);
  Constant('TS_OPT_KEEPALIVE_IDLE_S', TS_OPT_KEEPALIVE_IDLE_S);
  Constant('TS_OPT_KEEPALIVE_INTERVAL_S', TS_OPT_KEEPALIVE_INTERVAL_S);
  Constant('TS_OPT_KEEPALIVE_COUNT', TS_OPT_KEEPALIVE_COUNT);
  Constant('TS_OPT_IPV6_ONLY', TS_OPT_IPV6_ONLY);
  Constant('TS_FRAMING_LENGTH_PREFIXED', TS_FRAMING_LENGTH_PREFIXED);
  Constant('TS_COUNTER_FRAMING_ERRORS', TS_COUNTER_FRAMING_ERRORS);
end;

{ The identifier that starts at Text[Start], or ''. }
function IdentifierAt(const Text: String; Start: Integer): String;
var
  Stop: Integer;
begin
  Stop := Start;
  while (Stop <= Length(Text)) and CharInSet(Text[Stop], ['A'..'Z', 'a'..'z', '0'..'9', '_']) do
    Inc(Stop);
  Result := Copy(Text, Start, Stop - Start);
end;

procedure CheckHeader(const HeaderPath: String);
var
  Header: TStringList;
  Line, Name, Value: String;
  i, At, Functions, Defines: Integer;
begin
  Header := TStringList.Create;
  try
    Header.LoadFromFile(HeaderPath);
    Functions := 0;
    Defines := 0;
    for i := 0 to Header.Count - 1 do
    begin
      Line := Trim(Header[i]);
      At := Pos('TS_CALL ', Line);
      if (Copy(Line, 1, 7) = 'TS_API ') and (At > 0) then
      begin
        Name := IdentifierAt(Line, At + Length('TS_CALL '));
        Inc(Functions);
        if Imports.IndexOf(Name) < 0 then
          Check(False, 'TcpServerApi declares ' + Name);
      end
      else if Copy(Line, 1, 8) = '#define ' then
      begin
        Name := IdentifierAt(Line, 9);
        Value := IdentifierAt(Trim(Copy(Line, 9 + Length(Name), MaxInt)), 1);
        if (Value = '') or not CharInSet(Value[1], ['0'..'9']) then
          Continue; { macros that are not plain numbers (TS_CALL, include guards, ...) }
        Inc(Defines);
        if Constants.Values[Name] <> Value then
          Check(False, Format('constant %s = %s as in the header (binding: "%s")',
            [Name, Value, Constants.Values[Name]]));
      end;
    end;
    Check(Functions = Imports.Count, Format('the header''s %d functions are all declared',
      [Functions]));
    Check(Defines = Constants.Count, Format('the header''s %d numeric constants all match',
      [Defines]));
  finally
    Header.Free;
  end;
end;

begin
  Imports := TStringList.Create;
  Constants := TStringList.Create;
  try
    DeclareAll;
    if ParamCount < 1 then
      Check(False, 'usage: test_imports <path of tcpserver.h>')
    else
      CheckHeader(ParamStr(1));
  finally
    Imports.Free;
    Constants.Free;
  end;
  Summary;
end.
