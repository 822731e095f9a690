// platform/pages.h: mmap/mremap/munmap on Linux, VirtualAlloc/VirtualFree on Windows. Any
// thread.
#include "platform/pages.h"

#include <cstring>

#if defined(_WIN32)
#include <windows.h>
#else
#include <sys/mman.h>
#endif

#if defined(__SANITIZE_THREAD__)
#define TS_PAGES_NO_MREMAP 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define TS_PAGES_NO_MREMAP 1
#endif
#endif

namespace ts {

#if defined(_WIN32)
void* pages_alloc(size_t size) {
  return VirtualAlloc(nullptr, size, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
}
void* pages_resize(void* p, size_t old_size, size_t new_size) {
  void* q = pages_alloc(new_size);
  if (!q) return nullptr;
  std::memcpy(q, p, old_size < new_size ? old_size : new_size);
  pages_free(p, old_size);
  return q;
}
void pages_free(void* p, size_t) {
  if (p) VirtualFree(p, 0, MEM_RELEASE);
}
#else
void* pages_alloc(size_t size) {
  void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  return p == MAP_FAILED ? nullptr : p;
}
void* pages_resize(void* p, size_t old_size, size_t new_size) {
#if defined(TS_PAGES_NO_MREMAP)
  // ThreadSanitizer does not follow mremap: the pages' old range keeps the writes made there, and
  // a later mapping at that address looks like a race with them. Under it: a new mapping, a copy
  // and munmap, which it does follow.
  void* q = pages_alloc(new_size);
  if (!q) return nullptr;
  std::memcpy(q, p, old_size < new_size ? old_size : new_size);
  pages_free(p, old_size);
  return q;
#else
  void* q = ::mremap(p, old_size, new_size, MREMAP_MAYMOVE);
  return q == MAP_FAILED ? nullptr : q;
#endif
}
void pages_free(void* p, size_t size) {
  if (p) ::munmap(p, size);
}
#endif

}  // namespace ts
