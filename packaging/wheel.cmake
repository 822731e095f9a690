# The Python wheel, run by the `package_wheel` step of `packages` (cmake -P):
#   cmake -DPYTHON=<python3 with pip, setuptools, wheel> -DSOURCE_DIR=<repo>
#         -DLIBRARY=<built libtcpserver.so> -DWORK_DIR=<dir> -DOUT_DIR=<build>/packages -P wheel.cmake
# Builds the wheel of pyproject.toml offline (no build isolation: setuptools and wheel come from
# the distribution, no index is asked) with the library this build made (setup.py's
# TCPSERVER_WHEEL_LIBRARY, so CMake does not compile it again), setuptools' scratch folders under
# WORK_DIR, then replaces any tcpserver-*.whl in OUT_DIR with it.
foreach(var PYTHON SOURCE_DIR LIBRARY WORK_DIR OUT_DIR)
  if(NOT ${var})
    message(FATAL_ERROR "wheel.cmake: -D${var}=... is required")
  endif()
endforeach()

file(REMOVE_RECURSE ${WORK_DIR})
set(ENV{TCPSERVER_WHEEL_LIBRARY} ${LIBRARY})
set(ENV{TCPSERVER_WHEEL_BUILD_DIR} ${WORK_DIR}/setuptools)
execute_process(
  COMMAND ${PYTHON} -m pip wheel --no-build-isolation --no-index --no-deps
          --disable-pip-version-check --no-cache-dir --wheel-dir ${WORK_DIR}/dist ${SOURCE_DIR}
  RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "The Python wheel: pip wheel failed (${rc}); it needs ${PYTHON} with "
                      "pip, setuptools and wheel (Debian: python3-pip python3-setuptools python3-wheel)")
endif()
file(GLOB made ${WORK_DIR}/dist/tcpserver-*.whl)
list(LENGTH made count)
if(NOT count EQUAL 1)
  message(FATAL_ERROR "The Python wheel: want one tcpserver-*.whl in ${WORK_DIR}/dist, got '${made}'")
endif()
file(GLOB old ${OUT_DIR}/tcpserver-*.whl)
if(old)
  file(REMOVE ${old})
endif()
file(MAKE_DIRECTORY ${OUT_DIR})
file(COPY ${made} DESTINATION ${OUT_DIR})
get_filename_component(name ${made} NAME)
message(STATUS "Package: ${OUT_DIR}/${name}")
