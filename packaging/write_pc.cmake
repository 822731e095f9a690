# Install-time step (install(SCRIPT), component Development): writes tcpserver.pc into
# $DESTDIR<prefix>/<libdir>/pkgconfig from tcpserver.pc.in. Run at install time, not configure
# time, because only then is the prefix known (`cmake --install --prefix`, CPack's /usr).
# An archive is unpacked anywhere, so its file finds its prefix through ${pcfiledir}: when the
# prefix is "/" or empty (packaging/windows_sdk.cmake installs so) or CPack's ZIP generator
# says so (TCPSERVER_RELOCATABLE_INSTALL, packaging/cpack_options.cmake.in). Every other
# install names its absolute prefix.
# Set before it by install(CODE): TS_PC_TEMPLATE, TS_PC_LIBDIR, TS_PC_INCLUDEDIR, TS_PC_VERSION.
set(ts_prefix "${CMAKE_INSTALL_PREFIX}")
if(ts_prefix STREQUAL "/")
  set(ts_prefix "")
endif()
set(ts_pc_dir "${ts_prefix}/${TS_PC_LIBDIR}/pkgconfig")
if(ts_prefix STREQUAL "" OR "$ENV{TCPSERVER_RELOCATABLE_INSTALL}" STREQUAL "1")
  string(REGEX REPLACE "[^/]+" ".." ts_up "${TS_PC_LIBDIR}/pkgconfig")  # back to the root
  set(TS_PC_PREFIX "\${pcfiledir}/${ts_up}")
else()
  set(TS_PC_PREFIX "${ts_prefix}")
endif()
configure_file("${TS_PC_TEMPLATE}" "$ENV{DESTDIR}${ts_pc_dir}/tcpserver.pc" @ONLY)
list(APPEND CMAKE_INSTALL_MANIFEST_FILES "${ts_pc_dir}/tcpserver.pc")
message(STATUS "Installing: $ENV{DESTDIR}${ts_pc_dir}/tcpserver.pc")
