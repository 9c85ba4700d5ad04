#include "detector/http_server.h"

#include <algorithm>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <exception>
#include <mutex>
#include <optional>
#include <thread>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace klaxon {
namespace {

namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

// After an error reply the client may still be sending (the rest of a body over
// the limit). Closing at once would reset the connection and could destroy the
// reply in flight, so the rest is read and dropped for at most this long.
constexpr auto kLingerLimit = std::chrono::seconds(2);

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Form decoding: '+' is a space and a malformed escape is kept as written, since
// a query is untrusted input that should be answered, not rejected.
std::string PercentDecode(absl::string_view in) {
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    const char c = in[i];
    if (c == '+') {
      out.push_back(' ');
    } else if (c == '%' && i + 2 < in.size() && HexValue(in[i + 1]) >= 0 &&
               HexValue(in[i + 2]) >= 0) {
      out.push_back(static_cast<char>(HexValue(in[i + 1]) * 16 + HexValue(in[i + 2])));
      i += 2;
    } else {
      out.push_back(c);
    }
  }
  return out;
}

struct ListenAddress {
  net::ip::address address;
  uint16_t port = 0;
};

absl::StatusOr<ListenAddress> ParseListen(absl::string_view listen) {
  auto invalid = [&](absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("listen address \"", listen, "\": ", why, " (want host:port or [v6]:port)"));
  };
  absl::string_view host;
  absl::string_view port;
  if (absl::StartsWith(listen, "[")) {
    const size_t close = listen.find(']');
    if (close == absl::string_view::npos) return invalid("missing ']'");
    host = listen.substr(1, close - 1);
    absl::string_view rest = listen.substr(close + 1);
    if (!absl::StartsWith(rest, ":")) return invalid("missing ':port' after ']'");
    port = rest.substr(1);
  } else {
    const size_t colon = listen.rfind(':');
    if (colon == absl::string_view::npos) return invalid("missing ':port'");
    host = listen.substr(0, colon);
    port = listen.substr(colon + 1);
    if (absl::StrContains(host, ':')) return invalid("an IPv6 address needs brackets");
  }
  uint32_t port_number = 0;
  if (port.empty() || !std::all_of(port.begin(), port.end(), absl::ascii_isdigit) ||
      !absl::SimpleAtoi(port, &port_number) || port_number > 65535) {
    return invalid(absl::StrCat("bad port \"", port, "\""));
  }
  ListenAddress result;
  result.port = static_cast<uint16_t>(port_number);
  if (host == "localhost") {
    result.address = net::ip::address_v4::loopback();
    return result;
  }
  beast::error_code ec;
  result.address = net::ip::make_address(std::string(host), ec);
  if (ec) return invalid(absl::StrCat("\"", host, "\" is not an IP address"));
  return result;
}

void SetExpiry(beast::tcp_stream& stream, absl::Duration timeout) {
  if (timeout <= absl::ZeroDuration() || timeout == absl::InfiniteDuration()) {
    stream.expires_never();
  } else {
    stream.expires_after(absl::ToChronoNanoseconds(timeout));
  }
}

bool IsParseError(const beast::error_code& ec) {
  return ec.category() == beast::error_code(http::error::bad_method).category();
}

class Session : public std::enable_shared_from_this<Session> {
 public:
  static constexpr size_t kReadSize = 64 * 1024;

  Session(tcp::socket socket, const HttpHandler& handler, const HttpServerOptions& options)
      : stream_(std::move(socket)), handler_(handler), options_(options) {}

  void Start() {
    // Beast reads at most the buffer's free capacity, and at least 512 bytes:
    // an empty buffer would take a 450 kB push body in 900 recv() calls.
    buffer_.reserve(kReadSize);
    ReadHeader();
  }

