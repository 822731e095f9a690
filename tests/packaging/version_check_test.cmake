# cmake -DSRC=<repo> -DWORK=<scratch> -DHEADER_MINOR=<n> -P version_check_test.cmake
# Runs cmake/version_check.cmake's check as the top-level CMakeLists.txt does, for a project
# at version 1.2.0 and a header whose TCPSERVER_VERSION_MINOR is HEADER_MINOR: it passes for 2
# and must stop with its message otherwise (CTest version_check_*, tests/packaging).
include(${SRC}/cmake/version_check.cmake)
set(PROJECT_VERSION 1.2.0)
set(PROJECT_SOURCE_DIR ${SRC})
file(WRITE ${WORK}/tcpserver.h
  "#define TCPSERVER_VERSION_MAJOR 1\n#define TCPSERVER_VERSION_MINOR ${HEADER_MINOR}\n"
  "#define TCPSERVER_VERSION_PATCH 0\n")
tcpserver_check_header_version(${WORK}/tcpserver.h)
message(STATUS "versions agree: 1.2.0")
