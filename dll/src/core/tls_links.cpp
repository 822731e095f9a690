// Server: TLS seen from the application and the service thread — the server's TLS state made
// on first use, GetLinkTlsInfo, per-cause failure counts, whether a link resumed its session.
// Any thread (the link's mutex guards its transport).
#include <cstring>
#include <string>

#include "core/errors.h"
#include "core/server.h"
#include "core/tls_server.h"
#if defined(TCPSERVER_HAS_TLS)
#include "core/tls_transport.h"
#endif

namespace ts {

ServerTls& Server::tls() {
  std::lock_guard<std::mutex> lock(tls_mu_);
  if (!tls_) tls_.reset(new ServerTls);
  return *tls_;
}

int64_t Server::tls_failures(int32_t cause) { return tls().failures(cause); }

bool Server::tls_resumed_locked(Link& link) const {
#if defined(TCPSERVER_HAS_TLS)
  return link.transport && static_cast<TlsTransport*>(link.transport)->resumed();
#else
  (void)link;
  return false;
#endif
}

int32_t Server::do_tls_info(Link* link, uint64_t id, int32_t what, char* buf, int32_t len) {
  if (!buf || len <= 0)
    return fail(TS_ERR_INVALID_ARGUMENT, "GetLinkTlsInfo: no output buffer (Buf NULL or BufLen %d)",
                len), -1;
  if (what < TS_TLS_INFO_PROTOCOL || what > TS_TLS_INFO_CERTIFICATE_PATTERN)
    return fail(TS_ERR_INVALID_ARGUMENT, "GetLinkTlsInfo: unknown What %d (TS_TLS_INFO_*: %d..%d)",
                what, TS_TLS_INFO_PROTOCOL, TS_TLS_INFO_CERTIFICATE_PATTERN), -1;
  std::string text;
  {
    std::lock_guard<std::mutex> lock(link->mu);
    const LinkState st = link->state_now();
    if ((id != 0 && link->pub.Id != id) || (st != LinkState::kOpen && st != LinkState::kClosing))
      return fail(TS_ERR_LINK_CLOSED, "GetLinkTlsInfo: link %llu is closed",
                  static_cast<unsigned long long>(id ? id : link->pub.Id)), -1;
    if (!link->transport)
      return fail(TS_ERR_TLS_NOT_ESTABLISHED,
                  "GetLinkTlsInfo: link %llu is not a TLS link (TS_OPT_TLS is 0 on its server)",
                  static_cast<unsigned long long>(link->pub.Id)), -1;
#if defined(TCPSERVER_HAS_TLS)
    text = static_cast<TlsTransport*>(link->transport)->info(what);
#endif
  }
  const auto n = static_cast<int32_t>(text.size());
  if (n + 1 > len)
    return fail(TS_ERR_BUFFER_TOO_SMALL, "GetLinkTlsInfo: the buffer holds %d bytes, %d are needed",
                len, n + 1), -1;
  std::memcpy(buf, text.c_str(), static_cast<size_t>(n) + 1);
  return n;
}

int32_t Server::tls_info(const TcpLink* p, int32_t what, char* buf, int32_t len) {
  Link* link = link_from(p);
  return link ? do_tls_info(link, 0, what, buf, len) : -1;
}

int32_t Server::tls_info_by_id(uint64_t id, int32_t what, char* buf, int32_t len) {
  Link* link = link_by_id(id);
  return link ? do_tls_info(link, id, what, buf, len) : -1;
}

}  // namespace ts
