# cmake -DFROM=<cpack output folder> -DTO=<build>/packages -P collect_packages.cmake
# Copies the packages CPack made (*.deb, *.zip) into the packages folder, leaving CPack's
# staging folders behind; fails if CPack made none.
file(GLOB made "${FROM}/*.deb" "${FROM}/*.zip")
if(NOT made)
  message(FATAL_ERROR "CPack left no .deb or .zip in ${FROM}")
endif()
file(MAKE_DIRECTORY "${TO}")
foreach(file IN LISTS made)
  file(COPY "${file}" DESTINATION "${TO}")
  get_filename_component(name "${file}" NAME)
  message(STATUS "Package: ${TO}/${name}")
endforeach()
