// The exported C ABI of TLS (tcpserver.h, "TLS"): the settings calls, flat (the default server)
// and TcpServer* (any server), GetLinkTlsInfo and the failure counts. Marshalling only: the
// work is in core/tls_server.* and core/tls_links.cpp. Any thread.
#include "abi/shield.h"
#include "core/registry.h"
#include "core/server.h"
#include "core/tls_server.h"
#include "tcpserver.h"

using ts::default_server;
using ts::shielded;

namespace {

// Runs fn(ServerTls&) for the server `handle` names (a pinned live one), as 0/1.
template <typename Fn>
int32_t on_tls(TcpServerHandle* handle, const char* what, Fn&& fn) {
  return shielded(0, [&]() -> int32_t {
    ts::Pinned server = ts::pin_handle(handle, what);
    return server && fn(server->tls()) ? 1 : 0;
  });
}

template <typename Fn>
int32_t on_default_tls(Fn&& fn) {
  return shielded(0, [&]() -> int32_t { return fn(default_server().tls()) ? 1 : 0; });
}

}  // namespace

extern "C" {

TS_API int32_t TS_CALL SetTlsCertificateFile(const char* CertFile, const char* KeyFile,
                                             const char* Password) {
  return on_default_tls([&](ts::ServerTls& t) {
    return t.set_certificate_file(CertFile, KeyFile, Password);
  });
}
TS_API int32_t TS_CALL SetTlsCertificate(const uint8_t* CertData, int32_t CertLen,
                                         const uint8_t* KeyData, int32_t KeyLen,
                                         const char* Password) {
  return on_default_tls([&](ts::ServerTls& t) {
    return t.set_certificate(CertData, CertLen, KeyData, KeyLen, Password);
  });
}
TS_API int32_t TS_CALL AddTlsServerName(const char* HostPattern, const uint8_t* CertData,
                                        int32_t CertLen, const uint8_t* KeyData, int32_t KeyLen,
                                        const char* Password) {
  return on_default_tls([&](ts::ServerTls& t) {
    return t.add_server_name(HostPattern, CertData, CertLen, KeyData, KeyLen, Password);
  });
}
TS_API int32_t TS_CALL SetTlsAlpn(const char* List) {
  return on_default_tls([&](ts::ServerTls& t) { return t.set_alpn(List); });
}
TS_API int32_t TS_CALL SetTlsClientCA(const uint8_t* CaData, int32_t CaLen) {
  return on_default_tls([&](ts::ServerTls& t) { return t.set_client_ca(CaData, CaLen); });
}
TS_API int32_t TS_CALL SetTlsCiphers(const char* Tls12List, const char* Tls13Suites) {
  return on_default_tls([&](ts::ServerTls& t) { return t.set_ciphers(Tls12List, Tls13Suites); });
}
TS_API int32_t TS_CALL SetTlsTicketKeys(const uint8_t* Keys, int32_t Len) {
  return on_default_tls([&](ts::ServerTls& t) { return t.set_ticket_keys(Keys, Len); });
}

TS_API int32_t TS_CALL TcpServerSetTlsCertificateFile(TcpServerHandle* Server,
                                                      const char* CertFile, const char* KeyFile,
                                                      const char* Password) {
  return on_tls(Server, "TcpServerSetTlsCertificateFile", [&](ts::ServerTls& t) {
    return t.set_certificate_file(CertFile, KeyFile, Password);
  });
}
TS_API int32_t TS_CALL TcpServerSetTlsCertificate(TcpServerHandle* Server, const uint8_t* CertData,
                                                  int32_t CertLen, const uint8_t* KeyData,
                                                  int32_t KeyLen, const char* Password) {
  return on_tls(Server, "TcpServerSetTlsCertificate", [&](ts::ServerTls& t) {
    return t.set_certificate(CertData, CertLen, KeyData, KeyLen, Password);
  });
}
TS_API int32_t TS_CALL TcpServerAddTlsServerName(TcpServerHandle* Server, const char* HostPattern,
                                                 const uint8_t* CertData, int32_t CertLen,
                                                 const uint8_t* KeyData, int32_t KeyLen,
                                                 const char* Password) {
  return on_tls(Server, "TcpServerAddTlsServerName", [&](ts::ServerTls& t) {
    return t.add_server_name(HostPattern, CertData, CertLen, KeyData, KeyLen, Password);
  });
}
TS_API int32_t TS_CALL TcpServerSetTlsAlpn(TcpServerHandle* Server, const char* List) {
  return on_tls(Server, "TcpServerSetTlsAlpn", [&](ts::ServerTls& t) { return t.set_alpn(List); });
}
TS_API int32_t TS_CALL TcpServerSetTlsClientCA(TcpServerHandle* Server, const uint8_t* CaData,
                                               int32_t CaLen) {
  return on_tls(Server, "TcpServerSetTlsClientCA",
                [&](ts::ServerTls& t) { return t.set_client_ca(CaData, CaLen); });
}
TS_API int32_t TS_CALL TcpServerSetTlsCiphers(TcpServerHandle* Server, const char* Tls12List,
                                              const char* Tls13Suites) {
  return on_tls(Server, "TcpServerSetTlsCiphers",
                [&](ts::ServerTls& t) { return t.set_ciphers(Tls12List, Tls13Suites); });
}
TS_API int32_t TS_CALL TcpServerSetTlsTicketKeys(TcpServerHandle* Server, const uint8_t* Keys,
                                                 int32_t Len) {
  return on_tls(Server, "TcpServerSetTlsTicketKeys",
                [&](ts::ServerTls& t) { return t.set_ticket_keys(Keys, Len); });
}

TS_API int32_t TS_CALL GetLinkTlsInfo(TcpLink* Link, int32_t What, char* Buf, int32_t BufLen) {
  return shielded(-1, [&] { return ts::pin_link_owner(Link)->tls_info(Link, What, Buf, BufLen); });
}
TS_API int32_t TS_CALL GetLinkTlsInfoById(uint64_t LinkId, int32_t What, char* Buf,
                                          int32_t BufLen) {
  return shielded(-1, [&] {
    return ts::pin_id_owner(LinkId)->tls_info_by_id(LinkId, What, Buf, BufLen);
  });
}
TS_API int64_t TS_CALL GetTlsFailureCount(int32_t Cause) {
  return shielded(int64_t{-1}, [&] { return default_server().tls_failures(Cause); });
}
TS_API int64_t TS_CALL TcpServerGetTlsFailureCount(TcpServerHandle* Server, int32_t Cause) {
  return shielded(int64_t{-1}, [&]() -> int64_t {
    ts::Pinned server = ts::pin_handle(Server, "TcpServerGetTlsFailureCount");
    return server ? server->tls_failures(Cause) : -1;
  });
}

}  // extern "C"
