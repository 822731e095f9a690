# tcpserver_write_notices(<output file>): writes THIRD-PARTY-NOTICES.txt for what this build
# puts inside its artifacts: the components named in the global property TCPSERVER_THIRD_PARTY
# (set_property(GLOBAL APPEND PROPERTY TCPSERVER_THIRD_PARTY <name>) by the part of the build
# that links them in), each from packaging/notices/<name>.txt. Called once, deferred to the end
# of the top-level directory (packaging/CMakeLists.txt), so every part has had its say.
function(tcpserver_write_notices output)
  get_property(components GLOBAL PROPERTY TCPSERVER_THIRD_PARTY)
  list(REMOVE_DUPLICATES components)
  list(SORT components)
  set(notices_dir ${PROJECT_SOURCE_DIR}/packaging/notices)
  set(text "Third-party notices for tcpserver ${PROJECT_VERSION}\n\n")
  string(APPEND text "tcpserver is licensed under the MIT License (see LICENSE).\n")
  if(NOT components)
    string(APPEND text "This package carries no third-party code. It links at run time to the "
                       "system's C and C++ runtime libraries, which are not part of it.\n")
  else()
    string(APPEND text "This package also carries the components below, under their own "
                       "licenses.\n")
    foreach(component IN LISTS components)
      set(file ${notices_dir}/${component}.txt)
      if(NOT EXISTS ${file})
        message(FATAL_ERROR "TCPSERVER_THIRD_PARTY names '${component}', but ${file} does not "
                            "exist: add the component's notice there (packaging/notices/README.md)")
      endif()
      file(READ ${file} notice)
      string(APPEND text "\n\n${notice}")
      set_property(DIRECTORY ${PROJECT_SOURCE_DIR} APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${file})
    endforeach()
  endif()
  # Rewritten only when the text changes, so the packages are not remade at every configure.
  file(WRITE ${output}.new "${text}")
  configure_file(${output}.new ${output} COPYONLY)
  file(REMOVE ${output}.new)
endfunction()
