// Link.cs — one connection as a handler sees it, and the engine thread running the handler.
using System;
using System.Diagnostics.CodeAnalysis;
using System.Net;
using System.Runtime.InteropServices;
using N = TcpServerLib.TcpServerNative;

namespace TcpServerLib
{
    /// <summary>The engine thread running the current event (from TcpLink.Worker).</summary>
    public sealed class WorkerInfo
    {
        internal WorkerInfo(int index, uint threadId, bool isWorkerThread, object state)
        {
            Index = index;
            ThreadId = threadId;
            IsWorkerThread = isWorkerThread;
            State = state;
        }

        /// <summary>1..worker count for a worker, 0 for the service thread.</summary>
        public int Index { get; private set; }
        /// <summary>The OS thread id.</summary>
        public uint ThreadId { get; private set; }
        public bool IsWorkerThread { get; private set; }
        /// <summary>What the ThreadStarted handler put in ThreadEventArgs.State on this thread.</summary>
        [MaybeNull] public object State { get; private set; }
    }

    /// <summary>
    /// One connection, as seen by an event handler. A Link is valid only while the event that
    /// handed it out runs: the engine recycles the record afterwards, and using it later throws
    /// InvalidOperationException. Keep <see cref="Id"/> instead and call
    /// TcpServer.Send(id, ...) / TcpServer.CloseLink(id) from any thread, at any time.
    /// </summary>
    public sealed unsafe class Link
    {
        IntPtr record;

        internal Link(IntPtr record)
        {
            this.record = record;
            Id = ((TcpLink*)record)->Id;
        }

        /// <summary>Unique in the process, never reused; stays readable after the event.</summary>
        public ulong Id { get; private set; }

        /// <summary>True while the event that handed out this Link runs.</summary>
        public bool IsValid { get { return record != IntPtr.Zero; } }

        /// <summary>The native TcpLink* (for TcpServerNative calls such as PostSend); valid only
        /// during the event.</summary>
        public IntPtr Handle { get { return (IntPtr)Record; } }

        TcpLink* Record
        {
            get
            {
                if (record == IntPtr.Zero)
                    throw new InvalidOperationException(string.Format(
                        "link {0} was used after its event handler returned; a Link is valid only " +
                        "during the event. Keep link.Id and call TcpServer.Send(id, ...) instead", Id));
                return (TcpLink*)record;
            }
        }

        internal void Invalidate() { record = IntPtr.Zero; }

        public string RemoteIP { get { return N.FieldToUtf8(Record->RemoteIP, N.TS_REMOTE_IP_SIZE); } }
        public int RemotePort { get { return (int)Record->RemotePort; } }

        /// <summary>The peer's address and port, like Socket.RemoteEndPoint.</summary>
        public IPEndPoint RemoteEndPoint
        {
            get { return new IPEndPoint(IPAddress.Parse(RemoteIP), RemotePort); }
        }

        /// <summary>TcpServer.TickCount of the last receive (or of the accept).</summary>
        public uint TickCountActive { get { return Record->TickCountActive; } }

        /// <summary>Why the link closed; meaningful in Disconnected / IdleTimeout, else None.</summary>
        public CloseReason CloseReason { get { return (CloseReason)Record->CloseReason; } }
        public string CloseReasonText { get { return N.PtrToUtf8(N.GetCloseReasonText(Record->CloseReason)); } }
        /// <summary>The OS error code when CloseReason is Error, the TlsFailureCause when it is
        /// TlsError, else 0.</summary>
        public int CloseError { get { return Record->CloseError; } }

        /// <summary>What the link's TLS session reports (from Connecting on), read now; null for
        /// a link of a server without TLS.</summary>
        public LinkTlsInfo Tls { get { return LinkTlsInfo.Read(GetTlsInfo); } }

        /// <summary>One TLS fact of the link; null for a link of a server without TLS.</summary>
        public string GetTlsInfo(TlsInfo what)
        {
            IntPtr link = (IntPtr)Record;
            return LinkTlsInfo.Fetch((code, buffer, size) => N.GetLinkTlsInfo(link, code, buffer, size), what,
                                     "link " + Id);
        }

        /// <summary>The engine thread running this event.</summary>
        public WorkerInfo Worker
        {
            get
            {
                var worker = (TcpWorker*)Record->Worker;
                if (worker == null) return null;
                return new WorkerInfo(worker->Index, worker->ID, worker->IsWorkerThread != 0,
                                      TcpServer.HandleTarget(worker->Data));
            }
        }

        /// <summary>Any object the application attaches to this link (null at first). It lives
        /// from Connecting until Disconnected / IdleTimeout returns. (Kept through a GCHandle in
        /// TcpLink.Data, so it costs no lookup.)</summary>
        [AllowNull, MaybeNull] public object Data
        {
            get { return TcpServer.HandleTarget(Record->Data); }
            set
            {
                TcpLink* link = Record;
                if (link->Data != IntPtr.Zero)
                {
                    var handle = GCHandle.FromIntPtr(link->Data);
                    handle.Target = value;
                }
                else if (value != null)
                    link->Data = GCHandle.ToIntPtr(GCHandle.Alloc(value));
            }
        }

