// The fault tests run on the backend CI asks for (TCPSERVER_TEST_BACKEND): this proves it for
// each run of the suite, as BackendTest does for the unit suite.
#include <gtest/gtest.h>

#include "support/server_fixture.h"

using namespace tstest;

namespace {

class BackendInUseTest : public ServerTest {};

TEST_F(BackendInUseTest, FaultTestsRunOnTheRequestedBackend) {
  ASSERT_NO_FATAL_FAILURE(start_server());
  expect_test_backend_in_use(nullptr);
}

}  // namespace
