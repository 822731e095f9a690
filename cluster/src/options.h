// The node's options (TC_OPT_*): defaults and bounds in one table. Pure; any thread (the values
// themselves live in the Node and change only while it is stopped).
#pragma once
#include <cstdint>

namespace tc {

constexpr int32_t kOptionCount = 12;  // TC_OPT_* run from 1 to kOptionCount - 1

struct OptionInfo {
  const char* name;
  int64_t def, min, max;
};

// NULL for an unknown option.
const OptionInfo* option_info(int32_t option);

}  // namespace tc
