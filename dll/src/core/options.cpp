#include "core/options.h"

#include "core/framing.h"
#include "core/link.h"

namespace ts {
namespace {
constexpr int64_t kMiB = 1024 * 1024;
const OptionSpec kSpecs[] = {
    {TS_OPT_MAX_LINKS, "TS_OPT_MAX_LINKS", 3000, 1, kMaxLinks},
    {TS_OPT_IO_BUFFER_SIZE, "TS_OPT_IO_BUFFER_SIZE", 2048, 64, 16 * kMiB},
    {TS_OPT_IO_BUFFER_COUNT, "TS_OPT_IO_BUFFER_COUNT", 10000, 16, 16 * kMiB},
    {TS_OPT_IDLE_TIMEOUT_MS, "TS_OPT_IDLE_TIMEOUT_MS", 60000, 0, 30LL * 24 * 3600 * 1000},
    {TS_OPT_WORKER_THREADS, "TS_OPT_WORKER_THREADS", 0, 0, 256},
    {TS_OPT_LISTEN_BACKLOG, "TS_OPT_LISTEN_BACKLOG", 1024, 1, 65535},
    {TS_OPT_SEND_QUEUE_LIMIT, "TS_OPT_SEND_QUEUE_LIMIT", 16 * kMiB, 0, INT64_C(1) << 40},
    {TS_OPT_SEND_QUEUE_POLICY, "TS_OPT_SEND_QUEUE_POLICY", TS_QUEUE_CLOSE_LINK, 0, 1},
    {TS_OPT_TCP_NODELAY, "TS_OPT_TCP_NODELAY", 1, 0, 1},
    {TS_OPT_KEEPALIVE, "TS_OPT_KEEPALIVE", 0, 0, 1},
    {TS_OPT_REUSEPORT, "TS_OPT_REUSEPORT", 0, 0, 1},
    {TS_OPT_REUSEADDR, "TS_OPT_REUSEADDR", 1, 0, 1},
    {TS_OPT_FRAMING, "TS_OPT_FRAMING", TS_FRAMING_RAW, TS_FRAMING_RAW, TS_FRAMING_LENGTH_PREFIXED},
    {TS_OPT_LOG_LEVEL, "TS_OPT_LOG_LEVEL", TS_LOG_WARN, TS_LOG_DEBUG, TS_LOG_ERROR},
    {TS_OPT_MAX_MESSAGE_SIZE, "TS_OPT_MAX_MESSAGE_SIZE", 16 * kMiB, 1, kMaxFramePayload},
    // Linux caps TCP_KEEPIDLE / TCP_KEEPINTVL at 32767 s and TCP_KEEPCNT at 127; the same
    // bounds everywhere, so a value that works on one OS works on the other.
    {TS_OPT_KEEPALIVE_IDLE_S, "TS_OPT_KEEPALIVE_IDLE_S", 60, 1, 32767},
    {TS_OPT_KEEPALIVE_INTERVAL_S, "TS_OPT_KEEPALIVE_INTERVAL_S", 10, 1, 32767},
    {TS_OPT_KEEPALIVE_COUNT, "TS_OPT_KEEPALIVE_COUNT", 5, 1, 127},
    {TS_OPT_IPV6_ONLY, "TS_OPT_IPV6_ONLY", 0, 0, 1},
    // Whether the chosen backend exists here is known only at StartTcpServer (the kernel decides
    // for io_uring), so any of the four names is accepted now.
    {TS_OPT_BACKEND, "TS_OPT_BACKEND", TS_BACKEND_AUTO, TS_BACKEND_AUTO, TS_BACKEND_IOCP},
};
}  // namespace

const OptionSpec* option_spec(int32_t id) {
  for (const OptionSpec& s : kSpecs)
    if (s.id == id) return &s;
  return nullptr;
}

Options::Options() {
  for (int64_t& x : v) x = 0;
  for (const OptionSpec& s : kSpecs) v[s.id] = s.def;
}

}  // namespace ts
