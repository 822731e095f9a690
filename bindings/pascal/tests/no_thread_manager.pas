{ no_thread_manager — a program that forgot cthreads (Free Pascal on Unix). Callbacks would run
  on engine threads without a thread manager and corrupt the RTL, so StartTcpServer must refuse
  with an ETcpServerError that says what to do, and start nothing.
  Prints "N passed, M failed"; exits non-zero on any failure. }
program no_thread_manager;

{$IFDEF FPC}{$mode delphi}{$ENDIF}

uses
  SysUtils, UTcpServer, TestSupport; { deliberately no cthreads }

var
  Message: String;
begin
  Message := '';
  try
    StartTcpServer('127.0.0.1', 0);
  except
    on E: ETcpServerError do
      Message := E.Message;
  end;
  Check(Pos('cthreads', Message) > 0, 'StartTcpServer raises ETcpServerError naming cthreads: ' +
    Message);
  Check(not IsTcpServerActive, 'and starts nothing');
  Summary;
end.
