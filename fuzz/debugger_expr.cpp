// The debugger's parsers: breakpoint conditions, tensor expressions with slices, numbers.
#include <string_view>

#include "debugger/expr.h"
#include "fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  loupe::fuzz::expect_clean([&] { (void)loupe::dbg::parse_condition(text); });
  loupe::fuzz::expect_clean([&] { (void)loupe::dbg::parse_tensor_expr(text); });
  loupe::fuzz::expect_clean([&] { (void)loupe::dbg::parse_slice(text); });
  loupe::fuzz::expect_clean([&] { (void)loupe::dbg::parse_number(text, "fuzz"); });
  loupe::fuzz::expect_clean([&] { (void)loupe::dbg::parse_int(text, "fuzz"); });
  return 0;
}
