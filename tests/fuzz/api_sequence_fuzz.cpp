// libFuzzer target: random sequences of API calls, with real client sockets, against the
// default server and a second one of the TcpServer* family (created, started, stopped and
// destroyed by the program; bad and stale handles included). Each input is a program of one-byte opcodes and their operands; pointers come
// from a fixed menu (pool buffers held or given away, addresses inside them, stack and heap
// memory, NULL, links seen in callbacks, a fake link). Crashes, sanitizer reports, and two
// invariants checked after every input are failures:
//   - after Stop, no link is counted and, once the program frees what it kept, the pool is full;
//   - every buffer the program holds can be freed exactly once;
//   - the second server can be destroyed, its links gone.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <vector>

#include "tcpserver.h"

namespace {

// Reads operands from the input; past the end everything is 0.
struct Reader {
  const uint8_t* p;
  size_t n;
  uint8_t u8() { return n ? (--n, *p++) : 0; }
  uint32_t u32() { return u8() | u8() << 8 | u8() << 16 | static_cast<uint32_t>(u8()) << 24; }
  bool done() const { return n == 0; }
};

std::mutex g_mu;                       // guards the two lists the callbacks fill
std::vector<TcpLink*> g_links;         // every link pointer seen (stale ones included)
std::vector<uint64_t> g_ids;           // every link id seen
std::atomic<int> g_callback_mode{0};   // what OnReceive does besides echoing

void TS_CALL quiet_log(int32_t, const char*) {}

int32_t TS_CALL on_connect(TcpLink* link) {
  std::lock_guard<std::mutex> lock(g_mu);
  if (g_links.size() < 64) g_links.push_back(link);
  if (g_ids.size() < 64) g_ids.push_back(link->Id);
  return g_callback_mode.load() != 3;  // mode 3 refuses new links
}

int32_t TS_CALL on_receive(TcpLink* link, uint8_t* buf, int32_t len) {
  switch (g_callback_mode.load()) {
    case 1:  // calls that must fail from inside a callback, then close the link
      if (StopTcpServer() != 0 || StopTcpServerEx(0) != 0) std::abort();
      return 0;
    case 2:  // a pool-buffer echo
      if (void* mem = GetIOMem()) {
        const auto size = static_cast<int32_t>(GetServerOption(TS_OPT_IO_BUFFER_SIZE));
        const int32_t n = len < size ? len : size;
        std::memcpy(mem, buf, static_cast<size_t>(n));
        if (n <= 0 || !PostSend(link, mem, n)) FreeIOMem(mem);
      }
      return 1;
    case 4:
      CloseLinkEx(link, TS_CLOSE_FLAG_ABORT);
      return 1;
    default:
      return SendBuffer(link, buf, len);
  }
}

void TS_CALL on_disconnect(TcpLink*) {}

// The second server's callbacks (Context: its handle slot in the program).
std::atomic<TcpServerHandle*> g_second{nullptr};

int32_t TS_CALL on_connect_ex(void*, TcpLink* link) { return on_connect(link); }

int32_t TS_CALL on_receive_ex(void* context, TcpLink* link, uint8_t* buf, int32_t len) {
  if (context != &g_second) std::abort();
  if (g_callback_mode.load() == 1) {  // its own Stop and Destroy must fail from here
    if (TcpServerStop(g_second.load(), 0) != 0 || DestroyTcpServer(g_second.load()) != 0)
      std::abort();
    return 0;
  }
  return on_receive(link, buf, len);
}

struct Program {
  std::vector<void*> held;   // pool buffers the program owns
  std::vector<void*> given;  // buffers handed to the library (PostSend, PostRecv) or freed
  // The same for the second server's pool: forgotten when it is destroyed (its memory is gone).
  std::vector<void*> held2;
  std::vector<void*> given2;
  TcpServerHandle* stale = nullptr;  // the last destroyed second server
  std::vector<int> clients;
  TcpLink fake{};
  char stack_bytes[64] = {};
  std::vector<char> heap = std::vector<char>(64);

