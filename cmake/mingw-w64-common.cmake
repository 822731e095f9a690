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
# Wine starts with address-space randomization off (setarch -R): Debian's Wine 8 has no
# preloader, so nothing reserves 0x7ffe0000 (KUSER_SHARED_DATA, which Wine must map there) before
# the kernel places the brk heap, randomized over about 1 GiB above the loader at 0x7d000000;
# about 1 start in 1 400 the heap covers it and the program dies at once with "failed to map
# the shared user data: c0000018". With a fixed layout the heap never lands there.
# tests/windows/wine_layout.py checks it.
find_program(TCPSERVER_SETARCH setarch NO_CMAKE_FIND_ROOT_PATH)
if(TCPSERVER_WINE)
  set(_fixed_layout)
  if(TCPSERVER_SETARCH)
    set(_fixed_layout ${TCPSERVER_SETARCH} -R)
  else()
    message(WARNING "setarch not found (apt-get install util-linux): Wine runs with address "
                    "randomization on, and about 1 start in 1 400 fails (c0000018)")
  endif()
  # A Wine prefix of the build's own (created on first use, ~10 s), and no Wine debug chatter
  # in test output. CTest and gtest_discover_tests run the test programs through this.
  set(CMAKE_CROSSCOMPILING_EMULATOR env WINEDEBUG=-all WINEPREFIX=${CMAKE_BINARY_DIR}/wineprefix
      ${_fixed_layout} ${TCPSERVER_WINE})
endif()
