// TcpServerSafeHandle.cs — an engine server (TcpServerHandle*, made by CreateTcpServer) as a
// SafeHandle: DestroyTcpServer runs exactly once, when the handle is disposed or finalized and
// no native call holds a reference on it any more. TcpServer owns one per object; any thread
// may use it (the reference count is the SafeHandle's).
using System;
using System.Runtime.InteropServices;
using N = TcpServerLib.TcpServerNative;

namespace TcpServerLib
{
    /// <summary>An engine server made by CreateTcpServer. Disposing it (or its finalizer) calls
    /// DestroyTcpServer once no call made through it is still running; the server must be
    /// stopped by then (TcpServer.Dispose stops it first).</summary>
    public sealed class TcpServerSafeHandle : SafeHandle
    {
        /// <summary>An invalid (zero) handle, as the marshaller makes one.</summary>
        public TcpServerSafeHandle() : base(IntPtr.Zero, true) { }

        /// <summary>Takes ownership of an engine server handle (destroyed with this object).</summary>
        public TcpServerSafeHandle(IntPtr server) : base(IntPtr.Zero, true) { SetHandle(server); }

        /// <summary>CreateTcpServer(context) as a SafeHandle; throws TcpServerException (with
        /// the engine's error) if it fails.</summary>
        public static TcpServerSafeHandle Create(IntPtr context)
        {
            var result = new TcpServerSafeHandle();  // made first: nothing can leak in between
            IntPtr server = N.CreateTcpServer(context);
            if (server == IntPtr.Zero) throw TcpServerException.Last("create a server");
            result.SetHandle(server);
            return result;
        }

        /// <summary>True for the zero handle.</summary>
        public override bool IsInvalid { get { return handle == IntPtr.Zero; } }

        /// <summary>DestroyTcpServer; false (reported by the runtime) if the engine refused.</summary>
        protected override bool ReleaseHandle()
        {
            return N.DestroyTcpServer(handle) != 0;
        }
    }
}
