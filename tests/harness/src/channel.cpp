#include "channel.h"

#include <openssl/err.h>
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>

namespace tsh {

Channel::Channel(Fd fd, std::shared_ptr<const TlsConfig> tls)
    : fd_(std::move(fd)), tls_(std::move(tls)) {
  if (!tls_) return;
  ssl_.reset(SSL_new(tls_->context()));
  if (!ssl_ || SSL_set_fd(ssl_.get(), fd_.get()) != 1)
    throw HarnessError("TLS: SSL_new: " + openssl_errors());
  const std::string& name = tls_->server_name();
  if (!name.empty()) {
    SSL_set_tlsext_host_name(ssl_.get(), name.c_str());
    if (tls_->verifies()) SSL_set1_host(ssl_.get(), name.c_str());
  }
  SSL_set_connect_state(ssl_.get());
}

bool Channel::handshake(const std::string& who) {
  if (!ssl_) return true;
  ERR_clear_error();
  int r = SSL_do_handshake(ssl_.get());
  if (r == 1) return true;
  int err = SSL_get_error(ssl_.get(), r);
  if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
    want_write_ = err == SSL_ERROR_WANT_WRITE;
    return false;
  }
  broken_ = true;
  std::string why = err == SSL_ERROR_SYSCALL && errno ? errno_text(errno) : openssl_errors();
  long verify = SSL_get_verify_result(ssl_.get());
  if (verify != X509_V_OK)
    why += " (certificate check: " + std::string(X509_verify_cert_error_string(verify)) + ")";
  throw HarnessError(who + ": the TLS handshake failed: " + why);
}

ssize_t Channel::tls_failure(int result) {
  int err = SSL_get_error(ssl_.get(), result);
  switch (err) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE:
      want_write_ = err == SSL_ERROR_WANT_WRITE;
      errno = EAGAIN;
      return -1;
    case SSL_ERROR_ZERO_RETURN:  // the server's close_notify: a clean end of the stream
      return 0;
    case SSL_ERROR_SYSCALL:
      broken_ = true;
      if (errno == 0) return 0;  // end of stream without close_notify
      return -1;                 // errno as the socket left it (ECONNRESET, EPIPE, ...)
    default: {
      broken_ = true;
      // OpenSSL 3 reports a bare FIN (no close_notify) as this error: an end of stream too.
      unsigned long code = ERR_peek_last_error();
      ERR_clear_error();
      if (ERR_GET_REASON(code) == SSL_R_UNEXPECTED_EOF_WHILE_READING) return 0;
      errno = ECONNRESET;  // a fatal alert or a record that does not decrypt: the link is gone
      return -1;
    }
  }
}

ssize_t Channel::send(const void* data, size_t len) {
  if (!ssl_) return ::send(fd_.get(), data, len, MSG_NOSIGNAL);
  if (len == 0) return 0;
  if (broken_) {
    errno = EPIPE;
    return -1;
  }
  ERR_clear_error();
  errno = 0;
  int n = SSL_write(ssl_.get(), data, static_cast<int>(std::min<size_t>(len, 1 << 30)));
  if (n > 0) {
    want_write_ = false;
    return n;
  }
  ssize_t r = tls_failure(n);
  if (r == 0) {  // the peer closed: a write cannot go on
    errno = EPIPE;
    return -1;
  }
  return r;
}

ssize_t Channel::recv(void* buf, size_t len) {
  if (!ssl_) return ::recv(fd_.get(), buf, len, 0);
  if (broken_) return 0;
  ERR_clear_error();
  errno = 0;
  int n = SSL_read(ssl_.get(), buf, static_cast<int>(std::min<size_t>(len, 1 << 30)));
  if (n > 0) {
    want_write_ = false;
    return n;
  }
  return tls_failure(n);
}

short Channel::poll_events(bool sending) const {
  return static_cast<short>(POLLIN | (sending || want_write_ ? POLLOUT : 0));
}

void Channel::close(bool notify) {
  if (ssl_ && notify && !broken_ && fd_.valid() && SSL_is_init_finished(ssl_.get())) {
    ERR_clear_error();
    SSL_shutdown(ssl_.get());  // sends close_notify; the answer is not waited for
    ERR_clear_error();
  }
  ssl_.reset();
  fd_.reset();
}

std::vector<Channel> open_channels(const std::string& host, int port, size_t count,
                                   const std::shared_ptr<const TlsConfig>& tls,
                                   const Deadline& deadline) {
  std::vector<Fd> fds = connect_all(host, port, count, deadline);
  std::vector<Channel> channels;
  channels.reserve(count);
  for (Fd& fd : fds) channels.emplace_back(std::move(fd), tls);
  if (!tls) return channels;
  std::vector<size_t> pending(count);
  for (size_t i = 0; i < count; ++i) pending[i] = i;
  std::vector<pollfd> pfds;
  while (!pending.empty()) {
    std::vector<size_t> still;
    for (size_t i : pending)
      if (!channels[i].handshake("connection #" + std::to_string(i) + " to " + host + ":" +
                                 std::to_string(port)))
        still.push_back(i);
    pending.swap(still);
    if (pending.empty()) break;
    if (deadline.expired())
      throw HarnessTimeout(std::to_string(pending.size()) + " of " + std::to_string(count) +
                           " TLS handshakes with " + host + ":" + std::to_string(port) +
                           " did not complete in time");
    pfds.clear();
    for (size_t i : pending)
      pfds.push_back(pollfd{channels[i].fd(), channels[i].poll_events(false), 0});
    int r = ::poll(pfds.data(), pfds.size(), deadline.poll_ms());
    if (r < 0 && errno != EINTR) throw HarnessError("poll: " + errno_text(errno));
  }
  return channels;
}

void send_all(Channel& channel, const void* data, size_t len, const Deadline& deadline,
              const std::string& who) {
  auto* p = static_cast<const uint8_t*>(data);
  size_t sent = 0;
  while (sent < len) {
    ssize_t n = channel.send(p + sent, len - sent);
    if (n > 0) {
      sent += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
      if (errno == EPIPE || errno == ECONNRESET)
        throw PeerClosed(who + ": the server closed the connection after " +
                         std::to_string(sent) + " of " + std::to_string(len) + " bytes were sent");
      throw HarnessError(who + ": send: " + errno_text(errno));
    }
    if (deadline.expired())
      throw HarnessTimeout(who + ": send timed out after " + std::to_string(sent) + " of " +
                           std::to_string(len) + " bytes (the server does not read?)");
    pollfd pfd{channel.fd(), channel.poll_events(true), 0};
    ::poll(&pfd, 1, deadline.poll_ms());
  }
}

long read_some(Channel& channel, void* buf, size_t len, bool* reset, const std::string& who) {
  *reset = false;
  for (;;) {
    ssize_t n = channel.recv(buf, len);
    if (n >= 0) return static_cast<long>(n);
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return -1;
    if (errno == ECONNRESET || errno == EPIPE) {
      *reset = true;
      return 0;
    }
    throw HarnessError(who + ": recv: " + errno_text(errno));
  }
}

}  // namespace tsh
