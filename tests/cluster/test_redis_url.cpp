// Redis URL parsing (cluster/src/redis_url.h): every accepted form, and a clear refusal of
// everything else (TLS included: this build's hiredis has none).
#include <gtest/gtest.h>

#include <string>

#include "redis_url.h"

using tc::RedisUrl;

namespace {
RedisUrl parse_ok(const char* text) {
  RedisUrl u;
  std::string error;
  EXPECT_TRUE(tc::parse_redis_url(text, &u, &error)) << text << ": " << error;
  return u;
}
std::string parse_error(const char* text) {
  RedisUrl u;
  std::string error;
  EXPECT_FALSE(tc::parse_redis_url(text, &u, &error)) << text << " was accepted";
  return error;
}
}  // namespace

TEST(RedisUrlTest, HostAloneTakesTheDefaults) {
  RedisUrl u = parse_ok("redis://cache.internal");
  EXPECT_EQ(u.host, "cache.internal");
  EXPECT_EQ(u.port, 6379);
  EXPECT_FALSE(u.has_password);
  EXPECT_EQ(u.db, 0);
  EXPECT_EQ(u.where(), "cache.internal:6379");
}

TEST(RedisUrlTest, PortDatabaseAndPassword) {
  RedisUrl u = parse_ok("redis://:s3cret@10.0.0.5:6380/2");
  EXPECT_EQ(u.host, "10.0.0.5");
  EXPECT_EQ(u.port, 6380);
  EXPECT_TRUE(u.has_password);
  EXPECT_EQ(u.user, "");
  EXPECT_EQ(u.password, "s3cret");
  EXPECT_EQ(u.db, 2);
  EXPECT_EQ(u.where(), "10.0.0.5:6380");  // no credentials in messages
}

TEST(RedisUrlTest, UserAndPercentEncodedPassword) {
  RedisUrl u = parse_ok("redis://app:p%40ss%3Aw%25rd@host:7000");
  EXPECT_EQ(u.user, "app");
  EXPECT_EQ(u.password, "p@ss:w%rd");
  EXPECT_EQ(u.port, 7000);
  RedisUrl bare = parse_ok("redis://justpassword@host");  // no colon: the password alone
  EXPECT_EQ(bare.user, "");
  EXPECT_EQ(bare.password, "justpassword");
}

TEST(RedisUrlTest, Ipv6LiteralInBrackets) {
  RedisUrl u = parse_ok("redis://[::1]:6390");
  EXPECT_EQ(u.host, "::1");
  EXPECT_EQ(u.port, 6390);
  EXPECT_EQ(u.where(), "[::1]:6390");
  EXPECT_EQ(parse_ok("redis://[fe80::1]").port, 6379);
  EXPECT_EQ(parse_ok("redis://host/").db, 0);
}

TEST(RedisUrlTest, RefusalsSayWhatIsWrong) {
  EXPECT_NE(parse_error(nullptr).find("empty"), std::string::npos);
  EXPECT_NE(parse_error("").find("empty"), std::string::npos);
  EXPECT_NE(parse_error("rediss://host").find("TLS"), std::string::npos);
  EXPECT_NE(parse_error("http://host").find("redis://"), std::string::npos);
  EXPECT_NE(parse_error("127.0.0.1:6379").find("redis://"), std::string::npos);
  EXPECT_NE(parse_error("redis://").find("no host"), std::string::npos);
  EXPECT_NE(parse_error("redis://:6379").find("no host"), std::string::npos);
  EXPECT_NE(parse_error("redis://host:").find("no port"), std::string::npos);
  EXPECT_NE(parse_error("redis://host:0").find("1..65535"), std::string::npos);
  EXPECT_NE(parse_error("redis://host:65536").find("1..65535"), std::string::npos);
  EXPECT_NE(parse_error("redis://host:12ab").find("1..65535"), std::string::npos);
  EXPECT_NE(parse_error("redis://host/db1").find("not a number"), std::string::npos);
  EXPECT_NE(parse_error("redis://::1:6379").find("brackets"), std::string::npos);
  EXPECT_NE(parse_error("redis://[::1").find("]"), std::string::npos);
  EXPECT_NE(parse_error("redis://[::1]x").find("after the IPv6"), std::string::npos);
  EXPECT_NE(parse_error("redis://:@host").find("no password"), std::string::npos);
  EXPECT_NE(parse_error("redis://:p%4@host").find("%-escape"), std::string::npos);
  EXPECT_NE(parse_error("redis://:p%zz@host").find("%-escape"), std::string::npos);
  EXPECT_NE(parse_error("redis://my host").find("not a name"), std::string::npos);
}
