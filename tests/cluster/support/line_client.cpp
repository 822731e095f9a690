// Line-collecting test clients (see line_client.h). The test's threads and one reader thread
// per client.
#include "line_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace tctest {

LineClient::~LineClient() { close(); }

bool LineClient::connect(uint16_t port, std::string* error) {
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    *error = "connect to 127.0.0.1:" + std::to_string(port) + ": " + std::strerror(errno);
    ::close(fd_);
    fd_ = -1;
    return false;
  }
  int one = 1;
  ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  thread_ = std::thread([this] { reader(); });
  return true;
}

bool LineClient::send(const std::string& text) {
  size_t done = 0;
  while (done < text.size()) {
    ssize_t n = ::send(fd_, text.data() + done, text.size() - done, MSG_NOSIGNAL);
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

void LineClient::close() {
  if (fd_ >= 0) ::shutdown(fd_, SHUT_RDWR);
  if (thread_.joinable()) thread_.join();
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

void LineClient::reader() {
  char buf[65536];
  while (true) {
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n <= 0) break;
    std::lock_guard<std::mutex> lock(mu_);
    partial_.append(buf, static_cast<size_t>(n));
    size_t start = 0, nl;
    while ((nl = partial_.find('\n', start)) != std::string::npos) {
      lines_.emplace_back(partial_, start, nl - start);
      start = nl + 1;
    }
    partial_.erase(0, start);
    cv_.notify_all();
  }
  std::lock_guard<std::mutex> lock(mu_);
  eof_ = true;
  cv_.notify_all();
}

std::vector<std::string> LineClient::lines() {
  std::lock_guard<std::mutex> lock(mu_);
  return lines_;
}

size_t LineClient::count() {
  std::lock_guard<std::mutex> lock(mu_);
  return lines_.size();
}

bool LineClient::closed_by_server() {
  std::lock_guard<std::mutex> lock(mu_);
  return eof_;
}

bool LineClient::wait(const std::function<bool(const std::vector<std::string>&)>& pred,
                      std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_for(lock, timeout, [&] { return pred(lines_); });
}

bool LineClient::wait_line(const std::string& want, std::chrono::milliseconds timeout) {
  size_t pos = 0;
  return wait([&](const std::vector<std::string>& lines) {
    for (; pos < lines.size(); ++pos)
      if (lines[pos] == want) return true;
    return false;
  }, timeout);
}

bool LineClient::request(const std::string& text, const std::string& prefix, std::string* reply,
                         std::chrono::milliseconds timeout) {
  size_t from = count();
  if (!send(text)) return false;
  std::unique_lock<std::mutex> lock(mu_);
  bool found = cv_.wait_for(lock, timeout, [&] {
    for (size_t i = from; i < lines_.size(); ++i)
      if (lines_[i].compare(0, prefix.size(), prefix) == 0) {
        *reply = lines_[i];
        return true;
      }
    return eof_;
  });
  return found && reply->compare(0, prefix.size(), prefix) == 0;
}

}  // namespace tctest
