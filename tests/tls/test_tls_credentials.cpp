// Certificates and keys recognised by content (tls_credentials.h): PEM (separate, combined,
// with a chain, encrypted keys), DER (plain and encrypted keys), PKCS#12/PFX (AES, 3DES and the
// legacy RC2-40 that .NET Framework writes), files; and every refusal says what is wrong:
// wrong or missing password, a key that does not match, not a certificate, a missing file, a
// weak key. A refused call leaves the previous certificate in place.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "tls/tls_credentials.h"
#include "tls_test_support.h"

using namespace tstest;
using ts::tls::TlsConfig;
using ts::tls::TlsError;
using ts::tls::TlsErrorKind;

namespace {

// The subject CN of the certificate a client receives from a context built from cfg.
std::string served_cn(const TlsConfig& cfg, int* chain_len = nullptr) {
  std::string why;
  auto ctx = build(cfg, &why);
  if (!ctx) return "build failed: " + why;
  auto s = session(ctx);
  TestClient c(ClientOptions{});
  ServerEvents ev;
  if (!handshake(c, *s, &ev)) return "handshake failed: " + s->failure_text() + c.error();
  if (chain_len) *chain_len = sk_X509_num(SSL_get_peer_cert_chain(c.ssl()));
  return c.peer_common_name();
}

bool set_cert(TlsConfig& cfg, const std::string& cert, const std::string& key, const char* pw,
              TlsError* err) {
  return cfg.set_certificate(cert.data(), cert.size(), key.empty() ? nullptr : key.data(),
                             key.size(), pw, err);
}

struct TempDir {
  std::filesystem::path path;
  TempDir() {
    path = std::filesystem::temp_directory_path() /
           ("tcpserver-tls-test-" + std::to_string(reinterpret_cast<uintptr_t>(this)) + "-" +
            std::to_string(std::rand()));
    std::filesystem::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  std::string write(const std::string& name, const std::string& data) {
    std::filesystem::path p = path / name;
    std::ofstream(p, std::ios::binary).write(data.data(), static_cast<std::streamsize>(data.size()));
    return p.u8string();
  }
};

}  // namespace

TEST(TlsCredentialsTest, PemCertificateWithSeparateOrCombinedKeyIsServed) {
  const KeyPair& kp = pki().server_ec;
  TlsConfig a, b;
  TlsError err;
  ASSERT_TRUE(set_cert(a, pem(kp.cert.get()), pem_key(kp.key.get()), nullptr, &err)) << err.text;
  EXPECT_EQ(served_cn(a), "localhost");
  ASSERT_TRUE(set_cert(b, pem(kp.cert.get()) + pem_key(kp.key.get()), "", nullptr, &err)) << err.text;
  EXPECT_EQ(served_cn(b), "localhost");
  // Key first, certificate after: found by content, not position.
  TlsConfig c;
  ASSERT_TRUE(set_cert(c, pem_key(kp.key.get()) + pem(kp.cert.get()), "", nullptr, &err)) << err.text;
  EXPECT_EQ(served_cn(c), "localhost");
}

TEST(TlsCredentialsTest, PemChainSendsTheIntermediateToo) {
  const KeyPair& kp = pki().chained;
  TlsConfig cfg;
  TlsError err;
  ASSERT_TRUE(set_cert(cfg, pem(kp.cert.get()) + pem(pki().intermediate.cert.get()),
                       pem_key(kp.key.get()), nullptr, &err))
      << err.text;
  int chain = 0;
  EXPECT_EQ(served_cn(cfg, &chain), "chained.test");
  EXPECT_EQ(chain, 2);  // leaf + intermediate
}

TEST(TlsCredentialsTest, EncryptedPemKeysOpenWithTheRightPasswordOnly) {
  const KeyPair& kp = pki().server_ec;
  for (const std::string& key : {pem_key(kp.key.get(), "s3cret"),
                                 pem_key_traditional(kp.key.get(), "s3cret")}) {
    TlsConfig cfg;
    TlsError err;
    EXPECT_FALSE(set_cert(cfg, pem(kp.cert.get()), key, "wrong", &err));
    EXPECT_EQ(err.kind, TlsErrorKind::kCertificate);
    EXPECT_NE(err.text.find("wrong password"), std::string::npos) << err.text;
    EXPECT_FALSE(set_cert(cfg, pem(kp.cert.get()), key, nullptr, &err));
    EXPECT_NE(err.text.find("give its password"), std::string::npos) << err.text;
    EXPECT_FALSE(cfg.has_certificate());
    ASSERT_TRUE(set_cert(cfg, pem(kp.cert.get()), key, "s3cret", &err)) << err.text;
    EXPECT_EQ(served_cn(cfg), "localhost");
  }
}

TEST(TlsCredentialsTest, DerCertificateWithPlainOrEncryptedDerKey) {
  const KeyPair& kp = pki().server_rsa;
  TlsConfig cfg;
  TlsError err;
  ASSERT_TRUE(set_cert(cfg, der(kp.cert.get()), der_key(kp.key.get()), nullptr, &err)) << err.text;
  EXPECT_EQ(served_cn(cfg), "rsa.test");
  TlsConfig enc;
  std::string key = der_key(kp.key.get(), "pw");
  EXPECT_FALSE(set_cert(enc, der(kp.cert.get()), key, "nope", &err));
  EXPECT_NE(err.text.find("wrong password"), std::string::npos) << err.text;
  ASSERT_TRUE(set_cert(enc, der(kp.cert.get()), key, "pw", &err)) << err.text;
  EXPECT_EQ(served_cn(enc), "rsa.test");
  // A DER certificate holds no key.
  EXPECT_FALSE(set_cert(enc, der(kp.cert.get()), "", nullptr, &err));
  EXPECT_NE(err.text.find("no private key"), std::string::npos) << err.text;
}

TEST(TlsCredentialsTest, PfxWithAesTripleDesOrLegacyRc2LoadsWithItsPassword) {
  const KeyPair& kp = pki().chained;
  for (auto kind : {PfxKind::kAes, PfxKind::kTripleDes, PfxKind::kLegacyRc2}) {
    SCOPED_TRACE(static_cast<int>(kind));
    std::string p12 = pfx(kp, "pfx pass", kind, {pki().intermediate.cert.get()});
    ASSERT_FALSE(p12.empty());
    TlsConfig cfg;
    TlsError err;
    EXPECT_FALSE(set_cert(cfg, p12, "", "bad pass", &err));
    EXPECT_NE(err.text.find("wrong password for the PKCS#12"), std::string::npos) << err.text;
    EXPECT_FALSE(set_cert(cfg, p12, "", nullptr, &err));
    EXPECT_NE(err.text.find("protected by a password"), std::string::npos) << err.text;
    ASSERT_TRUE(set_cert(cfg, p12, "", "pfx pass", &err)) << err.text;
    int chain = 0;
    EXPECT_EQ(served_cn(cfg, &chain), "chained.test");
    EXPECT_EQ(chain, 2);
  }
  // Reading a legacy PFX must not switch the process to legacy algorithms.
  EVP_CIPHER* rc2 = EVP_CIPHER_fetch(nullptr, "RC2-40-CBC", nullptr);
  EXPECT_EQ(rc2, nullptr);
  EVP_CIPHER_free(rc2);
  ERR_clear_error();
}

TEST(TlsCredentialsTest, PfxWithoutPasswordLoads) {
  std::string p12 = pfx(pki().server_ec, "", PfxKind::kAes);
  TlsConfig cfg;
  TlsError err;
  ASSERT_TRUE(set_cert(cfg, p12, "", nullptr, &err)) << err.text;
  EXPECT_EQ(served_cn(cfg), "localhost");
}

TEST(TlsCredentialsTest, KeyOfAnotherCertificateIsRefusedAndTheOldCertificateStays) {
  TlsConfig cfg;
  TlsError err;
  ASSERT_TRUE(set_cert(cfg, pem(pki().server_ec.cert.get()), pem_key(pki().server_ec.key.get()),
                       nullptr, &err));
  EXPECT_FALSE(set_cert(cfg, pem(pki().server_rsa.cert.get()), pem_key(pki().server_ec.key.get()),
                        nullptr, &err));
  EXPECT_EQ(err.kind, TlsErrorKind::kCertificate);
  EXPECT_NE(err.text.find("does not match the certificate"), std::string::npos) << err.text;
  EXPECT_NE(err.text.find("rsa.test"), std::string::npos) << err.text;
  EXPECT_EQ(served_cn(cfg), "localhost");
}

TEST(TlsCredentialsTest, DataThatIsNoCertificateIsRefusedWithAReason) {
  TlsConfig cfg;
  TlsError err;
  EXPECT_FALSE(set_cert(cfg, "", "", nullptr, &err));
  EXPECT_NE(err.text.find("empty"), std::string::npos) << err.text;
  EXPECT_FALSE(set_cert(cfg, pattern_bytes(700, 3), "", nullptr, &err));
  EXPECT_NE(err.text.find("not a certificate"), std::string::npos) << err.text;
  EXPECT_FALSE(set_cert(cfg, pem_key(pki().server_ec.key.get()), "", nullptr, &err));
  EXPECT_NE(err.text.find("holds no certificate"), std::string::npos) << err.text;
  EXPECT_FALSE(set_cert(cfg, pem(pki().server_ec.cert.get()), "", nullptr, &err));
  EXPECT_NE(err.text.find("no private key"), std::string::npos) << err.text;
  EXPECT_FALSE(set_cert(cfg, pem(pki().server_ec.cert.get()), pattern_bytes(100, 4), nullptr, &err));
  EXPECT_NE(err.text.find("not a private key"), std::string::npos) << err.text;
  EXPECT_FALSE(cfg.has_certificate());
  EXPECT_EQ(cfg.build(&err), nullptr);
  EXPECT_NE(err.text.find("no certificate is set"), std::string::npos) << err.text;
}

TEST(TlsCredentialsTest, FilesLoadAndAMissingFileIsNamed) {
  TempDir dir;
  const KeyPair& kp = pki().server_ec;
  std::string cert = dir.write("server.crt", pem(kp.cert.get()));
  std::string key = dir.write("server.key", pem_key(kp.key.get(), "file pw"));
  std::string both = dir.write("both.pem", pem(kp.cert.get()) + pem_key(kp.key.get()));
  std::string p12 = dir.write("server.pfx", pfx(kp, "x", PfxKind::kAes));
  TlsError err;
  TlsConfig a, b, c;
  ASSERT_TRUE(a.set_certificate_file(cert.c_str(), key.c_str(), "file pw", &err)) << err.text;
  EXPECT_EQ(served_cn(a), "localhost");
  ASSERT_TRUE(b.set_certificate_file(both.c_str(), nullptr, nullptr, &err)) << err.text;
  ASSERT_TRUE(c.set_certificate_file(p12.c_str(), "", "x", &err)) << err.text;
  EXPECT_EQ(served_cn(c), "localhost");
  std::string missing = (dir.path / "missing.crt").u8string();
  EXPECT_FALSE(a.set_certificate_file(missing.c_str(), key.c_str(), "file pw", &err));
  EXPECT_NE(err.text.find("cannot open the certificate file"), std::string::npos) << err.text;
  EXPECT_NE(err.text.find("missing.crt"), std::string::npos) << err.text;
  EXPECT_FALSE(a.set_certificate_file(cert.c_str(), key.c_str(), "bad", &err));
  EXPECT_NE(err.text.find("wrong password"), std::string::npos) << err.text;
  EXPECT_NE(err.text.find("server.key"), std::string::npos) << err.text;
  EXPECT_EQ(served_cn(a), "localhost");  // still the first certificate
}

TEST(TlsCredentialsTest, WeakRsaKeyIsRefusedWhenSetNotAtTheNextStart) {
  TlsConfig cfg;
  TlsError err;
  EXPECT_FALSE(set_cert(cfg, pem(pki().weak_rsa.cert.get()), pem_key(pki().weak_rsa.key.get()),
                        nullptr, &err));
  EXPECT_EQ(err.kind, TlsErrorKind::kCertificate);
  EXPECT_NE(err.text.find("too weak"), std::string::npos) << err.text;
  EXPECT_FALSE(cfg.has_certificate());
  std::string c = pem(pki().weak_rsa.cert.get()), k = pem_key(pki().weak_rsa.key.get());
  EXPECT_FALSE(cfg.add_server_name("weak.test", c.data(), c.size(), k.data(), k.size(), nullptr, &err));
  EXPECT_NE(err.text.find("too weak"), std::string::npos) << err.text;
  EXPECT_EQ(cfg.server_name_count(), 0u);
}

TEST(TlsCredentialsTest, ClientCaAcceptsPemBundlesAndDerAndRefusesNoise) {
  std::vector<ts::tls::X509Ptr> certs;
  TlsError err;
  std::string bundle = pem(pki().client_ca.cert.get()) + pem(pki().ca.cert.get());
  ASSERT_TRUE(ts::tls::load_certificates(bundle.data(), bundle.size(), &certs, &err)) << err.text;
  EXPECT_EQ(certs.size(), 2u);
  std::string d = der(pki().client_ca.cert.get());
  ASSERT_TRUE(ts::tls::load_certificates(d.data(), d.size(), &certs, &err)) << err.text;
  EXPECT_EQ(certs.size(), 1u);
  std::string noise = pattern_bytes(300, 9);
  EXPECT_FALSE(ts::tls::load_certificates(noise.data(), noise.size(), &certs, &err));
  EXPECT_NE(err.text.find("holds no certificate"), std::string::npos) << err.text;
}
