{ conformance_server — the conformance server of tests/conformance/PROTOCOL.md, on the Pascal
  binding (TTcpServer from TcpServerClass, over UTcpServer).

  Echoes everything; a chunk "BCAST <text>"#10 broadcasts "<text>"#10 to every link, "STATS"#10
  answers with the statistics, "CLOSE"#10 closes the link, "THROW"#10 raises in the handler (the
  binding logs it and closes the link), "REFUSE ON|OFF"#10 toggles refusing new links.
  Standard input: "stats" prints a STATS line; "quit" or end of input stops the server.

  Run: conformance_server_pascal [--port N] [--ip TEXT] [--idle-ms N] [--max-links N]
       [--workers N] [--buffer-size N] [--buffer-count N] }
program conformance_server;

{$IFDEF FPC}{$mode delphi}{$ENDIF}

uses
  {$IFDEF UNIX}cthreads,{$ENDIF}
  SysUtils, UTcpServer, TcpServerClass;

type
  EThrowRequested = class(Exception);

  TConformanceServer = class(TTcpServer)
  private
    FRefuse: Boolean;
    FDisconnects: Integer;
    FIdle: Integer;
    procedure HandleConnect(Sender: TTcpServer; Link: PLink; var Accept: Boolean);
    procedure HandleReceive(Sender: TTcpServer; Link: PLink; Buf: PByte; Len: Integer;
      var KeepLink: Boolean);
    procedure HandleDisconnect(Sender: TTcpServer; Link: PLink);
    procedure HandleIdle(Sender: TTcpServer; Link: PLink);
  public
    constructor Create;
    function StatsLine: AnsiString;
    property Disconnects: Integer read FDisconnects;
    property Idle: Integer read FIdle;
  end;

constructor TConformanceServer.Create;
begin
  inherited Create;
  OnConnect := HandleConnect;
  OnReceive := HandleReceive;
  OnDisconnect := HandleDisconnect;
  OnIdle := HandleIdle;
end;

function TConformanceServer.StatsLine: AnsiString;
begin
  Result := AnsiString(Format('STATS links=%d accepts=%d refused=%d closed=%d idle_closed=%d ' +
    'bytes_in=%d bytes_out=%d msgs_in=%d msgs_out=%d iomem_free=%d iomem_count=%d ' +
    'workers=%d disconnects=%d idle=%d',
    [GetLinkCount, Counter(TS_COUNTER_ACCEPTS), Counter(TS_COUNTER_REFUSED),
     Counter(TS_COUNTER_CLOSED), Counter(TS_COUNTER_IDLE_CLOSED), Counter(TS_COUNTER_BYTES_IN),
     Counter(TS_COUNTER_BYTES_OUT), Counter(TS_COUNTER_MSGS_IN), Counter(TS_COUNTER_MSGS_OUT),
     GetIOMemFree, GetServerOption(TS_OPT_IO_BUFFER_COUNT), GetWorkerCount, FDisconnects,
     FIdle]));
end;

procedure TConformanceServer.HandleConnect(Sender: TTcpServer; Link: PLink; var Accept: Boolean);
begin
  Accept := not FRefuse;
end;

function IsCommand(Buf: PByte; Len: Integer; const Word: AnsiString): Boolean;
begin
  Result := (Len >= Length(Word)) and CompareMem(Buf, PAnsiChar(Word), Length(Word));
end;

procedure TConformanceServer.HandleReceive(Sender: TTcpServer; Link: PLink; Buf: PByte;
  Len: Integer; var KeepLink: Boolean);
begin
  { Only a chunk ending in a newline can be a command. A refused send (queue over its limit)
    closes the link, as the C sample does. }
  if PAnsiChar(Buf)[Len - 1] = #10 then
  begin
    if IsCommand(Buf, Len, 'BCAST ') then
    begin
      Broadcast(PAnsiChar(Buf) + 6, Len - 6);
      Exit;
    end;
    if IsCommand(Buf, Len, 'STATS'#10) then
    begin
      KeepLink := SendText(Link, StatsLine + #10);
      Exit;
    end;
    if IsCommand(Buf, Len, 'CLOSE'#10) then
    begin
      CloseLink(Link);
      Exit;
    end;
    if IsCommand(Buf, Len, 'THROW'#10) then
      raise EThrowRequested.Create('THROW requested by the client');
    if IsCommand(Buf, Len, 'REFUSE ') then
    begin
      FRefuse := IsCommand(Buf, Len, 'REFUSE ON'#10);
      KeepLink := SendText(Link, 'OK'#10);
      Exit;
    end;
  end;
  KeepLink := Send(Link, Buf, Len);
end;

procedure TConformanceServer.HandleDisconnect(Sender: TTcpServer; Link: PLink);
begin
  InterLockedIncrement(FDisconnects);
end;

procedure TConformanceServer.HandleIdle(Sender: TTcpServer; Link: PLink);
begin
  InterLockedIncrement(FIdle);
end;

{ ---- Command line ------------------------------------------------------------------------ }

procedure Fail(Code: Integer; const Text: String);
begin
  WriteLn(ErrOutput, 'conformance_server: ', Text);
  Halt(Code);
end;

procedure ParseArguments(Server: TConformanceServer; var Ip: String; var Port: Cardinal);
var
  i: Integer;
  Flag, Value: String;
  Number: Int64;
begin
  i := 1;
  while i <= ParamCount do
  begin
    Flag := ParamStr(i);
    if i + 1 > ParamCount then
      Fail(2, Flag + ' needs a value');
    Value := ParamStr(i + 1);
    Inc(i, 2);
    if Flag = '--ip' then
    begin
      Ip := Value;
      Continue;
    end;
    if not TryStrToInt64(Value, Number) or (Number < 0) then
      Fail(2, Flag + ': ' + Value + ' is not a non-negative number');
    if Flag = '--port' then Port := Cardinal(Number)
    else if Flag = '--idle-ms' then Server.IdleTimeoutMs := Number
    else if Flag = '--max-links' then Server.MaxLinks := Number
    else if Flag = '--workers' then Server.WorkerThreads := Number
    else if Flag = '--buffer-size' then Server.IoBufferSize := Number
    else if Flag = '--buffer-count' then Server.IoBufferCount := Number
    else Fail(2, 'unknown flag ' + Flag);
  end;
end;

var
  Server: TConformanceServer;
  Ip, Line: String;
  Port: Cardinal;
begin
  Ip := '127.0.0.1';
  Port := 0;
  Server := TConformanceServer.Create;
  ParseArguments(Server, Ip, Port);
  try
    Server.Start(Ip, Port);
  except
    on E: Exception do
      Fail(1, 'cannot start: ' + E.Message);
  end;
  WriteLn('PORT ', Server.Port);
  Flush(Output);
  while not Eof(Input) do
  begin
    ReadLn(Input, Line);
    Line := Trim(Line);
    if Line = 'stats' then
    begin
      WriteLn(Server.StatsLine);
      Flush(Output);
    end
    else if Line = 'quit' then
      Break;
  end;
  try
    Server.Stop;
  except
    on E: Exception do
      Fail(1, 'stop failed: ' + E.Message);
  end;
  WriteLn(Format('STOPPED disconnects=%d idle=%d', [Server.Disconnects, Server.Idle]));
  Flush(Output);
  Server.Free;
end.
