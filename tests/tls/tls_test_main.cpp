// main() of tcpserver_tls_tests: installs the OpenSSL allocation counter before OpenSSL
// allocates anything (the memory tests read it), then runs GoogleTest. Main thread only.
#include <cstdio>

#include <gtest/gtest.h>

#include "tls_test_support.h"

int main(int argc, char** argv) {
  if (!tstest::install_allocation_counter())
    std::fprintf(stderr, "tls tests: CRYPTO_set_mem_functions came too late; the memory tests "
                         "will fail\n");
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
