// The cross-server wait graph: which server's callbacks are waiting (in Start or Stop) for which
// other server. Start and Stop wait for a server's callbacks to return and for a concurrent
// Start/Stop; called from a callback of server A on server B, that wait is an edge A -> B ("A's
// callback waits for B"). A call whose edge would close a cycle could never return: it fails
// instead (TS_ERR_IN_CALLBACK): A stopping itself, or A stopping B while a callback of B is
// stopping A (directly or through more servers). Calls from application threads add no edge:
// nothing in the engine waits for them. Owns the process-wide edge list; any thread.
#pragma once

namespace ts {

class Server;

// Marks the calling thread as an engine thread of `server` (nullptr: no longer), so calls made
// from its callbacks are known to come from there. Each engine thread, at its start and end.
void set_thread_server(const Server* server);
// The server whose engine thread this is, or nullptr.
const Server* thread_server();

// One wait of the calling thread for `target`, for the duration of a Start or Stop.
class WaitEdge {
 public:
  explicit WaitEdge(const Server* target);
  ~WaitEdge();
  WaitEdge(const WaitEdge&) = delete;
  WaitEdge& operator=(const WaitEdge&) = delete;
  // False: the wait would close a cycle; the caller must fail.
  bool ok() const { return ok_; }
  // Sets the error for `what` ("StopTcpServer", "StartTcpServer") and returns false.
  bool fail_in_callback(const char* what) const;

 private:
  const Server* from_;
  const Server* to_;
  bool ok_ = true;
  bool added_ = false;
};

}  // namespace ts
