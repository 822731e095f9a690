{ test_imports — the library has every export TcpServerApi declares, and UTcpServer re-exports
  the raw imports as they are.

  TcpServerApi, TcpServerImports.inc and TcpServerConsts.inc are generated from tcpserver.h by
  tools/abi/abi.py (CTest's abi_generated_files_current fails when they drift from the header).
  TcpServerImportList.inc, generated beside them, references every export by address, so this
  program fails to link when the library lacks one; each address is then checked at run time.
  Prints "N passed, M failed"; exits non-zero on any failure. }
program test_imports;

{$IFDEF FPC}{$mode delphi}{$ENDIF}

uses
  {$IFDEF UNIX}cthreads,{$ENDIF}
  SysUtils, Classes, TcpServerApi, UTcpServer, TestSupport;

var
  Imports: TStringList;

procedure Imported(const Name: String; Address: Pointer);
begin
  Check(Address <> nil, 'import ' + Name + ' resolves');
  Check(Imports.IndexOf(Name) < 0, 'import ' + Name + ' is listed once');
  Imports.Add(Name);
end;

begin
  Imports := TStringList.Create;
  try
    {$I TcpServerImportList.inc}
    Check(Imports.Count > 80, Format('every export is referenced (%d)', [Imports.Count]));
    { TcpServerImports.inc is included by both units: the same functions, the same constants. }
    Check(@UTcpServer.PostSend = @TcpServerApi.PostSend, 'UTcpServer.PostSend is TcpServerApi.PostSend');
    Check(@UTcpServer.TcpServerGetExecCount = @TcpServerApi.TcpServerGetExecCount,
      'UTcpServer.TcpServerGetExecCount is TcpServerApi''s');
    Check(UTcpServer.TS_OPT_IPV6_ONLY = TcpServerApi.TS_OPT_IPV6_ONLY,
      'both units export the constants');
    Check(TcpServerApi.GetVersion = TCPSERVER_VERSION_NUMBER,
      'the library''s version is the one the declarations were generated for');
  finally
    Imports.Free;
  end;
  Summary;
end.
