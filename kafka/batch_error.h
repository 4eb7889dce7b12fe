// The error value returned by the RecordBatch, record and compression layer.
#pragma once

#include <string>
#include <string_view>

namespace klink::kafka {

struct batch_error {
  enum class kind {
    truncated,             // fewer bytes than a length field promised
    bad_magic,             // not a v2 RecordBatch (message sets v0/v1 are unsupported)
    bad_length,            // batchLength smaller than the v2 header or negative
    bad_offsets,           // offsets no Kafka log holds: negative, overflowing, going back
    crc_mismatch,          // stored CRC-32C differs from the computed one
    corrupt_records,       // records section does not parse as DefaultRecord v2
    unsupported_codec,     // attributes name a codec klink does not know
    compression_failed,    // the compressor library reported an error
    decompression_failed,  // the compressed block is malformed
    too_large,             // output would exceed the caller's size limit
    invalid_argument,      // the caller asked for something that cannot be encoded
  };
  kind kind;
  std::string message;
};

// The data member `kind` hides the enum's name except before `::`
// (batch_error::kind::truncated works); this alias names the type anywhere.
using batch_error_kind = enum batch_error::kind;

std::string_view to_string(batch_error_kind k);

}  // namespace klink::kafka
