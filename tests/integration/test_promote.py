"""Promote, failover and divergence against real Kafka over real HTTP: a promotion copies
exactly up to the source's end at the call, syncs consumer offsets, and is final (no write
into the topic afterwards, across restarts); a failover works with the source down and
reports what it abandoned; a write into a mirror topic from elsewhere stops that mirror as
DIVERGED, and that survives a restart too."""

from __future__ import annotations

import json
import time

import pytest

from admin_client import assert_error, get_json, http, mirror_url, sample, scrape, wait_caught_up
from conftest import start_cluster
from kafka_checks import (commit, committed_offsets, compare_partitions, consume_all, end_offsets, unique_topic,
                          wait_until)

PARTITIONS = 3
OWN_SOURCE_PORT = 24510  # test_failover_with_the_source_down's own source (it is stopped)
# How long a test watches for writes that must not happen.
QUIET_SECONDS = 3.0


# ----------------------------------------------------------------------------
# Helpers


def produce(bootstrap: str, topic: str, n: int, tag: str, partitions: int = PARTITIONS,
            value_size: int = 0) -> None:
    from confluent_kafka import Producer

    # Not idempotent: right after a broker restart its producer-id request can stall for
    # long; order does not matter here (the tests compare whatever the source holds).
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5})
    pad = "x" * value_size
    for i in range(n):
        p.produce(topic, key=f"{tag}-{i}".encode(), value=f"{tag}-value-{i}{pad}".encode(),
                  partition=i % partitions)
        if i % 1000 == 0:
            p.poll(0)
    assert p.flush(60) == 0



def call(proc, topic: str, action: str, timeout_ms: int = 30000) -> tuple[int, dict]:
    status, body, _ = http(f"{mirror_url(proc, topic)}:{action}", "POST", json.dumps({"timeout_ms": timeout_ms}),
                           timeout=timeout_ms / 1000 + 30)
    return status, json.loads(body)


def batch(proc, action: str, body: dict | str) -> tuple[int, dict]:
    text = body if isinstance(body, str) else json.dumps(body)
    status, answer, _ = http(f"{proc.admin_url}/v1/links/test/mirrors:{action}", "POST", text, timeout=120)
    return status, json.loads(answer)


def mirror(proc, topic: str) -> dict:
    return get_json(mirror_url(proc, topic))


def wait_state(proc, topic: str, state: str, timeout: float = 30.0) -> dict:
    def reached():
        status, body, _ = http(mirror_url(proc, topic))
        doc = json.loads(body) if status == 200 else None
        return doc if doc and doc["state"] == state else None

    return wait_until(reached, timeout, f"mirror {topic} in state {state}")



def assert_no_klink_writes(dest_bootstrap: str, topic: str, expected_ends: dict[int, int]) -> None:
    """Watches the mirror topic for QUIET_SECONDS: its ends must stay exactly as expected."""
    deadline = time.monotonic() + QUIET_SECONDS
    while time.monotonic() < deadline:
        assert end_offsets(dest_bootstrap, topic) == expected_ends, \
            f"something wrote into {topic} after it stopped being a mirror"
        time.sleep(0.5)


def link(source, dest, topics: list[str], group: str | None = None) -> list[dict]:
    """The [[links]] list: one link "test" mirroring `topics`, syncing `group` if given."""
    entry = {
        "name": "test",
        "source": {"bootstrap_servers": source.bootstrap_servers},
        "destination": {"bootstrap_servers": dest.bootstrap_servers},
        "topics": {"include": [t.replace(".", "\\.") for t in topics]},
        "mirror": {"start": "earliest"},
    }
    if group:
        entry["consumer_offsets"] = {"sync": True, "include": [group], "interval_ms": 500}
    return [entry]


# ----------------------------------------------------------------------------
# Tests


