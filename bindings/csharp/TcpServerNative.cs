// TcpServerNative.cs — the hand-written part of TcpServerNative: where the library is loaded
// from (and what to say when it is not there), UTF-8 string helpers and the record layout check
// against the loaded library.
//
// The declarations themselves (records, callback types, every export, every constant) are
// generated from dll/include/tcpserver.h into TcpServerNative.g.cs by tools/abi/abi.py, with the
// marshalling rules written there. The idiomatic API is TcpServer.cs.
using System;
using System.Collections.Generic;
using System.Diagnostics.CodeAnalysis;
using System.IO;
using System.Runtime.InteropServices;
using System.Text;

namespace TcpServerLib
{
    // The part of TcpServerNative that is not generated.
    public static partial class TcpServerNative
    {
#if NETCOREAPP3_0_OR_GREATER
        // On .NET Core, TCPSERVER_LIBRARY (a full path) wins over the runtime's own search, as
        // in the Python binding, and TCPCLUSTER_LIBRARY for the cluster library. Mono has no
        // resolver: it looks next to the assembly and on the loader's path (LD_LIBRARY_PATH).
        static TcpServerNative()
        {
            try
            {
                NativeLibrary.SetDllImportResolver(typeof(TcpServerNative).Assembly, (name, assembly, searchPath) =>
                {
                    string variable = name == Library ? "TCPSERVER_LIBRARY"
                                    : name == TcpClusterNative.Library ? "TCPCLUSTER_LIBRARY" : null;
                    string path = variable == null ? null : Environment.GetEnvironmentVariable(variable);
                    return !string.IsNullOrEmpty(path) ? NativeLibrary.Load(path) : IntPtr.Zero;
                });
            }
            catch (InvalidOperationException)
            {
                // The application set its own resolver for this assembly: it decides.
            }
        }
#endif

        /// <summary>The runtime identifier whose native library this process needs (the NuGet
        /// package's runtimes/&lt;rid&gt;/native folder).</summary>
        public static string NativeRuntimeId
        {
            get
            {
                if (Path.DirectorySeparatorChar == '\\') return IntPtr.Size == 8 ? "win-x64" : "win-x86";
                return IntPtr.Size == 8 ? "linux-x64" : "linux-x86";
            }
        }

        /// <summary>The runtime's DllNotFoundException for the native library, as one that says
        /// what to install where (Mono's own names neither the file nor a folder).</summary>
        public static DllNotFoundException LibraryNotFound(DllNotFoundException cause)
        {
            bool windows = Path.DirectorySeparatorChar == '\\';
            string file = windows ? "tcpserver.dll" : "libtcpserver.so";
            string assembly = typeof(TcpServerNative).Assembly.Location;
            string folder = string.IsNullOrEmpty(assembly) ? "the application's folder" : Path.GetDirectoryName(assembly);
            string text = string.Format(
                "tcpserver: the native library {0} could not be loaded ({1}). Put the {0} built for this " +
                "process ({2}-bit, {3}) next to TcpServerLib.dll, in {4}. From the NuGet package it is " +
                "runtimes/{3}/native/{0}: its build/TcpServerLib.targets copies it there for .NET Framework " +
                "and Mono projects (.NET Core finds it itself). {5}",
                file, cause.Message, IntPtr.Size * 8, NativeRuntimeId, folder,
                windows ? "The Windows SDK zip has it in x64\\bin (64-bit) and x86\\bin (32-bit)."
                        : "Or install the libtcpserver1 package (.deb), or add the library's folder to LD_LIBRARY_PATH; " +
                          "on .NET Core 3+ TCPSERVER_LIBRARY may name the file.");
            return new DllNotFoundException(text, cause);
        }

        // ---- string helpers -----------------------------------------------------------------

