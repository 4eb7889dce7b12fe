#include "log/log.h"

#include <gtest/gtest.h>
#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <cstdint>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

using log_format = klink::log::format;
using log_level = klink::log::level;
namespace log = klink::log;

std::vector<std::string> lines_of(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string line; std::getline(in, line);)
    out.push_back(line);
  return out;
}

class log_test : public testing::Test {
 protected:
  void SetUp() override { log::set_output_for_testing(&out_); }
  void TearDown() override {
    log::set_output_for_testing(nullptr);
    log::init({});
  }
  void use(log_level level, log_format format) { log::init({level, format}); }

  std::ostringstream out_;
};

TEST_F(log_test, text_line_shape) {
  use(log_level::info, log_format::text);
  log::info("mirror started", {{"link", "dr"}, {"partitions", 12}, {"note", "two words"}});
  const auto lines = lines_of(out_.str());
  ASSERT_EQ(lines.size(), 1u);
  const std::regex shape(
      R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z INFO  mirror started link=dr partitions=12 note="two words")");
  EXPECT_TRUE(std::regex_match(lines[0], shape)) << lines[0];
}

TEST_F(log_test, text_values_are_quoted_and_escaped_when_needed) {
  use(log_level::trace, log_format::text);
  log::error("bad\nthing", {{"empty", ""},
                            {"quote", "a\"b"},
                            {"eq", "k=v"},
                            {"ok", true},
                            {"ratio", 0.5},
                            {"neg", -3},
                            {"big", std::uint64_t{18446744073709551615ull}}});
  const auto lines = lines_of(out_.str());
  ASSERT_EQ(lines.size(), 1u);
  const auto& l = lines[0];
  EXPECT_NE(l.find(" ERROR bad\\nthing "), std::string::npos) << l;
  EXPECT_NE(
      l.find(R"(empty="" quote="a\"b" eq="k=v" ok=true ratio=0.5 neg=-3 big=18446744073709551615)"),
      std::string::npos)
      << l;
}

TEST_F(log_test, level_names_are_padded) {
  use(log_level::trace, log_format::text);
  log::trace("t");
  log::debug("d");
  log::info("i");
  log::warn("w");
  log::error("e");
  const auto lines = lines_of(out_.str());
  ASSERT_EQ(lines.size(), 5u);
  EXPECT_NE(lines[0].find("Z TRACE t"), std::string::npos);
  EXPECT_NE(lines[1].find("Z DEBUG d"), std::string::npos);
  EXPECT_NE(lines[2].find("Z INFO  i"), std::string::npos);
  EXPECT_NE(lines[3].find("Z WARN  w"), std::string::npos);
  EXPECT_NE(lines[4].find("Z ERROR e"), std::string::npos);
}

TEST_F(log_test, events_below_the_level_are_dropped) {
  use(log_level::warn, log_format::text);
  EXPECT_FALSE(log::enabled(log_level::info));
  EXPECT_TRUE(log::enabled(log_level::warn));
  log::debug("no");
  log::info("no");
  log::warn("yes");
  log::error("yes");
  EXPECT_EQ(lines_of(out_.str()).size(), 2u);
}

