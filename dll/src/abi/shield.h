// Shared by the export files: no C++ exception crosses the C ABI.
#pragma once
#include <exception>
#if defined(__GLIBCXX__)
#include <cxxabi.h>
#endif

#include "core/errors.h"
#include "tcpserver.h"

namespace ts {

// The engine reports failures as return values; an unexpected C++ exception (out of memory
// deep in the STL) still must not unwind into a Delphi or .NET caller.
template <typename R, typename Fn>
TS_NO_SANITIZE_NULL R shielded(R on_error, Fn&& fn) {
  try {
    return fn();
#if defined(__GLIBCXX__)
  } catch (abi::__forced_unwind&) {
    throw;  // thread cancellation must unwind, not be reported as an error
#endif
  } catch (const std::exception& e) {
    fail(TS_ERR_SYSTEM, "internal error: %s", e.what());
  } catch (...) {
    fail(TS_ERR_SYSTEM, "internal error");
  }
  return on_error;
}

}  // namespace ts
