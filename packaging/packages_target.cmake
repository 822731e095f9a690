# The `packages` target (included by packaging/CMakeLists.txt in a top-level Linux or Windows
# build): `cmake --build <build> --target packages` leaves every package in <build>/packages/.
#
#   package_linux        (Linux) the two .debs and the Linux SDK zip, by CPack (cpack.cmake)
#   package_windows_sdk  (Linux with mingw-w64) the Windows SDK zip: builds tcpserver.dll in the
#                        cross builds <build>/windows/win64 and win32 (the folders tests/windows
#                        uses) and packs both (windows_sdk.cmake)
#   package_wheel        (Linux) the Python wheel tcpserver-<version>-py3-none-linux_<arch>.whl:
#                        pyproject.toml at the root, with this build's library (wheel.cmake)
#   package_nuget        (Linux with Mono and nuget) TcpServerLib.<version>.nupkg: the managed
#                        assembly, the Linux library and both Windows DLLs from the cross builds
#                        (bindings/csharp/nuget/, nuget.cmake)
#
# A further package is a target that writes into TCPSERVER_PACKAGES_DIR (set in the top-level
# CMakeLists.txt) and tcpserver_add_package_step(<target>).
# The cluster library joins the existing packages through TCPSERVER_PACKAGED_TARGETS
# (packaging/CMakeLists.txt); packaging/SDK-README.md then lists its files.
add_custom_target(packages
  COMMAND ${CMAKE_COMMAND} -E echo "Every package is in ${TCPSERVER_PACKAGES_DIR}"
  VERBATIM)

# tcpserver_add_package_step(<target>): `packages` builds <target> too.
function(tcpserver_add_package_step target)
  add_dependencies(packages ${target})
endfunction()

if(NOT WIN32)
  add_custom_target(package_linux
    COMMAND ${CMAKE_COMMAND} -E rm -rf ${PROJECT_BINARY_DIR}/_cpack
    COMMAND ${CMAKE_CPACK_COMMAND} --config ${PROJECT_BINARY_DIR}/CPackConfig.cmake
    COMMAND ${CMAKE_COMMAND} -DFROM=${PROJECT_BINARY_DIR}/_cpack -DTO=${TCPSERVER_PACKAGES_DIR}
            -P ${CMAKE_CURRENT_LIST_DIR}/collect_packages.cmake
    WORKING_DIRECTORY ${PROJECT_BINARY_DIR}
    COMMENT "CPack: the .debs and the Linux SDK zip"
    VERBATIM)
  add_dependencies(package_linux tcpserver)
  tcpserver_add_package_step(package_linux)

  find_program(TCPSERVER_MINGW64_CXX x86_64-w64-mingw32-g++-posix)
  find_program(TCPSERVER_MINGW32_CXX i686-w64-mingw32-g++-posix)
  if(TCPSERVER_MINGW64_CXX AND TCPSERVER_MINGW32_CXX)
    add_custom_target(package_windows_sdk
      COMMAND ${CMAKE_COMMAND} -DSOURCE_DIR=${PROJECT_SOURCE_DIR}
              -DWIN64_BUILD=${PROJECT_BINARY_DIR}/windows/win64
              -DWIN32_BUILD=${PROJECT_BINARY_DIR}/windows/win32
              -DWORK_DIR=${PROJECT_BINARY_DIR}/_windows_sdk
              -DOUT_DIR=${TCPSERVER_PACKAGES_DIR}
              -DNAME=tcpserver-${PROJECT_VERSION}-windows-sdk
              -P ${CMAKE_CURRENT_LIST_DIR}/windows_sdk.cmake
      COMMENT "The Windows SDK zip (x64 and x86 DLLs from the mingw-w64 cross builds)"
      USES_TERMINAL
      VERBATIM)
    tcpserver_add_package_step(package_windows_sdk)
  else()
    message(STATUS "packaging: mingw-w64 not found, `packages` makes no Windows SDK zip "
                   "(install g++-mingw-w64-x86-64-posix and g++-mingw-w64-i686-posix)")
  endif()

  # The Python wheel (needs Debian's pip, setuptools and wheel for /usr/bin/python3; setuptools
  # is imported first: after pip has imported distutils, its distutils hack refuses to load).
  set(TCPSERVER_WHEEL_PYTHON /usr/bin/python3 CACHE FILEPATH
      "Python 3 with pip, setuptools and wheel, for the `packages` wheel step")
  execute_process(COMMAND ${TCPSERVER_WHEEL_PYTHON} -c "import setuptools, wheel, pip"
                  RESULT_VARIABLE ts_wheel_tools OUTPUT_QUIET ERROR_QUIET)
  if(ts_wheel_tools EQUAL 0)
    add_custom_target(package_wheel
      COMMAND ${CMAKE_COMMAND} -DPYTHON=${TCPSERVER_WHEEL_PYTHON} -DSOURCE_DIR=${PROJECT_SOURCE_DIR}
              -DLIBRARY=$<TARGET_FILE:tcpserver> -DWORK_DIR=${PROJECT_BINARY_DIR}/_wheel
              -DOUT_DIR=${TCPSERVER_PACKAGES_DIR} -P ${CMAKE_CURRENT_LIST_DIR}/wheel.cmake
      COMMENT "The Python wheel (pyproject.toml, with this build's libtcpserver.so inside)"
      VERBATIM)
    add_dependencies(package_wheel tcpserver)
    tcpserver_add_package_step(package_wheel)
  else()
    message(STATUS "packaging: ${TCPSERVER_WHEEL_PYTHON} lacks pip, setuptools or wheel, "
                   "`packages` makes no Python wheel (install python3-pip python3-setuptools "
                   "python3-wheel)")
  endif()

  # The NuGet package: the assembly (mcs), the Linux library, the two Windows DLLs. It follows
  # the Windows SDK step, which builds those DLLs in the same cross-build folders.
  find_program(TCPSERVER_NUGET nuget)
  find_program(TCPSERVER_MCS_FOR_NUGET mcs)
  if(TCPSERVER_NUGET AND TCPSERVER_MCS_FOR_NUGET AND TARGET package_windows_sdk)
    add_custom_target(package_nuget
      COMMAND ${CMAKE_COMMAND} -DSOURCE_DIR=${PROJECT_SOURCE_DIR} -DVERSION=${PROJECT_VERSION}
              -DNUGET=${TCPSERVER_NUGET} -DLINUX_LIBRARY=$<TARGET_FILE:tcpserver>
              -DWIN64_BUILD=${PROJECT_BINARY_DIR}/windows/win64
              -DWIN32_BUILD=${PROJECT_BINARY_DIR}/windows/win32
              -DWORK_DIR=${PROJECT_BINARY_DIR}/_nuget -DOUT_DIR=${TCPSERVER_PACKAGES_DIR}
              -P ${CMAKE_CURRENT_LIST_DIR}/nuget.cmake
      COMMENT "The NuGet package TcpServerLib.${PROJECT_VERSION}.nupkg"
      VERBATIM)
    add_dependencies(package_nuget tcpserver package_windows_sdk)
    tcpserver_add_package_step(package_nuget)
  else()
    message(STATUS "packaging: `packages` makes no NuGet package: it needs nuget and mcs "
                   "(Debian: nuget mono-mcs) and the Windows DLLs of the mingw-w64 cross builds "
                   "(g++-mingw-w64-x86-64-posix g++-mingw-w64-i686-posix)")
  endif()
endif()
