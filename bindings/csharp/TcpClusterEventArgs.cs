// TcpClusterEventArgs.cs — what TcpClusterNode's events hand to their handlers, and
// TcpClusterException (a failed cluster call, with the library's own code and text).
using System;
using Native = TcpServerLib.TcpClusterNative;

namespace TcpServerLib
{
    /// <summary>A message published on a topic (TcpClusterNode.Publish on any node, this one
    /// included). Data is a copy: it stays valid after the event.</summary>
    public sealed class ClusterTopicEventArgs : EventArgs
    {
        internal ClusterTopicEventArgs(string topic, ulong publisher, byte[] data)
        {
            Topic = topic;
            Publisher = publisher;
            Data = data;
        }

        public string Topic { get; private set; }
        /// <summary>The id of the node that published it.</summary>
        public ulong Publisher { get; private set; }
        public byte[] Data { get; private set; }
    }

    /// <summary>A SendToLink / SendToKey that failed after its call returned (the node is gone,
    /// the link closed there, no link holds the key, the connection to Redis broke).</summary>
    public sealed class ClusterSendFailedEventArgs : EventArgs
    {
        internal ClusterSendFailedEventArgs(ulong tag, TcpClusterSendFailure reason, ulong node,
                                            ulong linkId, string key, string text)
        {
            Tag = tag;
            Reason = reason;
            Node = node;
            LinkId = linkId;
            Key = key;
            Text = text;
        }

        /// <summary>What the send was given as its tag.</summary>
        public ulong Tag { get; private set; }
        public TcpClusterSendFailure Reason { get; private set; }
        /// <summary>The target node and link when known, else 0.</summary>
        public ulong Node { get; private set; }
        public ulong LinkId { get; private set; }
        /// <summary>The key of a SendToKey, else "".</summary>
        public string Key { get; private set; }
        /// <summary>What happened, for people.</summary>
        public string Text { get; private set; }
    }

    /// <summary>Messages from a node that never arrived here (counted in TcpClusterCounter.Gaps).</summary>
    public sealed class ClusterGapEventArgs : EventArgs
    {
        internal ClusterGapEventArgs(ulong publisher, TcpClusterChannel channel, long missed)
        {
            Publisher = publisher;
            Channel = channel;
            Missed = missed;
        }

        public ulong Publisher { get; private set; }
        public TcpClusterChannel Channel { get; private set; }
        public long Missed { get; private set; }
    }

    /// <summary>The node's state changed; Text says why (e.g. which Redis call failed).</summary>
    public sealed class ClusterStateEventArgs : EventArgs
    {
        internal ClusterStateEventArgs(TcpClusterState state, string text)
        {
            State = state;
            Text = text;
        }

        public TcpClusterState State { get; private set; }
        public string Text { get; private set; }
    }

    /// <summary>A cluster call failed. Code is the library's TC_ERR_* value; Text is its message
    /// (what failed and what to do).</summary>
    [Serializable]
    public class TcpClusterException : Exception
    {
        public TcpClusterException(TcpClusterErrorCode code, string text)
            : base(string.Format("{0} [tcpcluster error {1}: {2}]", text, (int)code, code))
        {
            Code = code;
            Text = text;
        }

        public TcpClusterErrorCode Code { get; private set; }
        public string Text { get; private set; }

        /// <summary>The calling thread's last cluster error; `what` names the failed call. Call it
        /// right after the failing call, on the same thread (the error is per thread).</summary>
        internal static TcpClusterException Last(string what)
        {
            int code = Native.TcpClusterGetLastErrorCode();
            string text = TcpServerNative.PtrToUtf8(Native.TcpClusterGetLastErrorText());
            return new TcpClusterException((TcpClusterErrorCode)code,
                what + ": " + (string.IsNullOrEmpty(text) ? "no error text" : text));
        }
    }
}
