// Support for the probe tests: a scripted loopback TCP server that can also
// speak TLS with a certificate made in-process (a throwaway CA and a leaf for
// 127.0.0.1 with a chosen NotAfter), and a watch for how long the machine
// stalled a sleeping thread. Test-only; each owns one thread, and Stop() may
// be called from any thread.
#ifndef KLAXON_PROBES_INTERNAL_TESTING_TLS_SERVER_H_
#define KLAXON_PROBES_INTERNAL_TESTING_TLS_SERVER_H_

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <atomic>
#include <boost/asio/buffer.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <ctime>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace klaxon::probe_testing {

struct TestCertificates {
  std::string ca_pem;
  std::string leaf_pem;
  std::string leaf_key_pem;
  int64_t ca_not_after = 0;  // unix seconds
  int64_t leaf_not_after = 0;
};

namespace internal {

struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct X509Free {
  void operator()(X509* p) const { X509_free(p); }
};
struct BioFree {
  void operator()(BIO* p) const { BIO_free(p); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;
using Cert = std::unique_ptr<X509, X509Free>;

inline bool AddExtension(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  if (ext == nullptr) return false;
  const bool ok = X509_add_ext(cert, ext, -1) == 1;
  X509_EXTENSION_free(ext);
  return ok;
}

// A certificate for `key`, signed by `issuer_key` (itself when `issuer` is null).
inline Cert MakeCert(EVP_PKEY* key, const char* common_name, int64_t not_after, long serial,
                     X509* issuer, EVP_PKEY* issuer_key, bool ca) {
  Cert cert(X509_new());
  if (cert == nullptr) return nullptr;
  X509_set_version(cert.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), serial);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  ASN1_TIME_set(X509_getm_notAfter(cert.get()), static_cast<time_t>(not_after));
  X509_set_pubkey(cert.get(), key);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(common_name), -1, -1, 0);
  X509* signer = issuer != nullptr ? issuer : cert.get();
  X509_set_issuer_name(cert.get(), X509_get_subject_name(signer));
  bool ok = AddExtension(cert.get(), signer, NID_subject_key_identifier, "hash");
  if (ca) {
    ok = ok && AddExtension(cert.get(), signer, NID_basic_constraints, "critical,CA:TRUE");
    ok = ok && AddExtension(cert.get(), signer, NID_key_usage, "critical,keyCertSign,cRLSign");
  } else {
    ok = ok && AddExtension(cert.get(), signer, NID_authority_key_identifier, "keyid");
    ok = ok && AddExtension(cert.get(), signer, NID_basic_constraints, "CA:FALSE");
    ok = ok && AddExtension(cert.get(), signer, NID_ext_key_usage, "serverAuth");
    ok = ok && AddExtension(cert.get(), signer, NID_subject_alt_name,
                            "IP:127.0.0.1,IP:::1,DNS:localhost");
  }
  if (!ok || X509_sign(cert.get(), issuer_key, EVP_sha256()) == 0) return nullptr;
  return cert;
}

inline std::string Pem(X509* cert) {
  std::unique_ptr<BIO, BioFree> bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509(bio.get(), cert);
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(size));
}

inline std::string Pem(EVP_PKEY* key) {
  std::unique_ptr<BIO, BioFree> bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(size));
}

}  // namespace internal

