// TcpServerNative.cs — P/Invoke declarations of dll/include/tcpserver.h, one for one.
//
// This file mirrors the C header exactly (records, callback types, every export, every
// constant) and does nothing else but check the record layout against the loaded library.
// The idiomatic API is TcpServer.cs.
//
// Marshalling rules, so nothing is converted behind the caller's back:
//  - DllImport("tcpserver") resolves libtcpserver.so on Linux and tcpserver.dll on Windows.
//  - CallingConvention.Winapi is stdcall on 32-bit Windows and the platform default elsewhere,
//    which is what the header's TS_CALL means.
//  - C int32 booleans stay int; pointers (TcpLink*, buffers) are IntPtr.
//  - const char* arguments are NUL-terminated UTF-8 byte arrays (see Utf8z); const char*
//    results are IntPtr, decoded with PtrToUtf8 (never freed: the library owns them).
using System;
using System.Collections.Generic;
using System.Runtime.InteropServices;
using System.Text;

namespace TcpServerLib
{
    /// <summary>One engine thread (tcpserver.h TcpWorker). Read through TcpLink.Worker.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct TcpWorker
    {
        public IntPtr Data;          // what OnWorkerThreadCreate / OnServerThreadCreate returned
        public uint ID;              // OS thread id
        public int Index;            // 1..GetWorkerCount() for workers, 0 for the service thread
        public int IsWorkerThread;   // 1 for a worker, 0 for the service thread
        public int Reserved0;
        public ReservedPointers Reserved;
    }

    /// <summary>One connection (tcpserver.h TcpLink). The engine owns it; write only Data.
    /// Valid from OnConnect until OnDisconnect / OnLinkIdleOvertime returns.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public unsafe struct TcpLink
    {
        public IntPtr Data;           // application-owned pointer, zero for a new link
        public IntPtr Worker;         // TcpWorker* of the thread running the current callback
        public ulong Id;              // unique in the process, never reused; never 0
        public fixed byte RemoteIP[TcpServerNative.TS_REMOTE_IP_SIZE]; // NUL-terminated text
        public uint RemotePort;
        public uint TickCountActive;  // GetTickCount32() of the last receive (or of the accept)
        public int CloseReason;       // TS_CLOSE_*, set before OnDisconnect / OnLinkIdleOvertime
        public int CloseError;        // OS error code when CloseReason is TS_CLOSE_ERROR
        public ReservedPointers Reserved;
    }

    /// <summary>The header's <c>void* Reserved[4]</c> (C# has no fixed arrays of pointers).</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct ReservedPointers
    {
        public IntPtr P0, P1, P2, P3;
    }

    // Callback types. The engine calls them on its own threads.
    [UnmanagedFunctionPointer(CallingConvention.Winapi)]
    public delegate int TOnReceive(IntPtr link, IntPtr buf, int len);
    [UnmanagedFunctionPointer(CallingConvention.Winapi)]
    public delegate void TOnDisconnect(IntPtr link);
    [UnmanagedFunctionPointer(CallingConvention.Winapi)]
    public delegate void TOnLinkIdleOvertime(IntPtr link);
    [UnmanagedFunctionPointer(CallingConvention.Winapi)]
    public delegate IntPtr TOnThreadCreate(int isWorkerThread);
    [UnmanagedFunctionPointer(CallingConvention.Winapi)]
    public delegate void TOnThreadExit(int isWorkerThread, IntPtr data);
    [UnmanagedFunctionPointer(CallingConvention.Winapi)]
    public delegate int TOnConnect(IntPtr link);
    [UnmanagedFunctionPointer(CallingConvention.Winapi)]
    public delegate void TOnLog(int level, IntPtr text);

    // Callback types of the handle-based TcpServer* family: the same as above with the Context
    // given to CreateTcpServer first, so one set of callbacks serves every server object.
    [UnmanagedFunctionPointer(CallingConvention.Winapi)]
    public delegate int TOnReceiveEx(IntPtr context, IntPtr link, IntPtr buf, int len);
    [UnmanagedFunctionPointer(CallingConvention.Winapi)]
    public delegate void TOnDisconnectEx(IntPtr context, IntPtr link);
    [UnmanagedFunctionPointer(CallingConvention.Winapi)]
    public delegate void TOnLinkIdleOvertimeEx(IntPtr context, IntPtr link);
    [UnmanagedFunctionPointer(CallingConvention.Winapi)]
    public delegate IntPtr TOnThreadCreateEx(IntPtr context, int isWorkerThread);
    [UnmanagedFunctionPointer(CallingConvention.Winapi)]
    public delegate void TOnThreadExitEx(IntPtr context, int isWorkerThread, IntPtr data);
    [UnmanagedFunctionPointer(CallingConvention.Winapi)]
    public delegate int TOnConnectEx(IntPtr context, IntPtr link);

