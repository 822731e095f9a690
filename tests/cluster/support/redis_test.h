// The fixture of the cluster tests that need Redis: a private redis-server (redis_server.h)
// started before each test and killed after it. The test's thread.
#pragma once
#include <gtest/gtest.h>

#include <string>

#include "support/redis_server.h"

namespace tctest {

class RedisTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string error;
    ASSERT_TRUE(redis_.start(&error)) << error;
  }
  RedisServer redis_;
};

}  // namespace tctest
