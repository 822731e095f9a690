// TcpServerEnums.cs — the header's int32 constant groups as .NET enums (same values).
using N = TcpServerLib.TcpServerNative;

namespace TcpServerLib
{
    /// <summary>GetLastErrorCode() values (TS_ERR_*), carried by TcpServerException.Code.</summary>
    public enum TcpServerErrorCode
    {
        Ok = N.TS_OK,
        InvalidArgument = N.TS_ERR_INVALID_ARGUMENT,
        NotActive = N.TS_ERR_NOT_ACTIVE,
        AlreadyActive = N.TS_ERR_ALREADY_ACTIVE,
        InCallback = N.TS_ERR_IN_CALLBACK,
        BadAddress = N.TS_ERR_BAD_ADDRESS,
        AddressInUse = N.TS_ERR_ADDRESS_IN_USE,
        Socket = N.TS_ERR_SOCKET,
        NotABuffer = N.TS_ERR_NOT_A_BUFFER,
        BufferNotOwned = N.TS_ERR_BUFFER_NOT_OWNED,
        BadLength = N.TS_ERR_BAD_LENGTH,
        NotALink = N.TS_ERR_NOT_A_LINK,
        LinkClosed = N.TS_ERR_LINK_CLOSED,
        PoolExhausted = N.TS_ERR_POOL_EXHAUSTED,
        SendQueueFull = N.TS_ERR_SEND_QUEUE_FULL,
        UnknownOption = N.TS_ERR_UNKNOWN_OPTION,
        OptionRange = N.TS_ERR_OPTION_RANGE,
        Timeout = N.TS_ERR_TIMEOUT,
        BufferTooSmall = N.TS_ERR_BUFFER_TOO_SMALL,
        NotFound = N.TS_ERR_NOT_FOUND,
        OutOfMemory = N.TS_ERR_OUT_OF_MEMORY,
        System = N.TS_ERR_SYSTEM,
        Busy = N.TS_ERR_BUSY,
        NotSupported = N.TS_ERR_NOT_SUPPORTED,
    }

    /// <summary>Why a link closed (TS_CLOSE_*), readable in Disconnected / IdleTimeout.</summary>
    public enum CloseReason
    {
        None = N.TS_CLOSE_NONE,
        PeerClosed = N.TS_CLOSE_PEER_CLOSED,
        PeerReset = N.TS_CLOSE_PEER_RESET,
        Idle = N.TS_CLOSE_IDLE,
        ByApp = N.TS_CLOSE_BY_APP,
        SendQueueFull = N.TS_CLOSE_SEND_QUEUE_FULL,
        ServerStop = N.TS_CLOSE_SERVER_STOP,
        Error = N.TS_CLOSE_ERROR,
        FrameTooLarge = N.TS_CLOSE_FRAME_TOO_LARGE,    // framing: a header over MaxMessageSize
        BadFrame = N.TS_CLOSE_BAD_FRAME,               // framing: a header with the top bit set
        FrameTruncated = N.TS_CLOSE_FRAME_TRUNCATED,   // framing: the peer closed mid-message
    }

    /// <summary>Server options (TS_OPT_*), for TcpServer.GetOption / SetOption.</summary>
    public enum TcpServerOption
    {
        MaxLinks = N.TS_OPT_MAX_LINKS,
        IoBufferSize = N.TS_OPT_IO_BUFFER_SIZE,
        IoBufferCount = N.TS_OPT_IO_BUFFER_COUNT,
        IdleTimeoutMs = N.TS_OPT_IDLE_TIMEOUT_MS,
        WorkerThreads = N.TS_OPT_WORKER_THREADS,
        ListenBacklog = N.TS_OPT_LISTEN_BACKLOG,
        SendQueueLimit = N.TS_OPT_SEND_QUEUE_LIMIT,
        SendQueuePolicy = N.TS_OPT_SEND_QUEUE_POLICY,
        TcpNoDelay = N.TS_OPT_TCP_NODELAY,
        KeepAlive = N.TS_OPT_KEEPALIVE,
        ReusePort = N.TS_OPT_REUSEPORT,
        ReuseAddress = N.TS_OPT_REUSEADDR,
        Framing = N.TS_OPT_FRAMING,
        LogLevel = N.TS_OPT_LOG_LEVEL,
        MaxMessageSize = N.TS_OPT_MAX_MESSAGE_SIZE,
        KeepAliveIdleSeconds = N.TS_OPT_KEEPALIVE_IDLE_S,
        KeepAliveIntervalSeconds = N.TS_OPT_KEEPALIVE_INTERVAL_S,
        KeepAliveCount = N.TS_OPT_KEEPALIVE_COUNT,
        IPv6Only = N.TS_OPT_IPV6_ONLY,
    }

    /// <summary>What a send over TcpServerOption.SendQueueLimit does (TS_QUEUE_*).</summary>
    public enum SendQueuePolicy
    {
        CloseLink = N.TS_QUEUE_CLOSE_LINK,
        RefuseSend = N.TS_QUEUE_REFUSE_SEND,
    }

    /// <summary>Message framing (TS_FRAMING_*).</summary>
    public enum TcpFraming
    {
        /// <summary>A byte stream, delivered as it arrives.</summary>
        Raw = N.TS_FRAMING_RAW,
        /// <summary>Messages after a 4-byte big-endian length: Received gets whole messages and
        /// every send gets its header from the engine. An empty message is a heartbeat.</summary>
        LengthPrefixed = N.TS_FRAMING_LENGTH_PREFIXED,
    }

    /// <summary>Log levels (TS_LOG_*).</summary>
    public enum TcpLogLevel
    {
        Debug = N.TS_LOG_DEBUG,
        Info = N.TS_LOG_INFO,
        Warn = N.TS_LOG_WARN,
        Error = N.TS_LOG_ERROR,
    }

    /// <summary>A server's totals (TS_COUNTER_*), for TcpServer.GetCounter.</summary>
    public enum TcpServerCounter
    {
        BytesIn = N.TS_COUNTER_BYTES_IN,
        BytesOut = N.TS_COUNTER_BYTES_OUT,
        MessagesIn = N.TS_COUNTER_MSGS_IN,
        MessagesOut = N.TS_COUNTER_MSGS_OUT,
        Accepts = N.TS_COUNTER_ACCEPTS,
        Refused = N.TS_COUNTER_REFUSED,
        SendQueueDrops = N.TS_COUNTER_SEND_QUEUE_DROPS,
        Closed = N.TS_COUNTER_CLOSED,
        IdleClosed = N.TS_COUNTER_IDLE_CLOSED,
        ReceivePauses = N.TS_COUNTER_RECV_PAUSES,
        FramingErrors = N.TS_COUNTER_FRAMING_ERRORS,
    }
}