  void* pick_mem(Reader& r) {
    const uint8_t k = r.u8();
    switch (k % 9) {
      case 7: return held2.empty() ? nullptr : held2[r.u8() % held2.size()];
      case 8: return given2.empty() ? nullptr : given2[r.u8() % given2.size()];
      case 0: return held.empty() ? nullptr : held[r.u8() % held.size()];
      case 1: return given.empty() ? nullptr : given[r.u8() % given.size()];
      case 2: return held.empty() ? nullptr : static_cast<char*>(held[0]) + 1 + r.u8();
      case 3: return stack_bytes;
      case 4: return heap.data();
      case 5: return nullptr;
      default: return held.empty() ? nullptr : held.back();
    }
  }
  TcpLink* pick_link(Reader& r) {
    const uint8_t k = r.u8();
    if (k % 4 == 0) return nullptr;
    if (k % 4 == 1) return &fake;
    std::lock_guard<std::mutex> lock(g_mu);
    if (g_links.empty()) return nullptr;
    TcpLink* l = g_links[r.u8() % g_links.size()];
    return k % 4 == 3 ? reinterpret_cast<TcpLink*>(reinterpret_cast<char*>(l) + 8) : l;
  }
  uint64_t pick_id(Reader& r) {
    const uint8_t k = r.u8();
    if (k % 5 == 0) return 0;
    if (k % 5 == 1) return r.u32() | static_cast<uint64_t>(r.u32()) << 32;
    std::lock_guard<std::mutex> lock(g_mu);
    return g_ids.empty() ? 1 : g_ids[r.u8() % g_ids.size()];
  }
  int32_t pick_len(Reader& r) {
    switch (r.u8() % 6) {
      case 0: return 0;
      case 1: return -1;
      case 2: return static_cast<int32_t>(r.u32());
      case 3: return 1 + r.u8() % 16;
      case 4: return static_cast<int32_t>(GetServerOption(TS_OPT_IO_BUFFER_SIZE)) + r.u8() % 3 - 1;
      default: return 1 + r.u8() * 4;
    }
  }
  void take_back(void* mem) {  // the library accepted it: it is no longer ours
    for (auto* lists : {&held, &held2}) {
      std::vector<void*>& from = *lists;
      for (size_t i = 0; i < from.size(); ++i)
        if (from[i] == mem) {
          from.erase(from.begin() + static_cast<long>(i));
          std::vector<void*>& to = lists == &held ? given : given2;
          if (to.size() < 64) to.push_back(mem);
          return;
        }
    }
    if (given.size() < 64) given.push_back(mem);
  }
  TcpServerHandle* pick_handle(Reader& r) {
    static int not_a_handle;
    switch (r.u8() % 6) {
      case 0: return nullptr;
      case 1: return stale;
      case 2: return GetDefaultTcpServer();
      case 3: return reinterpret_cast<TcpServerHandle*>(&not_a_handle);
      default: return g_second.load();
    }
  }
  void create_second() {
    if (g_second.load()) return;
    TcpServerHandle* h = CreateTcpServer(&g_second);
    if (!h) fail("CreateTcpServer");
    TcpServerSetOption(h, TS_OPT_WORKER_THREADS, 1);
    TcpServerSetOption(h, TS_OPT_IO_BUFFER_COUNT, 32);
    TcpServerSetOption(h, TS_OPT_IO_BUFFER_SIZE, 256);
    TcpServerSetOption(h, TS_OPT_MAX_LINKS, 8);
    TcpServerSetOption(h, TS_OPT_IDLE_TIMEOUT_MS, 0);
    TcpServerSetEventProc(h, on_receive_ex, nullptr, nullptr, nullptr, nullptr);
    TcpServerSetConnectProc(h, on_connect_ex);
    g_second = h;
  }
  void destroy_second() {
    TcpServerHandle* h = g_second.load();
    if (!h) return;
    if (!DestroyTcpServer(h)) fail("DestroyTcpServer of the second server");
    g_second = nullptr;
    stale = h;
    held2.clear();
    given2.clear();
    // Its link pointers and ids stay in the menu: stale ones must fail cleanly.
  }
  void second_server(Reader& r) {
    switch (r.u8() % 8) {
      case 0: create_second(); break;
      case 1: {
        TcpServerHandle* h = pick_handle(r);
        if (h && h == g_second.load()) destroy_second();
        else if (DestroyTcpServer(h)) fail("DestroyTcpServer of a bad handle succeeded");
        break;
      }
      case 2: TcpServerStart(pick_handle(r), (r.u8() & 1) ? "127.0.0.1" : "::x", 0); break;
      case 3: TcpServerStop(pick_handle(r), static_cast<int32_t>(r.u8() % 4) - 2); break;
      case 4: {
        TcpServerHandle* h = pick_handle(r);
        std::vector<void*>& into = h && h == g_second.load() ? held2 : held;  // else: default's
        if (into.size() < 32)
          if (void* mem = TcpServerGetIOMem(h)) into.push_back(mem);
        break;
      }
      case 5:
        if (TcpServerIsActive(g_second.load())) connect_client(TcpServerGetPort(g_second.load()));
        break;
      case 6: {
        const int32_t len = pick_len(r);
        std::vector<char> data(len > 0 && len < 65536 ? static_cast<size_t>(len) : 1, 'c');
        TcpServerPostBroadcast(pick_handle(r), (r.u8() & 1) ? data.data() : nullptr,
                               len < 65536 ? len : 1, pick_id(r));
        break;
      }
      default: {
        TcpServerHandle* h = pick_handle(r);
        uint64_t ids[4];
        TcpServerGetLinkIds(h, (r.u8() & 1) ? ids : nullptr, static_cast<int32_t>(r.u8() % 6) - 1);
        TcpServerGetLinkCount(h);
        TcpServerGetIOMemFree(h);
        TcpServerGetWorkerCount(h);
        TcpServerGetCounter(h, static_cast<int32_t>(r.u8() % 13) - 1);
        TcpServerGetOption(h, static_cast<int32_t>(r.u8() % 21));
        TcpServerGetContext(h);
        break;
      }
    }
  }

