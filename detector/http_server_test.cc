#include "detector/http_server.h"

#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace klaxon {
namespace {

namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using ::testing::HasSubstr;
using ::testing::StartsWith;

// Every client operation is bounded by this; a hung server fails the test
// instead of hanging it.
constexpr auto kClientTimeout = std::chrono::seconds(5);

// A test client on its own io_context. Asio's synchronous calls ignore socket
// timeouts, so each call runs asynchronous operations under run_for().
class Client {
 public:
  explicit Client(uint16_t port) {
    stream_.expires_after(kClientTimeout);
    beast::error_code result = net::error::would_block;
    stream_.async_connect(tcp::endpoint(net::ip::address_v4::loopback(), port),
                          [&](beast::error_code ec) { result = ec; });
    Run();
    connect_error_ = result;
  }

  beast::error_code connect_error() const { return connect_error_; }

  // One request and its response on this connection.
  beast::error_code RoundTrip(http::request<http::string_body> request,
                              http::response<http::string_body>& response) {
    request.prepare_payload();
    beast::error_code result = net::error::would_block;
    stream_.expires_after(kClientTimeout);
    http::async_write(stream_, request, [&](beast::error_code ec, size_t) {
      if (ec) {
        result = ec;
        return;
      }
      http::async_read(stream_, buffer_, response,
                       [&](beast::error_code read_ec, size_t) { result = read_ec; });
    });
    Run();
    return result;
  }

  beast::error_code WriteRaw(const std::string& bytes) {
    beast::error_code result = net::error::would_block;
    stream_.expires_after(kClientTimeout);
    net::async_write(stream_, net::buffer(bytes),
                     [&](beast::error_code ec, size_t) { result = ec; });
    Run();
    return result;
  }

  // Reads until `needle` has arrived, the peer closes, or the timeout.
  std::string ReadUntil(const std::string& needle) {
    std::string data;
    beast::error_code result = net::error::would_block;
    stream_.expires_after(kClientTimeout);
    net::async_read_until(stream_, net::dynamic_buffer(data), needle,
                          [&](beast::error_code ec, size_t) { result = ec; });
    Run();
    return data;
  }

  // Everything the server sends until it closes; `closed` says whether it did.
  std::string ReadToEof(bool& closed) {
    std::string data;
    beast::error_code result = net::error::would_block;
    stream_.expires_after(kClientTimeout);
    net::async_read(stream_, net::dynamic_buffer(data),
                    [&](beast::error_code ec, size_t) { result = ec; });
    Run();
    closed = result == net::error::eof || result == net::error::connection_reset;
    return data;
  }

 private:
  void Run() {
    ioc_.restart();
    ioc_.run_for(kClientTimeout + std::chrono::seconds(1));
  }

