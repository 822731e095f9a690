#include "link_group.h"

#include <poll.h>

#include <cerrno>

#include "client.h"
#include "pattern.h"

namespace tsh {
namespace {

std::string link_name(size_t i) { return "link #" + std::to_string(i); }

// Waits until one of the given connections is readable (or the deadline); false on timeout.
bool poll_any(const std::vector<Connection*>& conns, const Deadline& deadline) {
  if (deadline.expired()) return false;
  std::vector<pollfd> pfds;
  pfds.reserve(conns.size());
  for (Connection* c : conns) pfds.push_back(pollfd{c->fd(), c->channel().poll_events(false), 0});
  int r = ::poll(pfds.data(), pfds.size(), deadline.poll_ms());
  if (r < 0 && errno != EINTR) throw HarnessError("poll: " + errno_text(errno));
  return true;
}

}  // namespace

LinkGroup::LinkGroup(const std::string& host, int port, size_t count, double timeout_s,
                     bool framed, std::shared_ptr<const TlsConfig> tls)
    : framed_(framed) {
  std::vector<Channel> channels = open_channels(host, port, count, tls, Deadline(timeout_s));
  links_.reserve(count);
  for (size_t i = 0; i < channels.size(); ++i)
    links_.emplace_back(std::move(channels[i]), link_name(i));
}

void LinkGroup::ping(double timeout_s) {
  Deadline deadline(timeout_s);
  std::vector<std::string> tokens(links_.size());
  std::vector<Connection*> waiting;
  for (size_t i = 0; i < links_.size(); ++i) {
    if (!links_[i].open()) continue;
    tokens[i] = "ping-" + std::to_string(i) + ".";
    if (framed_) tokens[i] = with_header(tokens[i]);  // a whole message comes back the same
    links_[i].send(tokens[i], deadline);
    waiting.push_back(&links_[i]);
  }
  while (!waiting.empty()) {
    std::vector<Connection*> still;
    for (Connection* c : waiting) {
      c->pump();
      const std::string& token = tokens[static_cast<size_t>(c - links_.data())];
      if (c->buffered().size() >= token.size()) {
        std::string back = c->take(token.size());
        if (back != token)
          throw HarnessError(c->name() + ": ping " + quoted(token) + " came back as " +
                             quoted(back));
        continue;
      }
      if (c->peer_closed())
        throw PeerClosed(c->name() + ": the server closed the connection before echoing " +
                         quoted(token) + "; got " + quoted(c->buffered()));
      still.push_back(c);
    }
    waiting.swap(still);
    if (!waiting.empty() && !poll_any(waiting, deadline))
      throw HarnessTimeout(std::to_string(waiting.size()) + " of " +
                           std::to_string(links_.size()) + " links got no ping echo within " +
                           std::to_string(timeout_s) + " s (first: " + waiting.front()->name() +
                           ")");
  }
}

size_t LinkGroup::closed_count() {
  size_t n = 0;
  for (Connection& c : links_) {
    c.pump();
    n += c.peer_closed() ? 1 : 0;
  }
  return n;
}

size_t LinkGroup::wait_closed(size_t expected, double timeout_s) {
  Deadline deadline(timeout_s);
  for (;;) {
    size_t closed = closed_count();
    if (closed >= expected) return closed;
    std::vector<Connection*> open;
    for (Connection& c : links_)
      if (c.open()) open.push_back(&c);
    if (open.empty() || !poll_any(open, deadline)) return closed;
  }
}

std::vector<bool> LinkGroup::closed_flags() {
  closed_count();
  std::vector<bool> flags;
  for (const Connection& c : links_) flags.push_back(c.peer_closed());
  return flags;
}

std::vector<std::vector<std::string>> LinkGroup::read_lines(const std::string& until,
                                                            double timeout_s) {
  if (!framed_ && (until.empty() || until.back() != '\n'))
    throw HarnessError("read_lines: `until` must be a whole line ending in '\\n'");
  Deadline deadline(timeout_s);
  std::vector<std::vector<std::string>> lines(links_.size());
  std::vector<bool> complete(links_.size(), false);
  for (;;) {
    std::vector<Connection*> waiting;
    for (size_t i = 0; i < links_.size(); ++i) {
      if (complete[i]) continue;
      Connection& c = links_[i];
      c.pump();
      std::string line;
      while (!complete[i] && c.take_unit(framed_, &line)) {
        complete[i] = line == until;
        lines[i].push_back(std::move(line));
      }
      if (complete[i]) continue;
      if (c.peer_closed())
        throw PeerClosed(c.name() + ": the server closed the connection before the line " +
                         quoted(until) + " arrived (" + std::to_string(lines[i].size()) +
                         " lines before it)");
      waiting.push_back(&c);
    }
    if (waiting.empty()) break;
    if (!poll_any(waiting, deadline)) {
      const Connection& first = *waiting.front();
      const size_t first_lines = lines[static_cast<size_t>(&first - links_.data())].size();
      throw HarnessTimeout(std::to_string(waiting.size()) + " of " +
                           std::to_string(links_.size()) + " links did not receive " +
                           quoted(until) + " within " + std::to_string(timeout_s) + " s; " +
                           first.name() + " got " + std::to_string(first_lines) +
                           " lines before it and then " + quoted(first.buffered()));
    }
  }
  // Whatever followed `until` (a duplicate, say) is reported too, not silently dropped.
  for (size_t i = 0; i < links_.size(); ++i) {
    Connection& c = links_[i];
    c.pump();
    for (std::string line; c.take_unit(framed_, &line);) lines[i].push_back(std::move(line));
    if (!c.buffered().empty()) lines[i].push_back(c.take_all());
  }
  return lines;
}

void LinkGroup::close(bool notify) {
  for (Connection& c : links_) c.close(notify);
}

BroadcastResult broadcast_collect(const std::string& host, int port, size_t listeners,
                                  const std::vector<std::string>& texts, double timeout_s,
                                  bool framed, const std::shared_ptr<const TlsConfig>& tls) {
  if (texts.empty()) throw HarnessError("broadcast_collect: no texts to broadcast");
  for (const std::string& t : texts)
    if (t.find('\n') != std::string::npos)
      throw HarnessError("broadcast_collect: a text contains '\\n': " + quoted(t));
  // One deadline for the whole run: each step gets what is left of it.
  Deadline deadline(timeout_s);
  LinkGroup group(host, port, listeners, deadline.left_s(), framed, tls);
  group.ping(deadline.left_s());
  Client sender(host, port, deadline.left_s(), tls);
  BroadcastResult result;
  for (const std::string& text : texts) {
    std::string command = "BCAST " + text + "\n";
    std::string line;
    if (framed) {
      sender.send_frame(command, deadline.left_s());
      line = sender.read_frame(deadline.left_s());
    } else {
      sender.send(command, deadline.left_s());
      line = sender.readline(deadline.left_s());
    }
    result.sender_lines.push_back(line);
    if (line != text + "\n")
      throw HarnessError("broadcast_collect: the sender expected its own copy " +
                         quoted(text + "\n") + " and got " + quoted(line));
  }
  result.listener_lines = group.read_lines(texts.back() + "\n", deadline.left_s());
  return result;
}

}  // namespace tsh
