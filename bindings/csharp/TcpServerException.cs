// TcpServerException.cs — a failed library call, with the library's own code and text.
using System;
using N = TcpServerLib.TcpServerNative;

namespace TcpServerLib
{
    /// <summary>A tcpserver call failed. Code is the library's TS_ERR_* value (NativeCode keeps
    /// it as a number even if this binding does not know it); Text is the library's message.</summary>
    [Serializable]
    public class TcpServerException : Exception
    {
        public TcpServerException(TcpServerErrorCode code, string text)
            : base(string.Format("{0} [tcpserver error {1}: {2}]", text, (int)code, code))
        {
            Code = code;
            Text = text;
        }

        public TcpServerErrorCode Code { get; private set; }
        public int NativeCode { get { return (int)Code; } }
        public string Text { get; private set; }

        /// <summary>The calling thread's last library error; `what` names the failed call. Call
        /// it right after the failing call, on the same thread (the error is per thread).</summary>
        internal static TcpServerException Last(string what)
        {
            int code = N.GetLastErrorCode();
            string text = N.PtrToUtf8(N.GetLastErrorText());
            return new TcpServerException((TcpServerErrorCode)code,
                what + ": " + (string.IsNullOrEmpty(text) ? "no error text" : text));
        }
    }
}
