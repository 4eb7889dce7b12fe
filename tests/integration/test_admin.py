"""The admin endpoint over real HTTP against a running klink and real Kafka: every
endpoint and error status, bearer tokens, readiness, the Prometheus metrics, and the lag
metric checked against an independent computation (confluent_kafka watermarks on both
clusters) while a mirror is paused and records keep arriving."""

from __future__ import annotations

import json
import socket
import time

from admin_client import assert_error, get_json, http, mirror_url, sample, scrape, wait_caught_up
from kafka_checks import watermarks, wait_until

PARTITIONS = 3
N = 300


# ----------------------------------------------------------------------------
# Helpers


def produce(bootstrap: str, topic: str, n: int, tag: str) -> None:
    from confluent_kafka import Producer

    p = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "linger.ms": 5})
    for i in range(n):
        p.produce(topic, key=f"{tag}-{i}".encode(), value=f"{tag}-value-{i}".encode(), partition=i % PARTITIONS)
        p.poll(0)
    assert p.flush(30) == 0


def independent_lag(source, dest, topic: str) -> dict[int, int]:
    """Source end offset minus what the destination holds, per partition, read by librdkafka.
    Offsets match on both sides here (plain records mirrored from offset 0)."""
    src = watermarks(source.bootstrap, topic)
    dst = watermarks(dest.bootstrap, topic)
    return {p: src[p][1] - dst[p][1] for p in src}




# ----------------------------------------------------------------------------
# Tests