def test_promote_mirrors_up_to_the_cut_and_is_final(klink_process, source_cluster, dest_cluster, topic_name):
    group = f"{topic_name}-app"
    src, dst = source_cluster.bootstrap, dest_cluster.bootstrap
    source_cluster.create_topic(topic_name, partitions=PARTITIONS)
    produce(src, topic_name, 600, "a")
    commit(src, group, topic_name, {0: 50, 1: 200, 2: 0})
    proc = klink_process(links=link(source_cluster, dest_cluster, [topic_name], group))
    wait_caught_up(proc, topic_name)

    # Translated group offsets (1:1 here: plain records mirrored from offset 0).
    def group_synced():
        status, body, _ = http(f"{proc.admin_url}/v1/links/test/groups/{group}/offsets")
        return json.loads(body) if status == 200 else None

    doc = wait_until(group_synced, 30, "translated group offsets")
    assert doc["group"] == group and [t["topic"] for t in doc["topics"]] == [topic_name]
    assert {p["partition"]: (p["source_offset"], p["destination_offset"]) for p in doc["topics"][0]["partitions"]} \
        == {0: (50, 50), 1: (200, 200), 2: (0, 0)}
    assert_error(http(f"{proc.admin_url}/v1/links/test/groups/{group}-nobody/offsets"), 404, "UNKNOWN_GROUP")
    assert_error(http(f"{proc.admin_url}/v1/links/nolink/groups/{group}/offsets"), 404, "UNKNOWN_LINK")

    # Paused, the source runs ahead; the promotion must still copy everything up to the
    # source's end at the call.
    assert call(proc, topic_name, "pause")[0] == 200
    produce(src, topic_name, 300, "b")
    source_ends = end_offsets(src, topic_name)
    commit(src, group, topic_name, {1: source_ends[1]})  # the app read partition 1 to its end
    status, doc = call(proc, topic_name, "promote")
    assert status == 200, doc
    assert doc["state"] == "PROMOTED" and doc["lag_records"] == 0
    result = doc["result"]
    assert result["action"] == "promote" and result["abandoned_records"] == 0
    dest_ends = end_offsets(dst, topic_name)
    assert {p["partition"]: (p["source_end_offset"], p["mirrored_source_offset"], p["destination_end_offset"])
            for p in result["partitions"]} == {p: (source_ends[p], source_ends[p], dest_ends[p])
                                              for p in range(PARTITIONS)}
    assert result["consumer_offsets"]["groups_synced"] == 1, result
    compare_partitions(consume_all(src, topic_name), consume_all(dst, topic_name))
    # The final sync moved partition 1's group offset to the mirror's end.
    assert committed_offsets(dst, topic_name, group, PARTITIONS) == {0: 50, 1: dest_ends[1], 2: 0}

    # Idempotent: promoting again answers the same; failing over a promoted mirror too.
    status, again = call(proc, topic_name, "promote")
    assert status == 200 and again["result"] == result
    status, again = call(proc, topic_name, "failover")
    assert status == 200 and again["state"] == "PROMOTED" and again["result"] == result
    assert_error(http(f"{mirror_url(proc, topic_name)}:resume", "POST"), 409, "CONFLICT")
    m = scrape(proc.admin_url)
    assert sample(m, "klink_mirror_state", link="test", topic=topic_name, state="PROMOTED") == 1
    assert sample(m, "klink_mirror_state", link="test", topic=topic_name, state="ACTIVE") == 0
    assert sample(m, "klink_mirror_lag_records", link="test", topic=topic_name) == 0

    # Final: producers now own the topic; nothing klink does writes to it again, not
    # even after a restart while the source keeps growing.
    produce(src, topic_name, 90, "c")
    produce(dst, topic_name, 30, "app")
    expected = {p: dest_ends[p] + 10 for p in range(PARTITIONS)}
    assert end_offsets(dst, topic_name) == expected
    assert_no_klink_writes(dst, topic_name, expected)
    proc.stop()
    proc.start()
    restarted = wait_state(proc, topic_name, "PROMOTED")
    assert restarted["result"] == result
    wait_until(lambda: "mirror stopped for good by an earlier run" in proc.stderr(), 30,
               "the restarted klink saw the promotion")
    produce(src, topic_name, 30, "d")
    assert_no_klink_writes(dst, topic_name, expected)


