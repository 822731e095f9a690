# tcpserver_check_target_runnable(): can this machine run the programs this build makes?
# Sets the cache entries TCPSERVER_TARGET_RUNNABLE (ON/OFF) and TCPSERVER_TARGET_RUNNABLE_WHY.
# Called by tests/unit/CMakeLists.txt; tests/cpp and tests/windows register their tests only
# when it is ON, and scripts/windows/test.sh reads it from the cross build's cache to decide
# whether to run the Wine steps.
#
# A native build runs its programs. A cross build (mingw-w64) decides by running one: a tiny
# program (cmake/probe/runs.c) built for the target and started through
# CMAKE_CROSSCOMPILING_EMULATOR (Wine). Finding a Wine binary is not enough: a kernel without
# 32-bit support refuses the 32-bit loader even with wine32:i386 installed, and test discovery
# would then fail the build. The first run also creates the build's Wine prefix.
function(tcpserver_check_target_runnable)
  list(JOIN CMAKE_CROSSCOMPILING_EMULATOR " " emulator)
  # A success is kept while the emulator stays the same; a failure is probed again at every
  # configure (it costs little: the loader is refused at once), so installing Wine later works.
  if(TCPSERVER_TARGET_RUNNABLE AND TCPSERVER_TARGET_RUNNABLE_EMULATOR STREQUAL emulator)
    return()
  endif()
  set(runnable ON)
  set(why "native build")
  if(CMAKE_CROSSCOMPILING)
    if(NOT CMAKE_CROSSCOMPILING_EMULATOR)
      set(runnable OFF)
      string(CONCAT why "no emulator for ${CMAKE_SYSTEM_NAME} ${CMAKE_SYSTEM_PROCESSOR} programs "
             "was found (CMAKE_CROSSCOMPILING_EMULATOR; for Windows: apt-get install wine64, "
             "and wine32:i386 for 32-bit)")
    else()
      set(dir ${CMAKE_BINARY_DIR}/CMakeFiles/target_probe)
      try_compile(built ${dir}/build SOURCES ${PROJECT_SOURCE_DIR}/cmake/probe/runs.c
                  COPY_FILE ${dir}/target_probe${CMAKE_EXECUTABLE_SUFFIX}
                  OUTPUT_VARIABLE build_log)
      if(NOT built)
        message(FATAL_ERROR "The target probe cmake/probe/runs.c does not compile:\n${build_log}")
      endif()
      execute_process(
        COMMAND ${CMAKE_CROSSCOMPILING_EMULATOR} ${dir}/target_probe${CMAKE_EXECUTABLE_SUFFIX}
        RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err TIMEOUT 300)
      if(rc EQUAL 0 AND out MATCHES "tcpserver target probe ran")
        set(why "a ${CMAKE_SYSTEM_PROCESSOR} program ran through ${emulator}")
      else()
        set(runnable OFF)
        string(STRIP "${err}" err)
        string(REGEX REPLACE ".*\n" "" err "${err}")  # the last line says it
        string(CONCAT why "a ${CMAKE_SYSTEM_PROCESSOR} program does not run here through "
               "${emulator} (exit ${rc}: ${err}); 32-bit Windows programs need wine32:i386 and "
               "a kernel that runs 32-bit executables")
      endif()
    endif()
  endif()
  set(TCPSERVER_TARGET_RUNNABLE ${runnable} CACHE INTERNAL "programs of this build run here")
  set(TCPSERVER_TARGET_RUNNABLE_WHY "${why}" CACHE INTERNAL "why TCPSERVER_TARGET_RUNNABLE is so")
  set(TCPSERVER_TARGET_RUNNABLE_EMULATOR "${emulator}" CACHE INTERNAL "the emulator it was decided for")
  message(STATUS "Programs of this build run here: ${runnable} (${why})")
endfunction()
