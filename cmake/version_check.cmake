# tcpserver_check_header_version(<tcpserver.h>): configure-time check that the version in
# project(VERSION) and the header's TCPSERVER_VERSION_MAJOR/MINOR/PATCH are the same, so a
# release bumps both or neither. Called once by the top-level CMakeLists.txt.
function(tcpserver_check_header_version header)
  file(STRINGS "${header}" lines REGEX "^#define TCPSERVER_VERSION_(MAJOR|MINOR|PATCH) ")
  set(header_version "")
  foreach(part MAJOR MINOR PATCH)
    set(value "")
    foreach(line IN LISTS lines)
      if(line MATCHES "^#define TCPSERVER_VERSION_${part} +([0-9]+)")
        set(value ${CMAKE_MATCH_1})
      endif()
    endforeach()
    if(value STREQUAL "")
      message(FATAL_ERROR "${header} has no '#define TCPSERVER_VERSION_${part} <number>': "
                          "the version check cannot read it")
    endif()
    list(APPEND header_version ${value})
  endforeach()
  list(JOIN header_version "." header_version)
  if(NOT header_version VERSION_EQUAL PROJECT_VERSION)
    message(FATAL_ERROR "Version mismatch: project(tcpserver VERSION ${PROJECT_VERSION}) in "
                        "${PROJECT_SOURCE_DIR}/CMakeLists.txt, but ${header} says "
                        "${header_version} (TCPSERVER_VERSION_MAJOR/MINOR/PATCH). Set both to "
                        "the same version.")
  endif()
endfunction()
