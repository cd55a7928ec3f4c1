// --tokens lists: separators, and each malformed list's message.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/error.h"
#include "engine/driver.h"

namespace loupe {
namespace {

std::string error_of(const std::string& list, int64_t d_vocab = 512) {
  try {
    parse_token_list(list, d_vocab);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(TokenList, CommasSpacesAndWhitespaceLists) {
  EXPECT_EQ(parse_token_list("1,2,3", 512), (std::vector<int32_t>{1, 2, 3}));
  EXPECT_EQ(parse_token_list(" 1, 2 ,3 ", 512), (std::vector<int32_t>{1, 2, 3}));
  EXPECT_EQ(parse_token_list("1 2\t3\n", 512), (std::vector<int32_t>{1, 2, 3}));
  EXPECT_EQ(parse_token_list("511", 512), (std::vector<int32_t>{511}));
}

TEST(TokenList, MalformedListsAreRefusedWithTheirPlace) {
  EXPECT_NE(error_of("1,,2").find("empty item at character 2"), std::string::npos) << error_of("1,,2");
  EXPECT_NE(error_of("1,2,").find("empty item"), std::string::npos);
  EXPECT_NE(error_of(",1").find("empty item at character 0"), std::string::npos);
  EXPECT_NE(error_of("1,x2").find("'x2' at character 2 is not a token id"), std::string::npos) << error_of("1,x2");
  EXPECT_NE(error_of("1,2.5").find("'2.5'"), std::string::npos);
  EXPECT_NE(error_of("1,512").find("token id 512 is out of range (vocabulary of 512)"), std::string::npos);
  EXPECT_NE(error_of("-1").find("token id -1 is out of range"), std::string::npos);
  EXPECT_NE(error_of("99999999999999999999").find("is not a token id"), std::string::npos);
  EXPECT_NE(error_of("").find("no token ids given"), std::string::npos);
  EXPECT_NE(error_of("   ").find("no token ids given"), std::string::npos);
}

}  // namespace
}  // namespace loupe
