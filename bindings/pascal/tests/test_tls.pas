{ test_tls — TLS through the Pascal binding: TTcpServer's properties (Tls, TlsMinVersion,
  TlsClientCert, SessionTickets ...) and methods (LoadCertificate from PEM files, a PFX and
  bytes, AddServerName, SetAlpn, SetClientCA, TlsInfo), the errors they raise, a certificate
  changed on a running server (new handshakes see it, an open link keeps working), close
  reasons, and UTcpServer's flat API as a program written for the original unit uses it: the
  option and one SetTlsCertificateFile call.

  The client is tests/tls_interop/tls_client.py (Python's ssl) driven through its standard
  input and output, since the Free Pascal RTL has no TLS client; the certificates are made
  for the run by tests/tls_interop/certs.py into a temporary folder.
  Usage: test_tls <folder of certs.py and tls_client.py>. Linux only (it runs python3).
  Prints "N passed, M failed"; exits non-zero on any failure. }
program test_tls;

{$IFDEF FPC}{$mode delphi}{$ENDIF}

uses
  {$IFDEF UNIX}cthreads,{$ENDIF}
  SysUtils, Classes, Process, UTcpServer, TcpServerClass, TestSupport;

const
  Python = '/usr/bin/python3';
  Password = 'test password'; { certs.py's PASSWORD }

type
  { The scriptable TLS client: one command line in, one reply line out (tls_client.py). }
  TTlsClient = class
  private
    FProcess: TProcess;
  public
    constructor Create(const Script: String);
    destructor Destroy; override;
    procedure Send(const Command: String);
    { The reply to Command, '' when none came before the deadline. }
    function Ask(const Command: String): String;
  end;

  TEvents = class
  public
    Lock: TRTLCriticalSection;
    Infos, Reasons: String; { what OnConnect read, the close reasons seen }
    Connects, Disconnects: Integer;
    constructor Create;
    destructor Destroy; override;
    procedure Connect(Sender: TTcpServer; Link: PLink; var Accept: Boolean);
    procedure Disconnect(Sender: TTcpServer; Link: PLink);
    function Seen: String;
  end;

var
  Dir, Certs: String;
  Client: TTlsClient;
  Events: TEvents;

constructor TTlsClient.Create(const Script: String);
begin
  inherited Create;
  FProcess := TProcess.Create(nil);
  FProcess.Executable := Python;
  FProcess.Parameters.Add(Script);
  FProcess.Options := [poUsePipes];
  FProcess.Execute;
end;

destructor TTlsClient.Destroy;
begin
  if FProcess.Running then
  begin
    Send('quit'); { no reply: the client exits }
    if not FProcess.WaitOnExit(5000) then
      FProcess.Terminate(1);
  end;
  FProcess.Free;
  inherited Destroy;
end;

procedure TTlsClient.Send(const Command: String);
var
  Line: AnsiString;
begin
  Line := AnsiString(Command) + #10;
  FProcess.Input.Write(Line[1], Length(Line));
end;

function TTlsClient.Ask(const Command: String): String;
var
  Deadline: QWord;
  C: AnsiChar;
begin
  Send(Command);
  Result := '';
  Deadline := GetTickCount64 + 15000; { a handshake on a busy machine, with its timeout }
  while GetTickCount64 < Deadline do
  begin
    if FProcess.Output.NumBytesAvailable = 0 then
    begin
      Sleep(1);
      Continue;
    end;
    FProcess.Output.ReadBuffer(C, 1);
    if C = #10 then
      Exit;
    Result := Result + String(C);
  end;
  Result := '';
end;

constructor TEvents.Create;
begin
  inherited Create;
  InitCriticalSection(Lock);
end;

destructor TEvents.Destroy;
begin
  DoneCriticalSection(Lock);
  inherited Destroy;
end;

procedure TEvents.Connect(Sender: TTcpServer; Link: PLink; var Accept: Boolean);
var
  Info: String;
begin
  { OnConnect runs once the handshake is done: the session can be read. }
  Info := Sender.TlsInfo(Link, TS_TLS_INFO_PROTOCOL) + ' ' +
    Sender.TlsInfo(Link, TS_TLS_INFO_SERVER_NAME) + ' alpn=' +
    Sender.TlsInfo(Link, TS_TLS_INFO_ALPN) + ' client=' +
    Sender.TlsInfo(Link, TS_TLS_INFO_CLIENT_SUBJECT) + ';';
  EnterCriticalSection(Lock);
  Infos := Infos + Info;
  LeaveCriticalSection(Lock);
  InterLockedIncrement(Connects);
end;

procedure TEvents.Disconnect(Sender: TTcpServer; Link: PLink);
begin
  EnterCriticalSection(Lock);
  Reasons := Reasons + IntToStr(Link^.CloseReason) + ';';
  LeaveCriticalSection(Lock);
  InterLockedIncrement(Disconnects);
end;

function TEvents.Seen: String;
begin
  EnterCriticalSection(Lock);
  Result := Infos;
  LeaveCriticalSection(Lock);
end;

function Cert(const Name: String): String;
begin
  Result := IncludeTrailingPathDelimiter(Certs) + Name;
end;

function ReadBytes(const FileName: String): TBytes;
var
  Stream: TFileStream;
begin
  Result := nil;
  Stream := TFileStream.Create(FileName, fmOpenRead);
  try
    SetLength(Result, Stream.Size);
    Stream.ReadBuffer(Result[0], Length(Result));
  finally
    Stream.Free;
  end;
end;

procedure MakeCertificates;
var
  Output: String;
begin
  Certs := IncludeTrailingPathDelimiter(GetTempDir(False)) + Format('tcpserver-pas-tls-%d',
    [GetProcessID]);
  if not RunCommand(Python, [Dir + 'certs.py', Certs], Output) then
    raise Exception.Create('certs.py failed: ' + Output);
end;

procedure RemoveCertificates;
var
  Found: TSearchRec;
begin
  if FindFirst(Cert('*'), faAnyFile, Found) = 0 then
  begin
    repeat
      DeleteFile(Cert(Found.Name));
    until FindNext(Found) <> 0;
    FindClose(Found);
  end;
  RemoveDir(Certs);
end;

{ 'connect NAME PORT ca=... [more]' and its reply. }
function Connect(const Name: String; Port: Cardinal; const More: String = ''): String;
begin
  Result := Client.Ask(Trim(Format('connect %s %d ca=%s %s', [Name, Port, Cert('ca.pem'), More])));
end;

function Echo(const Name, Text: String): Boolean;
begin
  Result := Client.Ask('echo ' + Name + ' ' + Text) = 'OK';
end;

function Has(const Text, Part: String): Boolean;
begin
  Result := Pos(Part, Text) > 0;
end;

var
  ExpectedConnects, ExpectedDisconnects: Integer;

function ConnectsReached: Boolean;
begin
  Result := Events.Connects >= ExpectedConnects;
end;

function DisconnectsReached: Boolean;
begin
  Result := Events.Disconnects >= ExpectedDisconnects;
end;

function NewServer: TTcpServer;
begin
  Result := TTcpServer.Create;
  Result.WorkerThreads := 2;
  Result.Tls := True;
  Result.OnConnect := Events.Connect;
  Result.OnDisconnect := Events.Disconnect;
end;

{ ---- TTcpServer -------------------------------------------------------------------------- }

procedure TestCertificatesAndErrors;
var
  Server: TTcpServer;
  Raised: String;
begin
  Server := NewServer;
  try
    Check(Server.Tls and (Server.TlsMinVersion = TS_TLS_1_2) and Server.SessionTickets and
      (Server.TlsClientCert = TS_TLS_CLIENT_CERT_NONE), 'TLS properties and their defaults');
    Raised := '';
    try
      Server.Start('127.0.0.1', 0);
    except
      on E: ETcpServerError do
        Raised := E.Message;
    end;
    Check(Has(Raised, 'certificate') and not Server.Active,
      'Start without a certificate raises ETcpServerError: ' + Raised);
    Raised := '';
    try
      Server.LoadCertificate(Cert('server.pem'), Cert('server-enc.key'), 'not it');
    except
      on E: ETcpServerError do
        Raised := E.Message;
    end;
    Check(Has(Raised, 'password'), 'a wrong password raises, saying so: ' + Raised);
    Raised := '';
    try
      Server.AddServerName('one.test', Cert('missing.pem'));
    except
      on E: ETcpServerError do
        Raised := E.Message;
    end;
    Check(Has(Raised, 'missing.pem'), 'a missing file raises, naming it: ' + Raised);

    Server.LoadCertificate(Cert('reloaded.pem'), Cert('reloaded.key'));
    Server.Start('127.0.0.1', 0);
    { Each source applied to the running server, the other certificate in between. }
    Server.LoadCertificate(Cert('server.pem'), Cert('server-enc.key'), Password);
    Check(Has(Connect('a', Server.Port), 'commonName=localhost') and Echo('a', 'enc-key'),
      'LoadCertificate: PEM and an encrypted key');
    Server.LoadCertificate(Cert('reloaded.pem'), Cert('reloaded.key'));
    Check(Has(Connect('b', Server.Port), 'commonName=reloaded.localhost'),
      'LoadCertificate: another PEM pair');
    Server.LoadCertificate(Cert('server.pfx'), '', Password);
    Check(Has(Connect('c', Server.Port), 'commonName=localhost') and Echo('c', 'pfx'),
      'LoadCertificate: a PFX');
    Server.LoadCertificate(Cert('reloaded.pem'), Cert('reloaded.key'));
    Server.LoadCertificateData(ReadBytes(Cert('server.der')), ReadBytes(Cert('server-key.der')));
    Check(Has(Connect('d', Server.Port), 'commonName=localhost') and Echo('d', 'der'),
      'LoadCertificateData: DER bytes');
    ExpectedConnects := 4;
    Check(WaitUntil(ConnectsReached), 'OnConnect for every handshake');
    Check(Has(Events.Seen, 'TLSv1.3 localhost alpn= client=;'),
      'TlsInfo in OnConnect: ' + Events.Seen);
    Check(Server.Counter(TS_COUNTER_TLS_HANDSHAKES) = 4, 'four handshakes counted');
    Check(Client.Ask('close a') = 'OK', 'close_notify');
    { After a read, so the session tickets are taken: closing a socket with unread bytes
      would reset it instead. }
    Check(Echo('b', 'then a bare FIN') and (Client.Ask('close b bare') = 'OK'), 'a bare FIN');
    ExpectedDisconnects := 2;
    Check(WaitUntil(DisconnectsReached), 'two OnDisconnect');
    Check(Events.Reasons = Format('%d;%d;', [TS_CLOSE_PEER_CLOSED, TS_CLOSE_TLS_NO_CLOSE_NOTIFY]),
      'close_notify is PEER_CLOSED, a bare FIN TLS_NO_CLOSE_NOTIFY: ' + Events.Reasons);
  finally
    Server.Free;
  end;
end;

procedure TestClientCertificatesSniAlpn;
var
  Server: TTcpServer;
  Reply: String;
begin
  Events.Infos := '';
  Events.Connects := 0;
  Server := NewServer;
  try
    Server.TlsClientCert := TS_TLS_CLIENT_CERT_REQUIRE;
    Server.LoadCertificate(Cert('server-full.pem'));
    Server.SetClientCA(Cert('ca.pem'));
    Server.AddServerName('one.test', Cert('one.test.pem'), Cert('one.test.key'));
    Server.AddServerNameData('*.wild.test', ReadBytes(Cert('wild.test-full.pem')));
    Server.SetAlpn(['h2', 'http/1.1']);
    Server.Start('127.0.0.1', 0);
    Connect('anonymous', Server.Port);
    Check(not Echo('anonymous', 'no certificate'), 'required client certificate: refused without');
    Reply := Connect('known', Server.Port, Format('cert=%s key=%s alpn=http/1.1',
      [Cert('client.pem'), Cert('client.key')]));
    Check(Has(Reply, 'alpn=http/1.1') and Echo('known', 'with a certificate'),
      'accepted with one, ALPN http/1.1: ' + Reply);
    Reply := Connect('sni', Server.Port, Format('sni=one.test cert=%s key=%s',
      [Cert('client.pem'), Cert('client.key')]));
    Check(Has(Reply, 'commonName=one.test') and Echo('sni', 'one.test'),
      'AddServerName: one.test gets its certificate: ' + Reply);
    Reply := Connect('wild', Server.Port, Format('sni=a.wild.test cert=%s key=%s',
      [Cert('client.pem'), Cert('client.key')]));
    Check(Has(Reply, 'commonName=*.wild.test'), 'AddServerNameData: a wildcard: ' + Reply);
    Reply := Connect('spdy', Server.Port, Format('alpn=spdy/1 cert=%s key=%s',
      [Cert('client.pem'), Cert('client.key')]));
    Check(Has(Reply, 'FAIL'), 'no ALPN protocol in common: refused: ' + Reply);
    ExpectedConnects := 3;
    Check(WaitUntil(ConnectsReached), 'OnConnect for the three accepted');
    Check(Has(Events.Seen, 'alpn=http/1.1 client=CN=client one,O=tcpserver tests;'),
      'TlsInfo: ALPN and the client subject: ' + Events.Seen);
    Check((Server.TlsFailureCount(TS_TLS_CAUSE_CLIENT_CERTIFICATE) = 1) and
      (Server.TlsFailureCount(TS_TLS_CAUSE_ALPN) = 1), Format('TlsFailureCount by cause: ' +
      'client certificate %d, ALPN %d', [Server.TlsFailureCount(TS_TLS_CAUSE_CLIENT_CERTIFICATE),
      Server.TlsFailureCount(TS_TLS_CAUSE_ALPN)]));
    Server.RemoveServerName('one.test');
    Reply := Connect('removed', Server.Port, Format('sni=one.test cert=%s key=%s',
      [Cert('client.pem'), Cert('client.key')]));
    { The default certificate (CN=localhost) is not valid for one.test: the client says so. }
    Check(Has(Reply, 'not valid for ''one.test'''), 'RemoveServerName: the default certificate: ' +
      Reply);
  finally
    Server.Free;
  end;
end;

procedure TestReloadWhileRunning;
var
  Server: TTcpServer;
begin
  Server := NewServer;
  try
    Server.LoadCertificate(Cert('server-full.pem'));
    Server.Start('127.0.0.1', 0);
    Check(Has(Connect('old', Server.Port), 'commonName=localhost') and Echo('old', 'before'),
      'a link before the reload');
    Server.LoadCertificate(Cert('reloaded.pem'), Cert('reloaded.key'));
    Check(Has(Connect('new', Server.Port), 'commonName=reloaded.localhost') and
      Echo('new', 'fresh'), 'a new handshake sees the new certificate');
    Check(Echo('old', 'after'), 'the open link keeps working');
  finally
    Server.Free;
  end;
end;

{ ---- UTcpServer's flat API, as an original program uses it ------------------------------ }

var
  FlatInfo: String;

function FlatReceive(Link: PLink; Buf: PByte; Len: Integer): Boolean;
var
  Text: String;
begin
  if LinkTlsInfo(Link, TS_TLS_INFO_PROTOCOL, Text) then
    FlatInfo := Text;
  Result := SendBuffer(Link, Buf, Len);
end;

procedure TestFlatApi;
begin
  SetServerOption(TS_OPT_WORKER_THREADS, 2);
  Check(not SetTlsCertificateFile(Cert('missing.pem')) and
    (GetLastErrorCode = TS_ERR_TLS_CERTIFICATE), 'SetTlsCertificateFile: False for a missing file');
  { The additions a program written for the original unit needs: }
  Check(SetServerOption(TS_OPT_TLS, 1), 'SetServerOption(TS_OPT_TLS, 1)');
  Check(SetTlsCertificateFile(Cert('server.pem'), Cert('server.key')), 'SetTlsCertificateFile');
  SetEventProc(FlatReceive, nil, nil, nil, nil);
  Check(StartTcpServer('127.0.0.1', 0), 'StartTcpServer with TLS');
  Check(Has(Connect('flat', GetServerPort), 'commonName=localhost') and Echo('flat', 'original'),
    'the original API serves over TLS');
  Check(FlatInfo = 'TLSv1.3', 'LinkTlsInfo in OnReceive: ' + FlatInfo);
  Check(StopTcpServer, 'StopTcpServer');
  SetServerOption(TS_OPT_TLS, 0);
end;

begin
  if ParamCount <> 1 then
  begin
    WriteLn('usage: test_tls <folder of certs.py and tls_client.py>');
    Halt(2);
  end;
  Dir := IncludeTrailingPathDelimiter(ParamStr(1));
  Events := TEvents.Create;
  try
    MakeCertificates;
    Client := TTlsClient.Create(Dir + 'tls_client.py');
    try
      TestCertificatesAndErrors;
      TestClientCertificatesSniAlpn;
      TestReloadWhileRunning;
      TestFlatApi;
    finally
      Client.Free;
      RemoveCertificates;
    end;
  except
    on E: Exception do
      Check(False, 'unexpected ' + E.ClassName + ': ' + E.Message);
  end;
  Events.Free;
  Summary;
end.