def test_promote_timeout_keeps_mirroring_and_batch_calls(klink_process, source_cluster, dest_cluster):
    slow, other = unique_topic("promote-slow"), unique_topic("promote-other")
    src, dst = source_cluster.bootstrap, dest_cluster.bootstrap
    source_cluster.create_topic(slow, partitions=PARTITIONS)
    source_cluster.create_topic(other, partitions=1)
    produce(src, other, 100, "o", partitions=1)
    proc = klink_process(links=link(source_cluster, dest_cluster, [slow, other]))
    wait_caught_up(proc, other)

    # Bad requests first.
    assert_error(http(f"{mirror_url(proc, slow)}:promote", "POST", "{not json"), 400, "BAD_REQUEST")
    assert_error(http(f"{mirror_url(proc, slow)}:promote", "POST", '{"timeout_ms": "soon"}'), 400, "BAD_REQUEST")
    assert_error(http(f"{mirror_url(proc, slow)}:promote", "POST", '{"timeout_ms": 0}'), 400, "BAD_REQUEST")
    assert_error(http(f"{mirror_url(proc, slow)}:promote", "POST", '{"wait": 1}'), 400, "BAD_REQUEST")
    assert_error(http(f"{proc.admin_url}/v1/links/test/mirrors:promote", "POST", '{"topics": []}'), 400)
    assert_error(http(f"{proc.admin_url}/v1/links/test/mirrors:promote", "POST", '{"all": true, "topics": ["a"]}'),
                 400)
    assert_error(http(f"{mirror_url(proc, 'no-such-topic')}:promote", "POST"), 404, "UNKNOWN_TOPIC")
    assert_error(http(f"{mirror_url(proc, slow)}:explode", "POST"), 404, "UNKNOWN_ACTION")
    assert_error(http(f"{mirror_url(proc, slow)}:promote"), 405)

    # A backlog the promotion cannot copy in 1 ms: 409 with the remaining lag, and the
    # mirror goes back to how it was (paused) and keeps working.
    status, doc = batch(proc, "pause", {"topics": [slow]})
    assert status == 200 and doc["results"][0]["state"] == "PAUSED", doc
    produce(src, slow, 60000, "s", value_size=200)
    status, doc = call(proc, slow, "promote", timeout_ms=1)
    assert status == 409 and doc["error_code"] == "PROMOTE_TIMED_OUT", doc
    assert doc["lag_records"] > 0 and "records remain" in doc["message"], doc
    assert mirror(proc, slow)["state"] == "PAUSED"
    assert call(proc, slow, "resume")[0] == 200
    wait_caught_up(proc, slow, timeout=120)

    # Batch promotion of two mirrors and a name the link does not mirror.
    produce(src, slow, 300, "t")
    status, doc = batch(proc, "promote", {"topics": [slow, other, "no-such-topic"], "timeout_ms": 60000})
    assert status == 200, doc
    by_topic = {r["topic"]: r for r in doc["results"]}
    assert by_topic[slow]["status"] == 200 and by_topic[slow]["state"] == "PROMOTED", by_topic
    assert by_topic[other]["status"] == 200 and by_topic[other]["state"] == "PROMOTED", by_topic
    assert by_topic[slow]["abandoned_records"] == 0
    assert by_topic["no-such-topic"]["status"] == 404 and by_topic["no-such-topic"]["error_code"] == "UNKNOWN_TOPIC"
    for topic in (slow, other):
        compare_partitions(consume_all(src, topic), consume_all(dst, topic))
    status, doc = batch(proc, "promote", {"all": True})
    assert status == 200 and {r["topic"]: r["status"] for r in doc["results"]} == {slow: 200, other: 200}, doc
    links = get_json(f"{proc.admin_url}/v1/links")["links"]
    assert links[0]["mirror_count"] == 2 and links[0]["lag_records"] == 0


@pytest.fixture(scope="module")
def own_source():
    """A source this module may stop."""
    cluster = start_cluster("pytest-promote-source", OWN_SOURCE_PORT)
    yield cluster
    cluster.stop()