  net::io_context ioc_;
  beast::tcp_stream stream_{ioc_};
  beast::flat_buffer buffer_;
  beast::error_code connect_error_;
};

http::request<http::string_body> Get(const std::string& target) {
  http::request<http::string_body> request(http::verb::get, target, 11);
  request.set(http::field::host, "127.0.0.1");
  return request;
}

http::request<http::string_body> Post(const std::string& target, std::string body) {
  http::request<http::string_body> request(http::verb::post, target, 11);
  request.set(http::field::host, "127.0.0.1");
  request.body() = std::move(body);
  return request;
}

std::unique_ptr<HttpServer> StartOrDie(HttpHandler handler, HttpServerOptions options = {}) {
  absl::StatusOr<std::unique_ptr<HttpServer>> server =
      HttpServer::Start("127.0.0.1:0", std::move(handler), options);
  EXPECT_TRUE(server.ok()) << server.status();
  return server.ok() ? std::move(*server) : nullptr;
}

TEST(HttpServerTest, GetSplitsPathAndDecodesQuery) {
  HttpRequest seen;
  auto server = StartOrDie([&](const HttpRequest& request) {
    seen = request;
    return HttpResponse::Text(200, request.QueryParam("name"));
  });
  ASSERT_NE(server, nullptr);
  EXPECT_NE(server->port(), 0);
  EXPECT_EQ(server->address(), absl::StrCat("127.0.0.1:", server->port()));

  Client client(server->port());
  ASSERT_FALSE(client.connect_error()) << client.connect_error().message();
  http::response<http::string_body> response;
  ASSERT_FALSE(client.RoundTrip(Get("/api/v1/x?name=a%20b+c%2Fd&other=1"), response));
  EXPECT_EQ(response.result_int(), 200);
  EXPECT_EQ(response.body(), "a b c/d");
  EXPECT_EQ(response[http::field::content_type], "text/plain; charset=utf-8");
  EXPECT_EQ(response[http::field::content_length], "7");

  EXPECT_EQ(seen.method, "GET");
  EXPECT_EQ(seen.target, "/api/v1/x?name=a%20b+c%2Fd&other=1");
  EXPECT_EQ(seen.path, "/api/v1/x");
  EXPECT_EQ(seen.query, "name=a%20b+c%2Fd&other=1");
  EXPECT_EQ(seen.QueryParam("other"), "1");
  EXPECT_EQ(seen.QueryParam("missing"), "");
  EXPECT_EQ(seen.remote_address, "127.0.0.1");
}

TEST(HttpServerTest, QueryParamEdgeCases) {
  HttpRequest request;
  request.query = "flag&empty=&bad=%zz%4&k%65y=v%3D1&dup=first&dup=second";
  EXPECT_EQ(request.QueryParam("flag"), "");
  EXPECT_EQ(request.QueryParam("empty"), "");
  EXPECT_EQ(request.QueryParam("bad"), "%zz%4");
  EXPECT_EQ(request.QueryParam("key"), "v=1");
  EXPECT_EQ(request.QueryParam("dup"), "first");
}

TEST(HttpServerTest, PostBodyRoundTrip) {
  auto server = StartOrDie([](const HttpRequest& request) {
    return HttpResponse::Json(201, absl::StrCat("{\"got\":\"", request.body, "\"}"));
  });
  ASSERT_NE(server, nullptr);
  Client client(server->port());
  http::response<http::string_body> response;
  ASSERT_FALSE(client.RoundTrip(Post("/push", "payload"), response));
  EXPECT_EQ(response.result_int(), 201);
  EXPECT_EQ(response.body(), "{\"got\":\"payload\"}");
  EXPECT_EQ(response[http::field::content_type], "application/json");
}

TEST(HttpServerTest, AnswersExpectContinueBeforeTheBody) {
  auto server =
      StartOrDie([](const HttpRequest& request) { return HttpResponse::Text(200, request.body); });
  ASSERT_NE(server, nullptr);
  Client client(server->port());
  ASSERT_FALSE(client.WriteRaw(
      "POST /push HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"));
  EXPECT_THAT(client.ReadUntil("\r\n\r\n"), StartsWith("HTTP/1.1 100 Continue"));
  ASSERT_FALSE(client.WriteRaw("hello"));
  const std::string response = client.ReadUntil("hello");
  EXPECT_THAT(response, StartsWith("HTTP/1.1 200"));
  EXPECT_THAT(response, HasSubstr("\r\n\r\nhello"));
}

TEST(HttpServerTest, HeaderNamesAreLowerCasedAndLookupIgnoresCase) {
  HttpRequest seen;
  auto server = StartOrDie([&](const HttpRequest& request) {
    seen = request;
    return HttpResponse::Text(200, std::string(request.Header("X-REQUEST-ID")));
  });
  ASSERT_NE(server, nullptr);
  Client client(server->port());
  auto request = Get("/");
  request.set("X-Request-Id", "abc-123");
  http::response<http::string_body> response;
  ASSERT_FALSE(client.RoundTrip(request, response));
  EXPECT_EQ(response.body(), "abc-123");
  EXPECT_THAT(seen.headers,
              ::testing::Contains(std::pair<std::string, std::string>("x-request-id", "abc-123")));
  EXPECT_EQ(seen.Header("absent"), "");
}

TEST(HttpServerTest, ExtraResponseHeadersAreSent) {
  auto server = StartOrDie([](const HttpRequest&) {
    HttpResponse response = HttpResponse::Text(200, "x");
    response.headers.emplace_back("Cache-Control", "no-store");
    return response;
  });
  ASSERT_NE(server, nullptr);
  Client client(server->port());
  http::response<http::string_body> response;
  ASSERT_FALSE(client.RoundTrip(Get("/"), response));
  EXPECT_EQ(response[http::field::cache_control], "no-store");
}

TEST(HttpServerTest, BodyOverLimitGets413WithReason) {
  std::atomic<int> calls = 0;
  HttpServerOptions options;
  options.max_body_bytes = 1000;
  auto server = StartOrDie(
      [&](const HttpRequest&) {
        ++calls;
        return HttpResponse::Text(200, "ok");
      },
      options);
  ASSERT_NE(server, nullptr);

  Client client(server->port());
  http::response<http::string_body> response;
  ASSERT_FALSE(client.RoundTrip(Post("/push", std::string(1000, 'a')), response));
  EXPECT_EQ(response.result_int(), 200) << "exactly the limit is allowed";

  Client over(server->port());
  http::response<http::string_body> rejected;
  ASSERT_FALSE(over.RoundTrip(Post("/push", std::string(5000, 'a')), rejected));
  EXPECT_EQ(rejected.result_int(), 413);
  EXPECT_THAT(rejected.body(), HasSubstr("1000 bytes"));
  EXPECT_FALSE(rejected.keep_alive());
  EXPECT_EQ(calls.load(), 1);
}

TEST(HttpServerTest, ChunkedBodyOverLimitGets413) {
  HttpServerOptions options;
  options.max_body_bytes = 10;
  auto server =
      StartOrDie([](const HttpRequest&) { return HttpResponse::Text(200, "ok"); }, options);
  ASSERT_NE(server, nullptr);
  Client client(server->port());
  ASSERT_FALSE(
      client.WriteRaw("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                      "14\r\n01234567890123456789\r\n0\r\n\r\n"));
  bool closed = false;
  EXPECT_THAT(client.ReadToEof(closed), StartsWith("HTTP/1.1 413"));
  EXPECT_TRUE(closed);
}

TEST(HttpServerTest, GarbageGets400AndClose) {
  auto server = StartOrDie([](const HttpRequest&) { return HttpResponse::Text(200, "ok"); });
  ASSERT_NE(server, nullptr);
  Client client(server->port());
  ASSERT_FALSE(client.WriteRaw("hello\r\n\r\n"));
  bool closed = false;
  const std::string response = client.ReadToEof(closed);
  EXPECT_THAT(response, StartsWith("HTTP/1.1 400"));
  EXPECT_THAT(response, HasSubstr("Content-Length:"));
  EXPECT_THAT(response, HasSubstr("Content-Type:"));
  EXPECT_THAT(response, HasSubstr("bad request: "));
  EXPECT_TRUE(closed);
}

TEST(HttpServerTest, ThrowingHandlerGets500AndServerKeepsServing) {
  auto server = StartOrDie([](const HttpRequest& request) -> HttpResponse {
    if (request.path == "/throw") throw std::runtime_error("boom");
    if (request.path == "/throw-int") throw 42;
    return HttpResponse::Text(200, "fine");
  });
  ASSERT_NE(server, nullptr);
  Client client(server->port());
  http::response<http::string_body> response;
  ASSERT_FALSE(client.RoundTrip(Get("/throw"), response));
  EXPECT_EQ(response.result_int(), 500);
  EXPECT_THAT(response.body(), HasSubstr("boom"));
  http::response<http::string_body> second;
  ASSERT_FALSE(client.RoundTrip(Get("/throw-int"), second));
  EXPECT_EQ(second.result_int(), 500);
  http::response<http::string_body> third;
  ASSERT_FALSE(client.RoundTrip(Get("/"), third));
  EXPECT_EQ(third.body(), "fine");
}

TEST(HttpServerTest, NoContentCarriesNoBody) {
  auto server = StartOrDie([](const HttpRequest&) { return HttpResponse::Text(204, "ignored"); });
  ASSERT_NE(server, nullptr);
  Client client(server->port());
  http::response<http::string_body> response;
  ASSERT_FALSE(client.RoundTrip(Get("/"), response));
  EXPECT_EQ(response.result_int(), 204);
  EXPECT_EQ(response.body(), "");
  http::response<http::string_body> again;
  ASSERT_FALSE(client.RoundTrip(Get("/"), again)) << "connection still usable";
}

TEST(HttpServerTest, KeepAliveServesTwoRequestsOnOneConnection) {
  std::atomic<int> calls = 0;
  auto server = StartOrDie(
      [&](const HttpRequest&) { return HttpResponse::Text(200, absl::StrCat("call ", ++calls)); });
  ASSERT_NE(server, nullptr);
  Client client(server->port());
  http::response<http::string_body> first;
  ASSERT_FALSE(client.RoundTrip(Get("/a"), first));
  EXPECT_TRUE(first.keep_alive());
  http::response<http::string_body> second;
  ASSERT_FALSE(client.RoundTrip(Get("/b"), second));
  EXPECT_EQ(first.body(), "call 1");
  EXPECT_EQ(second.body(), "call 2");
}

TEST(HttpServerTest, ConnectionCloseIsHonoured) {
  auto server = StartOrDie([](const HttpRequest&) { return HttpResponse::Text(200, "ok"); });
  ASSERT_NE(server, nullptr);
  Client client(server->port());
  ASSERT_FALSE(client.WriteRaw("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
  bool closed = false;
  EXPECT_THAT(client.ReadToEof(closed), StartsWith("HTTP/1.1 200"));
  EXPECT_TRUE(closed);
}

TEST(HttpServerTest, IdleTimeoutClosesConnection) {
  HttpServerOptions options;
  options.idle_timeout = absl::Milliseconds(100);
  auto server =
      StartOrDie([](const HttpRequest&) { return HttpResponse::Text(200, "ok"); }, options);
  ASSERT_NE(server, nullptr);
  Client client(server->port());
  bool closed = false;
  EXPECT_EQ(client.ReadToEof(closed), "");
  EXPECT_TRUE(closed);
}

TEST(HttpServerTest, BindFailureIsUnavailableAndNamesTheAddress) {
  auto first = StartOrDie([](const HttpRequest&) { return HttpResponse::Text(200, "ok"); });
  ASSERT_NE(first, nullptr);
  const std::string taken = first->address();
  absl::StatusOr<std::unique_ptr<HttpServer>> second =
      HttpServer::Start(taken, [](const HttpRequest&) { return HttpResponse::Text(200, "ok"); });
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(second.status().message(), HasSubstr(taken));
  EXPECT_THAT(second.status().message(), HasSubstr("in use"));
}

TEST(HttpServerTest, MalformedListenAddressIsInvalidArgument) {
  for (const char* listen : {"127.0.0.1", "127.0.0.1:", "127.0.0.1:http", "127.0.0.1:70000",
                             "::1:80", "[::1:80", "[::1]80", "example.invalid:80", ":-1"}) {
    absl::StatusOr<std::unique_ptr<HttpServer>> server =
        HttpServer::Start(listen, [](const HttpRequest&) { return HttpResponse::Text(200, "ok"); });
    ASSERT_FALSE(server.ok()) << listen;
    EXPECT_EQ(server.status().code(), absl::StatusCode::kInvalidArgument) << listen;
    EXPECT_THAT(server.status().message(), HasSubstr(listen));
  }
}

TEST(HttpServerTest, ListensOnIpv6Loopback) {
  absl::StatusOr<std::unique_ptr<HttpServer>> server = HttpServer::Start(
      "[::1]:0", [](const HttpRequest&) { return HttpResponse::Text(200, "ok"); });
  ASSERT_TRUE(server.ok()) << "no IPv6 loopback here? " << server.status();
  EXPECT_EQ((*server)->address(), absl::StrCat("[::1]:", (*server)->port()));
}

TEST(HttpServerTest, StopWithIdleClientsReturnsPromptly) {
  auto server = StartOrDie([](const HttpRequest&) { return HttpResponse::Text(200, "ok"); });
  ASSERT_NE(server, nullptr);
  // One client that finished a request and keeps the connection, one that
  // never sent anything.
  Client used(server->port());
  http::response<http::string_body> response;
  ASSERT_FALSE(used.RoundTrip(Get("/"), response));
  Client silent(server->port());
  ASSERT_FALSE(silent.connect_error());

  const auto start = std::chrono::steady_clock::now();
  server->Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
  bool closed = false;
  used.ReadToEof(closed);
  EXPECT_TRUE(closed);
  server->Stop();  // idempotent

  Client late(server->port());
  EXPECT_TRUE(late.connect_error()) << "listener must be closed";
}

}  // namespace
}  // namespace klaxon
