// The one kernel32 import the static OpenSSL inside tcpserver.dll cannot take the usual way
// (mingw-w64 builds with TLS only; compiled by dll/CMakeLists.txt there). Loader and any thread.
//
// libcrypto calls kernel32's GetVersion through its import pointer (__imp_GetVersion; i686:
// __imp__GetVersion@0). In mingw-w64's libkernel32.a the archive member that defines that pointer
// also defines the symbol GetVersion itself, and tcpserver.dll exports a GetVersion of its own
// (the original unit's): linking the member fails with "multiple definition of GetVersion". So
// the pointer is defined here, the member is never pulled in, and the call reaches kernel32's
// GetVersion through GetProcAddress. (OpenSSL uses it only to tell Windows NT from 9x.)
#include <windows.h>

namespace {

DWORD WINAPI kernel32_get_version() {
  using Fn = DWORD(WINAPI*)();
  static const Fn fn = reinterpret_cast<Fn>(
      reinterpret_cast<void*>(GetProcAddress(GetModuleHandleA("kernel32.dll"), "GetVersion")));
  return fn ? fn() : 0;
}

}  // namespace

#if defined(_WIN64)
#define TS_IMP_GET_VERSION "__imp_GetVersion"
#else
#define TS_IMP_GET_VERSION "__imp__GetVersion@0"
#endif
extern "C" {
extern DWORD(WINAPI* ts_imp_get_version)() __asm__(TS_IMP_GET_VERSION);
__attribute__((used)) DWORD(WINAPI* ts_imp_get_version)() = kernel32_get_version;
}
