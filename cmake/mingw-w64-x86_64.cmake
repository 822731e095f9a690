# Cross-compile tcpserver.dll for 64-bit Windows with Debian's mingw-w64 (POSIX thread model,
# needed for std::thread): apt-get install g++-mingw-w64-x86-64-posix
#   cmake -S . -B build-win64 -G Ninja -DCMAKE_TOOLCHAIN_FILE=cmake/mingw-w64-x86_64.cmake \
#         -DTCPSERVER_BUILD_BINDINGS=OFF
set(CMAKE_SYSTEM_NAME Windows)
set(CMAKE_SYSTEM_PROCESSOR AMD64)
set(TCPSERVER_MINGW_TRIPLE x86_64-w64-mingw32)
include(${CMAKE_CURRENT_LIST_DIR}/mingw-w64-common.cmake)
