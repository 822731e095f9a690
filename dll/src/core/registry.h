// Every server of the process: the default one (driven by the flat API; created on first use,
// never destroyed) and those of CreateTcpServer, which DestroyTcpServer frees.
//
// Handles are not Server pointers but a slot index tagged with that slot's generation, so a
// destroyed handle is recognised (its slot is free, or holds a newer generation) even after
// another server took the slot or the old memory; nothing behind it is ever dereferenced.
//
// A call that uses a server other than the default one pins it (a per-slot counter) for its
// duration; DestroyTcpServer unpublishes the server, then waits for the pins to drain before it
// frees anything. Link-, id- and buffer-based calls find the owning server the same way,
// trying the default server first (no pin: it is never destroyed), then each live one.
#pragma once
#include <atomic>
#include <cstdint>

#include "core/server.h"
#include "tcpserver.h"

namespace ts {

Server& default_server();

// A server kept alive for the duration of one call. Empty (and the error set) when a handle
// was not valid.
class Pinned {
 public:
  Pinned() = default;
  Pinned(Server* server, std::atomic<uint32_t>* pins) : server_(server), pins_(pins) {}
  Pinned(Pinned&& other) noexcept : server_(other.server_), pins_(other.pins_) {
    other.server_ = nullptr;
    other.pins_ = nullptr;
  }
  Pinned& operator=(Pinned&&) = delete;
  Pinned(const Pinned&) = delete;
  ~Pinned() {
    if (pins_) pins_->fetch_sub(1, std::memory_order_release);
  }
  explicit operator bool() const { return server_ != nullptr; }
  Server* operator->() const { return server_; }
  Server& operator*() const { return *server_; }

 private:
  Server* server_ = nullptr;
  std::atomic<uint32_t>* pins_ = nullptr;  // nullptr for the default server
};

TcpServerHandle* create_server(void* context);  // nullptr with the error set
bool destroy_server(TcpServerHandle* handle);
TcpServerHandle* default_server_handle();
// The live server `handle` names; empty with TS_ERR_INVALID_ARGUMENT (naming `what`) if none.
Pinned pin_handle(TcpServerHandle* handle, const char* what);

// The server whose link table holds `link` / which has an open link `id` / whose IO pool holds
// `mem`. When none does, the default server: its own checks then report the error as before.
Pinned pin_link_owner(const TcpLink* link);
Pinned pin_id_owner(uint64_t id);
Pinned pin_buffer_owner(const void* mem);
// Whether `mem` is an IO buffer of a server other than `except` (for clearer errors).
bool buffer_of_another_server(const void* mem, const Server* except);

}  // namespace ts