        /// <summary>Frees what Data holds; the link's last event has run.</summary>
        internal void ReleaseData()
        {
            TcpLink* link = (TcpLink*)record;
            if (link->Data == IntPtr.Zero) return;
            GCHandle.FromIntPtr(link->Data).Free();
            link->Data = IntPtr.Zero;
        }

        // ---- sending and closing (during the event; use TcpServer.Send(id, ...) elsewhere) ----

        /// <summary>Copy data (any length) into the link's send queue. Throws
        /// TcpServerException when nothing could be queued (link closing, queue over its
        /// limit, pool exhausted).</summary>
        public void Send(byte[] data) { Send(data, 0, Checked(data).Length); }
        public void Send(byte[] data, int offset, int count)
        {
            if (!TrySend(data, offset, count)) throw TcpServerException.Last("send to link " + Id);
        }
        /// <summary>Copy count bytes from native memory (e.g. ReceivedEventArgs.Data: an echo
        /// without a managed copy) into the link's send queue.</summary>
        public void Send(IntPtr data, int count)
        {
            if (!TrySend(data, count)) throw TcpServerException.Last("send to link " + Id);
        }

        /// <summary>As Send, but returns false instead of throwing when nothing was queued
        /// (GetLastErrorCode tells why).</summary>
        public bool TrySend(byte[] data) { return TrySend(data, 0, Checked(data).Length); }
        public bool TrySend(byte[] data, int offset, int count)
        {
            CheckRange(data, offset, count);
            if (count == 0) return true;
            fixed (byte* bytes = data)
                return N.SendBuffer((IntPtr)Record, (IntPtr)(bytes + offset), count) != 0;
        }
        public bool TrySend(IntPtr data, int count)
        {
            if (count < 0) throw new ArgumentOutOfRangeException("count", "count must not be negative");
            if (count == 0) return true;
            return N.SendBuffer((IntPtr)Record, data, count) != 0;
        }

#if NETSTANDARD2_1_OR_GREATER || NETCOREAPP2_1_OR_GREATER
        /// <summary>As Send(byte[]), from a span (where the target framework has
        /// ReadOnlySpan; the engine makes the only copy).</summary>
        public void Send(ReadOnlySpan<byte> data)
        {
            if (!TrySend(data)) throw TcpServerException.Last("send to link " + Id);
        }
        /// <summary>As Send(byte[]), from a ReadOnlyMemory.</summary>
        public void Send(ReadOnlyMemory<byte> data) { Send(data.Span); }
        /// <summary>As TrySend(byte[]), from a span.</summary>
        public bool TrySend(ReadOnlySpan<byte> data)
        {
            if (data.IsEmpty) return true;
            fixed (byte* bytes = data)
                return N.SendBuffer((IntPtr)Record, (IntPtr)bytes, data.Length) != 0;
        }
        /// <summary>As TrySend(byte[]), from a ReadOnlyMemory.</summary>
        public bool TrySend(ReadOnlyMemory<byte> data) { return TrySend(data.Span); }
#endif

        /// <summary>Close the link: pending sends flush first, unless abort drops them and
        /// resets the connection. Disconnected follows (reason ByApp).</summary>
        public void Close(bool abort = false)
        {
            if (N.CloseLinkEx((IntPtr)Record, abort ? N.TS_CLOSE_FLAG_ABORT : 0) == 0)
                throw TcpServerException.Last("close link " + Id);
        }

        // ---- flow control (during the event; TcpServer.PauseReceive(id) etc. elsewhere) ----------

        /// <summary>Stop reading from the link (TCP backpressure reaches the peer; sends still go
        /// out, the idle clock still runs) until ResumeReceive. Pausing a paused link changes
        /// nothing.</summary>
        public void PauseReceive()
        {
            if (N.PauseReceive((IntPtr)Record) == 0) throw TcpServerException.Last("pause link " + Id);
        }

        /// <summary>Read from the link again.</summary>
        public void ResumeReceive()
        {
            if (N.ResumeReceive((IntPtr)Record) == 0) throw TcpServerException.Last("resume link " + Id);
        }

        /// <summary>Bytes queued on the link and not yet written to its socket (framing headers
        /// included).</summary>
        public long SendQueueBytes
        {
            get
            {
                long bytes = N.GetSendQueueBytes((IntPtr)Record);
                if (bytes < 0) throw TcpServerException.Last("queued bytes of link " + Id);
                return bytes;
            }
        }

        public override string ToString()
        {
            return IsValid ? string.Format("link {0} {1}:{2}", Id, RemoteIP, RemotePort)
                           : string.Format("link {0} (event returned)", Id);
        }

        internal static byte[] Checked(byte[] data)
        {
            if (data == null) throw new ArgumentNullException("data");
            return data;
        }

        internal static void CheckRange(byte[] data, int offset, int count)
        {
            Checked(data);
            if (offset < 0 || count < 0 || offset > data.Length - count)
                throw new ArgumentOutOfRangeException("count", string.Format(
                    "offset {0} and count {1} do not fit an array of {2} bytes", offset, count, data.Length));
        }
    }
}
