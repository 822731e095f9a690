# The NuGet package of the C# binding, run by the `package_nuget` step of `packages` (cmake -P):
#   cmake -DSOURCE_DIR=<repo> -DVERSION=<x.y.z> -DNUGET=<nuget> -DLINUX_LIBRARY=<libtcpserver.so>
#         -DWIN64_BUILD=<dir> -DWIN32_BUILD=<dir> -DWORK_DIR=<dir> -DOUT_DIR=<build>/packages
#         -P nuget.cmake
# 1. Compiles TcpServerLib.dll and its XML documentation with Mono's mcs (the sources of
#    bindings/csharp/sources.cmake, optimized, no debug symbols).
# 2. Lays out WORK_DIR/stage as bindings/csharp/nuget/TcpServerLib.nuspec says: lib/net45,
#    runtimes/{linux-x64,win-x64,win-x86}/native (stripped), build/TcpServerLib.targets, the
#    licence and the notices of the Windows DLLs (what the package carries from others).
# 3. nuget pack (Debian's nuget 2.8, offline) -> OUT_DIR/TcpServerLib.<version>.nupkg, replacing
#    an older one. The Windows DLLs come from the mingw-w64 cross builds the Windows SDK zip
#    step builds (<build>/windows/win64, win32: bin/tcpserver.dll).
foreach(var SOURCE_DIR VERSION NUGET LINUX_LIBRARY WIN64_BUILD WIN32_BUILD WORK_DIR OUT_DIR)
  if(NOT ${var})
    message(FATAL_ERROR "nuget.cmake: -D${var}=... is required")
  endif()
endforeach()
include(${SOURCE_DIR}/bindings/csharp/sources.cmake)  # TCPSERVER_CSHARP_SOURCES, TCPSERVER_MCS

function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    list(JOIN ARGN " " command)
    message(FATAL_ERROR "NuGet package: this step failed (${rc}):\n  ${command}")
  endif()
endfunction()

set(stage ${WORK_DIR}/stage)
file(REMOVE_RECURSE ${WORK_DIR})
set(native_win64 ${WIN64_BUILD}/bin/tcpserver.dll)
set(native_win32 ${WIN32_BUILD}/bin/tcpserver.dll)
foreach(dll ${native_win64} ${native_win32})
  if(NOT EXISTS ${dll})
    message(FATAL_ERROR "NuGet package: ${dll} is missing. The package carries the Windows DLLs "
            "of the mingw-w64 cross builds: `packages` builds them in its Windows SDK step, which "
            "needs g++-mingw-w64-x86-64-posix and g++-mingw-w64-i686-posix (scripts/deps.sh); or "
            "build them with scripts/windows/cross_build.sh <dir> x86_64|i686 tcpserver.")
  endif()
endforeach()

# 1. The assembly and its documentation.
file(MAKE_DIRECTORY ${stage}/lib/net45)
run(${TCPSERVER_MCS} -nologo -unsafe -warn:4 -warnaserror+ -optimize+ -nowarn:1591,436
    -target:library -out:${stage}/lib/net45/TcpServerLib.dll
    -doc:${stage}/lib/net45/TcpServerLib.xml ${TCPSERVER_CSHARP_SOURCES})

# 2. The native libraries (symbolic links followed), stripped, and the rest.
function(native source rid name strip_tool)
  set(dir ${stage}/runtimes/${rid}/native)
  file(MAKE_DIRECTORY ${dir})
  file(REAL_PATH ${source} real)
  configure_file(${real} ${dir}/${name} COPYONLY)
  find_program(ts_strip_${rid} ${strip_tool})
  if(ts_strip_${rid})
    run(${ts_strip_${rid}} --strip-unneeded ${dir}/${name})
  endif()
endfunction()
native(${LINUX_LIBRARY} linux-x64 libtcpserver.so strip)
native(${native_win64} win-x64 tcpserver.dll x86_64-w64-mingw32-strip)
native(${native_win32} win-x86 tcpserver.dll i686-w64-mingw32-strip)
file(MAKE_DIRECTORY ${stage}/build)
configure_file(${SOURCE_DIR}/bindings/csharp/nuget/TcpServerLib.targets ${stage}/build/TcpServerLib.targets COPYONLY)
configure_file(${SOURCE_DIR}/LICENSE ${stage}/LICENSE COPYONLY)
configure_file(${WIN64_BUILD}/THIRD-PARTY-NOTICES.txt ${stage}/THIRD-PARTY-NOTICES.txt COPYONLY)

# 3. The package. nuget keeps its settings under HOME: a scratch one, not the user's.
set(ENV{HOME} ${WORK_DIR}/home)
file(MAKE_DIRECTORY ${WORK_DIR}/home ${WORK_DIR}/out)
run(${NUGET} pack ${SOURCE_DIR}/bindings/csharp/nuget/TcpServerLib.nuspec -BasePath ${stage}
    -OutputDirectory ${WORK_DIR}/out -Version ${VERSION} -NoPackageAnalysis -NonInteractive)
set(made ${WORK_DIR}/out/TcpServerLib.${VERSION}.nupkg)
if(NOT EXISTS ${made})
  message(FATAL_ERROR "NuGet package: nuget pack left no ${made}")
endif()
file(GLOB old ${OUT_DIR}/TcpServerLib.*.nupkg)
if(old)
  file(REMOVE ${old})
endif()
file(MAKE_DIRECTORY ${OUT_DIR})
file(COPY ${made} DESTINATION ${OUT_DIR})
message(STATUS "Package: ${OUT_DIR}/TcpServerLib.${VERSION}.nupkg")
