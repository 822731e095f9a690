# Cross-compile tcpserver.dll for 32-bit Windows (stdcall exports, undecorated names) with
# Debian's mingw-w64 (POSIX thread model): apt-get install g++-mingw-w64-i686-posix
#   cmake -S . -B build-win32 -G Ninja -DCMAKE_TOOLCHAIN_FILE=cmake/mingw-w64-i686.cmake \
#         -DTCPSERVER_BUILD_BINDINGS=OFF
set(CMAKE_SYSTEM_NAME Windows)
set(CMAKE_SYSTEM_PROCESSOR X86)
set(TCPSERVER_MINGW_TRIPLE i686-w64-mingw32)
include(${CMAKE_CURRENT_LIST_DIR}/mingw-w64-common.cmake)