    /// <summary>Every export and constant of tcpserver.h.</summary>
    public static class TcpServerNative
    {
        public const string Library = "tcpserver";
        const CallingConvention Conv = CallingConvention.Winapi;

#if NETCOREAPP3_0_OR_GREATER
        // On .NET Core, TCPSERVER_LIBRARY (a full path) wins over the runtime's own search, as
        // in the Python binding. Mono has no resolver: it looks next to the assembly and on the
        // loader's path (LD_LIBRARY_PATH).
        static TcpServerNative()
        {
            try
            {
                NativeLibrary.SetDllImportResolver(typeof(TcpServerNative).Assembly, (name, assembly, searchPath) =>
                {
                    string path = Environment.GetEnvironmentVariable("TCPSERVER_LIBRARY");
                    return name == Library && !string.IsNullOrEmpty(path) ? NativeLibrary.Load(path) : IntPtr.Zero;
                });
            }
            catch (InvalidOperationException)
            {
                // The application set its own resolver for this assembly: it decides.
            }
        }
#endif

        // ---- constants ------------------------------------------------------------------
        public const int TCPSERVER_VERSION_MAJOR = 1;
        public const int TCPSERVER_VERSION_MINOR = 2;
        public const int TCPSERVER_VERSION_PATCH = 0;
        public const int TCPSERVER_VERSION_NUMBER =
            TCPSERVER_VERSION_MAJOR * 10000 + TCPSERVER_VERSION_MINOR * 100 + TCPSERVER_VERSION_PATCH;

        public const int TS_REMOTE_IP_SIZE = 48;

        public const int TS_CLOSE_NONE = 0;
        public const int TS_CLOSE_PEER_CLOSED = 1;
        public const int TS_CLOSE_PEER_RESET = 2;
        public const int TS_CLOSE_IDLE = 3;
        public const int TS_CLOSE_BY_APP = 4;
        public const int TS_CLOSE_SEND_QUEUE_FULL = 5;
        public const int TS_CLOSE_SERVER_STOP = 6;
        public const int TS_CLOSE_ERROR = 7;
        public const int TS_CLOSE_FRAME_TOO_LARGE = 8;
        public const int TS_CLOSE_BAD_FRAME = 9;
        public const int TS_CLOSE_FRAME_TRUNCATED = 10;

        public const int TS_OK = 0;
        public const int TS_ERR_INVALID_ARGUMENT = 1;
        public const int TS_ERR_NOT_ACTIVE = 2;
        public const int TS_ERR_ALREADY_ACTIVE = 3;
        public const int TS_ERR_IN_CALLBACK = 4;
        public const int TS_ERR_BAD_ADDRESS = 5;
        public const int TS_ERR_ADDRESS_IN_USE = 6;
        public const int TS_ERR_SOCKET = 7;
        public const int TS_ERR_NOT_A_BUFFER = 8;
        public const int TS_ERR_BUFFER_NOT_OWNED = 9;
        public const int TS_ERR_BAD_LENGTH = 10;
        public const int TS_ERR_NOT_A_LINK = 11;
        public const int TS_ERR_LINK_CLOSED = 12;
        public const int TS_ERR_POOL_EXHAUSTED = 13;
        public const int TS_ERR_SEND_QUEUE_FULL = 14;
        public const int TS_ERR_UNKNOWN_OPTION = 15;
        public const int TS_ERR_OPTION_RANGE = 16;
        public const int TS_ERR_TIMEOUT = 17;
        public const int TS_ERR_BUFFER_TOO_SMALL = 18;
        public const int TS_ERR_NOT_FOUND = 19;
        public const int TS_ERR_OUT_OF_MEMORY = 20;
        public const int TS_ERR_SYSTEM = 21;
        public const int TS_ERR_BUSY = 22;
        public const int TS_ERR_NOT_SUPPORTED = 23;

