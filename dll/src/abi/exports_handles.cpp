// The TcpServer* family: several servers in one process, each named by a handle
// (core/registry.h). Marshalling only; every call validates its handle and keeps the server
// pinned (alive) while it runs.
#include "abi/shield.h"
#include "core/errors.h"
#include "core/registry.h"
#include "core/server.h"
#include "tcpserver.h"

namespace {

// Runs fn(server) for a live handle; on_error (TS_ERR_INVALID_ARGUMENT set) for a bad one.
template <typename R, typename Fn>
R with_server(TcpServerHandle* handle, const char* what, R on_error, Fn&& fn) {
  return ts::shielded(on_error, [&]() -> R {
    ts::Pinned server = ts::pin_handle(handle, what);
    return server ? fn(*server) : on_error;
  });
}

}  // namespace

extern "C" {

TS_API TcpServerHandle* TS_CALL CreateTcpServer(void* Context) {
  return ts::shielded<TcpServerHandle*>(nullptr, [&] { return ts::create_server(Context); });
}
TS_API int32_t TS_CALL DestroyTcpServer(TcpServerHandle* Server) {
  return ts::shielded(0, [&] { return ts::destroy_server(Server) ? 1 : 0; });
}
TS_API TcpServerHandle* TS_CALL GetDefaultTcpServer(void) {
  return ts::shielded<TcpServerHandle*>(nullptr, [] { return ts::default_server_handle(); });
}
TS_API void* TS_CALL TcpServerGetContext(TcpServerHandle* Server) {
  return with_server<void*>(Server, "TcpServerGetContext", nullptr,
                            [](ts::Server& s) { return s.context(); });
}

TS_API int32_t TS_CALL TcpServerStart(TcpServerHandle* Server, const char* Ip, uint32_t Port) {
  return with_server(Server, "TcpServerStart", 0,
                     [&](ts::Server& s) { return s.start(Ip, Port) ? 1 : 0; });
}
TS_API int32_t TS_CALL TcpServerStop(TcpServerHandle* Server, int32_t TimeoutMs) {
  return with_server(Server, "TcpServerStop", 0,
                     [&](ts::Server& s) { return s.stop(TimeoutMs) ? 1 : 0; });
}
TS_API int32_t TS_CALL TcpServerIsActive(TcpServerHandle* Server) {
  return with_server(Server, "TcpServerIsActive", 0,
                     [](ts::Server& s) { return s.active() ? 1 : 0; });
}
TS_API uint32_t TS_CALL TcpServerGetPort(TcpServerHandle* Server) {
  return with_server(Server, "TcpServerGetPort", 0u, [](ts::Server& s) { return s.port(); });
}

TS_API int32_t TS_CALL TcpServerSetEventProc(TcpServerHandle* Server, TOnReceiveEx OnReceive,
                                             TOnDisconnectEx OnDisconnect,
                                             TOnLinkIdleOvertimeEx OnLinkIdleOvertime,
                                             TOnThreadCreateEx OnServerThreadCreate,
                                             TOnThreadCreateEx OnWorkerThreadCreate) {
  ts::Callbacks cb;
  cb.receive_ex = OnReceive;
  cb.disconnect_ex = OnDisconnect;
  cb.idle_ex = OnLinkIdleOvertime;
  cb.server_thread_create_ex = OnServerThreadCreate;
  cb.worker_thread_create_ex = OnWorkerThreadCreate;
  return with_server(Server, "TcpServerSetEventProc", 0,
                     [&](ts::Server& s) { return s.set_callbacks(cb) ? 1 : 0; });
}
TS_API int32_t TS_CALL TcpServerSetConnectProc(TcpServerHandle* Server, TOnConnectEx OnConnect) {
  return with_server(Server, "TcpServerSetConnectProc", 0,
                     [&](ts::Server& s) { return s.set_connect(nullptr, OnConnect) ? 1 : 0; });
}
TS_API int32_t TS_CALL TcpServerSetThreadExitProc(TcpServerHandle* Server,
                                                  TOnThreadExitEx OnThreadExit) {
  return with_server(Server, "TcpServerSetThreadExitProc", 0, [&](ts::Server& s) {
    return s.set_thread_exit(nullptr, OnThreadExit) ? 1 : 0;
  });
}
TS_API int32_t TS_CALL TcpServerSetOption(TcpServerHandle* Server, int32_t Option, int64_t Value) {
  return with_server(Server, "TcpServerSetOption", 0,
                     [&](ts::Server& s) { return s.set_option(Option, Value) ? 1 : 0; });
}
TS_API int64_t TS_CALL TcpServerGetOption(TcpServerHandle* Server, int32_t Option) {
  return with_server(Server, "TcpServerGetOption", int64_t{-1},
                     [&](ts::Server& s) { return s.option(Option); });
}

TS_API void* TS_CALL TcpServerGetIOMem(TcpServerHandle* Server) {
  return with_server<void*>(Server, "TcpServerGetIOMem", nullptr,
                            [](ts::Server& s) { return s.get_io_mem(); });
}

TS_API int32_t TS_CALL TcpServerPostBroadcast(TcpServerHandle* Server, const void* Buf,
                                              int32_t Len, uint64_t ExceptLinkId) {
  return with_server(Server, "TcpServerPostBroadcast", -1,
                     [&](ts::Server& s) { return s.broadcast(Buf, Len, ExceptLinkId); });
}
TS_API int32_t TS_CALL TcpServerGetLinkIds(TcpServerHandle* Server, uint64_t* Ids,
                                           int32_t Capacity) {
  return with_server(Server, "TcpServerGetLinkIds", -1,
                     [&](ts::Server& s) { return s.link_ids(Ids, Capacity); });
}

TS_API int32_t TS_CALL TcpServerGetLinkCount(TcpServerHandle* Server) {
  return with_server(Server, "TcpServerGetLinkCount", -1,
                     [](ts::Server& s) { return s.link_count(); });
}
TS_API int32_t TS_CALL TcpServerGetIOMemFree(TcpServerHandle* Server) {
  return with_server(Server, "TcpServerGetIOMemFree", -1,
                     [](ts::Server& s) { return s.io_mem_free(); });
}
TS_API int32_t TS_CALL TcpServerGetWorkerCount(TcpServerHandle* Server) {
  return with_server(Server, "TcpServerGetWorkerCount", -1,
                     [](ts::Server& s) { return s.worker_count(); });
}
TS_API int64_t TS_CALL TcpServerGetCounter(TcpServerHandle* Server, int32_t Counter) {
  return with_server(Server, "TcpServerGetCounter", int64_t{-1},
                     [&](ts::Server& s) { return s.counter(Counter); });
}
TS_API int32_t TS_CALL TcpServerDrain(TcpServerHandle* Server, int32_t TimeoutMs) {
  return with_server(Server, "TcpServerDrain", -1,
                     [&](ts::Server& s) { return s.drain(TimeoutMs); });
}
TS_API int64_t TS_CALL TcpServerGetCloseCount(TcpServerHandle* Server, int32_t Reason) {
  return with_server(Server, "TcpServerGetCloseCount", int64_t{-1},
                     [&](ts::Server& s) { return s.close_count(Reason); });
}
TS_API int32_t TS_CALL TcpServerGetLinkFree(TcpServerHandle* Server) {
  return with_server(Server, "TcpServerGetLinkFree", -1,
                     [](ts::Server& s) { return s.link_free(); });
}
TS_API double TS_CALL TcpServerGetLinkUse(TcpServerHandle* Server) {
  return with_server(Server, "TcpServerGetLinkUse", -1.0,
                     [](ts::Server& s) { return s.link_use(); });
}
TS_API int64_t TS_CALL TcpServerGetLinkSize(TcpServerHandle* Server) {
  return with_server(Server, "TcpServerGetLinkSize", int64_t{-1},
                     [](ts::Server& s) { return s.link_table_bytes(); });
}
TS_API double TS_CALL TcpServerGetIOMemUse(TcpServerHandle* Server) {
  return with_server(Server, "TcpServerGetIOMemUse", -1.0,
                     [](ts::Server& s) { return s.io_mem_use(); });
}
TS_API int64_t TS_CALL TcpServerGetIOMemSize(TcpServerHandle* Server) {
  return with_server(Server, "TcpServerGetIOMemSize", int64_t{-1},
                     [](ts::Server& s) { return s.io_mem_bytes(); });
}
TS_API int32_t TS_CALL TcpServerGetWorkerID(TcpServerHandle* Server, int32_t Index) {
  return with_server(Server, "TcpServerGetWorkerID", 0,
                     [&](ts::Server& s) { return s.worker_id(Index); });
}
TS_API int32_t TS_CALL TcpServerGetWorkerExecInfo(TcpServerHandle* Server, int32_t Index,
                                                  uint32_t* TickCount) {
  return with_server(Server, "TcpServerGetWorkerExecInfo", -1,
                     [&](ts::Server& s) { return s.worker_exec_info(Index, TickCount); });
}
TS_API int64_t TS_CALL TcpServerGetExecLong(TcpServerHandle* Server) {
  return with_server(Server, "TcpServerGetExecLong", int64_t{-1},
                     [](ts::Server& s) { return int64_t{s.service_exec_ms()}; });
}
TS_API int32_t TS_CALL TcpServerGetExecCount(TcpServerHandle* Server) {
  return with_server(Server, "TcpServerGetExecCount", -1,
                     [](ts::Server& s) { return s.service_exec_count(); });
}

}  // extern "C"
