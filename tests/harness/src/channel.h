// Channel: one client socket of the harness, plain or TLS (a TlsConfig), with the calls of a
// non-blocking socket: send()/recv() return what the syscalls would (bytes, 0 at the end of
// the stream, -1 with errno EAGAIN / EPIPE / ECONNRESET), so each client keeps one loop for
// both. TLS runs through OpenSSL on the socket itself; Python ignores SIGPIPE, so a write to a
// closed peer fails with EPIPE. Owns the descriptor and the SSL object; one user at a time.
#pragma once

#include <openssl/ssl.h>
#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "net.h"
#include "tls_config.h"

namespace tsh {

class Channel {
 public:
  Channel() = default;
  // A connected socket; with tls, the client side of a handshake still to run (handshake()).
  Channel(Fd fd, std::shared_ptr<const TlsConfig> tls);

  // One step of the TLS handshake (non-blocking): true once complete (at once without TLS),
  // false while it waits for the socket (poll_events tells for what). HarnessError when the
  // handshake fails, naming `who` and OpenSSL's reason.
  bool handshake(const std::string& who);

  ssize_t send(const void* data, size_t len);
  ssize_t recv(void* buf, size_t len);
  // What poll() must wait for: POLLIN always, POLLOUT while `sending` or when TLS wants to
  // write to go on.
  short poll_events(bool sending) const;

  // Closes our side. TLS: a close_notify first, unless notify is false (the server then sees
  // the connection end without it: TS_CLOSE_TLS_NO_CLOSE_NOTIFY).
  void close(bool notify = true);

  int fd() const { return fd_.get(); }
  bool valid() const { return fd_.valid(); }
  bool is_tls() const { return ssl_ != nullptr; }

 private:
  struct FreeSsl {
    void operator()(SSL* ssl) const { SSL_free(ssl); }
  };
  // errno for an SSL_read/SSL_write result that is not data; -1 (or 0 at the end) returned.
  ssize_t tls_failure(int result);

  Fd fd_;
  std::shared_ptr<const TlsConfig> tls_;
  std::unique_ptr<SSL, FreeSsl> ssl_;
  bool want_write_ = false;  // the last TLS call waits for the socket to take data
  bool broken_ = false;      // a fatal TLS error or a reset: no close_notify may follow
};

// Connects `count` sockets (connect_all) and completes every TLS handshake with one poll loop,
// all within the deadline. tls nullptr: plain sockets.
std::vector<Channel> open_channels(const std::string& host, int port, size_t count,
                                   const std::shared_ptr<const TlsConfig>& tls,
                                   const Deadline& deadline);

// Sends all of data (waiting on poll up to the deadline). Raises PeerClosed on EPIPE/reset.
void send_all(Channel& channel, const void* data, size_t len, const Deadline& deadline,
              const std::string& who);

// One non-blocking read. Returns bytes read (>0), 0 for end of stream, -1 if nothing is
// ready. A reset (or a fatal TLS alert) is reported as end of stream with *reset = true; other
// errors raise.
long read_some(Channel& channel, void* buf, size_t len, bool* reset, const std::string& who);

}  // namespace tsh
