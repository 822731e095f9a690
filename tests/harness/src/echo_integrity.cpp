#include "echo_integrity.h"

#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstdio>
#include <vector>

#include "net.h"
#include "pattern.h"

namespace tsh {
namespace {

struct EchoConn {
  EchoConn(Fd socket, uint64_t seed, size_t index)
      : fd(std::move(socket)), tx(seed, index), rx(seed, index), chunks(seed ^ (index + 0x51ull)) {}
  Fd fd;
  PayloadStream tx;  // what to send next
  PayloadStream rx;  // what the echo must contain next
  Rng chunks;        // sizes of the writes
  std::vector<uint8_t> chunk;
  size_t chunk_pos = 0;
  uint64_t sent = 0;
  uint64_t received = 0;
  bool done = false;
};

std::string who(size_t index) { return "echo_integrity: connection #" + std::to_string(index); }

std::string hex(uint8_t b) {
  char text[8];
  std::snprintf(text, sizeof text, "0x%02X", b);
  return text;
}

// Writes chunks until the socket is full or everything is sent.
void send_more(EchoConn& c, size_t index, const EchoOptions& o, EchoResult& r) {
  while (c.sent < o.bytes_per_conn) {
    if (c.chunk_pos == c.chunk.size()) {
      size_t size = c.chunks.between_1_and(o.max_chunk);
      size = static_cast<size_t>(std::min<uint64_t>(size, o.bytes_per_conn - c.sent));
      c.chunk.resize(size);
      c.tx.fill(c.chunk.data(), size);
      c.chunk_pos = 0;
    }
    ssize_t n = ::send(c.fd.get(), c.chunk.data() + c.chunk_pos, c.chunk.size() - c.chunk_pos,
                       MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      if (errno == EPIPE || errno == ECONNRESET)
        throw PeerClosed(who(index) + ": the server " + (errno == EPIPE ? "closed" : "reset") +
                         " the connection after echoing " + std::to_string(c.received) +
                         " of " + std::to_string(o.bytes_per_conn) + " bytes (" +
                         std::to_string(c.sent) + " sent)");
      throw HarnessError(who(index) + ": send: " + errno_text(errno));
    }
    c.chunk_pos += static_cast<size_t>(n);
    c.sent += static_cast<uint64_t>(n);
    r.bytes_sent += static_cast<uint64_t>(n);
    ++r.sends;
  }
}

// Reads what is there and checks it byte by byte against the connection's stream.
void receive_more(EchoConn& c, size_t index, const EchoOptions& o, EchoResult& r,
                  std::vector<uint8_t>& buf) {
  for (;;) {
    bool reset = false;
    long n = read_some(c.fd.get(), buf.data(), buf.size(), &reset, who(index));
    if (n < 0) return;
    if (n == 0)
      throw PeerClosed(who(index) + ": the server " + (reset ? "reset" : "closed") +
                       " the connection after echoing " + std::to_string(c.received) + " of " +
                       std::to_string(o.bytes_per_conn) + " bytes (" + std::to_string(c.sent) +
                       " sent)");
    if (c.received + static_cast<uint64_t>(n) > o.bytes_per_conn)
      throw HarnessError(who(index) + ": the server echoed " +
                         std::to_string(c.received + static_cast<uint64_t>(n)) +
                         " bytes but only " + std::to_string(o.bytes_per_conn) + " were sent");
    for (long i = 0; i < n; ++i) {
      uint8_t want = c.rx.next();
      if (buf[static_cast<size_t>(i)] != want)
        throw HarnessError(who(index) + ": echoed byte at offset " +
                           std::to_string(c.received + static_cast<uint64_t>(i)) + " is " +
                           hex(buf[static_cast<size_t>(i)]) + ", expected " + hex(want));
    }
    c.received += static_cast<uint64_t>(n);
    r.bytes_received += static_cast<uint64_t>(n);
    if (c.received == o.bytes_per_conn) {
      c.done = true;
      c.fd.reset();  // FIN now: the server sees links end while others still run
      return;
    }
  }
}

}  // namespace

EchoResult echo_integrity(const EchoOptions& o) {
  if (o.connections == 0 || o.bytes_per_conn == 0 || o.max_chunk == 0)
    throw HarnessError("echo_integrity: connections, bytes_per_conn and max_chunk must be > 0");
  const auto start = Clock::now();
  const Deadline deadline(o.timeout_s);
  EchoResult r;
  r.connections = o.connections;

  std::vector<EchoConn> conns;
  conns.reserve(o.connections);
  {
    std::vector<Fd> fds = connect_all(o.host, o.port, o.connections, deadline);
    for (size_t i = 0; i < fds.size(); ++i) conns.emplace_back(std::move(fds[i]), o.seed, i);
  }
  r.connect_s = seconds_since(start);

  std::vector<uint8_t> buf(64 * 1024);
  std::vector<pollfd> pfds;
  std::vector<size_t> index;
  size_t remaining = conns.size();
  while (remaining > 0) {
    if (deadline.expired()) {
      std::string first;
      for (size_t i = 0; i < conns.size() && first.empty(); ++i)
        if (!conns[i].done)
          first = "; e.g. #" + std::to_string(i) + " sent " + std::to_string(conns[i].sent) +
                  ", got back " + std::to_string(conns[i].received) + " of " +
                  std::to_string(o.bytes_per_conn);
      throw HarnessTimeout("echo_integrity: timed out after " + std::to_string(o.timeout_s) +
                           " s with " + std::to_string(remaining) + " of " +
                           std::to_string(conns.size()) + " connections unfinished" + first);
    }
    pfds.clear();
    index.clear();
    for (size_t i = 0; i < conns.size(); ++i) {
      EchoConn& c = conns[i];
      if (c.done) continue;
      short events = POLLIN;
      if (c.sent < o.bytes_per_conn) events |= POLLOUT;
      pfds.push_back(pollfd{c.fd.get(), events, 0});
      index.push_back(i);
    }
    int ready = ::poll(pfds.data(), pfds.size(), deadline.poll_ms());
    if (ready < 0 && errno != EINTR)
      throw HarnessError("echo_integrity: poll: " + errno_text(errno));
    for (size_t k = 0; ready > 0 && k < pfds.size(); ++k) {
      if (!pfds[k].revents) continue;
      EchoConn& c = conns[index[k]];
      // Errors and hang-ups surface through recv(), which names them.
      if (pfds[k].revents & (POLLIN | POLLERR | POLLHUP)) receive_more(c, index[k], o, r, buf);
      if (!c.done && (pfds[k].revents & POLLOUT)) send_more(c, index[k], o, r);
      if (c.done) --remaining;
    }
  }
  r.elapsed_s = seconds_since(start);
  return r;
}

}  // namespace tsh
