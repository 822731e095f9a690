// Checking a failing call: its return value, the thread's last error code, a non-empty text.
// The last error is primed with an unrelated code first, so the check proves this call set it.
#pragma once
#include <gtest/gtest.h>

#include "support/server_fixture.h"
#include "tcpserver.h"

#define EXPECT_CALL_FAILS(call, expected_result, expected_code)                                   \
  do {                                                                                            \
    ::tstest::prime_last_error(expected_code);                                                    \
    auto result_ = (call);                                                                        \
    EXPECT_EQ(result_, (expected_result)) << #call << " should fail";                             \
    EXPECT_EQ(GetLastErrorCode(), (expected_code)) << #call << ": " << GetLastErrorText();        \
    const char* text_ = GetLastErrorText();                                                       \
    EXPECT_TRUE(text_ != nullptr && text_[0] != '\0') << #call << ": empty error text";          \
  } while (0)
