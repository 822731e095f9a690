# Building Pascal programs against the tcpserver library with Free Pascal. Included by
# bindings/pascal (the binding's tests) and samples/pascal (the conformance server).
include_guard(GLOBAL)

find_program(TCPSERVER_FPC fpc)
if(NOT TCPSERVER_FPC)
  message(FATAL_ERROR
    "Pascal binding: the Free Pascal compiler (fpc) is missing: install fp-compiler "
    "fp-units-rtl, or configure with -DTCPSERVER_BUILD_BINDINGS=OFF")
endif()

# tcpserver_add_pascal_program(<target> <main .pas> [UNIT_DIRS dir...] [SOURCES file...])
# Compiles <main .pas> into ${CMAKE_BINARY_DIR}/bin/<target>, linked against the tcpserver
# target (found with -Fl, and with an rpath so the program runs without LD_LIBRARY_PATH).
function(tcpserver_add_pascal_program target main)
  cmake_parse_arguments(ARG "" "" "UNIT_DIRS;SOURCES" ${ARGN})
  # The binding's folder (this file's), found from the function: the include guard means
  # variables set when this file was first included exist only in that directory's scope.
  set(binding_dir ${CMAKE_CURRENT_FUNCTION_LIST_DIR})
  file(GLOB binding_sources CONFIGURE_DEPENDS ${binding_dir}/*.pas ${binding_dir}/*.inc)
  set(output ${CMAKE_BINARY_DIR}/bin/${target})
  # Each program compiles the units into its own folder: programs built in parallel never
  # share (and race on) a .ppu/.o.
  set(unit_out ${CMAKE_CURRENT_BINARY_DIR}/${target}.units)
  set(unit_flags -Fu${binding_dir} -Fi${binding_dir})
  foreach(dir ${ARG_UNIT_DIRS})
    list(APPEND unit_flags -Fu${dir})
  endforeach()
  add_custom_command(
    OUTPUT ${output}
    COMMAND ${CMAKE_COMMAND} -E make_directory ${unit_out}
    COMMAND ${TCPSERVER_FPC} -B -l- -vew -O2 -g -gl ${unit_flags}
            -Fl$<TARGET_FILE_DIR:tcpserver> -k-rpath=$<TARGET_FILE_DIR:tcpserver>
            -FU${unit_out} -o${output} ${main}
    DEPENDS ${main} ${ARG_SOURCES} ${binding_sources} tcpserver
    COMMENT "Compiling Pascal program ${target}"
    VERBATIM)
  add_custom_target(${target} ALL DEPENDS ${output})
endfunction()