        public const int TS_OPT_MAX_LINKS = 1;
        public const int TS_OPT_IO_BUFFER_SIZE = 2;
        public const int TS_OPT_IO_BUFFER_COUNT = 3;
        public const int TS_OPT_IDLE_TIMEOUT_MS = 4;
        public const int TS_OPT_WORKER_THREADS = 5;
        public const int TS_OPT_LISTEN_BACKLOG = 6;
        public const int TS_OPT_SEND_QUEUE_LIMIT = 7;
        public const int TS_OPT_SEND_QUEUE_POLICY = 8;
        public const int TS_OPT_TCP_NODELAY = 9;
        public const int TS_OPT_KEEPALIVE = 10;
        public const int TS_OPT_REUSEPORT = 11;
        public const int TS_OPT_REUSEADDR = 12;
        public const int TS_OPT_FRAMING = 13;
        public const int TS_OPT_LOG_LEVEL = 14;
        public const int TS_OPT_MAX_MESSAGE_SIZE = 15;
        public const int TS_OPT_KEEPALIVE_IDLE_S = 16;
        public const int TS_OPT_KEEPALIVE_INTERVAL_S = 17;
        public const int TS_OPT_KEEPALIVE_COUNT = 18;
        public const int TS_OPT_IPV6_ONLY = 19;

        public const int TS_QUEUE_CLOSE_LINK = 0;
        public const int TS_QUEUE_REFUSE_SEND = 1;

        public const int TS_FRAMING_RAW = 0;
        public const int TS_FRAMING_LENGTH_PREFIXED = 1;

        public const int TS_LOG_DEBUG = 0;
        public const int TS_LOG_INFO = 1;
        public const int TS_LOG_WARN = 2;
        public const int TS_LOG_ERROR = 3;

        public const int TS_CLOSE_FLAG_ABORT = 1;

        public const int TS_COUNTER_BYTES_IN = 1;
        public const int TS_COUNTER_BYTES_OUT = 2;
        public const int TS_COUNTER_MSGS_IN = 3;
        public const int TS_COUNTER_MSGS_OUT = 4;
        public const int TS_COUNTER_ACCEPTS = 5;
        public const int TS_COUNTER_REFUSED = 6;
        public const int TS_COUNTER_SEND_QUEUE_DROPS = 7;
        public const int TS_COUNTER_CLOSED = 8;
        public const int TS_COUNTER_IDLE_CLOSED = 9;
        public const int TS_COUNTER_RECV_PAUSES = 10;
        public const int TS_COUNTER_FRAMING_ERRORS = 11;

        // ---- server -----------------------------------------------------------------------
        [DllImport(Library, CallingConvention = Conv)] public static extern int StartTcpServer(byte[] ip, uint port);
        [DllImport(Library, CallingConvention = Conv)] public static extern int StopTcpServer();
        [DllImport(Library, CallingConvention = Conv)] public static extern int StopTcpServerEx(int timeoutMs);
        [DllImport(Library, CallingConvention = Conv)] public static extern int IsTcpServerActive();
        [DllImport(Library, CallingConvention = Conv)] public static extern uint GetServerPort();

        [DllImport(Library, CallingConvention = Conv)]
        public static extern void SetEventProc(TOnReceive onReceive, TOnDisconnect onDisconnect,
            TOnLinkIdleOvertime onLinkIdleOvertime, TOnThreadCreate onServerThreadCreate,
            TOnThreadCreate onWorkerThreadCreate);
        [DllImport(Library, CallingConvention = Conv)] public static extern int SetConnectProc(TOnConnect onConnect);
        [DllImport(Library, CallingConvention = Conv)] public static extern int SetThreadExitProc(TOnThreadExit onThreadExit);
        [DllImport(Library, CallingConvention = Conv)] public static extern void SetLogProc(TOnLog onLog);

        [DllImport(Library, CallingConvention = Conv)] public static extern int SetServerOption(int option, long value);
        [DllImport(Library, CallingConvention = Conv)] public static extern long GetServerOption(int option);
        [DllImport(Library, CallingConvention = Conv)] public static extern int GetServerOptionRange(int option, out long min, out long max);

        // ---- IO memory and sending ------------------------------------------------------------
        [DllImport(Library, CallingConvention = Conv)] public static extern IntPtr GetIOMem();
        [DllImport(Library, CallingConvention = Conv)] public static extern int FreeIOMem(IntPtr mem);
        [DllImport(Library, CallingConvention = Conv)] public static extern int PostSend(IntPtr link, IntPtr mem, int len);
        [DllImport(Library, CallingConvention = Conv)] public static extern int PostSendById(ulong linkId, IntPtr mem, int len);
        [DllImport(Library, CallingConvention = Conv)] public static extern int SendBuffer(IntPtr link, IntPtr buf, int len);
        [DllImport(Library, CallingConvention = Conv)] public static extern int SendBufferById(ulong linkId, IntPtr buf, int len);
        [DllImport(Library, CallingConvention = Conv)] public static extern int PostRecv(IntPtr link, IntPtr mem);
        [DllImport(Library, CallingConvention = Conv)] public static extern int PostBroadcast(IntPtr buf, int len);

