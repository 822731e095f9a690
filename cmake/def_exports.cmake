# tcpserver_def_exports(<def file> <out var>): the export names of a .def file, in order (the
# lines after EXPORTS, without comments or anything after the name). One reading of
# dll/tcpserver.def for the Linux version script and the 32-bit MinGW import library.
function(tcpserver_def_exports def_file out_var)
  file(STRINGS "${def_file}" lines)
  set(names "")
  set(in_exports OFF)
  foreach(line IN LISTS lines)
    string(STRIP "${line}" line)
    if(line STREQUAL "EXPORTS")
      set(in_exports ON)
    elseif(in_exports AND line AND NOT line MATCHES "^;")
      string(REGEX REPLACE "[ \t].*" "" name "${line}")
      list(APPEND names "${name}")
    endif()
  endforeach()
  set(${out_var} "${names}" PARENT_SCOPE)
endfunction()
