#!/usr/bin/env python3
"""Acceptance of the NuGet package (CTest packaging_nuget), made by `--target packages`:

  1. one TcpServerLib.<version>.nupkg (version: tcpserver.h's, also in TcpServerLib.csproj)
     holding lib/net45/TcpServerLib.dll + .xml, runtimes/linux-x64/native/libtcpserver.so,
     runtimes/win-x64/native/tcpserver.dll (a PE for x86-64), runtimes/win-x86/native/
     tcpserver.dll (a PE for i386), build/TcpServerLib.targets, LICENSE, the notices;
  2. unpacked as NuGet's packages.config restore lays it out (packages/TcpServerLib.<version>/),
     a C# project that references its assembly and imports its build/TcpServerLib.targets (as
     NuGet does) builds with xbuild: the targets copy libtcpserver.so next to the program;
  3. the program, run under Mono with no LD_LIBRARY_PATH or TCPSERVER_LIBRARY, serves an echo;
  4. without the library next to it, it fails with the binding's message saying what to put
     where.

    check_nuget.py --packages <dir> --source <repo> --work <scratch dir>
"""
import argparse
import os
import re
import shutil
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

passed = failed = 0


def check(name, ok, detail=""):
    global passed, failed
    if ok:
        passed += 1
        print(f"PASS: {name}")
    else:
        failed += 1
        print(f"FAIL: {name}")
        for line in str(detail).splitlines()[-40:]:
            print(f"    {line}")
    return ok


def run(argv, **kwargs):
    result = subprocess.run(argv, capture_output=True, text=True, timeout=300, **kwargs)
    return result.returncode, result.stdout + result.stderr


def pe_machine(data):
    """The COFF machine of a PE file (0x8664 x86-64, 0x14c i386), or None."""
    if data[:2] != b"MZ":
        return None
    offset = struct.unpack_from("<I", data, 0x3C)[0]
    if data[offset:offset + 4] != b"PE\0\0":
        return None
    return struct.unpack_from("<H", data, offset + 4)[0]


PROGRAM = r"""
using System;
using System.Net;
using System.Net.Sockets;
using System.Text;
using TcpServerLib;

static class Echo
{
    static int Main()
    {
        try
        {
            using (var server = new TcpServer { WorkerThreads = 1 })
            {
                server.Start("127.0.0.1", 0);
                using (var client = new TcpClient())
                {
                    client.ReceiveTimeout = 30000;
                    client.Connect(IPAddress.Loopback, server.Port);
                    var sent = Encoding.ASCII.GetBytes("nuget echo check\n");
                    var stream = client.GetStream();
                    stream.Write(sent, 0, sent.Length);
                    var got = new byte[sent.Length];
                    for (int n = 0; n < got.Length; )
                    {
                        int read = stream.Read(got, n, got.Length - n);
                        if (read == 0) throw new Exception("the server closed the connection");
                        n += read;
                    }
                    if (Encoding.ASCII.GetString(got) != "nuget echo check\n") throw new Exception("wrong echo");
                }
                Console.WriteLine("echo ok " + TcpServer.Version);
            }
            return 0;
        }
        catch (DllNotFoundException ex)
        {
            Console.Error.WriteLine("DllNotFoundException: " + ex.Message);
            return 3;
        }
    }
}
"""