        [DllImport(Library, CallingConvention = Conv)] public static extern int CloseLink(IntPtr link);
        [DllImport(Library, CallingConvention = Conv)] public static extern int CloseLinkById(ulong linkId);
        [DllImport(Library, CallingConvention = Conv)] public static extern int CloseLinkEx(IntPtr link, int flags);
        [DllImport(Library, CallingConvention = Conv)] public static extern int CloseLinkByIdEx(ulong linkId, int flags);

        // ---- flow control and enumeration (links of any server) ------------------------------
        [DllImport(Library, CallingConvention = Conv)] public static extern int PauseReceive(IntPtr link);
        [DllImport(Library, CallingConvention = Conv)] public static extern int ResumeReceive(IntPtr link);
        [DllImport(Library, CallingConvention = Conv)] public static extern int PauseReceiveById(ulong linkId);
        [DllImport(Library, CallingConvention = Conv)] public static extern int ResumeReceiveById(ulong linkId);
        [DllImport(Library, CallingConvention = Conv)] public static extern long GetSendQueueBytes(IntPtr link);
        [DllImport(Library, CallingConvention = Conv)] public static extern long GetSendQueueBytesById(ulong linkId);
        // ids may be null when capacity is 0; the result is the number of open links.
        [DllImport(Library, CallingConvention = Conv)] public static extern int GetLinkIds(ulong[] ids, int capacity);
        [DllImport(Library, CallingConvention = Conv)] public static extern int PostBroadcastExcept(IntPtr buf, int len, ulong exceptLinkId);

        // ---- several servers: the handle-based family (a server is an IntPtr handle) -------------
        [DllImport(Library, CallingConvention = Conv)] public static extern IntPtr CreateTcpServer(IntPtr context);
        [DllImport(Library, CallingConvention = Conv)] public static extern int DestroyTcpServer(IntPtr server);
        [DllImport(Library, CallingConvention = Conv)] public static extern IntPtr GetDefaultTcpServer();
        [DllImport(Library, CallingConvention = Conv)] public static extern IntPtr TcpServerGetContext(IntPtr server);
        [DllImport(Library, CallingConvention = Conv)] public static extern int TcpServerStart(IntPtr server, byte[] ip, uint port);
        [DllImport(Library, CallingConvention = Conv)] public static extern int TcpServerStop(IntPtr server, int timeoutMs);
        [DllImport(Library, CallingConvention = Conv)] public static extern int TcpServerIsActive(IntPtr server);
        [DllImport(Library, CallingConvention = Conv)] public static extern uint TcpServerGetPort(IntPtr server);
        [DllImport(Library, CallingConvention = Conv)]
        public static extern int TcpServerSetEventProc(IntPtr server, TOnReceiveEx onReceive, TOnDisconnectEx onDisconnect,
            TOnLinkIdleOvertimeEx onLinkIdleOvertime, TOnThreadCreateEx onServerThreadCreate,
            TOnThreadCreateEx onWorkerThreadCreate);
        [DllImport(Library, CallingConvention = Conv)] public static extern int TcpServerSetConnectProc(IntPtr server, TOnConnectEx onConnect);
        [DllImport(Library, CallingConvention = Conv)] public static extern int TcpServerSetThreadExitProc(IntPtr server, TOnThreadExitEx onThreadExit);
        [DllImport(Library, CallingConvention = Conv)] public static extern int TcpServerSetOption(IntPtr server, int option, long value);
        [DllImport(Library, CallingConvention = Conv)] public static extern long TcpServerGetOption(IntPtr server, int option);
        [DllImport(Library, CallingConvention = Conv)] public static extern IntPtr TcpServerGetIOMem(IntPtr server);
        [DllImport(Library, CallingConvention = Conv)] public static extern int TcpServerPostBroadcast(IntPtr server, IntPtr buf, int len, ulong exceptLinkId);
        [DllImport(Library, CallingConvention = Conv)] public static extern int TcpServerGetLinkIds(IntPtr server, ulong[] ids, int capacity);
        [DllImport(Library, CallingConvention = Conv)] public static extern int TcpServerGetLinkCount(IntPtr server);
        [DllImport(Library, CallingConvention = Conv)] public static extern int TcpServerGetIOMemFree(IntPtr server);
        [DllImport(Library, CallingConvention = Conv)] public static extern int TcpServerGetWorkerCount(IntPtr server);
        [DllImport(Library, CallingConvention = Conv)] public static extern long TcpServerGetCounter(IntPtr server, int counter);
        // API 1.2: the rest of the statistics per server. A bad handle gives -1 (GetWorkerID: 0)
        // with TS_ERR_INVALID_ARGUMENT; the sizes are 64-bit, unlike the flat GetLinkSize / GetIOMemSize.
        [DllImport(Library, CallingConvention = Conv)] public static extern int TcpServerGetLinkFree(IntPtr server);
        [DllImport(Library, CallingConvention = Conv)] public static extern double TcpServerGetLinkUse(IntPtr server);
        [DllImport(Library, CallingConvention = Conv)] public static extern long TcpServerGetLinkSize(IntPtr server);
        [DllImport(Library, CallingConvention = Conv)] public static extern double TcpServerGetIOMemUse(IntPtr server);
        [DllImport(Library, CallingConvention = Conv)] public static extern long TcpServerGetIOMemSize(IntPtr server);
        [DllImport(Library, CallingConvention = Conv)] public static extern int TcpServerGetWorkerID(IntPtr server, int index);
        [DllImport(Library, CallingConvention = Conv)] public static extern int TcpServerGetWorkerExecInfo(IntPtr server, int index, out uint tickCount);
        [DllImport(Library, CallingConvention = Conv)] public static extern long TcpServerGetExecLong(IntPtr server);
        [DllImport(Library, CallingConvention = Conv)] public static extern int TcpServerGetExecCount(IntPtr server);

