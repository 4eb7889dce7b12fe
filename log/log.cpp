#include "log/log.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <memory>
#include <mutex>
#include <ostream>
#include <string>

#include <fmt/format.h>
#include <spdlog/formatter.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

namespace klink::log {

namespace {

using clock = std::chrono::system_clock;

std::string timestamp(clock::time_point now) {
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  const std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];  // roomy enough that the compiler can prove no truncation
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(ms % 1000));
  return buf;
}

std::string_view text_level(level lvl) {
  switch (lvl) {
    case level::trace:
      return "TRACE";
    case level::debug:
      return "DEBUG";
    case level::info:
      return "INFO ";
    case level::warn:
      return "WARN ";
    case level::error:
      return "ERROR";
  }
  return "INFO ";
}

// Control characters are escaped so that one event is always one line.
void append_escaped(std::string& out, std::string_view s) {
  for (char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
          out += fmt::format("\\u{:04x}", static_cast<unsigned>(static_cast<unsigned char>(c)));
        } else {
          out += c;
        }
    }
  }
}

void append_message(std::string& out, std::string_view msg) {
  for (char c : msg) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      append_escaped(out, std::string_view(&c, 1));
    } else {
      out += c;
    }
  }
}

bool needs_quotes(std::string_view s) {
  if (s.empty()) return true;
  for (char c : s) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == '"' || c == '=' || c == '\\' || c == 0x7f) {
      return true;
    }
  }
  return false;
}

std::string render_text(clock::time_point now, level lvl, std::string_view msg,
                        std::initializer_list<field> fields) {
  std::string out = timestamp(now);
  out += ' ';
  out += text_level(lvl);
  out += ' ';
  append_message(out, msg);
  for (const auto& f : fields) {
    out += ' ';
    out += f.key;
    out += '=';
    std::visit(
        [&out](const auto& v) {
          using T = std::decay_t<decltype(v)>;
          if constexpr (std::is_same_v<T, std::string_view>) {
            if (needs_quotes(v)) {
              out += '"';
              append_escaped(out, v);
              out += '"';
            } else {
              out += v;
            }
          } else if constexpr (std::is_same_v<T, bool>) {
            out += v ? "true" : "false";
          } else {
            out += fmt::format("{}", v);
          }
        },
        f.value);
  }
  return out;
}

std::string render_json(clock::time_point now, level lvl, std::string_view msg,
                        std::initializer_list<field> fields) {
  nlohmann::ordered_json j;
  j["ts"] = timestamp(now);
  j["level"] = std::string(to_string(lvl));
  j["msg"] = std::string(msg);
  for (const auto& f : fields) {
    std::string key(f.key);
    // Never let a field overwrite the envelope.
    if (key == "ts" || key == "level" || key == "msg") key.insert(0, "field.");
    std::visit(
        [&](const auto& v) {
          using T = std::decay_t<decltype(v)>;
          if constexpr (std::is_same_v<T, std::string_view>) {
            j[key] = std::string(v);
          } else {
            j[key] = v;
          }
        },
        f.value);
  }
  // Topic names and messages may carry bytes from the network: replace
  // invalid UTF-8 rather than throw.
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string render(log::format how, clock::time_point now, level lvl, std::string_view msg,
                   std::initializer_list<field> fields) {
  return how == log::format::json ? render_json(now, lvl, msg, fields)
                                  : render_text(now, lvl, msg, fields);
}

spdlog::level::level_enum to_spdlog(level lvl) {
  switch (lvl) {
    case level::trace:
      return spdlog::level::trace;
    case level::debug:
      return spdlog::level::debug;
    case level::info:
      return spdlog::level::info;
    case level::warn:
      return spdlog::level::warn;
    case level::error:
      return spdlog::level::err;
  }
  return spdlog::level::info;
}

level from_spdlog(spdlog::level::level_enum lvl) {
  switch (lvl) {
    case spdlog::level::trace:
      return level::trace;
    case spdlog::level::debug:
      return level::debug;
    case spdlog::level::info:
      return level::info;
    case spdlog::level::warn:
      return level::warn;
    default:
      return level::error;
  }
}

constexpr std::string_view our_logger = "klink";

// The one formatter on the sink. klink::log hands over finished lines; events
// logged straight through spdlog (by code that does not use klink::log) are
// rendered in the same format, so every line parses alike. One sink and one
// formatter because spdlog keeps formatters per sink, not per logger.
class line_formatter final : public spdlog::formatter {
 public:
  explicit line_formatter(log::format how) : format_(how) {}

  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    const std::string_view payload(msg.payload.data(), msg.payload.size());
    const std::string_view logger(msg.logger_name.data(), msg.logger_name.size());
    if (logger == our_logger) {
      dest.append(payload.data(), payload.data() + payload.size());
    } else {
      const std::string line =
          logger.empty()
              ? render(format_, msg.time, from_spdlog(msg.level), payload, {})
              : render(format_, msg.time, from_spdlog(msg.level), payload, {{"logger", logger}});
      dest.append(line.data(), line.data() + line.size());
    }
    dest.push_back('\n');
  }

  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<line_formatter>(format_);
  }

 private:
  log::format format_;
};

struct state {
  std::mutex mu;  // serialises reconfiguration only; writers use the atomics
  options cfg;
  spdlog::sink_ptr sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  std::atomic<level> min_level{level::info};
  std::atomic<log::format> format{log::format::text};
  std::atomic<std::shared_ptr<spdlog::logger>> logger;

  state() { rebuild(); }

  // Caller holds mu (or is the constructor).
  void rebuild() {
    min_level.store(cfg.level);
    format.store(cfg.format);
    sink->set_formatter(std::make_unique<line_formatter>(cfg.format));
    sink->set_level(spdlog::level::trace);

    auto ours = std::make_shared<spdlog::logger>(std::string(our_logger), sink);
    ours->set_level(spdlog::level::trace);  // write() has already filtered
    logger.store(ours);

    auto foreign = std::make_shared<spdlog::logger>("", sink);
    foreign->set_level(to_spdlog(cfg.level));
    spdlog::set_default_logger(foreign);
  }
};

state& global() {
  static state s;
  return s;
}

}  // namespace

void init(const options& cfg) {
  auto& s = global();
  std::lock_guard lock(s.mu);
  s.cfg = cfg;
  s.rebuild();
}

bool enabled(level lvl) noexcept {
  return lvl >= global().min_level.load(std::memory_order_relaxed);
}

void write(level lvl, std::string_view msg, std::initializer_list<field> fields) {
  auto& s = global();
  if (lvl < s.min_level.load(std::memory_order_relaxed)) return;
  const std::string line =
      render(s.format.load(std::memory_order_relaxed), clock::now(), lvl, msg, fields);
  s.logger.load()->log(to_spdlog(lvl), spdlog::string_view_t(line.data(), line.size()));
}

void set_output_for_testing(std::ostream* out) {
  auto& s = global();
  std::lock_guard lock(s.mu);
  if (out == nullptr) {
    s.sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  } else {
    s.sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(*out, /*force_flush=*/true);
  }
  s.rebuild();
}

}  // namespace klink::log
