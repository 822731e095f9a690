# The C# binding's sources, shared by bindings/csharp (the assembly and its tests) and
# samples/csharp (which compiles them into its own executable).
set(TCPSERVER_CSHARP_SOURCES
  ${CMAKE_CURRENT_LIST_DIR}/TcpServerNative.g.cs
  ${CMAKE_CURRENT_LIST_DIR}/TcpServerNative.cs
  ${CMAKE_CURRENT_LIST_DIR}/NullableAttributes.cs
  ${CMAKE_CURRENT_LIST_DIR}/TcpServerSafeHandle.cs
  ${CMAKE_CURRENT_LIST_DIR}/TcpServerEnums.g.cs
  ${CMAKE_CURRENT_LIST_DIR}/TcpServerException.cs
  ${CMAKE_CURRENT_LIST_DIR}/TcpServerEventArgs.cs
  ${CMAKE_CURRENT_LIST_DIR}/Link.cs
  ${CMAKE_CURRENT_LIST_DIR}/TcpServerTls.cs
  ${CMAKE_CURRENT_LIST_DIR}/TcpServer.cs
  # The cluster library's wrapper (libtcpcluster.so, Linux only; elsewhere the constructor says so).
  ${CMAKE_CURRENT_LIST_DIR}/TcpClusterNative.g.cs
  ${CMAKE_CURRENT_LIST_DIR}/TcpClusterEnums.g.cs
  ${CMAKE_CURRENT_LIST_DIR}/TcpClusterEventArgs.cs
  ${CMAKE_CURRENT_LIST_DIR}/TcpClusterNode.cs)

# mcs (the compiler) and mono (the runtime) from Debian's mono-mcs and mono-runtime.
find_program(TCPSERVER_MCS mcs)
find_program(TCPSERVER_MONO mono)
if(NOT TCPSERVER_MCS OR NOT TCPSERVER_MONO)
  message(FATAL_ERROR
    "the C# binding needs the Mono compiler and runtime (mcs: '${TCPSERVER_MCS}', mono: "
    "'${TCPSERVER_MONO}'): install mono-mcs mono-runtime, or configure with "
    "-DTCPSERVER_BUILD_BINDINGS=OFF")
endif()

# Flags for every C# build: the binding reads engine records through pointers (-unsafe).
# CS0436: Mono's own mscorlib has the nullable attributes that NullableAttributes.cs declares
# for .NET Framework (where the mcs-built assembly runs too): ours, internal, are meant.
set(TCPSERVER_MCS_FLAGS -nologo -unsafe -warn:4 -warnaserror+ -nowarn:436 -debug)
