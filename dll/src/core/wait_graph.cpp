// The cross-server wait graph (see core/wait_graph.h). Any thread.
#include "core/wait_graph.h"

#include <algorithm>
#include <mutex>
#include <utility>
#include <vector>

#include "core/errors.h"
#include "tcpserver.h"

namespace ts {
namespace {

// Set on every engine thread: the server whose callbacks run there.
thread_local const Server* t_engine_server = nullptr;

std::mutex g_waits_mu;
std::vector<std::pair<const Server*, const Server*>> g_waits;  // few: one per blocked callback

bool reaches(const Server* from, const Server* to, int depth = 0) {
  if (from == to) return true;
  if (depth > static_cast<int>(g_waits.size())) return false;  // edges cannot make a longer path
  for (const auto& e : g_waits)
    if (e.first == from && reaches(e.second, to, depth + 1)) return true;
  return false;
}

}  // namespace

void set_thread_server(const Server* server) { t_engine_server = server; }
const Server* thread_server() { return t_engine_server; }

WaitEdge::WaitEdge(const Server* target) : from_(t_engine_server), to_(target) {
  if (!from_) return;
  std::lock_guard<std::mutex> lock(g_waits_mu);
  if (reaches(to_, from_)) {
    ok_ = false;
    return;
  }
  g_waits.emplace_back(from_, to_);
  added_ = true;
}

WaitEdge::~WaitEdge() {
  if (!added_) return;
  std::lock_guard<std::mutex> lock(g_waits_mu);
  g_waits.erase(std::find(g_waits.begin(), g_waits.end(), std::make_pair(from_, to_)));
}

bool WaitEdge::fail_in_callback(const char* what) const {
  if (from_ == to_)
    return fail(TS_ERR_IN_CALLBACK,
                "%s was called from a callback of the same server (an engine thread); it would "
                "wait for itself. Call it from another thread",
                what);
  return fail(TS_ERR_IN_CALLBACK,
              "%s was called from a callback of another server, while a callback of this server "
              "waits for that one to start or stop; each would wait for the other forever. "
              "Call it from a thread that is not a callback",
              what);
}

}  // namespace ts
