# klink's container image: the helm/klink chart's default image.
#   docker build -t klink:0.0.0-dev .
#   docker run --rm -v "$PWD/config:/etc/klink:ro" klink:0.0.0-dev   # runs /etc/klink/klink.toml
#
# Build stage: Debian 12 with the build dependencies scripts/setup installs
# (minus the test-only ones: GoogleTest, the Kafka harness, clang-format).
FROM debian:bookworm AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      g++ cmake ninja-build pkg-config python3 maven ca-certificates \
      libboost-dev libboost-system-dev libssl-dev librdkafka-dev prometheus-cpp-dev \
      libtomlplusplus-dev libspdlog-dev libfmt-dev nlohmann-json3-dev libcli11-dev \
      liblz4-dev libzstd-dev libsnappy-dev zlib1g-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# scripts/build's release flavour, without the unit tests; mvn fetches the
# pinned kafka-clients jar the protocol codecs are generated from.
RUN cmake -S . -B /build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKLINK_BUILD_TESTS=OFF \
 && cmake --build /build --target klink -j "$(nproc)" \
 && strip --strip-debug -o /klink /build/klink \
 && /klink --version

# Runtime stage: only the shared libraries klink links against (see `ldd klink`)
# and the CA bundle, for TLS clusters trusted through the system store.
FROM debian:bookworm-slim
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      ca-certificates libssl3 zlib1g liblz4-1 libzstd1 libsnappy1v5 \
      libspdlog1.10 libfmt9 libprometheus-cpp-core1.0 libtomlplusplus3 \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 klink \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin klink
COPY --from=build /klink /usr/local/bin/klink
# Numeric, so Kubernetes can check runAsNonRoot without a passwd lookup; the
# chart runs it with the same ids.
USER 10001:10001
# The admin endpoint (/v1, /metrics, /healthz, /readyz); the config must set
# admin.listen = "0.0.0.0:8083" for it to be reachable from outside the container.
EXPOSE 8083
ENTRYPOINT ["klink", "run", "--config", "/etc/klink/klink.toml"]
