// A cluster node as its own process: a conformance server with --cluster (PROTOCOL.md, cluster
// mode), the C sample or the Python one (samples/python, on the Python binding), with the
// helpers the acceptance tests share: start it and wait until it is connected, read its CSTATS
// counters from standard input. Called by the test's thread.
#pragma once
#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "support/child_process.h"

namespace tctest {

// Which conformance server a node process runs.
enum class NodeProgram { kC, kPython };
// "C" / "Python" (test names).
const char* program_name(NodeProgram program);

class NodeProcess {
 public:
  explicit NodeProcess(NodeProgram program = NodeProgram::kC) : program_(program) {}
  // Starts the conformance server with --cluster url --node name (plus extra flags) and reads
  // its PORT and NODE lines. False with *error.
  bool start(const std::string& url, const std::string& name, std::string* error,
             const std::vector<std::string>& extra = {});
  // The node's counters (stdin "cstats"): key -> value; empty if it did not answer.
  std::map<std::string, int64_t> stats(std::chrono::milliseconds timeout = std::chrono::seconds(20));
  // Waits until its state counter is TC_STATE_CONNECTED.
  bool wait_connected(std::chrono::milliseconds timeout);
  bool quit() { return proc_.quit(std::chrono::seconds(30)); }
  void kill9() { proc_.kill9(); }

  uint16_t port = 0;
  uint64_t id = 0;
  std::string name;

 private:
  NodeProgram program_;
  ChildProcess proc_;
};

// Parses "KEYWORD a=1 b=2 ..." into {a: 1, b: 2}.
std::map<std::string, int64_t> parse_stats(const std::string& line);

}  // namespace tctest