  // Called on the I/O thread only. Cancels whatever is pending; the completion
  // handlers then see operation_aborted and drop their reference.
  void Close() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.close();
  }

 private:
  void ReadHeader() {
    parser_.emplace();
    parser_->body_limit(options_.max_body_bytes);
    SetExpiry(stream_, options_.idle_timeout);
    http::async_read_header(stream_, buffer_, *parser_,
                            beast::bind_front_handler(&Session::OnHeader, shared_from_this()));
  }

  void OnHeader(beast::error_code ec, size_t) {
    if (ec) return OnReadError(ec);
    if (parser_->is_done()) return Dispatch();
    // Clients such as curl wait for "100 Continue" before sending a larger body;
    // without it every such request would stall for the client's expect timeout.
    if (beast::iequals(parser_->get()[http::field::expect], "100-continue")) {
      continue_.emplace(http::status::continue_, parser_->get().version());
      http::async_write(stream_, *continue_,
                        beast::bind_front_handler(&Session::OnContinueWritten, shared_from_this()));
      return;
    }
    ReadBody();
  }

  void OnContinueWritten(beast::error_code ec, size_t) {
    if (ec) return Close();
    ReadBody();
  }

  void ReadBody() {
    SetExpiry(stream_, options_.idle_timeout);
    http::async_read(stream_, buffer_, *parser_,
                     beast::bind_front_handler(&Session::OnBody, shared_from_this()));
  }

  void OnBody(beast::error_code ec, size_t) {
    if (ec) return OnReadError(ec);
    Dispatch();
  }

  void OnReadError(const beast::error_code& ec) {
    if (ec == http::error::body_limit) {
      return ReplyAndClose(HttpResponse::Text(
          413, absl::StrCat("request body larger than ", options_.max_body_bytes, " bytes\n")));
    }
    if (ec == http::error::header_limit) {
      return ReplyAndClose(HttpResponse::Text(431, "request header fields too large\n"));
    }
    // end_of_stream and partial_message mean the peer went away; nobody to answer.
    if (IsParseError(ec) && ec != http::error::end_of_stream &&
        ec != http::error::partial_message) {
      return ReplyAndClose(
          HttpResponse::Text(400, absl::StrCat("bad request: ", ec.message(), "\n")));
    }
    Close();
  }

  void Dispatch() {
    http::request<http::string_body> message = parser_->release();
    HttpRequest request;
    request.method = std::string(message.method_string());
    request.target = std::string(message.target());
    const size_t question = request.target.find('?');
    request.path = request.target.substr(0, question);
    if (question != std::string::npos) request.query = request.target.substr(question + 1);
    for (const auto& field : message) {
      request.headers.emplace_back(absl::AsciiStrToLower(absl::string_view(
                                       field.name_string().data(), field.name_string().size())),
                                   std::string(field.value()));
    }
    request.body = std::move(message.body());
    beast::error_code ec;
    const tcp::endpoint remote = stream_.socket().remote_endpoint(ec);
    if (!ec) request.remote_address = remote.address().to_string();

    HttpResponse response;
    // The handler is code outside this file; whatever it throws must not take
    // down the I/O thread and every other connection with it.
    try {
      response = handler_(request);
    } catch (const std::exception& e) {
      response = HttpResponse::Text(500, absl::StrCat("internal error: ", e.what(), "\n"));
    } catch (...) {
      response = HttpResponse::Text(500, "internal error\n");
    }
    Reply(std::move(response), message.version(), message.keep_alive(),
          message.method() == http::verb::head);
  }

  void ReplyAndClose(HttpResponse response) {
    Reply(std::move(response), 11, /*keep_alive=*/false, /*head=*/false);
  }

  void Reply(HttpResponse response, unsigned version, bool keep_alive, bool head) {
    response_.emplace();
    auto& res = *response_;
    res.version(version);
    res.result(static_cast<unsigned>(response.status));
    for (auto& [name, value] : response.headers) res.insert(name, value);
    res.set(http::field::content_type, response.content_type);
    const bool body_forbidden =
        response.status < 200 || response.status == 204 || response.status == 304;
    if (!body_forbidden) res.content_length(response.body.size());
    if (!body_forbidden && !head) res.body() = std::move(response.body);
    res.keep_alive(keep_alive);
    SetExpiry(stream_, options_.idle_timeout);
    http::async_write(stream_, res,
                      beast::bind_front_handler(&Session::OnWritten, shared_from_this()));
  }

  void OnWritten(beast::error_code ec, size_t) {
    if (ec) return Close();
    if (response_->keep_alive()) return ReadHeader();
    Linger();
  }

  void Linger() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream_.expires_after(kLingerLimit);
    DrainSome();
  }

  void DrainSome() {
    stream_.async_read_some(net::buffer(drain_),
                            [self = shared_from_this()](beast::error_code ec, size_t) {
                              if (ec) return self->Close();
                              self->DrainSome();
                            });
  }

  beast::tcp_stream stream_;
  const HttpHandler& handler_;
  const HttpServerOptions& options_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::optional<http::response<http::empty_body>> continue_;
  std::optional<http::response<http::string_body>> response_;
  char drain_[4096];
};

}  // namespace

absl::string_view HttpRequest::Header(absl::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (absl::EqualsIgnoreCase(key, name)) return value;
  }
  return "";
}

std::string HttpRequest::QueryParam(absl::string_view name) const {
  for (absl::string_view pair : absl::StrSplit(query, '&')) {
    const size_t eq = pair.find('=');
    const absl::string_view key = pair.substr(0, eq);
    if (PercentDecode(key) != name) continue;
    return eq == absl::string_view::npos ? "" : PercentDecode(pair.substr(eq + 1));
  }
  return "";
}

