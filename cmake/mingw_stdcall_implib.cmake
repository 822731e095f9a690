# 32-bit MinGW only: give C/C++ callers an import library they can link with.
#
# On 32-bit Windows every export is __stdcall, so a caller compiled against tcpserver.h refers
# to `_PostSend@12`. The DLL exports the undecorated `PostSend` (-Wl,--kill-at + the .def file,
# for Delphi's `name 'PostSend'`), and the import library ld writes alongside then only knows
# `PostSend`: every C/C++ program fails to link. MSVC's linker gets this right by itself. Here,
# after the link, the import library is rebuilt by dlltool from a decorated .def (names plus
# @argument-bytes, read from the compiled objects) with --kill-at, which maps `_PostSend@12`
# to the export `PostSend`.
#
#   include(cmake/mingw_stdcall_implib.cmake)
#   tcpserver_stdcall_implib(tcpserver ${CMAKE_CURRENT_SOURCE_DIR}/tcpserver.def)

include(${CMAKE_CURRENT_LIST_DIR}/def_exports.cmake)

if(CMAKE_SCRIPT_MODE_FILE)  # the post-build step itself (cmake -P)
  tcpserver_def_exports("${DEF}" names)
  file(GLOB_RECURSE objects "${OBJECT_DIR}/*.obj" "${OBJECT_DIR}/*.o")
  execute_process(COMMAND "${NM}" --defined-only ${objects} OUTPUT_VARIABLE symbols
                  RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${NM} failed on ${OBJECT_DIR}")
  endif()
  set(decorated "LIBRARY ${DLL_NAME}\nEXPORTS\n")
  foreach(name IN LISTS names)
    string(REGEX MATCH " T _${name}@[0-9]+" sym "${symbols}")
    if(NOT sym)
      message(FATAL_ERROR "no __stdcall symbol _${name}@N in the objects: is ${name} declared "
                          "with TS_CALL and listed in ${DEF}?")
    endif()
    string(REGEX REPLACE "^ T _" "" sym "${sym}")
    string(APPEND decorated "  ${sym}\n")
  endforeach()
  file(WRITE "${WORK_DIR}/tcpserver_decorated.def" "${decorated}")
  execute_process(COMMAND "${DLLTOOL}" --kill-at --input-def "${WORK_DIR}/tcpserver_decorated.def"
                          --dllname "${DLL_NAME}" --output-lib "${IMPLIB}"
                  RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${DLLTOOL} could not write ${IMPLIB}")
  endif()
  return()
endif()

function(tcpserver_stdcall_implib target def_file)
  if(NOT (MINGW AND CMAKE_SIZEOF_VOID_P EQUAL 4))
    return()
  endif()
  if(NOT CMAKE_DLLTOOL OR NOT CMAKE_NM)
    message(FATAL_ERROR "32-bit MinGW build: dlltool and nm are needed for the import library "
                        "(install binutils-mingw-w64-i686)")
  endif()
  # The .def names (PostSend) resolve to the __stdcall symbols (_PostSend@12): expected here.
  target_link_options(${target} PRIVATE -Wl,--enable-stdcall-fixup)
  add_custom_command(TARGET ${target} POST_BUILD
    COMMAND ${CMAKE_COMMAND} -DNM=${CMAKE_NM} -DDLLTOOL=${CMAKE_DLLTOOL} -DDEF=${def_file}
            -DOBJECT_DIR=${CMAKE_CURRENT_BINARY_DIR}/CMakeFiles/${target}.dir
            -DDLL_NAME=$<TARGET_FILE_NAME:${target}> -DIMPLIB=$<TARGET_LINKER_FILE:${target}>
            -DWORK_DIR=${CMAKE_CURRENT_BINARY_DIR}
            -P ${CMAKE_CURRENT_FUNCTION_LIST_FILE}
    COMMENT "Import library with __stdcall names for $<TARGET_FILE_NAME:${target}>"
    VERBATIM)
endfunction()
