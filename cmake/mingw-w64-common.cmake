# Shared part of the mingw-w64 toolchain files: set TCPSERVER_MINGW_TRIPLE, then include this.
# The "-posix" compilers are required: the "-win32" thread model has no std::thread.
set(_prefix ${TCPSERVER_MINGW_TRIPLE})
find_program(CMAKE_C_COMPILER NAMES ${_prefix}-gcc-posix)
find_program(CMAKE_CXX_COMPILER NAMES ${_prefix}-g++-posix)
find_program(CMAKE_RC_COMPILER NAMES ${_prefix}-windres)
if(NOT CMAKE_C_COMPILER OR NOT CMAKE_CXX_COMPILER)
  string(REPLACE "_" "-" _pkg ${_prefix})
  string(REPLACE "-w64-mingw32" "" _pkg ${_pkg})
  message(FATAL_ERROR "${_prefix}-g++-posix not found: install g++-mingw-w64-${_pkg}-posix "
                      "(apt-get install g++-mingw-w64-${_pkg}-posix)")
endif()

set(CMAKE_FIND_ROOT_PATH /usr/${_prefix})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# Programs built here run under Wine (wine64 for x86_64; the 32-bit loader comes with wine32).
if(_prefix MATCHES "^x86_64")
  set(_loader wine64)
else()
  set(_loader wine)
endif()
find_program(TCPSERVER_WINE NAMES ${_loader} PATHS /usr/lib/wine NO_DEFAULT_PATH NO_CMAKE_FIND_ROOT_PATH)
if(TCPSERVER_WINE)
  # A Wine prefix of the build's own (created on first use, ~10 s), and no Wine debug chatter
  # in test output. CTest and gtest_discover_tests run the test programs through this.
  set(CMAKE_CROSSCOMPILING_EMULATOR env WINEDEBUG=-all WINEPREFIX=${CMAKE_BINARY_DIR}/wineprefix
      ${TCPSERVER_WINE})
endif()
