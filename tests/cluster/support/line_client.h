// A client connection to 127.0.0.1 that collects the lines the server sends, on its own
// reader thread, so a test can wait for a line (a reply, a broadcast) with a deadline while
// broadcasts keep arriving. Any thread may call it; the lines are kept in arrival order.
#pragma once
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace tctest {

class LineClient {
 public:
  LineClient() = default;
  ~LineClient();
  LineClient(const LineClient&) = delete;
  LineClient& operator=(const LineClient&) = delete;

  bool connect(uint16_t port, std::string* error);
  bool send(const std::string& text);
  void close();  // FIN, then joins the reader

  // Every line so far (without '\n'), and their number.
  std::vector<std::string> lines();
  size_t count();
  // Waits until pred holds for the lines so far; false at the deadline.
  bool wait(const std::function<bool(const std::vector<std::string>&)>& pred,
            std::chrono::milliseconds timeout);
  // Waits until the line want (without '\n') has arrived, now or before.
  bool wait_line(const std::string& want, std::chrono::milliseconds timeout);
  // Sends text and waits for the first line after the send that starts with prefix.
  bool request(const std::string& text, const std::string& prefix, std::string* reply,
               std::chrono::milliseconds timeout = std::chrono::seconds(20));
  bool closed_by_server();

 private:
  void reader();

  int fd_ = -1;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::string> lines_;
  std::string partial_;
  bool eof_ = false;
};

}  // namespace tctest
