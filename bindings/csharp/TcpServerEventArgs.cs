// TcpServerEventArgs.cs — what TcpServer's events hand to their handlers.
using System;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.InteropServices;
using System.Text;

namespace TcpServerLib
{
    /// <summary>An event about one link (Disconnected, IdleTimeout; base of the others).</summary>
    public class LinkEventArgs : EventArgs
    {
        internal LinkEventArgs(Link link) { Link = link; }

        /// <summary>The link; valid only during the event (keep Link.Id for later).</summary>
        public Link Link { get; private set; }
        /// <summary>Why the link closed (Disconnected / IdleTimeout), else None.</summary>
        public CloseReason CloseReason { get { return Link.CloseReason; } }
    }

    /// <summary>A new link, before its first Received. Set Cancel to refuse it: the socket is
    /// closed, counted as refused, and no other event comes for it.</summary>
    public sealed class ConnectingEventArgs : LinkEventArgs
    {
        internal ConnectingEventArgs(Link link) : base(link) { }

        public bool Cancel { get; set; }
    }

    /// <summary>
    /// Data arrived on a link. The bytes are NOT copied: Data points into the engine's buffer,
    /// which is valid only during the event. Read them with the indexer, CopyTo, ToArray,
    /// GetString (or AsSpan on .NET Core); any access after the handler returns throws
    /// InvalidOperationException. Set CloseLink to close the link once pending sends flush.
    /// </summary>
    public sealed unsafe class ReceivedEventArgs : LinkEventArgs
    {
        IntPtr data;

        internal ReceivedEventArgs(Link link, IntPtr data, int length) : base(link)
        {
            this.data = data;
            Length = length;
        }

        internal void Invalidate() { data = IntPtr.Zero; }

        /// <summary>How many bytes arrived (raw stream: 1..IO buffer size; framing: a whole
        /// message, 1..MaxMessageSize); stays readable.</summary>
        public int Length { get; private set; }

        /// <summary>Close the link after this event (pending sends flush first; reason ByApp).</summary>
        public bool CloseLink { get; set; }

        /// <summary>The engine's buffer; valid only during the event.</summary>
        public IntPtr Data
        {
            get
            {
                if (data == IntPtr.Zero)
                    throw new InvalidOperationException(
                        "received data was used after its Received handler returned; the engine's " +
                        "buffer is valid only during the event. Call ToArray() inside the handler to keep a copy");
                return data;
            }
        }

        public byte this[int index]
        {
            get
            {
                if ((uint)index >= (uint)Length)
                    throw new ArgumentOutOfRangeException("index", string.Format(
                        "index {0} is outside the {1} received bytes", index, Length));
                return ((byte*)Data)[index];
            }
        }

        /// <summary>Copy all received bytes into destination at destinationIndex.</summary>
        public void CopyTo(byte[] destination, int destinationIndex = 0)
        {
            CopyTo(0, destination, destinationIndex, Length);
        }

        /// <summary>Copy count received bytes from sourceIndex into destination.</summary>
        public void CopyTo(int sourceIndex, byte[] destination, int destinationIndex, int count)
        {
            if (sourceIndex < 0 || count < 0 || sourceIndex > Length - count)
                throw new ArgumentOutOfRangeException("count", string.Format(
                    "bytes {0}..{1} are outside the {2} received bytes", sourceIndex, sourceIndex + count, Length));
            Link.CheckRange(destination, destinationIndex, count);
            Marshal.Copy(Data + sourceIndex, destination, destinationIndex, count);
        }

        /// <summary>A copy of the received bytes, to keep after the event.</summary>
        public byte[] ToArray()
        {
            var copy = new byte[Length];
            CopyTo(copy);
            return copy;
        }

        /// <summary>The received bytes decoded as UTF-8 (or the given encoding).</summary>
        public string GetString(Encoding encoding = null)
        {
            return (encoding ?? Encoding.UTF8).GetString((byte*)Data, Length);
        }

        /// <summary>True if the received bytes begin with prefix (e.g. an ASCII command word).</summary>
        public bool StartsWith(byte[] prefix)
        {
            Link.Checked(prefix);
            if (prefix.Length > Length) return false;
            byte* bytes = (byte*)Data;
            for (int i = 0; i < prefix.Length; i++)
                if (bytes[i] != prefix[i]) return false;
            return true;
        }

#if NETSTANDARD2_1_OR_GREATER || NETCOREAPP2_1_OR_GREATER
        /// <summary>The received bytes in place; the span must not outlive the event.</summary>
        public ReadOnlySpan<byte> AsSpan() { return new ReadOnlySpan<byte>((void*)Data, Length); }
#endif
    }

    /// <summary>An engine thread starts (ThreadStarted, on that thread) or ends (ThreadExited).</summary>
    public sealed class ThreadEventArgs : EventArgs
    {
        internal ThreadEventArgs(bool isWorkerThread, object state)
        {
            IsWorkerThread = isWorkerThread;
            State = state;
        }

        /// <summary>True for a worker thread, false for the service thread.</summary>
        public bool IsWorkerThread { get; private set; }

        /// <summary>Per-thread state (e.g. a database connection): set it in ThreadStarted; it is
        /// Link.Worker.State in that thread's events and comes back in ThreadExited.</summary>
        [AllowNull, MaybeNull] public object State { get; set; }
    }

    /// <summary>A log line from the engine (or from this binding, e.g. a handler's exception).</summary>
    public sealed class LogEventArgs : EventArgs
    {
        internal LogEventArgs(TcpLogLevel level, string message)
        {
            Level = level;
            Message = message;
        }

        public TcpLogLevel Level { get; private set; }
        public string Message { get; private set; }
    }
}
