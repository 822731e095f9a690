// Node processes for the acceptance tests (see node_process.h). The test's thread.
#include "support/node_process.h"

#include <stdlib.h>

#include <sstream>
#include <thread>

#include "support/wait.h"
#include "tcpcluster.h"

// The Python sample and what it needs (tests/cluster/CMakeLists.txt defines them).
#ifndef TC_PYTHON
#define TC_PYTHON "/usr/bin/python3"
#define TC_PYTHON_SAMPLE "samples/python/conformance_server.py"
#define TC_PYTHON_PATH "bindings/python"
#define TC_TCPSERVER_LIBRARY "libtcpserver.so"
#define TC_TCPCLUSTER_LIBRARY "libtcpcluster.so"
#endif

namespace tctest {

const char* program_name(NodeProgram program) {
  return program == NodeProgram::kPython ? "Python" : "C";
}

std::map<std::string, int64_t> parse_stats(const std::string& line) {
  std::map<std::string, int64_t> out;
  std::istringstream in(line);
  std::string word;
  in >> word;  // the keyword
  while (in >> word) {
    size_t eq = word.find('=');
    if (eq == std::string::npos) continue;
    const std::string value = word.substr(eq + 1);  // a node id is a full uint64
    out[word.substr(0, eq)] = value[0] == '-' ? std::stoll(value) : static_cast<int64_t>(std::stoull(value));
  }
  return out;
}

bool NodeProcess::start(const std::string& url, const std::string& node_name, std::string* error,
                        const std::vector<std::string>& extra) {
  name = node_name;
  std::vector<std::string> argv;
  if (program_ == NodeProgram::kPython) {
    // The child inherits these: the binding, and this build's libraries (not installed ones).
    ::setenv("PYTHONPATH", TC_PYTHON_PATH, 1);
    ::setenv("PYTHONDONTWRITEBYTECODE", "1", 1);
    ::setenv("TCPSERVER_LIBRARY", TC_TCPSERVER_LIBRARY, 1);
    ::setenv("TCPCLUSTER_LIBRARY", TC_TCPCLUSTER_LIBRARY, 1);
    argv = {TC_PYTHON, TC_PYTHON_SAMPLE};
  } else {
    argv = {built_program("conformance_server_c")};
  }
  argv.insert(argv.end(), {"--cluster", url, "--node", node_name, "--workers", "1"});
  argv.insert(argv.end(), extra.begin(), extra.end());
  if (!proc_.start(argv, error)) return false;
  std::string line;
  if (!proc_.read_line_with("PORT ", &line, std::chrono::seconds(30))) {
    *error = "node " + node_name + " printed no PORT line (see its standard error)";
    return false;
  }
  port = static_cast<uint16_t>(std::stoul(line.substr(5)));
  if (!proc_.read_line_with("NODE ", &line, std::chrono::seconds(30))) {
    *error = "node " + node_name + " printed no NODE line";
    return false;
  }
  id = std::stoull(line.substr(5));
  return true;
}

std::map<std::string, int64_t> NodeProcess::stats(std::chrono::milliseconds timeout) {
  std::string line;
  if (!proc_.write_line("cstats") || !proc_.read_line_with("CSTATS ", &line, timeout)) return {};
  return parse_stats(line);
}

bool NodeProcess::wait_connected(std::chrono::milliseconds timeout) {
  return wait_until([&] {
    auto s = stats();
    return s.count("state") && s["state"] == TC_STATE_CONNECTED;
  }, timeout, std::chrono::milliseconds(20));
}

}  // namespace tctest
