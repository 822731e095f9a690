// The table of TC_OPT_* defaults and bounds (see options.h). Pure; any thread.
#include "options.h"

#include "tcpcluster.h"

namespace tc {
namespace {
const OptionInfo kOptions[kOptionCount] = {
    {nullptr, 0, 0, 0},
    /* TC_OPT_QUEUE_MESSAGES   */ {"TC_OPT_QUEUE_MESSAGES", 65536, 1, 16 * 1024 * 1024},
    /* TC_OPT_QUEUE_BYTES      */ {"TC_OPT_QUEUE_BYTES", 64ll << 20, 1024, 16ll << 30},
    /* TC_OPT_MAX_MESSAGE      */ {"TC_OPT_MAX_MESSAGE", 1 << 20, 1, 64 << 20},
    /* TC_OPT_PIPELINE         */ {"TC_OPT_PIPELINE", 256, 1, 65536},
    /* TC_OPT_KEY_TTL_MS       */ {"TC_OPT_KEY_TTL_MS", 15000, 300, 86400000},
    /* TC_OPT_REPLY_TIMEOUT_MS */ {"TC_OPT_REPLY_TIMEOUT_MS", 5000, 100, 600000},
    /* TC_OPT_PING_INTERVAL_MS */ {"TC_OPT_PING_INTERVAL_MS", 1000, 50, 600000},
    /* TC_OPT_RECONNECT_MIN_MS */ {"TC_OPT_RECONNECT_MIN_MS", 100, 1, 600000},
    /* TC_OPT_RECONNECT_MAX_MS */ {"TC_OPT_RECONNECT_MAX_MS", 2000, 1, 3600000},
    /* TC_OPT_MAX_KEYS         */ {"TC_OPT_MAX_KEYS", 1000000, 0, 100000000},
    /* TC_OPT_MAX_PUBLISHERS   */ {"TC_OPT_MAX_PUBLISHERS", 4096, 16, 1 << 24},
};
static_assert(TC_OPT_MAX_PUBLISHERS == kOptionCount - 1, "one row per TC_OPT_*");
}  // namespace

const OptionInfo* option_info(int32_t option) {
  if (option < 1 || option >= kOptionCount) return nullptr;
  return &kOptions[option];
}

}  // namespace tc