def test_endpoints_metrics_and_lag_while_paused(klink_process, source_cluster, dest_cluster, topic_name):
    source_cluster.create_topic(topic_name, partitions=PARTITIONS)
    produce(source_cluster.bootstrap, topic_name, N, "a")
    proc = klink_process(topics=[topic_name])
    base = proc.admin_url

    wait_until(lambda: http(f"{base}/healthz")[0] == 200, 10, "healthz 200 (klink listening)")
    wait_until(lambda: http(f"{base}/readyz")[0] == 200, 30, "readyz 200")
    doc = wait_caught_up(proc, topic_name)

    # The mirror as the endpoint reports it.
    assert doc["source_topic"] == topic_name and doc["mirror_topic"] == topic_name
    assert doc["state"] == "ACTIVE"
    assert [p["partition"] for p in doc["partitions"]] == list(range(PARTITIONS))
    src = watermarks(source_cluster.bootstrap, topic_name)
    dst = watermarks(dest_cluster.bootstrap, topic_name)
    for p in doc["partitions"]:
        assert set(p) >= {"partition", "source_end_offset", "mirrored_source_offset", "destination_end_offset",
                          "lag_records", "lag_seconds", "last_error"}, p
        assert p["source_end_offset"] == src[p["partition"]][1]
        assert p["mirrored_source_offset"] == src[p["partition"]][1]
        assert p["destination_end_offset"] == dst[p["partition"]][1]
        assert p["lag_records"] == 0 and p["lag_seconds"] == 0 and p["last_error"] is None

    links = get_json(f"{base}/v1/links")["links"]
    assert len(links) == 1
    link = links[0]
    assert link["name"] == "test" and link["state"] == "ACTIVE"
    assert link["mirror_count"] == 1 and link["lag_records"] == 0
    assert link["source_cluster_id"] and link["destination_cluster_id"]
    assert link["source_cluster_id"] != link["destination_cluster_id"]
    mirrors = get_json(f"{base}/v1/links/test/mirrors")
    assert [m["source_topic"] for m in mirrors["mirrors"]] == [topic_name]

    # Metrics after N records.
    m = scrape(base)
    assert sample(m, "klink_mirror_records_total", link="test", topic=topic_name) == N
    assert sample(m, "klink_mirror_bytes_total", link="test", topic=topic_name) > 0
    assert sample(m, "klink_mirror_batches_rebuilt_total", link="test", topic=topic_name) == 0
    assert sample(m, "klink_mirror_lag_records", link="test", topic=topic_name) == 0
    for p in range(PARTITIONS):
        assert sample(m, "klink_mirror_partition_lag_records", link="test", topic=topic_name, partition=p) == 0
        assert sample(m, "klink_mirror_partition_lag_seconds", link="test", topic=topic_name, partition=p) == 0
    assert sample(m, "klink_mirror_state", link="test", topic=topic_name, state="ACTIVE") == 1
    assert sample(m, "klink_mirror_state", link="test", topic=topic_name, state="PAUSED") == 0
    assert sample(m, "klink_link_state", link="test", state="ACTIVE") == 1
    # Request latencies: every record went through at least one answered
    # Fetch and Produce; +Inf holds every observation.
    for name, cluster in (("klink_fetch_latency_seconds", "source"),
                          ("klink_produce_latency_seconds", "destination")):
        count = sample(m, f"{name}_count", link="test", cluster=cluster)
        assert count > 0, name
        assert sample(m, f"{name}_bucket", link="test", cluster=cluster, le="+Inf") == count
        assert sample(m, f"{name}_bucket", link="test", cluster=cluster, le="10") <= count
        assert sample(m, f"{name}_sum", link="test", cluster=cluster) > 0
    # Consumer-offset sync is off here: the series exists, at 0.
    assert sample(m, "klink_consumer_offsets_committed_total", link="test") == 0

    # Pause (twice: idempotent), then produce: the lag metric must equal the
    # independent computation and nothing more is mirrored.
    for _ in range(2):
        status, body, _ = http(f"{mirror_url(proc, topic_name)}:pause", "POST")
        assert status == 200, body
        assert json.loads(body)["state"] == "PAUSED"
    # Pause is exact: nothing produced after its answer is mirrored.
    M = 150
    produce(source_cluster.bootstrap, topic_name, M, "b")

    def lag_matches():
        expected = independent_lag(source_cluster, dest_cluster, topic_name)
        if sum(expected.values()) == 0:
            return None
        m = scrape(base)
        got = {p: sample(m, "klink_mirror_partition_lag_records", link="test", topic=topic_name, partition=p)
               for p in range(PARTITIONS)}
        return (m, expected) if got == expected else None

    wait_until(lambda: sum(watermarks(source_cluster.bootstrap, topic_name)[p][1]
                           for p in range(PARTITIONS)) == N + M, 10, "source holds N + M records")
    m, expected = wait_until(lag_matches, 30, "lag metric equal to source end minus destination end while paused")
    lag = sum(expected.values())
    assert lag == M
    assert sample(m, "klink_mirror_lag_records", link="test", topic=topic_name) == lag
    assert sample(m, "klink_mirror_records_total", link="test", topic=topic_name) == N + M - lag
    assert sample(m, "klink_mirror_state", link="test", topic=topic_name, state="PAUSED") == 1
    assert sample(m, "klink_mirror_state", link="test", topic=topic_name, state="ACTIVE") == 0
    assert sample(m, "klink_link_state", link="test", state="PAUSED") == 1
    doc = get_json(mirror_url(proc, topic_name))
    assert doc["state"] == "PAUSED" and doc["lag_records"] == lag
    assert {p["partition"]: p["lag_records"] for p in doc["partitions"]} == expected
    # Still paused a moment later: nothing more was fetched, and the unmirrored
    # records are older.
    ages = {p: sample(m, "klink_mirror_partition_lag_seconds", link="test", topic=topic_name, partition=p)
            for p in range(PARTITIONS)}

    def aged():
        now = scrape(base)
        return now if all(sample(now, "klink_mirror_partition_lag_seconds", link="test", topic=topic_name,
                                 partition=p) >= ages[p] + 1.0 for p in range(PARTITIONS) if expected[p] > 0) \
            else None

    m = wait_until(aged, 15, "the unmirrored records' age growing by a second while paused")
    assert independent_lag(source_cluster, dest_cluster, topic_name) == expected
    assert get_json(f"{base}/v1/links")["links"][0]["lag_records"] == lag

    # Resume (twice): the lag drains to 0 and every record is counted once.
    for _ in range(2):
        status, body, _ = http(f"{mirror_url(proc, topic_name)}:resume", "POST")
        assert status == 200, body
        assert json.loads(body)["state"] == "ACTIVE"
    wait_until(lambda: sum(independent_lag(source_cluster, dest_cluster, topic_name).values()) == 0, 30,
               "destination caught up after resume")
    wait_caught_up(proc, topic_name)
    m = scrape(base)
    assert sample(m, "klink_mirror_records_total", link="test", topic=topic_name) == N + M
    assert sample(m, "klink_mirror_lag_records", link="test", topic=topic_name) == 0
    assert sample(m, "klink_mirror_state", link="test", topic=topic_name, state="ACTIVE") == 1

    # Batch forms answer per topic.
    status, body, _ = http(f"{base}/v1/links/test/mirrors:pause", "POST", json.dumps({"all": True}))
    assert status == 200, body
    assert json.loads(body)["results"] == [
        {"topic": topic_name, "status": 200, "state": "PAUSED", "lag_records": 0}]
    status, body, _ = http(f"{base}/v1/links/test/mirrors:resume", "POST",
                           json.dumps({"topics": [topic_name, "no-such-topic"]}))
    assert status == 200, body
    results = json.loads(body)["results"]
    assert results[0] == {"topic": topic_name, "status": 200, "state": "ACTIVE", "lag_records": 0}
    assert results[1]["topic"] == "no-such-topic" and results[1]["status"] == 404
    assert results[1]["error_code"] == "UNKNOWN_TOPIC"

    # Error statuses.
    assert_error(http(f"{base}/v1/links/nope/mirrors"), 404, "UNKNOWN_LINK")
    assert_error(http(f"{base}/v1/links/nope/mirrors/{topic_name}"), 404, "UNKNOWN_LINK")
    assert_error(http(f"{base}/v1/links/test/mirrors/no-such-topic"), 404, "UNKNOWN_TOPIC")
    assert_error(http(f"{base}/v1/links/test/mirrors/no-such-topic:pause", "POST"), 404, "UNKNOWN_TOPIC")
    assert_error(http(f"{base}/v1/links/test/mirrors/{topic_name}:explode", "POST"), 404, "UNKNOWN_ACTION")
    assert_error(http(f"{base}/nothing/here"), 404, "NOT_FOUND")
    status, body, headers = http(f"{base}/v1/links", "DELETE")
    assert_error((status, body, headers), 405, "METHOD_NOT_ALLOWED")
    assert headers.get("Allow") == "GET"
    assert_error(http(f"{mirror_url(proc, topic_name)}:pause", "GET"), 405, "METHOD_NOT_ALLOWED")
    assert_error(http(f"{base}/metrics", "POST", "{}"), 405)
    assert_error(http(f"{base}/v1/links/test/mirrors:pause", "POST", "{not json"), 400, "BAD_REQUEST")
    assert_error(http(f"{base}/v1/links/test/mirrors:pause", "POST", '{"topics": "x"}'), 400, "BAD_REQUEST")
    assert_error(http(f"{base}/v1/links/test/mirrors:pause", "POST", "{}"), 400, "BAD_REQUEST")
    assert_error(http(f"{mirror_url(proc, topic_name)}:pause", "POST", "[1,"), 400, "BAD_REQUEST")
    # The failed calls changed nothing.
    assert get_json(mirror_url(proc, topic_name))["state"] == "ACTIVE"


