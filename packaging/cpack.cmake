# CPack settings of a Linux build (included by packaging/CMakeLists.txt): `cpack` in the build
# folder makes
#   libtcpserver1_<version>_<arch>.deb      the shared library (Runtime), Depends from
#                                           dpkg-shlibdeps (libc6, libstdc++6, libgcc-s1),
#                                           a shlibs file, ldconfig in postinst/postrm
#   libtcpserver-dev_<version>_<arch>.deb   header, .so link, CMake package, tcpserver.pc
#                                           (Development), Depends: libtcpserver1 (= version)
#   tcpserver-<version>-linux-<arch>-sdk.zip  all three components under one folder
# The per-generator choices (components, file names) are in cpack_options.cmake.in.
if(WIN32)
  return()  # the Windows SDK zip is made by packages_target.cmake from the cross builds
endif()

set(CPACK_PACKAGE_NAME tcpserver)
set(CPACK_PACKAGE_VENDOR "the tcpserver authors")
set(TCPSERVER_PACKAGE_CONTACT "the tcpserver authors" CACHE STRING
    "Maintainer field of the .deb packages: set \"name <email>\" for a release")
set(CPACK_PACKAGE_CONTACT "${TCPSERVER_PACKAGE_CONTACT}")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "TCP server engine with a flat C API (IOCP on Windows, epoll on Linux)")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_RESOURCE_FILE_LICENSE ${PROJECT_SOURCE_DIR}/LICENSE)
set(CPACK_GENERATOR DEB ZIP)
set(CPACK_SOURCE_GENERATOR "")
set(CPACK_STRIP_FILES ON)  # packages carry no debug information (the build folder does)
set(CPACK_PACKAGE_DIRECTORY ${PROJECT_BINARY_DIR}/_cpack)  # staging; `packages` copies out
set(CPACK_THREADS 0)

# .deb: one package per component, Debian's library naming (SONAME libtcpserver.so.1).
set(CPACK_DEBIAN_PACKAGE_RELEASE 1)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_HOMEPAGE "")
set(CPACK_DEBIAN_RUNTIME_PACKAGE_NAME libtcpserver${PROJECT_VERSION_MAJOR})
set(CPACK_DEBIAN_RUNTIME_PACKAGE_SECTION libs)
set(CPACK_DEBIAN_RUNTIME_PACKAGE_SHLIBDEPS ON)          # Depends from the ELF file
# A shlibs file for packages built against ours (the API only grows: a program built against
# 1.2 needs 1.2 or newer), and postinst/postrm scripts that run ldconfig.
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS ON)
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS_POLICY ">=")
string(CONCAT CPACK_DEBIAN_RUNTIME_DESCRIPTION
    "The shared library libtcpserver.so.1. tcpserver keeps the flat API of the Delphi\n"
    "unit UTcpServer on edge-triggered epoll: thousands of connections, pool buffers,\n"
    "framing, flow control, statistics.")
set(CPACK_DEBIAN_DEVELOPMENT_PACKAGE_NAME libtcpserver-dev)
set(CPACK_DEBIAN_DEVELOPMENT_PACKAGE_SECTION libdevel)
set(CPACK_DEBIAN_DEVELOPMENT_PACKAGE_DEPENDS
    "libtcpserver${PROJECT_VERSION_MAJOR} (= ${PROJECT_VERSION}-${CPACK_DEBIAN_PACKAGE_RELEASE})")
string(CONCAT CPACK_DEBIAN_DEVELOPMENT_DESCRIPTION
    "Development files: the C header tcpserver.h, the C++17 header tcpserver.hpp,\n"
    "the CMake package (find_package(tcpserver), target tcpserver::tcpserver) and\n"
    "tcpserver.pc for pkg-config.")

configure_file(${CMAKE_CURRENT_LIST_DIR}/cpack_options.cmake.in
               ${PROJECT_BINARY_DIR}/CPackOptions.cmake @ONLY)
set(CPACK_PROJECT_CONFIG_FILE ${PROJECT_BINARY_DIR}/CPackOptions.cmake)
include(CPack)
