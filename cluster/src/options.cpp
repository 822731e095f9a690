// The table of TC_OPT_* defaults and bounds (see options.h), generated from tcpcluster.h into
// option_table.inc. Pure; any thread.
#include "options.h"

#include <cstdint>

#include "tcpcluster.h"

namespace tc {
namespace {
// The rows come from tcpcluster.h (each option's @default and @range), by tools/abi/abi.py.
#include "option_table.inc"
}  // namespace

const OptionInfo* option_info(int32_t option) {
  if (option < 1 || option >= kOptionCount) return nullptr;
  return &kOptions[option];
}

}  // namespace tc