def raw_request(host: str, port: int, data: bytes) -> bytes:
    with socket.create_connection((host, port), timeout=10) as s:
        s.sendall(data)
        chunks = []
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks)


def test_readyz_before_clusters_and_malformed_http(klink_process, tmp_path):
    closed, closed_too = socket.socket(), socket.socket()
    closed.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
    closed_too.bind(("127.0.0.1", 0))  # two clusters: one would be a link into itself
    port, other_port = closed.getsockname()[1], closed_too.getsockname()[1]
    try:
        proc = klink_process(links=[{
            "name": "nowhere",
            "source": {"bootstrap_servers": [f"127.0.0.1:{port}"]},
            "destination": {"bootstrap_servers": [f"127.0.0.1:{other_port}"]},
            "topics": {"include": ["x"]},
        }])
        base = proc.admin_url
        wait_until(lambda: http(f"{base}/healthz")[0] == 200, 10, "healthz")
        doc = assert_error(http(f"{base}/readyz"), 503, "NOT_READY")
        assert "link nowhere: source cluster" in doc["message"]
        link = get_json(f"{base}/v1/links")["links"][0]
        assert link["state"] == "UNAVAILABLE" and link["source_cluster_id"] is None
        m = scrape(base)
        assert sample(m, "klink_link_state", link="nowhere", state="UNAVAILABLE") == 1

        host, admin_port = proc.config["admin"]["listen"].rsplit(":", 1)
        answer = raw_request(host, int(admin_port), b"this is not http\r\n\r\n")
        assert answer.startswith(b"HTTP/1.1 400"), answer[:200]
        assert b'"error_code":"BAD_REQUEST"' in answer
        # Refused on the header alone, before any of the body is read.
        answer = raw_request(host, int(admin_port),
                             b"POST /v1/links/nowhere/mirrors:pause HTTP/1.1\r\nHost: x\r\n"
                             b"Content-Length: 2097152\r\n\r\n")
        assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
        many = b"".join(b"X-H%d: v\r\n" % i for i in range(200))
        answer = raw_request(host, int(admin_port), b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + many + b"\r\n")
        assert answer.startswith(b"HTTP/1.1 431"), answer[:200]
        # Still serving after the garbage.
        assert http(f"{base}/healthz")[0] == 200
        assert proc.running()
    finally:
        closed.close()
        closed_too.close()


