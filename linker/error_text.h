// How linker/ words a Kafka error code in logs and API answers.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "kafka/error_code.h"

namespace klink::linker {

// "NAME (broker's message)", or just "NAME".
inline std::string error_text(int16_t code, const std::optional<std::string>& message) {
  std::string text(kafka::error_name(kafka::to_error_code(code)));
  if (message && !message->empty()) text += " (" + *message + ")";
  return text;
}

}  // namespace klink::linker
