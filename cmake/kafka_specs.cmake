# Kafka's JSON message specs, pinned by kafka-clients version and jar SHA256,
# and the build-time generation of klink's message codecs from them
# (tools/kafka_codegen). The specs are never copied into the repository.
#
# Sets for the rest of the build:
#   KLINK_KAFKA_GENERATED_DIR           include dir holding kafka/messages/*.h
#   KLINK_KAFKA_GENERATED_SOURCES       generated .cpp files for klink_kafka
#   KLINK_KAFKA_GENERATED_HEADERS       generated headers
#   KLINK_KAFKA_GENERATED_TEST_SOURCES  generated GoogleTest sources
#   target klink_kafka_codegen          depend on it before using the above

set(KLINK_KAFKA_CLIENTS_VERSION 4.1.1)
set(KLINK_KAFKA_CLIENTS_SHA256 00247122a572c3d3ae4eb60a50192a5811bc0181f51923d13018600f892e821d)

set(_klink_jar "${KLINK_CACHE_DIR}/kafka-clients-${KLINK_KAFKA_CLIENTS_VERSION}.jar")
if(NOT EXISTS "${_klink_jar}")
  find_program(KLINK_MVN mvn)
  if(NOT KLINK_MVN)
    message(FATAL_ERROR
      "klink: ${_klink_jar} is missing and mvn is not installed to fetch it.\n"
      "Install Maven (apt-get install maven) or place kafka-clients-${KLINK_KAFKA_CLIENTS_VERSION}.jar there.")
  endif()
  file(MAKE_DIRECTORY "${KLINK_CACHE_DIR}")
  message(STATUS "klink: fetching kafka-clients ${KLINK_KAFKA_CLIENTS_VERSION} with mvn")
  # Run from an empty directory: mvn must not pick up a project pom.
  set(_klink_mvn_dir "${CMAKE_BINARY_DIR}/kafka-specs/mvn")
  file(MAKE_DIRECTORY "${_klink_mvn_dir}")
  execute_process(
    COMMAND "${KLINK_MVN}" -q dependency:copy
            -Dartifact=org.apache.kafka:kafka-clients:${KLINK_KAFKA_CLIENTS_VERSION}
            -DoutputDirectory=${KLINK_CACHE_DIR}
    WORKING_DIRECTORY "${_klink_mvn_dir}"
    RESULT_VARIABLE _klink_mvn_rc
    OUTPUT_VARIABLE _klink_mvn_out
    ERROR_VARIABLE _klink_mvn_out)
  if(NOT _klink_mvn_rc EQUAL 0 OR NOT EXISTS "${_klink_jar}")
    message(FATAL_ERROR
      "klink: mvn could not fetch org.apache.kafka:kafka-clients:${KLINK_KAFKA_CLIENTS_VERSION} "
      "(exit ${_klink_mvn_rc}):\n${_klink_mvn_out}")
  endif()
endif()

file(SHA256 "${_klink_jar}" _klink_jar_sha)
if(NOT _klink_jar_sha STREQUAL KLINK_KAFKA_CLIENTS_SHA256)
  message(FATAL_ERROR
    "klink: checksum mismatch for ${_klink_jar}\n"
    "  expected SHA256 ${KLINK_KAFKA_CLIENTS_SHA256}\n"
    "  actual   SHA256 ${_klink_jar_sha}\n"
    "The Kafka message specs are pinned to this exact jar. Delete the file to have it "
    "fetched again; if the pin itself must change, update cmake/kafka_specs.cmake.")
endif()

# Extract once per pinned checksum.
set(_klink_spec_root "${CMAKE_BINARY_DIR}/kafka-specs/${KLINK_KAFKA_CLIENTS_VERSION}")
set(KLINK_KAFKA_SPEC_DIR "${_klink_spec_root}/common/message")
set(_klink_stamp "${_klink_spec_root}/.extracted-${KLINK_KAFKA_CLIENTS_SHA256}")
if(NOT EXISTS "${_klink_stamp}")
  file(REMOVE_RECURSE "${_klink_spec_root}")
  file(ARCHIVE_EXTRACT INPUT "${_klink_jar}" DESTINATION "${_klink_spec_root}"
       PATTERNS "common/message/*.json")
  file(TOUCH "${_klink_stamp}")
endif()

# The generator needs only the standard library; prefer the system
# interpreter over whatever a version manager put first on PATH.
find_program(KLINK_PYTHON3 NAMES python3 PATHS /usr/bin NO_DEFAULT_PATH)
if(NOT KLINK_PYTHON3)
  find_package(Python3 REQUIRED COMPONENTS Interpreter)
  set(KLINK_PYTHON3 "${Python3_EXECUTABLE}")
endif()
set(_klink_codegen "${CMAKE_CURRENT_LIST_DIR}/../tools/kafka_codegen/kafka_codegen.py")
set(KLINK_KAFKA_GENERATED_DIR "${CMAKE_BINARY_DIR}/generated")
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS "${_klink_codegen}")

execute_process(
  COMMAND "${KLINK_PYTHON3}" "${_klink_codegen}" --list-outputs
          --out-dir "${KLINK_KAFKA_GENERATED_DIR}"
  OUTPUT_VARIABLE _klink_outputs OUTPUT_STRIP_TRAILING_WHITESPACE
  RESULT_VARIABLE _klink_rc)
execute_process(
  COMMAND "${KLINK_PYTHON3}" "${_klink_codegen}" --list-inputs
          --spec-dir "${KLINK_KAFKA_SPEC_DIR}"
  OUTPUT_VARIABLE _klink_inputs OUTPUT_STRIP_TRAILING_WHITESPACE
  RESULT_VARIABLE _klink_rc2)
if(NOT _klink_rc EQUAL 0 OR NOT _klink_rc2 EQUAL 0)
  message(FATAL_ERROR "klink: ${_klink_codegen} failed to list its files")
endif()

set(KLINK_KAFKA_GENERATED_SOURCES "")
set(KLINK_KAFKA_GENERATED_HEADERS "")
set(KLINK_KAFKA_GENERATED_TEST_SOURCES "")
foreach(_f IN LISTS _klink_outputs)
  if(_f MATCHES "/kafka/tests/.*\\.cpp$")
    list(APPEND KLINK_KAFKA_GENERATED_TEST_SOURCES "${_f}")
  elseif(_f MATCHES "\\.cpp$")
    list(APPEND KLINK_KAFKA_GENERATED_SOURCES "${_f}")
  else()
    list(APPEND KLINK_KAFKA_GENERATED_HEADERS "${_f}")
  endif()
endforeach()

add_custom_command(
  OUTPUT ${_klink_outputs}
  COMMAND "${KLINK_PYTHON3}" "${_klink_codegen}"
          --spec-dir "${KLINK_KAFKA_SPEC_DIR}" --out-dir "${KLINK_KAFKA_GENERATED_DIR}"
  DEPENDS "${_klink_codegen}" ${_klink_inputs}
  COMMENT "Generating Kafka message codecs (kafka-clients ${KLINK_KAFKA_CLIENTS_VERSION})"
  VERBATIM)
add_custom_target(klink_kafka_codegen DEPENDS ${_klink_outputs})
