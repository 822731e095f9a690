// The Boost.Asio TLS peer: the idiomatic ssl::stream echo (async_handshake, then
// async_read_some and async_write of what came), one io_context on one thread, TCP_NODELAY.
//   bench_asio_ssl_server --tls-cert FILE --tls-key FILE
// The context is Asio's default (ssl::context::tls_server, OpenSSL's defaults: session tickets
// on, no SSL_MODE_RELEASE_BUFFERS) with only what makes the handshakes comparable set to
// tcpserver's defaults (dll/src/tls/tls_config.cpp, tls_context.cpp): TLS 1.2 or 1.3, the same
// TLS 1.2 cipher list and TLS 1.3 suites, the server's order of preference. Prints "PORT <n>"
// and runs until killed.
#include <openssl/ssl.h>

#include <array>
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <cstdio>
#include <cstring>
#include <memory>

#include "server_util.h"

using boost::asio::ip::tcp;
namespace ssl = boost::asio::ssl;

namespace {

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, ssl::context& ctx) : stream_(std::move(socket), ctx) {}
  void start() {
    auto self = shared_from_this();
    stream_.async_handshake(ssl::stream_base::server, [this, self](boost::system::error_code ec) {
      if (!ec) read();
    });
  }

 private:
  void read() {
    auto self = shared_from_this();
    stream_.async_read_some(boost::asio::buffer(buf_), [this, self](boost::system::error_code ec, std::size_t n) {
      if (!ec) write(n);
    });
  }
  void write(std::size_t n) {
    auto self = shared_from_this();
    boost::asio::async_write(stream_, boost::asio::buffer(buf_.data(), n),
                             [this, self](boost::system::error_code ec, std::size_t) {
                               if (!ec) read();
                             });
  }

  ssl::stream<tcp::socket> stream_;
  std::array<char, BENCH_READ_SIZE> buf_;
};

void accept(tcp::acceptor& acceptor, ssl::context& ctx) {
  acceptor.async_accept([&acceptor, &ctx](boost::system::error_code ec, tcp::socket socket) {
    if (!ec) {
      socket.set_option(tcp::no_delay(true));
      std::make_shared<Session>(std::move(socket), ctx)->start();
    }
    accept(acceptor, ctx);
  });
}

}  // namespace

int main(int argc, char** argv) {
  const char* cert = nullptr;
  const char* key = nullptr;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--tls-cert")) cert = argv[i + 1];
    else if (!std::strcmp(argv[i], "--tls-key")) key = argv[i + 1];
  }
  if (!cert || !key) {
    std::fprintf(stderr, "bench_asio_ssl_server: --tls-cert FILE --tls-key FILE are required\n");
    return 2;
  }
  bench_raise_fd_limit();
  ssl::context ctx(ssl::context::tls_server);
  SSL_CTX* x = ctx.native_handle();
  SSL_CTX_set_min_proto_version(x, TLS1_2_VERSION);
  SSL_CTX_set_options(x, SSL_OP_CIPHER_SERVER_PREFERENCE);
  if (SSL_CTX_set_cipher_list(x, "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
                                 "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
                                 "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305") != 1 ||
      SSL_CTX_set_ciphersuites(x, "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256") != 1) {
    std::fprintf(stderr, "bench_asio_ssl_server: the cipher lists were refused\n");
    return 1;
  }
  try {
    ctx.use_certificate_chain_file(cert);
    ctx.use_private_key_file(key, ssl::context::pem);
  } catch (const boost::system::system_error& e) {
    std::fprintf(stderr, "bench_asio_ssl_server: %s / %s: %s\n", cert, key, e.what());
    return 1;
  }
  boost::asio::io_context io(1);  // one thread: no locking inside Asio
  tcp::acceptor acceptor(io);
  tcp::endpoint ep(boost::asio::ip::make_address("127.0.0.1"), 0);
  acceptor.open(ep.protocol());
  acceptor.set_option(tcp::acceptor::reuse_address(true));
  acceptor.bind(ep);
  acceptor.listen(BENCH_BACKLOG);
  std::printf("PORT %u\n", acceptor.local_endpoint().port());
  std::fflush(stdout);
  accept(acceptor, ctx);
  io.run();
}
