// dll/src/tls — tcpserver's TLS layer, and how the engine's transport stage calls it.
//
// OpenSSL 3 behind a custom BIO (no sockets, no engine types, no threads, no locks of its own),
// shared by every backend. Linux links Debian's libssl (OpenSSL 3.0) dynamically; the Windows
// DLL links OpenSSL 3.0 statically (scripts/build-openssl-mingw.sh). OpenSSL never reads a
// config file (OPENSSL_INIT_NO_LOAD_CONFIG; the Windows build also has no-autoload-config).
//
//   tls_config.h       TlsConfig: a server's settings, each setter validated (TlsError says why)
//   tls_context.h      TlsContext: immutable snapshot (SSL_CTXs) built from a TlsConfig;
//                      TlsContextSlot: the server's current one, swapped atomically on reload
//   tls_session.h      TlsSession: one link's TLS state machine (ciphertext <-> plaintext)
//   tls_credentials.h  certificate/key loading by content: PEM, DER, PKCS#12/PFX, files
//   tls_ticket_keys.h  session-ticket keys shared across reloads and nodes
//   tls_byte_queue.h   the chunked queue behind a session's output (bytes never move)
//   tls_openssl.h      init, owning pointers, OpenSSL's error queue as text
//
// ======================================================================================
// HOW THE ENGINE CALLS IT
// ======================================================================================
// Threads and locks. A TlsSession is used by one thread at a time: the engine gives each TLS
// link a mutex (its "TLS lock"; the link's existing send lock will do) and makes every
// TlsSession call under it. Nothing here blocks, waits or calls back into the engine, and the
// engine must never run a user callback (OnConnect, OnReceive, OnDisconnect, a log callback)
// while it holds a TLS lock: collect what to deliver, unlock, then call. TlsContext and
// TlsContextSlot are shared by all threads (read-only / internally locked). Every call leaves
// OpenSSL's per-thread error queue empty, so one link's error never leaks into another's.
//
// Per server (settings lock = the engine's per-server configuration mutex):
//   TlsConfig config;          // what SetTls* set; changed only under the settings lock
//   TlsContextSlot slot;       // the context new handshakes use
//   * SetTlsCertificateFile / SetTlsCertificate / AddTlsServerName / SetTlsAlpn /
//     SetTlsClientCA / SetTlsCiphers / SetTlsTicketKeys, whether running or not:
//         lock settings; TlsConfig next = config;            // cheap: shared objects
//         if (!next.set_xxx(..., &err)) fail(map(err.kind), err.text);
//         if (running && tls on) { ctx = next.build(&err); if (!ctx) fail(...); }
//         config = next; if (ctx) slot.set(ctx); unlock     // a refused call changes nothing
//     TlsErrorKind -> error code: kCertificate -> TS_ERR_TLS_CERTIFICATE, kConfig ->
//     TS_ERR_TLS_CONFIG, kNoMemory -> TS_ERR_OUT_OF_MEMORY, kUnavailable -> TS_ERR_TLS_UNAVAILABLE
//     (docs/tls-api-proposal.md); err.text is already a sentence for GetLastErrorText.
//   * StartTcpServer with TS_OPT_TLS = 1: copy config, apply the options that take effect at
//     start (set_min_version(TS_OPT_TLS_MIN_VERSION), set_client_cert_mode(...),
//     set_session_tickets(...)), build(); a failure fails the start with err.text (e.g. "TLS is
//     on but no certificate is set: call SetTlsCertificateFile ..."). slot.set(ctx).
//
// Per link:
//   * Accept (worker, no lock): session = TlsSession::create(slot.get(), &err); nullptr = out of
//     memory: refuse the connection. The link is NOT yet a link for the application: no
//     OnConnect, not in GetLinkIds/GetLinkCount/broadcasts; count it in "handshakes in
//     progress", start its handshake deadline (TS_OPT_TLS_HANDSHAKE_TIMEOUT_MS) and apply the
//     cap on concurrent handshakes (the oldest unfinished one is dropped). Timeouts and the cap
//     are the engine's: the session has no clock.
//   * Bytes received (worker; `in`, n in its receive buffer; `plain` a per-worker buffer of
//     16 KiB, one record's worth of plaintext):
//         size_t off = 0;
//         for (;;) {
//           lock TLS;
//           r = session->receive(in + off, n - off, plain, sizeof plain);
//           flush_output();                  // below: handshake flights, alerts, tickets
//           unlock TLS;
//           off += r.consumed;
//           deliver plain[0, r.produced) to framing / OnReceive   (no lock held)
//           switch (r.status) {
//             kHandshakeDone: handshake complete (once). Counters: handshakes, and resumed if
//                             session->resumed(). Make the link visible, then run OnConnect (it
//                             may call GetLinkTlsInfo); refused -> close. continue;
//             kMore:          continue;              // plaintext buffer was full
//             kNeedInput:     break out;             // off == n: wait for the socket
//             kPeerClosed:    close_notify: a clean end of the peer's stream. Close the link as
//                             TS_CLOSE_PEER_CLOSED (optionally session->shutdown() + flush first).
//             kFailed:        if (!session->handshake_done()): a failed handshake — no callback
//                             at all; count by session->cause(), log session->failure_text(),
//                             flush what is pending (the alert) best-effort, close.
//                             else: TS_CLOSE_TLS_ERROR, log failure_text(), flush, close.
//           }
//         }
//     Stopping in the middle (the app paused receiving, memory high-water): keep the unread
//     ciphertext with session->feed(in + off, n - off) (copies; counted in memory_estimate())
//     and later resume with receive(nullptr, 0, plain, cap) until kNeedInput. Plaintext that
//     OpenSSL already decrypted stays inside the SSL until the next receive().
//   * Sending (any thread: PostSend, SendBuffer, PostBroadcast, framing headers):
//         lock TLS; ok = session->write(data, len); if (ok) flush_output(); unlock TLS;
//     write() encrypts at once into the session's output queue, so the caller's buffer (a pool
//     buffer, a broadcast block) is no longer needed when it returns: PostSend frees `mem` (or
//     the send queue drops its reference) right away. Broadcast: one shared plaintext block,
//     each link write()s it under its own lock (each link encrypts its own copy). write() is
//     false before the handshake, after a failure or after shutdown() (TS_ERR_LINK_CLOSED);
//     if it fails for memory the session has failed (kNoMemory): close the link.
//     Output can appear after any call: receive() (handshake flights, tickets, alerts, the
//     no_renegotiation warning that declines a client's renegotiation), write() (records, and
//     before them a KeyUpdate owed to the peer — OpenSSL answers one with the next write),
//     shutdown() (close_notify). Flush after each.
//   * flush_output() (under the TLS lock): the ciphertext to send is
//         session->output_pieces(pieces, max) / session->output_front()
//     Bytes stay at the same address until consumed, even while write() appends more.
//       epoll: sendmsg(pieces); session->consume_output(sent); on EAGAIN arm EPOLLOUT and
//              continue from the same pieces later. The session's output IS the link's
//              ciphertext queue; nothing is copied into the engine's send queue.
//       IOCP:  if no WSASend is in flight: WSASend(pieces) and remember the total; on completion
//              lock TLS, consume_output(bytes), send the rest. Never destroy the session while a
//              WSASend points into it.
//     Nothing plaintext is queued (write() encrypts at once), so: the send-queue limit counts
//     session->pending_output() (ciphertext: the plaintext plus 22-29 bytes per record); the
//     memory budget counts session->memory_estimate(), which already includes that output,
//     stored input and OpenSSL's state (~14 KiB idle, ~45 KiB mid-handshake).
//   * Graceful close (CloseLink, OnReceive returning 0, stop): lock TLS; session->shutdown()
//     (queues close_notify); flush_output(); unlock; close the socket once the output has gone.
//     Never wait for the peer's close_notify. Abort: skip shutdown().
//   * TCP EOF from the peer without close_notify (recv returns 0): the peer vanished or
//     truncated the stream: close as TS_CLOSE_PEER_CLOSED (or a TLS-specific reason, see the
//     proposal); the session needs no call.
//   * GetLinkTlsInfo(link, what, buf, len): lock TLS; text = session->info(what); unlock; copy.
//     Valid from OnConnect on; before the handshake every field is "".
//   * Recycling the link: destroy the session (no IO in flight may point at its output).
//
// Failure causes (TlsSession::cause(), stable numbers, cause_name() tokens for logs):
//   not_tls, version, no_shared_cipher, alpn, client_certificate, peer_alert (during the
//   handshake), bad_record / peer_alert (on an established link), protocol, no_memory, internal.
// The exports, options, close reasons, counters and errors this needs are proposed in
// docs/tls-api-proposal.md.
#pragma once

#include "tls/tls_config.h"
#include "tls/tls_context.h"
#include "tls/tls_credentials.h"
#include "tls/tls_error.h"
#include "tls/tls_session.h"
