// The Boost.Asio peer: the idiomatic echo (async_read_some, then async_write of what came),
// one io_context on one thread, TCP_NODELAY. Prints "PORT <n>" and runs until killed.
#include <array>
#include <boost/asio.hpp>
#include <cstdio>
#include <memory>

#include "server_util.h"

using boost::asio::ip::tcp;

namespace {

class Session : public std::enable_shared_from_this<Session> {
 public:
  explicit Session(tcp::socket socket) : socket_(std::move(socket)) {}
  void start() { read(); }

 private:
  void read() {
    auto self = shared_from_this();
    socket_.async_read_some(boost::asio::buffer(buf_),
                            [this, self](boost::system::error_code ec, std::size_t n) {
                              if (!ec) write(n);
                            });
  }
  void write(std::size_t n) {
    auto self = shared_from_this();
    boost::asio::async_write(socket_, boost::asio::buffer(buf_.data(), n),
                             [this, self](boost::system::error_code ec, std::size_t) {
                               if (!ec) read();
                             });
  }

  tcp::socket socket_;
  std::array<char, BENCH_READ_SIZE> buf_;
};

void accept(tcp::acceptor& acceptor) {
  acceptor.async_accept([&acceptor](boost::system::error_code ec, tcp::socket socket) {
    if (!ec) {
      socket.set_option(tcp::no_delay(true));
      std::make_shared<Session>(std::move(socket))->start();
    }
    accept(acceptor);
  });
}

}  // namespace

int main() {
  bench_raise_fd_limit();
  boost::asio::io_context io(1);  // one thread: no locking inside Asio
  tcp::acceptor acceptor(io);
  tcp::endpoint ep(boost::asio::ip::make_address("127.0.0.1"), 0);
  acceptor.open(ep.protocol());
  acceptor.set_option(tcp::acceptor::reuse_address(true));
  acceptor.bind(ep);
  acceptor.listen(BENCH_BACKLOG);
  std::printf("PORT %u\n", acceptor.local_endpoint().port());
  std::fflush(stdout);
  accept(acceptor);
  io.run();
}