        // ---- statistics -----------------------------------------------------------------------
        [DllImport(Library, CallingConvention = Conv)] public static extern double GetLinkUse();
        [DllImport(Library, CallingConvention = Conv)] public static extern int GetLinkSize();
        [DllImport(Library, CallingConvention = Conv)] public static extern int GetLinkCount();
        [DllImport(Library, CallingConvention = Conv)] public static extern int GetLinkFree();
        [DllImport(Library, CallingConvention = Conv)] public static extern double GetIOMemUse();
        [DllImport(Library, CallingConvention = Conv)] public static extern int GetIOMemSize();
        [DllImport(Library, CallingConvention = Conv)] public static extern int GetIOMemFree();
        [DllImport(Library, CallingConvention = Conv)] public static extern int GetWorkerCount();
        [DllImport(Library, CallingConvention = Conv)] public static extern int GetWorkerID(int index);
        [DllImport(Library, CallingConvention = Conv)] public static extern int GetWorkerExecInfo(int index, out uint tickCount);
        [DllImport(Library, CallingConvention = Conv)] public static extern uint GetServerExecLong();
        [DllImport(Library, CallingConvention = Conv)] public static extern int GetServerExecCount();
        [DllImport(Library, CallingConvention = Conv)] public static extern long GetServerCounter(int counter);

        // ---- misc -------------------------------------------------------------------------------
        [DllImport(Library, CallingConvention = Conv)] public static extern void WriteLog(byte[] text);
        [DllImport(Library, CallingConvention = Conv)] public static extern int GetLocalIP(int isInternetIP, byte[] buf, int bufLen);
        [DllImport(Library, CallingConvention = Conv)] public static extern uint GetTickCount32();
        // The library exports "GetVersion" on every platform (Windows C code calls it
        // GetTcpServerVersion because kernel32 has a GetVersion; DllImport names the library).
        [DllImport(Library, CallingConvention = Conv)] public static extern int GetVersion();
        [DllImport(Library, CallingConvention = Conv)] public static extern int GetTcpServerVersion();
        [DllImport(Library, CallingConvention = Conv)] public static extern IntPtr GetVersionText();
        [DllImport(Library, CallingConvention = Conv)] public static extern int GetLastErrorCode();
        [DllImport(Library, CallingConvention = Conv)] public static extern IntPtr GetLastErrorText();
        [DllImport(Library, CallingConvention = Conv)] public static extern IntPtr GetCloseReasonText(int reason);
        [DllImport(Library, CallingConvention = Conv)] public static extern IntPtr GetAbiLayout();

        // ---- string helpers -----------------------------------------------------------------

        /// <summary>text as NUL-terminated UTF-8, for const char* arguments (null stays null).</summary>
        public static byte[] Utf8z(string text)
        {
            if (text == null) return null;
            var bytes = new byte[Encoding.UTF8.GetByteCount(text) + 1];
            Encoding.UTF8.GetBytes(text, 0, text.Length, bytes, 0);
            return bytes;
        }

        /// <summary>A NUL-terminated UTF-8 string the library owns, as a string (IntPtr.Zero gives
        /// null). Marshal.PtrToStringUTF8 is not on every runtime this binding supports.</summary>
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