def test_bearer_tokens_guard_v1_only(klink_process, tmp_path, topic_name, source_cluster):
    secret = "tok-" + topic_name[-8:] + "-s3cret"
    tokens = tmp_path / "tokens"
    tokens.write_text(f"# operators\n{secret}\nsecond-token\n")
    source_cluster.create_topic(topic_name, partitions=1)
    proc = klink_process(topics=[topic_name], extra={"admin": {"tokens_file": str(tokens)}})
    base = proc.admin_url
    wait_until(lambda: http(f"{base}/healthz")[0] == 200, 10, "healthz")

    status, body, headers = http(f"{base}/v1/links")
    assert_error((status, body, headers), 401, "UNAUTHORIZED")
    assert headers.get("WWW-Authenticate", "").startswith("Bearer")
    assert_error(http(f"{base}/v1/links", token="wrong"), 401, "UNAUTHORIZED")
    assert_error(http(f"{base}/v1/links", token=secret[:-1]), 401, "UNAUTHORIZED")
    assert_error(http(f"{base}/v1/links/test/mirrors/{topic_name}:pause", "POST"), 401, "UNAUTHORIZED")
    assert_error(http(f"{base}/v1/no-such-path"), 401, "UNAUTHORIZED")
    assert get_json(f"{base}/v1/links", token=secret)["links"][0]["name"] == "test"
    assert get_json(f"{base}/v1/links", token="second-token")["links"][0]["name"] == "test"
    assert http(f"{base}/healthz")[0] == 200
    assert http(f"{base}/metrics")[0] == 200
    assert http(f"{base}/readyz")[0] in (200, 503)
    wait_until(lambda: http(f"{base}/readyz")[0] == 200, 30, "readyz 200")
    assert secret not in proc.stderr() and "second-token" not in proc.stderr()
