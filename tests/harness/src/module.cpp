// tsharness: fast native clients for the conformance suite (pytest), plain or TLS (a
// TlsConfig passed as tls=). Every call releases the GIL while it waits on sockets, so Python
// threads (a server under test in the same process, say) keep running. Every helper checks the bytes itself and raises on anything wrong:
// HarnessError (wrong data, socket failure), HarnessTimeout, PeerClosed (both subclasses).
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <optional>

#include "client.h"
#include "echo_integrity.h"
#include "link_group.h"
#include "net.h"
#include "tls_config.h"

namespace py = pybind11;
using namespace pybind11::literals;
using tsh::Client;
using tsh::LinkGroup;
using TlsPtr = std::shared_ptr<const tsh::TlsConfig>;

namespace {

py::list to_bytes_list(const std::vector<std::string>& items) {
  py::list out;
  for (const std::string& s : items) out.append(py::bytes(s));
  return out;
}

py::list to_nested_bytes_list(const std::vector<std::vector<std::string>>& items) {
  py::list out;
  for (const auto& inner : items) out.append(to_bytes_list(inner));
  return out;
}

// Runs f with the GIL released; the result is converted to Python afterwards, with the GIL.
template <typename F>
auto without_gil(F&& f) -> decltype(f()) {
  py::gil_scoped_release release;
  return f();
}

double timeout_or(const std::optional<double>& timeout_s, const Client& c) {
  return timeout_s ? *timeout_s : c.default_timeout();
}

}  // namespace