HttpResponse HttpResponse::Text(int status, std::string body) {
  HttpResponse response;
  response.status = status;
  response.body = std::move(body);
  return response;
}

HttpResponse HttpResponse::Json(int status, std::string body) {
  HttpResponse response;
  response.status = status;
  response.content_type = "application/json";
  response.body = std::move(body);
  return response;
}

struct HttpServer::Impl {
  Impl(HttpHandler h, HttpServerOptions o)
      : handler(std::move(h)), options(o), acceptor(ioc), retry_timer(ioc) {}

  // Declared first so that it is destroyed last: sessions still queued in it
  // when it dies own sockets bound to it.
  net::io_context ioc;
  const HttpHandler handler;
  const HttpServerOptions options;
  tcp::acceptor acceptor;
  net::steady_timer retry_timer;                 // backs off accepting after e.g. EMFILE
  std::vector<std::weak_ptr<Session>> sessions;  // I/O thread only
  tcp::endpoint local;
  std::thread thread;
  std::mutex mu;
  bool stopped = false;  // guarded by mu
  std::mutex join_mu;    // serializes joining when Stop() races with itself

  void Accept() {
    acceptor.async_accept([this](beast::error_code ec, tcp::socket socket) {
      if (ec == net::error::operation_aborted || !acceptor.is_open()) return;
      if (ec) {
        // Out of descriptors or a similar transient failure: retrying at once
        // would spin, so wait a little before accepting again.
        retry_timer.expires_after(std::chrono::milliseconds(100));
        retry_timer.async_wait([this](beast::error_code wait_ec) {
          if (!wait_ec && acceptor.is_open()) Accept();
        });
        return;
      }
      std::erase_if(sessions, [](const std::weak_ptr<Session>& s) { return s.expired(); });
      auto session = std::make_shared<Session>(std::move(socket), handler, options);
      sessions.push_back(session);
      session->Start();
      Accept();
    });
  }

  // I/O thread only.
  void CloseAll() {
    beast::error_code ignored;
    acceptor.close(ignored);
    retry_timer.cancel();
    for (auto& weak : sessions) {
      if (auto session = weak.lock()) session->Close();
    }
    sessions.clear();
  }

  void Run() {
    // Handlers catch their own errors; this loop keeps the server alive should
    // anything still escape from a completion handler.
    for (;;) {
      try {
        ioc.run();
        return;
      } catch (...) {
      }
    }
  }
};

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpServer::~HttpServer() { Stop(); }

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(absl::string_view listen,
                                                              HttpHandler handler,
                                                              HttpServerOptions options) {
  absl::StatusOr<ListenAddress> parsed = ParseListen(listen);
  if (!parsed.ok()) return parsed.status();
  auto impl = std::make_unique<Impl>(std::move(handler), options);
  const tcp::endpoint endpoint(parsed->address, parsed->port);
  auto unavailable = [&](absl::string_view step, const beast::error_code& ec) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", listen, ": ", step, ": ", ec.message()));
  };
  beast::error_code ec;
  impl->acceptor.open(endpoint.protocol(), ec);
  if (ec) return unavailable("socket", ec);
  // A restarted daemon must be able to bind while old connections sit in TIME_WAIT.
  impl->acceptor.set_option(net::socket_base::reuse_address(true), ec);
  if (ec) return unavailable("SO_REUSEADDR", ec);
  impl->acceptor.bind(endpoint, ec);
  if (ec) return unavailable("bind", ec);
  impl->acceptor.listen(net::socket_base::max_listen_connections, ec);
  if (ec) return unavailable("listen", ec);
  impl->local = impl->acceptor.local_endpoint(ec);
  if (ec) return unavailable("getsockname", ec);

  impl->Accept();
  Impl* raw = impl.get();
  impl->thread = std::thread([raw] { raw->Run(); });
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

uint16_t HttpServer::port() const { return impl_->local.port(); }

std::string HttpServer::address() const {
  const net::ip::address address = impl_->local.address();
  if (address.is_v6()) return absl::StrCat("[", address.to_string(), "]:", port());
  return absl::StrCat(address.to_string(), ":", port());
}

void HttpServer::Stop() {
  Impl* impl = impl_.get();
  bool first;
  {
    std::lock_guard lock(impl->mu);
    first = !impl->stopped;
    impl->stopped = true;
  }
  if (std::this_thread::get_id() == impl->thread.get_id()) {
    // A handler stopping its own server: the thread cannot join itself. Once
    // everything is closed run() returns, and a later Stop() joins.
    if (first) impl->CloseAll();
    return;
  }
  if (first) net::post(impl->ioc, [impl] { impl->CloseAll(); });
  std::lock_guard lock(impl->join_mu);
  if (impl->thread.joinable()) impl->thread.join();
}

}  // namespace klaxon