        /// <summary>text as NUL-terminated UTF-8, for const char* arguments (null stays null).</summary>
        [return: MaybeNull]
        public static byte[] Utf8z([AllowNull] string text)
        {
            if (text == null) return null;
            var bytes = new byte[Encoding.UTF8.GetByteCount(text) + 1];
            Encoding.UTF8.GetBytes(text, 0, text.Length, bytes, 0);
            return bytes;
        }

        /// <summary>A NUL-terminated UTF-8 string the library owns, as a string (IntPtr.Zero gives
        /// null). Marshal.PtrToStringUTF8 is not on every runtime this binding supports.</summary>
        [return: MaybeNull]
        public static unsafe string PtrToUtf8(IntPtr text)
        {
            if (text == IntPtr.Zero) return null;
            byte* p = (byte*)text;
            int length = 0;
            while (p[length] != 0) length++;
            return Encoding.UTF8.GetString(p, length);
        }

        /// <summary>PtrToUtf8 of a fixed-size char field, stopping at its end if no NUL comes.</summary>
        public static unsafe string FieldToUtf8(byte* text, int size)
        {
            int length = 0;
            while (length < size && text[length] != 0) length++;
            return Encoding.UTF8.GetString(text, length);
        }

        // ---- layout check -------------------------------------------------------------------

        /// <summary>GetAbiLayout() text ("name=value;...") as a dictionary.</summary>
        public static Dictionary<string, long> ParseLayout(string text)
        {
            var result = new Dictionary<string, long>();
            foreach (var item in (text ?? "").Split(';'))
            {
                int eq = item.IndexOf('=');
                long value;
                if (eq > 0 && long.TryParse(item.Substring(eq + 1).Trim(), out value))
                    result[item.Substring(0, eq).Trim()] = value;
            }
            return result;
        }

        /// <summary>Sizes and offsets of the records as this file declares them, named as
        /// GetAbiLayout names them.</summary>
        public static Dictionary<string, long> ExpectedLayout()
        {
            var result = new Dictionary<string, long>();
            result["ptr"] = IntPtr.Size;
            foreach (var record in new[] { typeof(TcpLink), typeof(TcpWorker) })
            {
                result[record.Name + ".size"] = Marshal.SizeOf(record);
                foreach (var field in record.GetFields())
                    if (!field.IsStatic)
                        result[record.Name + "." + field.Name] = Marshal.OffsetOf(record, field.Name).ToInt64();
            }
            return result;
        }

        /// <summary>Every difference between the library's version/records and this binding's;
        /// empty when they agree. Only fields the library reports are compared.</summary>
        public static List<string> LayoutMismatches(string layoutText, int version)
        {
            var problems = new List<string>();
            if (version / 10000 != TCPSERVER_VERSION_MAJOR)
                problems.Add(string.Format(
                    "library version {0}.{1}.{2} has major {0}, this binding expects {3}",
                    version / 10000, version / 100 % 100, version % 100, TCPSERVER_VERSION_MAJOR));
            else if (version / 100 < TCPSERVER_VERSION_NUMBER / 100)
                problems.Add(string.Format(
                    "library version {0}.{1}.{2} is older than this binding's {3}.{4}: functions the binding calls are missing",
                    version / 10000, version / 100 % 100, version % 100, TCPSERVER_VERSION_MAJOR, TCPSERVER_VERSION_MINOR));
            var reported = ParseLayout(layoutText);
            var ours = ExpectedLayout();
            foreach (var pair in reported)
            {
                long mine;
                if (ours.TryGetValue(pair.Key, out mine) && mine != pair.Value)
                    problems.Add(string.Format("{0}: library {1}, binding {2}", pair.Key, pair.Value, mine));
            }
            var missing = new List<string>();
            foreach (var key in new[] { "ptr", "TcpLink.size", "TcpLink.Id", "TcpWorker.size" })
                if (!reported.ContainsKey(key)) missing.Add(key);
            if (missing.Count > 0)
                problems.Add("the library's layout text lacks " + string.Join(", ", missing.ToArray()));
            return problems;
        }
    }
}
