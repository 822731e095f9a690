// Memory in whole pages, straight from the OS and given back to it when freed, so no allocator
// keeps it after use: for the large buffers a client can make the server hold (a framed message
// being assembled), which the memory budget counts, so the budget is also what the process
// holds. Any thread.
#pragma once
#include <cstddef>

namespace ts {

void* pages_alloc(size_t size);  // nullptr if the OS has none
// The contents kept; nullptr (and `p` unchanged) if the OS has none. Linux moves the pages
// without copying them (mremap).
void* pages_resize(void* p, size_t old_size, size_t new_size);
void pages_free(void* p, size_t size);

}  // namespace ts