TEST_F(log_test, json_lines_parse_back_with_typed_values) {
  use(log_level::debug, log_format::json);
  const std::string topic = "orders";
  log::info("batch produced", {{"topic", topic},
                               {"partition", 3},
                               {"offset", std::int64_t{9007199254740993}},
                               {"ratio", 0.25},
                               {"idempotent", true},
                               {"quote", "say \"hi\"\n\tbye"}});
  log::debug("second");
  const auto lines = lines_of(out_.str());
  ASSERT_EQ(lines.size(), 2u);
  const auto j = nlohmann::json::parse(lines[0]);
  ASSERT_TRUE(j.is_object());
  EXPECT_TRUE(std::regex_match(j["ts"].get<std::string>(),
                               std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)")));
  EXPECT_EQ(j["level"], "info");
  EXPECT_EQ(j["msg"], "batch produced");
  EXPECT_EQ(j["topic"], "orders");
  EXPECT_TRUE(j["partition"].is_number_integer());
  EXPECT_EQ(j["partition"], 3);
  EXPECT_EQ(j["offset"].get<std::int64_t>(), 9007199254740993);
  EXPECT_TRUE(j["ratio"].is_number_float());
  EXPECT_EQ(j["ratio"], 0.25);
  EXPECT_EQ(j["idempotent"], true);
  EXPECT_EQ(j["quote"], "say \"hi\"\n\tbye");
  // Envelope first, then fields in call order.
  EXPECT_EQ(lines[0].rfind(R"({"ts":")", 0), 0u) << lines[0];
  EXPECT_LT(lines[0].find("\"level\""), lines[0].find("\"msg\""));
  EXPECT_LT(lines[0].find("\"topic\""), lines[0].find("\"partition\""));
  EXPECT_EQ(nlohmann::json::parse(lines[1])["level"], "debug");
}

TEST_F(log_test, json_survives_invalid_utf8_and_reserved_keys) {
  use(log_level::info, log_format::json);
  log::warn("bad \xff bytes", {{"msg", "field named msg"}, {"level", 1}, {"raw", "\xc3("}});
  const auto lines = lines_of(out_.str());
  ASSERT_EQ(lines.size(), 1u);
  const auto j = nlohmann::json::parse(lines[0]);
  EXPECT_EQ(j["level"], "warn");
  EXPECT_EQ(j["msg"].get<std::string>().substr(0, 4), "bad ");
  EXPECT_EQ(j["field.msg"], "field named msg");
  EXPECT_EQ(j["field.level"], 1);
  EXPECT_TRUE(j["raw"].is_string());
}

TEST_F(log_test, spdlog_default_logger_uses_the_same_format) {
  use(log_level::info, log_format::json);
  spdlog::info("from a library {}", 42);
  spdlog::debug("dropped");
  const auto lines = lines_of(out_.str());
  ASSERT_EQ(lines.size(), 1u);
  const auto j = nlohmann::json::parse(lines[0]);
  EXPECT_EQ(j["level"], "info");
  EXPECT_EQ(j["msg"], "from a library 42");
}

TEST_F(log_test, concurrent_writers_never_interleave) {
  use(log_level::info, log_format::json);
  constexpr int threads = 4;
  constexpr int per_thread = 500;
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([t] {
      for (int i = 0; i < per_thread; ++i) {
        log::info("tick", {{"thread", t}, {"i", i}, {"pad", std::string(100, 'x')}});
      }
    });
  }
  for (auto& w : workers)
    w.join();
  const auto lines = lines_of(out_.str());
  ASSERT_EQ(lines.size(), static_cast<std::size_t>(threads * per_thread));
  std::vector<int> seen(threads, 0);
  for (const auto& l : lines) {
    const auto j = nlohmann::json::parse(l);
    const int t = j["thread"];
    EXPECT_EQ(j["i"], seen[t]);  // each thread's lines stay in order
    ++seen[t];
  }
}

TEST_F(log_test, reconfiguring_while_others_log_is_safe) {
  use(log_level::info, log_format::json);
  std::atomic<bool> stop{false};
  std::thread writer([&stop] {
    while (!stop.load())
      log::info("tick", {{"n", 1}});
  });
  for (int i = 0; i < 50; ++i) {
    use(log_level::info, i % 2 == 0 ? log_format::text : log_format::json);
  }
  stop.store(true);
  writer.join();
  for (const auto& l : lines_of(out_.str())) {
    const bool json = !l.empty() && l.front() == '{';
    if (json) {
      EXPECT_EQ(nlohmann::json::parse(l)["msg"], "tick");
    } else {
      EXPECT_NE(l.find(" INFO  tick n=1"), std::string::npos) << l;
    }
  }
}

TEST(log_field, string_literals_do_not_become_bools) {
  const log::field f{"k", "v"};
  EXPECT_TRUE(std::holds_alternative<std::string_view>(f.value));
  const log::field b{"k", false};
  EXPECT_TRUE(std::holds_alternative<bool>(b.value));
  const log::field u{"k", 5u};
  EXPECT_TRUE(std::holds_alternative<std::uint64_t>(u.value));
  const log::field i{"k", short{-5}};
  EXPECT_EQ(std::get<std::int64_t>(i.value), -5);
  const log::field d{"k", 1.5f};
  EXPECT_EQ(std::get<double>(d.value), 1.5);
}

}  // namespace