PROJECT = """<?xml version="1.0" encoding="utf-8"?>
<Project ToolsVersion="4.0" DefaultTargets="Build" xmlns="http://schemas.microsoft.com/developer/msbuild/2003">
  <PropertyGroup>
    <OutputType>Exe</OutputType>
    <AssemblyName>Echo</AssemblyName>
    <TargetFrameworkVersion>v4.5</TargetFrameworkVersion>
    <Platform>AnyCPU</Platform>
    <OutputPath>bin</OutputPath>
  </PropertyGroup>
  <ItemGroup>
    <!-- Debian's Mono has no reference assemblies (mono-devel): compile against the runtime's. -->
    <Reference Include="mscorlib"><HintPath>/usr/lib/mono/4.5/mscorlib.dll</HintPath><Private>false</Private></Reference>
    <Reference Include="System" />
    <Reference Include="TcpServerLib"><HintPath>packages/TcpServerLib.{version}/lib/net45/TcpServerLib.dll</HintPath></Reference>
    <Compile Include="Echo.cs" />
  </ItemGroup>
  <Import Project="$(MSBuildToolsPath)/Microsoft.CSharp.targets" />
  <!-- What NuGet adds to a packages.config project for the package's build/ folder. -->
  <Import Project="packages/TcpServerLib.{version}/build/TcpServerLib.targets" />
</Project>
"""


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--packages", type=Path, required=True)
    parser.add_argument("--source", type=Path, required=True)
    parser.add_argument("--work", type=Path, required=True)
    args = parser.parse_args()
    header = (args.source / "dll/include/tcpserver.h").read_text()
    version = ".".join(re.search(rf"#define TCPSERVER_VERSION_{p}\s+(\d+)", header).group(1)
                       for p in ("MAJOR", "MINOR", "PATCH"))
    csproj = (args.source / "bindings/csharp/TcpServerLib.csproj").read_text()
    check(f"TcpServerLib.csproj says version {version}", f"<Version>{version}</Version>" in csproj,
          "set <Version> in bindings/csharp/TcpServerLib.csproj to tcpserver.h's version")

    found = sorted(args.packages.glob("TcpServerLib.*.nupkg"))
    if not check(f"one TcpServerLib.{version}.nupkg in {args.packages}",
                 [p.name for p in found] == [f"TcpServerLib.{version}.nupkg"], f"found: {found}"):
        return 1
    package = found[0]
    with zipfile.ZipFile(package) as archive:
        names = set(archive.namelist())
        required = ["lib/net45/TcpServerLib.dll", "lib/net45/TcpServerLib.xml",
                    "runtimes/linux-x64/native/libtcpserver.so",
                    "runtimes/win-x64/native/tcpserver.dll", "runtimes/win-x86/native/tcpserver.dll",
                    "build/TcpServerLib.targets", "LICENSE", "THIRD-PARTY-NOTICES.txt",
                    "TcpServerLib.nuspec"]
        missing = [name for name in required if name not in names]
        check("the package holds " + ", ".join(required), not missing,
              f"missing: {missing}\nthe package has: {sorted(names)}")
        if missing:
            return 1
        machines = {rid: pe_machine(archive.read(f"runtimes/{rid}/native/tcpserver.dll"))
                    for rid in ("win-x64", "win-x86")}
        check("win-x64 holds an x86-64 DLL, win-x86 an i386 one",
              machines == {"win-x64": 0x8664, "win-x86": 0x14C}, machines)
        check("linux-x64 holds an ELF library",
              archive.read("runtimes/linux-x64/native/libtcpserver.so")[:4] == b"\x7fELF")
        nuspec = archive.read("TcpServerLib.nuspec").decode("utf-8")
        check(f"its nuspec says id TcpServerLib, version {version}",
              "<id>TcpServerLib</id>" in nuspec and f"<version>{version}</version>" in nuspec, nuspec)
        xml_doc = archive.read("lib/net45/TcpServerLib.xml").decode("utf-8")
        check("the XML documentation documents TcpServer.Start",
              'name="M:TcpServerLib.TcpServer.Start(' in xml_doc)

        # 2. Unpacked as packages.config restore lays packages out, next to a project.
        project = args.work / "consumer"
        shutil.rmtree(project, ignore_errors=True)
        unpacked = project / "packages" / f"TcpServerLib.{version}"
        unpacked.mkdir(parents=True)
        archive.extractall(unpacked)
    (project / "Echo.cs").write_text(PROGRAM)
    (project / "Echo.csproj").write_text(PROJECT.replace("{version}", version))
    code, out = run(["xbuild", "/nologo", "/v:minimal", "Echo.csproj"], cwd=project)
    built = project / "bin" / "Echo.exe"
    check("a project referencing the package builds with xbuild", code == 0 and built.exists(), out)
    copied = project / "bin" / "libtcpserver.so"
    check("build/TcpServerLib.targets put libtcpserver.so next to the program", copied.exists(),
          f"bin/ holds: {sorted(p.name for p in (project / 'bin').glob('*'))}")
    if not built.exists() or not copied.exists():
        return 1

    # 3. It runs under Mono, the library next to it, nothing of ours in the environment.
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("TCPSERVER") and k != "LD_LIBRARY_PATH"}
    code, out = run(["mono", str(built)], cwd=project, env=env)
    check(f"under Mono it serves an echo (tcpserver {version})",
          code == 0 and f"echo ok tcpserver {version}" in out, out)

    # 4. Without it, the binding says what to put where.
    copied.unlink()
    code, out = run(["mono", str(built)], cwd=project, env=env)
    check("without the library it says what to put where",
          code == 3 and "libtcpserver.so" in out and "next to TcpServerLib.dll" in out
          and "runtimes/linux-x64/native/libtcpserver.so" in out, out)

    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
