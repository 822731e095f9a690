{ TcpServerReg — design-time registration: puts TTcpServerComponent on the tool palette's
  'tcpserver' page. Only the design-time packages contain it (Delphi TcpServerDT.dpk, the
  Lazarus tcpserver_laz.lpk); programs never use this unit. Runs in the IDE's main thread
  when the package is installed. }
unit TcpServerReg;

{$IFDEF FPC}{$mode delphi}{$ENDIF}

interface

procedure Register;

implementation

uses
  Classes, TcpServerComponent;

procedure Register;
begin
  RegisterComponents('tcpserver', [TTcpServerComponent]);
end;

end.
