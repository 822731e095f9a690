// Thread callbacks run on the thread they describe; statistics agree with what clients did.
#include <sys/syscall.h>
#include <unistd.h>

#include <cstddef>
#include <cstring>
#include <mutex>
#include <set>
#include <string>

#include "support.h"

using namespace tst;

namespace {
struct ThreadMark {
  uint32_t tid;
  int32_t is_worker;
};
std::mutex g_mu;
std::set<uint32_t> g_created_tids;
std::atomic<int> g_server_threads{0}, g_exits{0}, g_bad_worker_data{0}, g_receives{0};
uint32_t tid() { return static_cast<uint32_t>(syscall(SYS_gettid)); }
void* TS_CALL on_thread_create(int32_t is_worker) {
  if (!is_worker) ++g_server_threads;
  std::lock_guard<std::mutex> lock(g_mu);
  g_created_tids.insert(tid());
  return new ThreadMark{tid(), is_worker};
}
void TS_CALL on_thread_exit(int32_t is_worker, void* data) {
  auto* mark = static_cast<ThreadMark*>(data);
  if (mark && mark->tid == tid() && mark->is_worker == is_worker) ++g_exits;
  delete mark;
}
int32_t TS_CALL check_worker(TcpLink* l, uint8_t* buf, int32_t len) {
  auto* mark = static_cast<ThreadMark*>(l->Worker ? l->Worker->Data : nullptr);
  if (!mark || mark->tid != tid() || l->Worker->ID != tid() || !mark->is_worker) ++g_bad_worker_data;
  ++g_receives;
  SendBuffer(l, buf, len);
  return 1;
}
}  // namespace

class ThreadsAndStats : public ServerTest {};

TEST_F(ThreadsAndStats, ThreadCallbacksRunOnTheirOwnThreads) {
  SetEventProc(check_worker, nullptr, nullptr, on_thread_create, on_thread_create);
  SetThreadExitProc(on_thread_exit);
  uint32_t port = start();
  EXPECT_EQ(2, GetWorkerCount());
  for (int i = 1; i <= GetWorkerCount(); ++i)  // valid as soon as StartTcpServer returns
    EXPECT_NE(0, GetWorkerID(i)) << "worker " << i;
  EchoResult r = echo_many(port, 8, 4096, 512, 20000);
  ASSERT_EQ(0, r.errors) << r.first_error;
  EXPECT_GT(g_receives.load(), 0);
  EXPECT_EQ(0, g_bad_worker_data.load());
  {
    std::lock_guard<std::mutex> lock(g_mu);
    EXPECT_EQ(3u, g_created_tids.size());  // two workers and the service thread
    EXPECT_EQ(1u, g_created_tids.count(static_cast<uint32_t>(GetWorkerID(1))));
    EXPECT_EQ(1u, g_created_tids.count(static_cast<uint32_t>(GetWorkerID(2))));
    EXPECT_EQ(0u, g_created_tids.count(tid()));  // never on the starting thread
  }
  EXPECT_EQ(1, g_server_threads.load());
  ASSERT_EQ(1, StopTcpServer());
  EXPECT_EQ(3, g_exits.load());
}

TEST_F(ThreadsAndStats, CountersAgreeWithWhatTheClientsDid) {
  uint32_t port = start();
  int64_t in0 = GetServerCounter(TS_COUNTER_BYTES_IN), out0 = GetServerCounter(TS_COUNTER_BYTES_OUT);
  int64_t acc0 = GetServerCounter(TS_COUNTER_ACCEPTS), closed0 = GetServerCounter(TS_COUNTER_CLOSED);
  {
    std::vector<std::unique_ptr<Client>> clients;
    for (int i = 0; i < 10; ++i) clients.push_back(std::make_unique<Client>(port));
    std::string msg(1000, 'm');
    for (auto& c : clients) ASSERT_TRUE(c->send_str(msg));
    for (auto& c : clients) ASSERT_EQ(msg, c->recv_n(msg.size()));
    EXPECT_EQ(10, GetLinkCount());
    EXPECT_NEAR(100.0 * 10 / 3000, GetLinkUse(), 1e-9);
    EXPECT_EQ(2990, GetLinkFree());
  }
  ASSERT_TRUE(wait_until([] { return GetLinkCount() == 0; }));
  EXPECT_EQ(in0 + 10000, GetServerCounter(TS_COUNTER_BYTES_IN));
  EXPECT_EQ(out0 + 10000, GetServerCounter(TS_COUNTER_BYTES_OUT));
  EXPECT_EQ(acc0 + 10, GetServerCounter(TS_COUNTER_ACCEPTS));
  EXPECT_EQ(closed0 + 10, GetServerCounter(TS_COUNTER_CLOSED));
  EXPECT_TRUE(wait_until([] { return GetServerExecCount() > 0; }));  // one pass per 100 ms
  uint32_t busy = 0;
  EXPECT_GE(GetWorkerExecInfo(1, &busy) + GetWorkerExecInfo(2, &busy), 1);
  EXPECT_EQ(3000 * static_cast<int64_t>(GetLinkSize() / 3000), GetLinkSize());
  EXPECT_GE(GetIOMemSize(), 10000 * 2048);
}

TEST_F(ThreadsAndStats, VersionAndLayoutDescribeThisHeader) {
  EXPECT_EQ(TCPSERVER_VERSION_NUMBER, GetVersion());
  EXPECT_NE(nullptr, std::strstr(GetVersionText(), "1.0.0"));
  std::string layout = GetAbiLayout();
  auto has = [&](const std::string& kv) { return layout.find(kv) != std::string::npos; };
  EXPECT_TRUE(has("TcpLink.size=" + std::to_string(sizeof(TcpLink)) + ";")) << layout;
  EXPECT_TRUE(has("TcpLink.Id=" + std::to_string(offsetof(TcpLink, Id)) + ";")) << layout;
  EXPECT_TRUE(has("TcpLink.RemoteIP=" + std::to_string(offsetof(TcpLink, RemoteIP)) + ";")) << layout;
  EXPECT_TRUE(has("TcpLink.RemotePort=" + std::to_string(offsetof(TcpLink, RemotePort)) + ";")) << layout;
  EXPECT_TRUE(has("TcpWorker.Data=" + std::to_string(offsetof(TcpWorker, Data)) + ";")) << layout;
  EXPECT_STREQ("idle timeout", GetCloseReasonText(TS_CLOSE_IDLE));
  char ip[64];
  EXPECT_GT(GetLocalIP(0, ip, sizeof ip), 6) << GetLastErrorText();
}