// A CA valid for `ca_valid` and a leaf for 127.0.0.1, ::1 and localhost valid
// for `leaf_valid` from now, signed by it. P-256 keys: quick to make.
inline absl::StatusOr<TestCertificates> MakeCertificates(
    absl::Duration leaf_valid, absl::Duration ca_valid = absl::Hours(24 * 3650)) {
  internal::Pkey ca_key(EVP_EC_gen("P-256"));
  internal::Pkey leaf_key(EVP_EC_gen("P-256"));
  if (ca_key == nullptr || leaf_key == nullptr) return absl::InternalError("EVP_EC_gen failed");
  const int64_t now = absl::ToUnixSeconds(absl::Now());
  TestCertificates certs;
  certs.ca_not_after = now + absl::ToInt64Seconds(ca_valid);
  certs.leaf_not_after = now + absl::ToInt64Seconds(leaf_valid);
  internal::Cert ca = internal::MakeCert(ca_key.get(), "klaxon test CA", certs.ca_not_after, 1,
                                         nullptr, ca_key.get(), /*ca=*/true);
  if (ca == nullptr) return absl::InternalError("could not make the CA certificate");
  internal::Cert leaf = internal::MakeCert(leaf_key.get(), "127.0.0.1", certs.leaf_not_after, 2,
                                           ca.get(), ca_key.get(), /*ca=*/false);
  if (leaf == nullptr) return absl::InternalError("could not make the leaf certificate");
  certs.ca_pem = internal::Pem(ca.get());
  certs.leaf_pem = internal::Pem(leaf.get());
  certs.leaf_key_pem = internal::Pem(leaf_key.get());
  return certs;
}

struct TestingServerOptions {
  // Speaks TLS with the leaf (and sends the CA as its chain) when set.
  std::optional<TestCertificates> tls;
  // false: accept, then never answer the TLS handshake (a TLS-phase stall).
  bool handshake = true;
  // The request ends with this; empty: do not wait for a request at all.
  std::string request_end = "\r\n\r\n";
  std::string reply;  // written once the request has arrived
  // Keep the connection open after the reply (until Stop) instead of closing.
  bool hold = false;
  // Answer request after request on one connection, as HTTP keep-alive.
  bool keep_alive = false;
};

// Serves every connection by the script in its options, on 127.0.0.1 or ::1.
class TestingServer {
 public:
  static absl::StatusOr<std::unique_ptr<TestingServer>> Start(TestingServerOptions options,
                                                              bool ipv6 = false) {
    std::unique_ptr<TestingServer> server(new TestingServer(std::move(options)));
    boost::system::error_code ec;
    if (server->options_.tls.has_value()) {
      const TestCertificates& certs = *server->options_.tls;
      const std::string chain = certs.leaf_pem + certs.ca_pem;
      server->ssl_.use_certificate_chain(boost::asio::buffer(chain), ec);
      if (!ec) {
        server->ssl_.use_private_key(boost::asio::buffer(certs.leaf_key_pem),
                                     boost::asio::ssl::context::pem, ec);
      }
      if (ec) return absl::InternalError(absl::StrCat("tls setup: ", ec.message()));
    }
    const boost::asio::ip::address address =
        ipv6 ? boost::asio::ip::address(boost::asio::ip::address_v6::loopback())
             : boost::asio::ip::address(boost::asio::ip::address_v4::loopback());
    const boost::asio::ip::tcp::endpoint endpoint(address, 0);
    server->acceptor_.open(endpoint.protocol(), ec);
    if (!ec) server->acceptor_.bind(endpoint, ec);
    if (!ec) server->acceptor_.listen(boost::asio::socket_base::max_listen_connections, ec);
    if (ec) return absl::UnavailableError(absl::StrCat("listen: ", ec.message()));
    server->port_ = server->acceptor_.local_endpoint().port();
    server->Accept();
    server->thread_ = std::thread([s = server.get()] { s->ioc_.run(); });
    return server;
  }

  TestingServer(const TestingServer&) = delete;
  TestingServer& operator=(const TestingServer&) = delete;
  ~TestingServer() { Stop(); }

  uint16_t port() const { return port_; }
  std::string Url(const std::string& path = "/") const {
    return absl::StrCat(options_.tls.has_value() ? "https" : "http", "://127.0.0.1:", port_, path);
  }
  int connections() const { return connections_.load(); }
  // What the last connection sent before the reply (up to request_end).
  std::string last_request() const {
    std::lock_guard lock(request_mu_);
    return last_request_;
  }

