# The Windows SDK zip, run by the `package_windows_sdk` step of `packages` (cmake -P):
#   cmake -DSOURCE_DIR=<repo> -DWIN64_BUILD=<dir> -DWIN32_BUILD=<dir> -DWORK_DIR=<dir>
#         -DOUT_DIR=<build>/packages -DNAME=tcpserver-<version>-windows-sdk -P windows_sdk.cmake
#
# 1. Builds tcpserver.dll in both mingw-w64 cross builds with scripts/windows/cross_build.sh,
#    as scripts/windows/test.sh does (the same folders serve tests/windows, so neither
#    reconfigures them for the other). Both must carry TLS: without a cached OpenSSL for an
#    architecture (scripts/build-openssl-mingw.sh) it stops and says which one to build.
# 2. Installs them through the project's own install rules (stripped): each architecture a
#    complete prefix, x64/ and x86/ (bin/tcpserver.dll; lib/libtcpserver.dll.a, lib/tcpserver.def,
#    lib/cmake, lib/pkgconfig; include/; share/doc/tcpserver/), then the Sdk component once at the
#    root (README.md, LICENSE, THIRD-PARTY-NOTICES.txt of the DLL, bindings/).
# 3. Zips <NAME>/ into OUT_DIR/<NAME>.zip.
foreach(var SOURCE_DIR WIN64_BUILD WIN32_BUILD WORK_DIR OUT_DIR NAME)
  if(NOT ${var})
    message(FATAL_ERROR "windows_sdk.cmake: -D${var}=... is required")
  endif()
endforeach()

function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    list(JOIN ARGN " " command)
    message(FATAL_ERROR "Windows SDK zip: this step failed (${rc}):\n  ${command}")
  endif()
endfunction()

# 1. The DLLs, each with TLS inside: both need their static OpenSSL in the cache first (a DLL
#    configured without it would build, without TLS, and must not ship).
foreach(pair "x86_64;${WIN64_BUILD}" "i686;${WIN32_BUILD}")
  list(GET pair 0 arch)
  execute_process(COMMAND bash ${SOURCE_DIR}/scripts/build-openssl-mingw.sh --print-dir ${arch}
                  RESULT_VARIABLE missing OUTPUT_QUIET ERROR_QUIET)
  if(missing)
    message(FATAL_ERROR "Windows SDK zip: no OpenSSL for ${arch}-w64-mingw32 is cached, so its "
                        "tcpserver.dll would have no TLS. Build it first (5-10 minutes of CPU, "
                        "once; cached outside the clone):\n"
                        "  bash scripts/build-openssl-mingw.sh ${arch}")
  endif()
endforeach()
run(bash ${SOURCE_DIR}/scripts/windows/cross_build.sh ${WIN64_BUILD} x86_64 tcpserver)
run(bash ${SOURCE_DIR}/scripts/windows/cross_build.sh ${WIN32_BUILD} i686 tcpserver)
foreach(build ${WIN64_BUILD} ${WIN32_BUILD})
  if(NOT EXISTS ${build}/lib/libtcpserver_tls.a)
    message(FATAL_ERROR "Windows SDK zip: ${build} was built without the TLS layer (see its "
                        "configure output), so its tcpserver.dll has no TLS")
  endif()
endforeach()

# 2. The tree. DESTDIR with prefix "/" installs as an archive is unpacked: tcpserver.pc then
#    finds its prefix from its own place (packaging/write_pc.cmake).
set(root ${WORK_DIR}/${NAME})
file(REMOVE_RECURSE ${WORK_DIR})
foreach(pair "x64;${WIN64_BUILD}" "x86;${WIN32_BUILD}")
  list(GET pair 0 dir)
  list(GET pair 1 build)
  foreach(component Runtime Development)
    set(ENV{DESTDIR} ${root}/${dir})
    run(${CMAKE_COMMAND} --install ${build} --prefix / --component ${component} --strip)
  endforeach()
endforeach()
set(ENV{DESTDIR} ${root})
run(${CMAKE_COMMAND} --install ${WIN64_BUILD} --prefix / --component Sdk)
unset(ENV{DESTDIR})
# Both DLLs must carry the same third-party code, since one notices file covers them.
file(READ ${WIN64_BUILD}/THIRD-PARTY-NOTICES.txt notices64)
file(READ ${WIN32_BUILD}/THIRD-PARTY-NOTICES.txt notices32)
if(NOT notices64 STREQUAL notices32)
  message(FATAL_ERROR "The x64 and x86 builds carry different third-party code (compare "
                      "${WIN64_BUILD}/THIRD-PARTY-NOTICES.txt and ${WIN32_BUILD}/...): one "
                      "notices file at the zip's root cannot cover both")
endif()
foreach(required x64/bin/tcpserver.dll x86/bin/tcpserver.dll x64/lib/libtcpserver.dll.a
                 x86/lib/libtcpserver.dll.a x64/lib/tcpserver.def x86/lib/tcpserver.def
                 LICENSE THIRD-PARTY-NOTICES.txt)
  if(NOT EXISTS ${root}/${required})
    message(FATAL_ERROR "Windows SDK zip: ${required} is missing from ${root}")
  endif()
endforeach()

# 3. The zip.
file(MAKE_DIRECTORY ${OUT_DIR})
file(REMOVE ${OUT_DIR}/${NAME}.zip)
run(${CMAKE_COMMAND} -E chdir ${WORK_DIR}
    ${CMAKE_COMMAND} -E tar cf ${OUT_DIR}/${NAME}.zip --format=zip ${NAME})
message(STATUS "Package: ${OUT_DIR}/${NAME}.zip")