PYBIND11_MODULE(tsharness, m) {
  m.doc() = "Native multi-connection test clients for the tcpserver conformance suite.";

  auto base = py::register_exception<tsh::HarnessError>(m, "HarnessError", PyExc_RuntimeError);
  py::register_exception<tsh::HarnessTimeout>(m, "HarnessTimeout", base.ptr());
  py::register_exception<tsh::PeerClosed>(m, "PeerClosed", base.ptr());

  py::class_<tsh::TlsConfig, std::shared_ptr<tsh::TlsConfig>>(
      m, "TlsConfig",
      "How clients speak TLS, for the tls= argument of every client: cafile (PEM) the server's\n"
      "certificate must chain to ('' = not verified), server_name sent as SNI and checked\n"
      "against the certificate ('' = neither), max_version ('', '1.2' or '1.3').")
      .def(py::init<const std::string&, const std::string&, const std::string&>(),
           "cafile"_a = "", "server_name"_a = "localhost", "max_version"_a = "")
      .def_property_readonly("server_name", &tsh::TlsConfig::server_name);

  m.def(
      "echo_integrity",
      [](const std::string& host, int port, size_t connections, size_t bytes_per_conn,
         size_t max_chunk, uint64_t seed, double timeout_s, TlsPtr tls) {
        tsh::EchoOptions o{host, port, connections, bytes_per_conn, max_chunk, seed, timeout_s,
                           false, 0, 0, std::move(tls)};
        tsh::EchoResult r = without_gil([&] { return tsh::echo_integrity(o); });
        return py::dict("connections"_a = r.connections, "bytes_sent"_a = r.bytes_sent,
                        "bytes_received"_a = r.bytes_received, "sends"_a = r.sends,
                        "connect_s"_a = r.connect_s, "elapsed_s"_a = r.elapsed_s);
      },
      "host"_a, "port"_a, "connections"_a, "bytes_per_conn"_a, "max_chunk"_a = 4096,
      "seed"_a = 1, "timeout_s"_a = 30.0, "tls"_a = py::none(),
      "Open `connections` links at once; each sends `bytes_per_conn` pseudo-random bytes (never\n"
      "'\\n') in writes of 1..max_chunk bytes and checks every echoed byte in order. Returns\n"
      "{connections, bytes_sent, bytes_received, sends, connect_s, elapsed_s}; raises on the\n"
      "first wrong byte, early close or timeout. The links are closed when it returns.");

  m.def(
      "framed_echo_integrity",
      [](const std::string& host, int port, size_t connections, size_t messages_per_conn,
         uint32_t max_message, size_t max_chunk, uint64_t seed, double timeout_s, TlsPtr tls) {
        tsh::EchoOptions o{host, port, connections, 0, max_chunk, seed, timeout_s,
                           true, messages_per_conn, max_message, std::move(tls)};
        tsh::EchoResult r = without_gil([&] { return tsh::echo_integrity(o); });
        return py::dict("connections"_a = r.connections, "bytes_sent"_a = r.bytes_sent,
                        "bytes_received"_a = r.bytes_received, "sends"_a = r.sends,
                        "messages"_a = r.messages, "largest"_a = r.largest,
                        "connect_s"_a = r.connect_s, "elapsed_s"_a = r.elapsed_s);
      },
      "host"_a, "port"_a, "connections"_a, "messages_per_conn"_a, "max_message"_a,
      "max_chunk"_a = 64 * 1024, "seed"_a = 1, "timeout_s"_a = 30.0, "tls"_a = py::none(),
      "echo_integrity for a server in framing mode: each connection sends messages_per_conn\n"
      "messages (4-byte big-endian length, then pseudo-random payload never holding '\\n') of\n"
      "log-uniform sizes in 1..max_message (connection #0's first is max_message bytes), in\n"
      "writes of 1..max_chunk bytes that split and coalesce messages, and checks that the\n"
      "echo is the same stream, headers included. Returns echo_integrity's dict plus\n"
      "{messages, largest}.");

  py::class_<LinkGroup>(m, "LinkGroup",
                        "Links held open together (see open_idle). Not thread-safe.")
      .def_property_readonly("size", &LinkGroup::size)
      .def("__len__", &LinkGroup::size)
      .def("ping", &LinkGroup::ping, "timeout_s"_a = 5.0,
           py::call_guard<py::gil_scoped_release>(),
           "Each link sends a token (no '\\n') and checks its echo: afterwards the server is\n"
           "known to serve every link.")
      .def("closed_count", &LinkGroup::closed_count, py::call_guard<py::gil_scoped_release>(),
           "How many links the server has closed or reset so far (no waiting).")
      .def("wait_closed", &LinkGroup::wait_closed, "expected"_a, "timeout_s"_a,
           py::call_guard<py::gil_scoped_release>(),
           "Wait until at least `expected` links are closed by the server or the time is up;\n"
           "returns how many are closed.")
      .def("closed_flags", &LinkGroup::closed_flags, py::call_guard<py::gil_scoped_release>())
      .def(
          "read_lines",
          [](LinkGroup& g, const std::string& until, double timeout_s) {
            auto lines = without_gil([&] { return g.read_lines(until, timeout_s); });
            return to_nested_bytes_list(lines);
          },
          "until"_a, "timeout_s"_a = 5.0,
          "Every link reads lines until the line `until` (with its '\\n'); returns each link's\n"
          "lines, plus anything already received after `until`.")
      .def("close", &LinkGroup::close, "notify"_a = true,
           "Close our side of every link (TLS: close_notify first unless notify is False).")
      .def("__enter__", [](LinkGroup& g) -> LinkGroup& { return g; },
           py::return_value_policy::reference)
      .def("__exit__", [](LinkGroup& g, py::args) { g.close(); });

  m.def(
      "open_idle",
      [](const std::string& host, int port, size_t n, double timeout_s, bool framed,
         TlsPtr tls) {
        return std::make_unique<LinkGroup>(
            without_gil([&] { return LinkGroup(host, port, n, timeout_s, framed, tls); }));
      },
      "host"_a, "port"_a, "n"_a, "timeout_s"_a = 5.0, "framed"_a = false, "tls"_a = py::none(),
      "Connect n links that send nothing (until you ping them). Returns a LinkGroup.\n"
      "framed: for a server in framing mode (pings are messages, read_lines reads messages).");

  m.def(
      "broadcast_collect",
      [](const std::string& host, int port, size_t connections,
         const std::vector<std::string>& texts, double timeout_s, bool framed, TlsPtr tls) {
        auto r = without_gil([&] {
          return tsh::broadcast_collect(host, port, connections, texts, timeout_s, framed, tls);
        });
        return py::dict("lines"_a = to_nested_bytes_list(r.listener_lines),
                        "sender"_a = to_bytes_list(r.sender_lines));
      },
      "host"_a, "port"_a, "connections"_a, "texts"_a, "timeout_s"_a = 10.0, "framed"_a = false,
      "tls"_a = py::none(),
      "Open and ping `connections` listener links; a further sender link sends\n"
      "'BCAST <text>\\n' for each text (waiting for its own copy each time); then every\n"
      "listener reads until the last text arrives. Returns {lines: [[bytes...] per listener],\n"
      "sender: [bytes...]}; the caller checks each listener got each text exactly once.\n"
      "framed: every command and every copy is one message (a server in framing mode).");

  py::class_<Client>(m, "Client", "One line-oriented connection. Not thread-safe.")
      .def(py::init<const std::string&, int, double, TlsPtr>(), "host"_a, "port"_a,
           "timeout_s"_a = 5.0, "tls"_a = py::none(), py::call_guard<py::gil_scoped_release>())
      .def(
          "send",
          [](Client& c, const std::string& data, std::optional<double> timeout_s) {
            double t = timeout_or(timeout_s, c);
            without_gil([&] { c.send(data, t); });
          },
          "data"_a, "timeout_s"_a = py::none())
      .def(
          "readline",
          [](Client& c, std::optional<double> timeout_s) {
            double t = timeout_or(timeout_s, c);
            return py::bytes(without_gil([&] { return c.readline(t); }));
          },
          "timeout_s"_a = py::none(), "The next line, '\\n' included.")
      .def(
          "recv_exact",
          [](Client& c, size_t n, std::optional<double> timeout_s) {
            double t = timeout_or(timeout_s, c);
            return py::bytes(without_gil([&] { return c.recv_exact(n, t); }));
          },
          "n"_a, "timeout_s"_a = py::none())
      .def(
          "command",
          [](Client& c, const std::string& line, std::optional<double> timeout_s) {
            double t = timeout_or(timeout_s, c);
            return py::bytes(without_gil([&] {
              c.send(line, t);
              return c.readline(t);
            }));
          },
          "line"_a, "timeout_s"_a = py::none(), "send(line), then readline().")
      .def(
          "echo",
          [](Client& c, const std::string& data, std::optional<double> timeout_s) {
            double t = timeout_or(timeout_s, c);
            without_gil([&] { c.echo(data, t); });
          },
          "data"_a, "timeout_s"_a = py::none(),
          "Send data and check exactly the same bytes come back.")
      .def(
          "wait_closed",
          [](Client& c, std::optional<double> timeout_s) {
            double t = timeout_or(timeout_s, c);
            return without_gil([&] { return c.wait_closed(t); });
          },
          "timeout_s"_a = py::none(),
          "True once the server closed or reset the connection (waiting up to timeout_s).")
      .def("closed", &Client::closed, py::call_guard<py::gil_scoped_release>(),
           "True if the server has closed the connection (no waiting).")
      .def("available", &Client::available, py::call_guard<py::gil_scoped_release>(),
           "Bytes received and not yet taken (reads what is there, no waiting).")
      .def(
          "send_frame",
          [](Client& c, const std::string& payload, std::optional<double> timeout_s) {
            double t = timeout_or(timeout_s, c);
            without_gil([&] { c.send_frame(payload, t); });
          },
          "payload"_a, "timeout_s"_a = py::none(),
          "Send one message: 4-byte big-endian length, then the payload.")
      .def(
          "read_frame",
          [](Client& c, std::optional<double> timeout_s) {
            double t = timeout_or(timeout_s, c);
            return py::bytes(without_gil([&] { return c.read_frame(t); }));
          },
          "timeout_s"_a = py::none(), "The payload of the next whole message.")
      .def(
          "frame_command",
          [](Client& c, const std::string& line, std::optional<double> timeout_s) {
            double t = timeout_or(timeout_s, c);
            return py::bytes(without_gil([&] {
              c.send_frame(line, t);
              return c.read_frame(t);
            }));
          },
          "line"_a, "timeout_s"_a = py::none(), "send_frame(line), then read_frame().")
      .def(
          "fill_until_blocked",
          [](Client& c, uint64_t max_bytes, double stall_s, std::optional<double> timeout_s) {
            double t = timeout_or(timeout_s, c);
            return without_gil([&] { return c.fill_until_blocked(max_bytes, stall_s, t); });
          },
          "max_bytes"_a = uint64_t{256} << 20, "stall_s"_a = 0.5, "timeout_s"_a = py::none(),
          "Write this client's pattern stream until the socket accepts nothing for stall_s;\n"
          "returns the bytes written. Raises if max_bytes go out first.")
      .def(
          "expect_pattern",
          [](Client& c, uint64_t n, std::optional<double> timeout_s) {
            double t = timeout_or(timeout_s, c);
            without_gil([&] { c.expect_pattern(n, t); });
          },
          "n"_a, "timeout_s"_a = py::none(),
          "Receive n bytes and check they continue the echo of the pattern stream.")
      .def(
          "expect_flood",
          [](Client& c, uint64_t n, bool framed, std::optional<double> timeout_s) {
            double t = timeout_or(timeout_s, c);
            without_gil([&] { c.expect_flood(n, framed, t); });
          },
          "n"_a, "framed"_a = false, "timeout_s"_a = py::none(),
          "Receive the n bytes of 'FLOOD <n>' (byte i = i % 251), framed: as one message.")
      .def_property_readonly("buffered", [](const Client& c) { return py::bytes(c.buffered()); })
      .def_property_readonly("was_reset", &Client::was_reset)
      .def_property_readonly("local_port", &Client::local_port)
      .def("close", &Client::close, "notify"_a = true,
           "Close our side (TLS: close_notify first unless notify is False: the server then\n"
           "sees the connection end without it).")
      .def("__enter__", [](Client& c) -> Client& { return c; }, py::return_value_policy::reference)
      .def("__exit__", [](Client& c, py::args) { c.close(); });
}
