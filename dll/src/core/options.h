// Server options: one table of id, name, default and bounds, so SetServerOption,
// GetServerOption and GetServerOptionRange (and the docs) agree.
#pragma once
#include <cstdint>

#include "tcpserver.h"

namespace ts {

struct OptionSpec {
  int32_t id;
  const char* name;
  int64_t def;
  int64_t min;
  int64_t max;
};

constexpr int kOptionCount = TS_OPT_BACKEND + 1;  // ids are 1..TS_OPT_BACKEND, with gaps
const OptionSpec* option_spec(int32_t id);          // nullptr for an unknown id

struct Options {
  int64_t v[kOptionCount];
  Options();
  int64_t operator[](int32_t id) const { return v[id]; }
};

}  // namespace ts