  void Stop() {
    std::lock_guard lock(stop_mu_);
    if (!thread_.joinable()) return;
    ioc_.stop();
    thread_.join();
  }

 private:
  using Tcp = boost::asio::ip::tcp;
  using TlsStream = boost::asio::ssl::stream<Tcp::socket>;

  explicit TestingServer(TestingServerOptions options)
      : options_(std::move(options)), acceptor_(ioc_) {}

  void Accept() {
    acceptor_.async_accept([this](boost::system::error_code ec, Tcp::socket socket) {
      if (ec) return;
      ++connections_;
      if (!options_.tls.has_value()) {
        Serve(std::make_shared<Tcp::socket>(std::move(socket)));
      } else {
        auto stream = std::make_shared<TlsStream>(std::move(socket), ssl_);
        if (!options_.handshake) {
          held_.push_back(stream);
        } else {
          stream->async_handshake(boost::asio::ssl::stream_base::server,
                                  [this, stream](boost::system::error_code ec) {
                                    if (!ec) Serve(stream);
                                  });
        }
      }
      Accept();
    });
  }

  template <typename Stream>
  void Serve(std::shared_ptr<Stream> stream) {
    if (options_.request_end.empty()) return Reply(stream);
    auto request = std::make_shared<std::string>();
    boost::asio::async_read_until(
        *stream, boost::asio::dynamic_buffer(*request), options_.request_end,
        [this, stream, request](boost::system::error_code ec, size_t size) {
          if (ec) return;
          {
            std::lock_guard lock(request_mu_);
            last_request_ = request->substr(0, size);
          }
          Reply(stream);
        });
  }

  template <typename Stream>
  void Reply(std::shared_ptr<Stream> stream) {
    boost::asio::async_write(*stream, boost::asio::buffer(options_.reply),
                             [this, stream](boost::system::error_code ec, size_t) {
                               if (ec) return;
                               if (options_.keep_alive) return Serve(stream);
                               if (options_.hold) held_.push_back(stream);
                               // Otherwise the last reference goes and the
                               // socket closes, without a TLS close_notify:
                               // the probe must not depend on one.
                             });
  }

  TestingServerOptions options_;
  boost::asio::io_context ioc_;
  boost::asio::ssl::context ssl_{boost::asio::ssl::context::tls_server};
  Tcp::acceptor acceptor_;
  uint16_t port_ = 0;
  std::atomic<int> connections_{0};
  std::vector<std::shared_ptr<void>> held_;  // only touched on the I/O thread
  mutable std::mutex request_mu_;
  std::string last_request_;
  std::mutex stop_mu_;
  std::thread thread_;
};

// The longest a thread that sleeps 5ms at a time overslept while it ran: how
// long the machine (a loaded 2-core box, a sandbox) kept a ready thread off
// the CPU. A timing test allows this much on top of its own bound, so that it
// fails for the code's lateness, not for the machine's.
class StallWatch {
 public:
  StallWatch()
      : thread_([this] {
          std::unique_lock lock(mu_);
          while (!stop_) {
            const auto due = std::chrono::steady_clock::now() + std::chrono::milliseconds(5);
            cv_.wait_until(lock, due, [this] { return stop_; });
            const auto late = std::chrono::steady_clock::now() - due;
            if (!stop_ && late > worst_) worst_ = late;
          }
        }) {}
  StallWatch(const StallWatch&) = delete;
  StallWatch& operator=(const StallWatch&) = delete;
  ~StallWatch() { Stop(); }

  // Stops watching and returns the worst stall seen.
  absl::Duration Stop() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
    std::lock_guard lock(mu_);
    return absl::FromChrono(worst_);
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::chrono::steady_clock::duration worst_{0};
  std::thread thread_;  // last: starts once the rest is initialised
};

}  // namespace klaxon::probe_testing

#endif  // KLAXON_PROBES_INTERNAL_TESTING_TLS_SERVER_H_
