#include "netd/ovs/json_stream.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace netd::ovs {
namespace {

TEST(JsonStreamSplitter, MessagesCutAnywhereComeOutWhole) {
  const std::string stream =
      R"({"id":1,"result":[{"uuid":["uuid","x"]}],"error":null}  )"
      "\n"
      R"({"method":"update","params":["netd",{"Bridge":{"u":{"new":{"name":"br-}{\"x\\"}}}}]})"
      R"([1,2])";
  // Every split of the stream into two reads gives the same three messages.
  for (std::size_t cut = 0; cut <= stream.size(); ++cut) {
    JsonStreamSplitter splitter;
    auto first = splitter.Feed(std::string_view(stream).substr(0, cut));
    auto second = splitter.Feed(std::string_view(stream).substr(cut));
    first.insert(first.end(), second.begin(), second.end());
    ASSERT_EQ(first.size(), 3u) << "cut at " << cut;
    EXPECT_EQ(first[0], R"({"id":1,"result":[{"uuid":["uuid","x"]}],"error":null})");
    EXPECT_EQ(first[1].back(), '}');
    EXPECT_EQ(first[2], "[1,2]");
  }
}

TEST(JsonStreamSplitter, ByteByByte) {
  JsonStreamSplitter splitter;
  std::vector<std::string> out;
  for (char c : std::string(R"({"a":"\\"}{"b":["]"]})")) {
    for (auto& text : splitter.Feed(std::string_view(&c, 1))) out.push_back(text);
  }
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0], R"({"a":"\\"})");
  EXPECT_EQ(out[1], R"({"b":["]"]})");
}

TEST(JsonStreamSplitter, AStreamThatCannotBeJsonRpcIsRefused) {
  EXPECT_THROW(JsonStreamSplitter().Feed("42"), std::runtime_error);
  EXPECT_THROW(JsonStreamSplitter().Feed("{}}"), std::runtime_error);
  EXPECT_THROW(JsonStreamSplitter(8).Feed(R"({"long":"message"})"), std::runtime_error);
}

}  // namespace
}  // namespace netd::ovs