  void set_option(Reader& r) {
    const int32_t option = r.u8() % 16;  // 0 and 15 are unknown
    int64_t lo = 0, hi = 0;
    if (!GetServerOptionRange(option, &lo, &hi)) {
      SetServerOption(option, r.u8());
      return;
    }
    // Sizes stay small: the point is the API, not allocating gigabytes per input.
    const bool sizing = option == TS_OPT_MAX_LINKS || option == TS_OPT_IO_BUFFER_SIZE ||
                        option == TS_OPT_IO_BUFFER_COUNT || option == TS_OPT_WORKER_THREADS ||
                        option == TS_OPT_LISTEN_BACKLOG;
    int64_t value;
    switch (r.u8() % 5) {
      case 0: value = lo - 1; break;
      case 1: value = sizing ? lo : hi; break;
      case 2: value = sizing ? hi + 1 : static_cast<int64_t>(r.u32()); break;
      case 3: value = lo + r.u8() % 8; break;
      default: value = sizing ? lo + 64 + r.u8() : hi + 1; break;
    }
    if (option == TS_OPT_IDLE_TIMEOUT_MS && value > 0 && value < 50) value = 50;
    SetServerOption(option, value);
  }

  void connect_client(uint32_t port) {
    if (clients.size() >= 8 || port == 0) return;
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return;
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);  // in progress is fine
    clients.push_back(fd);
  }
  void client_send(Reader& r) {
    if (clients.empty()) return;
    uint8_t data[512];
    const size_t n = 1 + r.u8() % sizeof data;
    for (size_t i = 0; i < n; ++i) data[i] = r.u8();
    ::send(clients[r.u8() % clients.size()], data, n, MSG_NOSIGNAL | MSG_DONTWAIT);
  }
  void client_close(Reader& r) {
    if (clients.empty()) return;
    const size_t i = r.u8() % clients.size();
    if (r.u8() & 1) {
      linger lg{1, 0};
      ::setsockopt(clients[i], SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    }
    ::close(clients[i]);
    clients.erase(clients.begin() + static_cast<long>(i));
  }
  void client_drain() {
    char buf[4096];
    for (int fd : clients)
      while (::recv(fd, buf, sizeof buf, MSG_DONTWAIT) > 0) {
      }
  }

  [[noreturn]] static void fail(const char* what) {
    std::fprintf(stderr, "invariant broken: %s (last error %d: %s)\n", what, GetLastErrorCode(),
                 GetLastErrorText());
    std::abort();
  }

  void step(Reader& r) {
    const int op = r.u8() % 21;
    if (std::getenv("TS_FUZZ_TRACE")) std::fprintf(stderr, "op %d\n", op);
    switch (op) {
      case 0:
        StartTcpServer((r.u8() & 1) ? "127.0.0.1" : "not an address", 0);
        break;
      case 1:
        if (r.u8() & 1) StopTcpServer();
        else StopTcpServerEx(static_cast<int32_t>(r.u8() % 4) - 2);
        break;
      case 2: set_option(r); break;
      case 3:
        if (held.size() < 32)
          if (void* mem = GetIOMem()) held.push_back(mem);
        break;
      case 4: {
        void* mem = pick_mem(r);
        if (FreeIOMem(mem)) take_back(mem);
        break;
      }
      case 5: {
        TcpLink* link = pick_link(r);
        void* mem = pick_mem(r);
        if (PostSend(link, mem, pick_len(r))) take_back(mem);
        break;
      }
      case 6: {
        void* mem = pick_mem(r);
        if (PostSendById(pick_id(r), mem, pick_len(r))) take_back(mem);
        break;
      }
      case 7: {
        const int32_t len = pick_len(r);
        std::vector<char> data(len > 0 && len < 65536 ? static_cast<size_t>(len) : 1, 'x');
        SendBufferById(pick_id(r), (r.u8() & 1) ? data.data() : nullptr, len < 65536 ? len : 1);
        break;
      }
      case 8: {
        const int32_t len = pick_len(r);
        std::vector<char> data(len > 0 && len < 65536 ? static_cast<size_t>(len) : 1, 'b');
        PostBroadcast((r.u8() & 1) ? data.data() : nullptr, len < 65536 ? len : 1);
        break;
      }
      case 9: CloseLinkByIdEx(pick_id(r), r.u8() % 3); break;
      case 10: CloseLink(pick_link(r)); break;
      case 11: connect_client(GetServerPort()); break;
      case 12: client_send(r); break;
      case 13: client_close(r); break;
      case 14: client_drain(); break;
      case 15: g_callback_mode = r.u8() % 5; break;
      case 16: {
        void* mem = pick_mem(r);
        if (PostRecv(pick_link(r), mem)) take_back(mem);
        break;
      }
      case 17: {
        char ip[64];
        GetLocalIP(r.u8() & 1, (r.u8() & 1) ? ip : nullptr, static_cast<int32_t>(r.u8() % 70) - 2);
        GetWorkerID(static_cast<int32_t>(r.u8() % 6) - 1);
        uint32_t ticks;
        GetWorkerExecInfo(static_cast<int32_t>(r.u8() % 6) - 1, &ticks);
        GetServerCounter(static_cast<int32_t>(r.u8() % 13) - 1);
        GetCloseReasonText(static_cast<int32_t>(r.u8() % 20) - 2);
        break;
      }
      case 19: second_server(r); break;
      case 18:
        if (r.u8() & 1) SetEventProc(on_receive, on_disconnect, nullptr, nullptr, nullptr);
        else SetEventProc(nullptr, nullptr, nullptr, nullptr, nullptr);
        SetConnectProc((r.u8() & 1) ? on_connect : nullptr);
        break;
      default:
        GetLinkCount();
        GetIOMemFree();
        GetLinkUse();
        GetIOMemUse();
        break;
    }
  }

  // Ends the input: everything the program holds goes back; the invariants must hold.
  void finish() {
    for (int fd : clients) ::close(fd);
    clients.clear();
    if (!StopTcpServer()) fail("StopTcpServer");
    if (TcpServerHandle* h = g_second.load()) {
      if (!TcpServerStop(h, -1)) fail("TcpServerStop of the second server");
      if (TcpServerGetLinkCount(h) != 0) fail("links counted on the second server after Stop");
      for (void* mem : held2)
        if (!FreeIOMem(mem)) fail("FreeIOMem of a second-server buffer the program holds");
      held2.clear();
      if (TcpServerGetIOMemFree(h) != TcpServerGetOption(h, TS_OPT_IO_BUFFER_COUNT))
        fail("second-server pool buffers missing after Stop");
      destroy_second();
    }
    if (GetLinkCount() != 0) fail("links counted after Stop");
    for (void* mem : held)
      if (!FreeIOMem(mem)) fail("FreeIOMem of a buffer the program holds");
    held.clear();
    // Every pool buffer is back (a resized pool takes effect at the next start or GetIOMem,
    // so TS_OPT_IO_BUFFER_COUNT is not the yardstick: the pool's own use is).
    if (GetIOMemUse() != 0.0) fail("pool buffers missing after Stop");
  }
};

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  SetLogProc(quiet_log);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  {
    std::lock_guard<std::mutex> lock(g_mu);
    g_links.clear();
    g_ids.clear();
  }
  g_callback_mode = 0;
  // Known options for each input: small pools and one worker keep runs fast.
  SetServerOption(TS_OPT_WORKER_THREADS, 1);
  SetServerOption(TS_OPT_IO_BUFFER_COUNT, 64);
  SetServerOption(TS_OPT_IO_BUFFER_SIZE, 512);
  SetServerOption(TS_OPT_MAX_LINKS, 16);
  SetServerOption(TS_OPT_IDLE_TIMEOUT_MS, 0);
  SetEventProc(on_receive, on_disconnect, nullptr, nullptr, nullptr);
  SetConnectProc(on_connect);
  Program program;
  Reader r{data, size};
  for (int steps = 0; steps < 200 && !r.done(); ++steps) program.step(r);
  program.finish();
  return 0;
}