def test_divergence_and_failover_with_the_source_down(klink_process, own_source, dest_cluster):
    kept, written = unique_topic("failover-kept"), unique_topic("diverging")
    group = f"{kept}-app"
    src, dst = own_source.bootstrap, dest_cluster.bootstrap
    own_source.create_topic(kept, partitions=2)
    own_source.create_topic(written, partitions=1)
    produce(src, kept, 200, "k", partitions=2)
    produce(src, written, 100, "w", partitions=1)
    commit(src, group, kept, {0: 100, 1: 40})
    proc = klink_process(links=link(own_source, dest_cluster, [kept, written], group))
    wait_caught_up(proc, kept)
    wait_caught_up(proc, written)
    wait_until(lambda: committed_offsets(dst, kept, group, 2) == {0: 100, 1: 40}, 30, "group offsets synced")

    # Something else writes into a mirror topic: the next mirrored batch lands at an
    # unexpected offset and that mirror stops as DIVERGED; the other one runs on.
    produce(dst, written, 1, "intruder", partitions=1)
    produce(src, written, 10, "w2", partitions=1)
    doc = wait_state(proc, written, "DIVERGED")
    assert "something else writes to the mirror topic" in doc["reason"], doc
    m = scrape(proc.admin_url)
    assert sample(m, "klink_mirror_state", link="test", topic=written, state="DIVERGED") == 1
    assert sample(m, "klink_mirror_state", link="test", topic=kept, state="ACTIVE") == 1
    assert_error(http(f"{mirror_url(proc, written)}:resume", "POST"), 409, "CONFLICT")
    status, doc = call(proc, written, "promote")
    assert status == 409 and doc["error_code"] == "CONFLICT" and ":failover" in doc["message"], doc

    # DIVERGED is persisted: a restart does not resume copying into that topic.
    diverged_ends = end_offsets(dst, written)
    proc.stop()
    proc.start()
    wait_state(proc, written, "DIVERGED")
    wait_caught_up(proc, kept)
    produce(src, written, 10, "w3", partitions=1)
    assert_no_klink_writes(dst, written, diverged_ends)

    # Paused while the source receives more records, then the source dies.
    assert call(proc, kept, "pause")[0] == 200

    def lag_known():
        src_ends, dst_ends = end_offsets(src, kept), end_offsets(dst, kept)
        lag = sum(src_ends[p] - dst_ends[p] for p in src_ends)
        return lag if lag > 0 and mirror(proc, kept)["lag_records"] == lag else None

    # A Fetch already waiting on the broker when the pause came may still bring some of the
    # records, or all of them; once it has answered nothing more is fetched, so records
    # produced after that stay behind. Produce again until some do.
    lag = None
    for attempt in range(5):
        produce(src, kept, 50, f"late{attempt}", partitions=2)
        deadline = time.monotonic() + 10
        while lag is None and time.monotonic() < deadline:
            lag = lag_known()
            time.sleep(0.2)
        if lag:
            break
    assert lag, "klink's lag never equalled the source end minus the destination end while paused"
    own_source.stop()
    assert_error(http(f"{proc.admin_url}/v1/links/test/groups/{group}/offsets", timeout=60), 503,
                 "SOURCE_UNAVAILABLE")
    status, doc = call(proc, kept, "promote", timeout_ms=5000)
    assert status == 409 and doc["error_code"] in ("SOURCE_UNAVAILABLE", "PROMOTE_TIMED_OUT"), doc
    assert mirror(proc, kept)["state"] in ("PAUSED", "SOURCE_UNAVAILABLE")

    # Failover does not need the source: it stops at once and says what it abandoned.
    kept_ends = end_offsets(dst, kept)
    status, doc = call(proc, kept, "failover")
    assert status == 200 and doc["state"] == "FAILED_OVER", doc
    assert doc["result"]["action"] == "failover" and doc["result"]["abandoned_records"] == lag, doc
    assert {p["partition"]: p["destination_end_offset"] for p in doc["result"]["partitions"]} == kept_ends
    # Consumers resume from their last commit klink knew of.
    assert committed_offsets(dst, kept, group, 2) == {0: 100, 1: 40}
    status, doc = call(proc, written, "failover")
    assert status == 200 and doc["state"] == "FAILED_OVER", doc
    m = scrape(proc.admin_url)
    # Fetches from the dead source failed; the error counter says so.
    assert sample(m, "klink_kafka_errors_total", link="test", cluster="source", api="Fetch",
                  error="NETWORK_EXCEPTION") > 0
    assert sample(m, "klink_mirror_state", link="test", topic=kept, state="FAILED_OVER") == 1
    assert sample(m, "klink_mirror_state", link="test", topic=written, state="FAILED_OVER") == 1

    # Final across a restart, with the source back and growing.
    proc.stop()
    own_source.start_broker(0)
    seen = proc.stderr().count("mirror stopped for good by an earlier run")
    proc.start()
    wait_until(lambda: proc.stderr().count("mirror stopped for good by an earlier run") >= seen + 2, 60,
               "the restarted klink loaded both final states")
    assert wait_state(proc, kept, "FAILED_OVER")["result"]["abandoned_records"] == lag
    produce(src, kept, 20, "after", partitions=2)
    assert_no_klink_writes(dst, kept, kept_ends)
    assert_no_klink_writes(dst, written, diverged_ends)
