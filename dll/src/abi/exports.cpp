// The exported C ABI: argument marshalling only. The server functions drive the default
// Server; link-, id- and buffer-based ones go to the server that owns the link, id or buffer
// (core/registry.h). No C++ type or exception crosses this boundary. The TcpServer* family is
// in exports_handles.cpp.
#include <cstddef>
#include <cstdio>

#include "abi/shield.h"
#include "platform/clock.h"
#include "core/errors.h"
#include "platform/local_ip.h"
#include "core/log.h"
#include "core/registry.h"
#include "core/server.h"
#include "tcpserver.h"

#define TS_STR2(x) #x
#define TS_STR(x) TS_STR2(x)

using ts::default_server;
using ts::pin_buffer_owner;
using ts::pin_id_owner;
using ts::pin_link_owner;
using ts::shielded;

extern "C" {

TS_API int32_t TS_CALL StartTcpServer(const char* Ip, uint32_t Port) {
  return shielded(0, [&] { return default_server().start(Ip, Port) ? 1 : 0; });
}
TS_API int32_t TS_CALL StopTcpServer(void) {
  return shielded(0, [&] { return default_server().stop(-1) ? 1 : 0; });
}
TS_API int32_t TS_CALL StopTcpServerEx(int32_t TimeoutMs) {
  return shielded(0, [&] { return default_server().stop(TimeoutMs) ? 1 : 0; });
}
TS_API int32_t TS_CALL DrainTcpServer(int32_t TimeoutMs) {
  return shielded(-1, [&] { return default_server().drain(TimeoutMs); });
}
TS_API int32_t TS_CALL IsTcpServerActive(void) { return default_server().active() ? 1 : 0; }
TS_API uint32_t TS_CALL GetServerPort(void) { return default_server().port(); }

TS_API void TS_CALL SetEventProc(TOnReceive OnReceive, TOnDisconnect OnDisconnect,
                                 TOnLinkIdleOvertime OnLinkIdleOvertime,
                                 TOnThreadCreate OnServerThreadCreate,
                                 TOnThreadCreate OnWorkerThreadCreate) {
  ts::Callbacks cb;
  cb.receive = OnReceive;
  cb.disconnect = OnDisconnect;
  cb.idle = OnLinkIdleOvertime;
  cb.server_thread_create = OnServerThreadCreate;
  cb.worker_thread_create = OnWorkerThreadCreate;
  shielded(0, [&] { return default_server().set_callbacks(cb) ? 1 : 0; });
}
TS_API int32_t TS_CALL SetConnectProc(TOnConnect OnConnect) {
  return shielded(0, [&] { return default_server().set_connect(OnConnect, nullptr) ? 1 : 0; });
}
TS_API int32_t TS_CALL SetThreadExitProc(TOnThreadExit OnThreadExit) {
  return shielded(0, [&] { return default_server().set_thread_exit(OnThreadExit, nullptr) ? 1 : 0; });
}
TS_API void TS_CALL SetLogProc(TOnLog OnLog) { ts::set_log_proc(OnLog); }

TS_API int32_t TS_CALL SetServerOption(int32_t Option, int64_t Value) {
  return shielded(0, [&] { return default_server().set_option(Option, Value) ? 1 : 0; });
}
TS_API int64_t TS_CALL GetServerOption(int32_t Option) { return default_server().option(Option); }
TS_API int32_t TS_CALL GetServerOptionRange(int32_t Option, int64_t* Min, int64_t* Max) {
  const ts::OptionSpec* spec = ts::option_spec(Option);
  if (!spec) return ts::fail(TS_ERR_UNKNOWN_OPTION, "unknown option %d", Option);
  if (Min) *Min = spec->min;
  if (Max) *Max = spec->max;
  return 1;
}

TS_API void* TS_CALL GetIOMem(void) {
  return shielded<void*>(nullptr, [&] { return default_server().get_io_mem(); });
}
TS_API int32_t TS_CALL FreeIOMem(void* Mem) { return pin_buffer_owner(Mem)->free_io_mem(Mem) ? 1 : 0; }
TS_API int32_t TS_CALL PostSend(TcpLink* Link, void* Mem, int32_t Len) {
  return shielded(0, [&] { return pin_link_owner(Link)->post_send(Link, Mem, Len) ? 1 : 0; });
}
TS_API int32_t TS_CALL PostSendById(uint64_t LinkId, void* Mem, int32_t Len) {
  return shielded(0, [&] { return pin_id_owner(LinkId)->post_send_by_id(LinkId, Mem, Len) ? 1 : 0; });
}
TS_API int32_t TS_CALL SendBuffer(TcpLink* Link, const void* Buf, int32_t Len) {
  return shielded(0, [&] { return pin_link_owner(Link)->send_buffer(Link, Buf, Len) ? 1 : 0; });
}
TS_API int32_t TS_CALL SendBufferById(uint64_t LinkId, const void* Buf, int32_t Len) {
  return shielded(0, [&] { return pin_id_owner(LinkId)->send_buffer_by_id(LinkId, Buf, Len) ? 1 : 0; });
}
TS_API int32_t TS_CALL PostRecv(TcpLink* Link, void* Mem) {
  return shielded(0, [&] { return pin_link_owner(Link)->post_recv(Link, Mem) ? 1 : 0; });
}
TS_API int32_t TS_CALL PostBroadcast(const void* Buf, int32_t Len) {
  return shielded(-1, [&] { return default_server().broadcast(Buf, Len); });
}
TS_API int32_t TS_CALL CloseLink(TcpLink* Link) {
  return shielded(0, [&] { return pin_link_owner(Link)->close_by_app(Link, 0) ? 1 : 0; });
}
TS_API int32_t TS_CALL CloseLinkById(uint64_t LinkId) {
  return shielded(0, [&] { return pin_id_owner(LinkId)->close_by_app_id(LinkId, 0) ? 1 : 0; });
}
TS_API int32_t TS_CALL CloseLinkEx(TcpLink* Link, int32_t Flags) {
  return shielded(0, [&] { return pin_link_owner(Link)->close_by_app(Link, Flags) ? 1 : 0; });
}
TS_API int32_t TS_CALL CloseLinkByIdEx(uint64_t LinkId, int32_t Flags) {
  return shielded(0, [&] { return pin_id_owner(LinkId)->close_by_app_id(LinkId, Flags) ? 1 : 0; });
}

TS_API int32_t TS_CALL PauseReceive(TcpLink* Link) {
  return shielded(0, [&] { return pin_link_owner(Link)->set_receive_paused(Link, true) ? 1 : 0; });
}
TS_API int32_t TS_CALL ResumeReceive(TcpLink* Link) {
  return shielded(0, [&] { return pin_link_owner(Link)->set_receive_paused(Link, false) ? 1 : 0; });
}
TS_API int32_t TS_CALL PauseReceiveById(uint64_t LinkId) {
  return shielded(0, [&] { return pin_id_owner(LinkId)->set_receive_paused_by_id(LinkId, true) ? 1 : 0; });
}
TS_API int32_t TS_CALL ResumeReceiveById(uint64_t LinkId) {
  return shielded(0, [&] { return pin_id_owner(LinkId)->set_receive_paused_by_id(LinkId, false) ? 1 : 0; });
}
TS_API int64_t TS_CALL GetSendQueueBytes(TcpLink* Link) {
  return shielded<int64_t>(-1, [&] { return pin_link_owner(Link)->send_queue_bytes(Link); });
}
TS_API int64_t TS_CALL GetSendQueueBytesById(uint64_t LinkId) {
  return shielded<int64_t>(-1, [&] { return pin_id_owner(LinkId)->send_queue_bytes_by_id(LinkId); });
}
TS_API int32_t TS_CALL GetLinkIds(uint64_t* Ids, int32_t Capacity) {
  return shielded(-1, [&] { return default_server().link_ids(Ids, Capacity); });
}
TS_API int32_t TS_CALL PostBroadcastExcept(const void* Buf, int32_t Len, uint64_t ExceptLinkId) {
  return shielded(-1, [&] { return default_server().broadcast(Buf, Len, ExceptLinkId); });
}

TS_API double TS_CALL GetLinkUse(void) {
  return default_server().link_use();
}
TS_API int32_t TS_CALL GetLinkSize(void) {
  int64_t bytes = default_server().link_table_bytes();
  return bytes > INT32_MAX ? INT32_MAX : static_cast<int32_t>(bytes);
}
TS_API int32_t TS_CALL GetLinkCount(void) { return default_server().link_count(); }
TS_API int32_t TS_CALL GetLinkFree(void) { return default_server().link_free(); }
TS_API double TS_CALL GetIOMemUse(void) { return default_server().io_mem_use(); }
TS_API int32_t TS_CALL GetIOMemSize(void) {
  int64_t bytes = default_server().io_mem_bytes();
  return bytes > INT32_MAX ? INT32_MAX : static_cast<int32_t>(bytes);
}
TS_API int32_t TS_CALL GetIOMemFree(void) { return default_server().io_mem_free(); }
TS_API int32_t TS_CALL GetWorkerCount(void) { return default_server().worker_count(); }
TS_API int32_t TS_CALL GetWorkerID(int32_t Index) { return default_server().worker_id(Index); }
TS_API int32_t TS_CALL GetWorkerExecInfo(int32_t Index, uint32_t* TickCount) {
  return default_server().worker_exec_info(Index, TickCount);
}
TS_API uint32_t TS_CALL GetServerExecLong(void) { return default_server().service_exec_ms(); }
TS_API int32_t TS_CALL GetServerExecCount(void) { return default_server().service_exec_count(); }
TS_API int64_t TS_CALL GetServerCounter(int32_t Counter) { return default_server().counter(Counter); }
TS_API int64_t TS_CALL GetCloseCount(int32_t Reason) { return default_server().close_count(Reason); }

TS_API void TS_CALL WriteLog(const char* Text) { ts::log_app(Text); }
TS_API int32_t TS_CALL GetLocalIP(int32_t IsInternetIP, char* Buf, int32_t BufLen) {
  return shielded(-1, [&] { return ts::local_ip(IsInternetIP != 0, Buf, BufLen); });
}
TS_API uint32_t TS_CALL GetTickCount32(void) { return ts::tick32(); }

TS_API int32_t TS_CALL GetTcpServerVersion(void) { return TCPSERVER_VERSION_NUMBER; }
// Declared here for Windows, where the header leaves it out (see tcpserver.h).
TS_API int32_t TS_CALL GetVersion(void);
TS_API int32_t TS_CALL GetVersion(void) { return TCPSERVER_VERSION_NUMBER; }
TS_API const char* TS_CALL GetVersionText(void) {
  return "tcpserver " TS_STR(TCPSERVER_VERSION_MAJOR) "." TS_STR(TCPSERVER_VERSION_MINOR) "." TS_STR(TCPSERVER_VERSION_PATCH);
}

TS_API int32_t TS_CALL GetLastErrorCode(void) { return ts::last_error_code(); }
TS_API const char* TS_CALL GetLastErrorText(void) { return ts::last_error_text(); }
TS_API const char* TS_CALL GetCloseReasonText(int32_t Reason) {
  switch (Reason) {
    case TS_CLOSE_NONE: return "not closed";
    case TS_CLOSE_PEER_CLOSED: return "peer closed";
    case TS_CLOSE_PEER_RESET: return "peer reset";
    case TS_CLOSE_IDLE: return "idle timeout";
    case TS_CLOSE_BY_APP: return "closed by the application";
    case TS_CLOSE_SEND_QUEUE_FULL: return "send queue over its limit";
    case TS_CLOSE_SERVER_STOP: return "server stopping";
    case TS_CLOSE_ERROR: return "socket error";
    case TS_CLOSE_FRAME_TOO_LARGE: return "message larger than TS_OPT_MAX_MESSAGE_SIZE";
    case TS_CLOSE_BAD_FRAME: return "bad message header (top bit set)";
    case TS_CLOSE_FRAME_TRUNCATED: return "peer closed in the middle of a message";
    case TS_CLOSE_MEMORY_BUDGET: return "server memory budget reached (TS_OPT_MEMORY_BUDGET)";
    case TS_CLOSE_MESSAGE_TIMEOUT: return "message stopped growing (TS_OPT_MESSAGE_TIMEOUT_MS)";
    case TS_CLOSE_TLS_ERROR: return "TLS error (a fatal alert or a bad record)";
    case TS_CLOSE_TLS_NO_CLOSE_NOTIFY: return "peer closed without TLS close_notify";
    default: return "unknown reason";
  }
}

TS_API const char* TS_CALL GetAbiLayout(void) {
  static char text[1024];
  static const int once = [] {
    std::snprintf(
        text, sizeof text,
        "version=%d;ptr=%zu;"
        "TcpLink.size=%zu;TcpLink.Data=%zu;TcpLink.Worker=%zu;TcpLink.Id=%zu;"
        "TcpLink.RemoteIP=%zu;TcpLink.RemotePort=%zu;TcpLink.TickCountActive=%zu;"
        "TcpLink.CloseReason=%zu;TcpLink.CloseError=%zu;TcpLink.Reserved=%zu;"
        "TcpWorker.size=%zu;TcpWorker.Data=%zu;TcpWorker.ID=%zu;TcpWorker.Index=%zu;"
        "TcpWorker.IsWorkerThread=%zu;TcpWorker.Reserved=%zu",
        TCPSERVER_VERSION_NUMBER, sizeof(void*), sizeof(TcpLink), offsetof(TcpLink, Data),
        offsetof(TcpLink, Worker), offsetof(TcpLink, Id), offsetof(TcpLink, RemoteIP),
        offsetof(TcpLink, RemotePort), offsetof(TcpLink, TickCountActive),
        offsetof(TcpLink, CloseReason), offsetof(TcpLink, CloseError),
        offsetof(TcpLink, Reserved), sizeof(TcpWorker), offsetof(TcpWorker, Data),
        offsetof(TcpWorker, ID), offsetof(TcpWorker, Index), offsetof(TcpWorker, IsWorkerThread),
        offsetof(TcpWorker, Reserved));
    return 0;
  }();
  (void)once;
  return text;
}

}  // extern "C"
