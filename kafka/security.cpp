#include "kafka/security.h"

namespace klink::kafka {

std::string_view to_string(sasl_mechanism mechanism) {
  switch (mechanism) {
    case sasl_mechanism::none:
      return "";
    case sasl_mechanism::plain:
      return "PLAIN";
    case sasl_mechanism::scram_sha_256:
      return "SCRAM-SHA-256";
    case sasl_mechanism::scram_sha_512:
      return "SCRAM-SHA-512";
  }
  return "";
}

}  // namespace klink::kafka
