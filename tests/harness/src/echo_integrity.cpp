#include "echo_integrity.h"

#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstdio>
#include <optional>
#include <vector>

#include "channel.h"
#include "pattern.h"

namespace tsh {
namespace {

// A connection's byte stream: raw payload, or framed messages.
class EchoStream {
 public:
  EchoStream(const EchoOptions& o, size_t index) : raw_(o.seed, index) {
    if (o.framed) frames_.emplace(o.seed, index, o.messages_per_conn, o.max_message);
  }
  void fill(uint8_t* out, size_t n) { frames_ ? frames_->fill(out, n) : raw_.fill(out, n); }
  uint8_t next() { return frames_ ? frames_->next() : raw_.next(); }
  const std::optional<FrameStream>& frames() const { return frames_; }

 private:
  PayloadStream raw_;
  std::optional<FrameStream> frames_;
};

struct EchoConn {
  EchoConn(Channel socket, const EchoOptions& o, size_t index)
      : channel(std::move(socket)), tx(o, index), rx(o, index), chunks(o.seed ^ (index + 0x51ull)),
        total(o.framed ? tx.frames()->total() : o.bytes_per_conn) {}
  Channel channel;
  EchoStream tx;  // what to send next
  EchoStream rx;  // what the echo must contain next
  Rng chunks;     // sizes of the writes
  uint64_t total; // bytes to send (and get back)
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
  while (c.sent < c.total) {
    if (c.chunk_pos == c.chunk.size()) {
      size_t size = c.chunks.between_1_and(o.max_chunk);
      size = static_cast<size_t>(std::min<uint64_t>(size, c.total - c.sent));
      c.chunk.resize(size);
      c.tx.fill(c.chunk.data(), size);
      c.chunk_pos = 0;
    }
    ssize_t n = c.channel.send(c.chunk.data() + c.chunk_pos, c.chunk.size() - c.chunk_pos);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      if (errno == EPIPE || errno == ECONNRESET)
        throw PeerClosed(who(index) + ": the server " + (errno == EPIPE ? "closed" : "reset") +
                         " the connection after echoing " + std::to_string(c.received) +
                         " of " + std::to_string(c.total) + " bytes (" +
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
void receive_more(EchoConn& c, size_t index, EchoResult& r, std::vector<uint8_t>& buf) {
  for (;;) {
    bool reset = false;
    long n = read_some(c.channel, buf.data(), buf.size(), &reset, who(index));
    if (n < 0) return;
    if (n == 0)
      throw PeerClosed(who(index) + ": the server " + (reset ? "reset" : "closed") +
                       " the connection after echoing " + std::to_string(c.received) + " of " +
                       std::to_string(c.total) + " bytes (" + std::to_string(c.sent) +
                       " sent)");
    // The bytes up to the end of the stream first: a wrong one names its offset even when
    // the server also sent too much.
    long expected = static_cast<long>(std::min<uint64_t>(static_cast<uint64_t>(n),
                                                         c.total - c.received));
    for (long i = 0; i < expected; ++i) {
      uint8_t want = c.rx.next();
      if (buf[static_cast<size_t>(i)] != want)
        throw HarnessError(who(index) + ": echoed byte at offset " +
                           std::to_string(c.received + static_cast<uint64_t>(i)) + " is " +
                           hex(buf[static_cast<size_t>(i)]) + ", expected " + hex(want));
    }
    if (expected < n)
      throw HarnessError(who(index) + ": the server echoed " +
                         std::to_string(c.received + static_cast<uint64_t>(n)) +
                         " bytes but only " + std::to_string(c.total) + " were sent");
    c.received += static_cast<uint64_t>(n);
    r.bytes_received += static_cast<uint64_t>(n);
    if (c.received == c.total) {
      c.done = true;
      c.channel.close();  // FIN now: the server sees links end while others still run
      return;
    }
  }
}

}  // namespace

EchoResult echo_integrity(const EchoOptions& o) {
  if (o.connections == 0 || o.max_chunk == 0 ||
      (o.framed ? o.messages_per_conn == 0 || o.max_message == 0 || o.max_message > 0x7FFFFFFF
                : o.bytes_per_conn == 0))
    throw HarnessError("echo_integrity: connections, max_chunk and bytes_per_conn (framed: "
                       "messages_per_conn and max_message, at most 2^31-1) must be > 0");
  const auto start = Clock::now();
  const Deadline deadline(o.timeout_s);
  EchoResult r;
  r.connections = o.connections;

  std::vector<EchoConn> conns;
  conns.reserve(o.connections);
  {
    std::vector<Channel> channels =
        open_channels(o.host, o.port, o.connections, o.tls, deadline);
    for (size_t i = 0; i < channels.size(); ++i) {
      conns.emplace_back(std::move(channels[i]), o, i);
      if (const auto& frames = conns.back().tx.frames()) {
        r.messages += frames->messages();
        r.largest = std::max(r.largest, frames->largest());
      }
    }
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
                  std::to_string(conns[i].total);
      throw HarnessTimeout("echo_integrity: timed out after " + std::to_string(o.timeout_s) +
                           " s with " + std::to_string(remaining) + " of " +
                           std::to_string(conns.size()) + " connections unfinished" + first);
    }
    pfds.clear();
    index.clear();
    for (size_t i = 0; i < conns.size(); ++i) {
      EchoConn& c = conns[i];
      if (c.done) continue;
      pfds.push_back(pollfd{c.channel.fd(), c.channel.poll_events(c.sent < c.total), 0});
      index.push_back(i);
    }
    int ready = ::poll(pfds.data(), pfds.size(), deadline.poll_ms());
    if (ready < 0 && errno != EINTR)
      throw HarnessError("echo_integrity: poll: " + errno_text(errno));
    for (size_t k = 0; ready > 0 && k < pfds.size(); ++k) {
      if (!pfds[k].revents) continue;
      EchoConn& c = conns[index[k]];
      // Errors and hang-ups surface through recv(), which names them.
      if (pfds[k].revents & (POLLIN | POLLERR | POLLHUP)) receive_more(c, index[k], r, buf);
      if (!c.done && (pfds[k].revents & POLLOUT)) send_more(c, index[k], o, r);
      if (c.done) --remaining;
    }
  }
  r.elapsed_s = seconds_since(start);
  return r;
}

}  // namespace tsh
