// GetLocalIP: an address of a local interface, read from the interface list (no lookups).
// Any thread.
#pragma once
#include <cstdint>

namespace ts {
int32_t local_ip(bool internet, char* buf, int32_t buflen);
}
