// The option table's lookups and each option's checks (options.h); the table itself is
// option_table.inc, generated from tcpserver.h. Any thread that sets or reads an option.
#include "core/options.h"

#include "core/framing.h"
#include "core/link.h"

namespace ts {
namespace {
constexpr int64_t option_max(int32_t id) {
  for (const OptionSpec& s : kOptionTable)
    if (s.id == id) return s.max;
  return -1;
}
// The header's bounds are the engine's limits.
static_assert(option_max(TS_OPT_MAX_LINKS) == kMaxLinks, "TS_OPT_MAX_LINKS @range: kMaxLinks");
static_assert(option_max(TS_OPT_MAX_MESSAGE_SIZE) == kMaxFramePayload,
              "TS_OPT_MAX_MESSAGE_SIZE @range: kMaxFramePayload");
}  // namespace

const OptionSpec* option_spec(int32_t id) {
  for (const OptionSpec& s : kOptionTable)
    if (s.id == id) return &s;
  return nullptr;
}

Options::Options() {
  for (int64_t& x : v) x = 0;
  for (const OptionSpec& s : kOptionTable) v[s.id] = s.def;
}

}  // namespace ts
