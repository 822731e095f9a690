// Placeholder for the handle-based TcpServer* family (tcpserver.h, "Several servers in one
// process") until its implementation lands: every export exists, so the Windows .def links,
// and fails with TS_ERR_NOT_SUPPORTED. The branch that implements the family deletes this file.
#include "core/errors.h"
#include "tcpserver.h"

namespace {
bool pending(const char* name) {
  return ts::fail(TS_ERR_NOT_SUPPORTED, "%s: not implemented yet", name);
}
}  // namespace

extern "C" {

TS_API TcpServerHandle* TS_CALL CreateTcpServer(void*) {
  pending("CreateTcpServer");
  return nullptr;
}
TS_API int32_t TS_CALL DestroyTcpServer(TcpServerHandle*) { return pending("DestroyTcpServer"); }
TS_API TcpServerHandle* TS_CALL GetDefaultTcpServer(void) {
  pending("GetDefaultTcpServer");
  return nullptr;
}
TS_API void* TS_CALL TcpServerGetContext(TcpServerHandle*) {
  pending("TcpServerGetContext");
  return nullptr;
}
TS_API int32_t TS_CALL TcpServerStart(TcpServerHandle*, const char*, uint32_t) {
  return pending("TcpServerStart");
}
TS_API int32_t TS_CALL TcpServerStop(TcpServerHandle*, int32_t) { return pending("TcpServerStop"); }
TS_API int32_t TS_CALL TcpServerIsActive(TcpServerHandle*) { return pending("TcpServerIsActive"); }
TS_API uint32_t TS_CALL TcpServerGetPort(TcpServerHandle*) { return pending("TcpServerGetPort"); }
TS_API int32_t TS_CALL TcpServerSetEventProc(TcpServerHandle*, TOnReceiveEx, TOnDisconnectEx,
                                             TOnLinkIdleOvertimeEx, TOnThreadCreateEx,
                                             TOnThreadCreateEx) {
  return pending("TcpServerSetEventProc");
}
TS_API int32_t TS_CALL TcpServerSetConnectProc(TcpServerHandle*, TOnConnectEx) {
  return pending("TcpServerSetConnectProc");
}
TS_API int32_t TS_CALL TcpServerSetThreadExitProc(TcpServerHandle*, TOnThreadExitEx) {
  return pending("TcpServerSetThreadExitProc");
}
TS_API int32_t TS_CALL TcpServerSetOption(TcpServerHandle*, int32_t, int64_t) {
  return pending("TcpServerSetOption");
}
TS_API int64_t TS_CALL TcpServerGetOption(TcpServerHandle*, int32_t) {
  pending("TcpServerGetOption");
  return -1;
}
TS_API void* TS_CALL TcpServerGetIOMem(TcpServerHandle*) {
  pending("TcpServerGetIOMem");
  return nullptr;
}
TS_API int32_t TS_CALL TcpServerPostBroadcast(TcpServerHandle*, const void*, int32_t, uint64_t) {
  pending("TcpServerPostBroadcast");
  return -1;
}
TS_API int32_t TS_CALL TcpServerGetLinkIds(TcpServerHandle*, uint64_t*, int32_t) {
  pending("TcpServerGetLinkIds");
  return -1;
}
TS_API int32_t TS_CALL TcpServerGetLinkCount(TcpServerHandle*) {
  pending("TcpServerGetLinkCount");
  return -1;
}
TS_API int32_t TS_CALL TcpServerGetIOMemFree(TcpServerHandle*) {
  pending("TcpServerGetIOMemFree");
  return -1;
}
TS_API int32_t TS_CALL TcpServerGetWorkerCount(TcpServerHandle*) {
  pending("TcpServerGetWorkerCount");
  return -1;
}
TS_API int64_t TS_CALL TcpServerGetCounter(TcpServerHandle*, int32_t) {
  pending("TcpServerGetCounter");
  return -1;
}

}  // extern "C"
