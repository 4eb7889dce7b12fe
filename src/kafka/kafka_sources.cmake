# RecordBatch v2, records, compression and CRC-32C sources of klink_kafka.
# Included from src/kafka/CMakeLists.txt; appends to KLINK_KAFKA_BATCH_SOURCES
# (absolute paths, so the includer's directory does not matter).
list(APPEND KLINK_KAFKA_BATCH_SOURCES
  ${CMAKE_CURRENT_LIST_DIR}/compression.cpp
  ${CMAKE_CURRENT_LIST_DIR}/crc32c.cpp
  ${CMAKE_CURRENT_LIST_DIR}/crc32c_sse42.cpp
  ${CMAKE_CURRENT_LIST_DIR}/record_batch.cpp
  ${CMAKE_CURRENT_LIST_DIR}/records.cpp
)

# Only this file may use SSE4.2 instructions; crc32c.cpp checks the CPU at run
# time before calling into it, so the binary still runs on older x86 CPUs.
if(CMAKE_SYSTEM_PROCESSOR MATCHES "^(x86_64|AMD64|amd64|i.86)$")
  set_source_files_properties(${CMAKE_CURRENT_LIST_DIR}/crc32c_sse42.cpp
    DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR}
    PROPERTIES COMPILE_OPTIONS "-msse4.2")
endif()

# Libraries these sources need; link them to klink_kafka with
#   target_link_libraries(klink_kafka PUBLIC ${KLINK_KAFKA_BATCH_LIBRARIES})
# (PkgConfig::LZ4 / PkgConfig::ZSTD / SNAPPY_LIBRARY / ZLIB::ZLIB are found by
# the top-level CMakeLists.txt.)
set(KLINK_KAFKA_BATCH_LIBRARIES ZLIB::ZLIB PkgConfig::LZ4 PkgConfig::ZSTD ${SNAPPY_LIBRARY})
