"""Failback against real Kafka over real HTTP, with independent consumers as observers: a
promoted mirror is reversed (the old source becomes a mirror of the new primary from exactly
where the forward mirror stopped), promoted back and reversed again; consumer groups move
each way re-reading nothing and skipping nothing; records the old source holds beyond the
cut are counted exactly, refused by default, kept or copied on request; restarts and kill -9
resume the right direction; a write into a reversed mirror makes it DIVERGED."""

from __future__ import annotations

import json
import signal
import time

import pytest

from admin_client import assert_error, http, mirror_url, sample, scrape, wait_caught_up
from conftest import start_cluster
from kafka_checks import (commit, committed_offsets, compare_partitions, consume_all, end_offsets, partition_count,
                          produce_mixed, unique_topic, wait_until)

PARTITIONS = 3
OWN_SOURCE_PORT = 24530  # test_failback_after_an_unplanned_failover's own source (it is stopped)
CODECS = ["none", "gzip", "lz4", "zstd"]


def link(source, dest, topics: list[str], group: str, *more_groups: str) -> list[dict]:
    return [{
        "name": "test",
        "source": {"bootstrap_servers": source.bootstrap_servers},
        "destination": {"bootstrap_servers": dest.bootstrap_servers},
        "topics": {"include": [t.replace(".", "\\.") for t in topics]},
        "mirror": {"start": "earliest"},
        "consumer_offsets": {"sync": True, "include": [group, *more_groups], "interval_ms": 500},
    }]


def act(proc, topic: str, action: str, body: dict | None = None, timeout_ms: int = 30000) -> tuple[int, dict]:
    doc = {"timeout_ms": timeout_ms, **(body or {})}
    status, answer, _ = http(f"{mirror_url(proc, topic)}:{action}", "POST", json.dumps(doc),
                             timeout=timeout_ms / 1000 + 30)
    return status, json.loads(answer)


def mirror(proc, topic: str) -> dict:
    status, body, _ = http(mirror_url(proc, topic))
    assert status == 200, body
    return json.loads(body)


def wait_mirror(proc, topic: str, state: str, direction: str, timeout: float = 60.0) -> dict:
    def reached():
        doc = mirror(proc, topic)
        return doc if doc["state"] == state and doc["direction"] == direction else None

    return wait_until(reached, timeout, f"mirror {topic} {state} {direction}")


def transactions(bootstrap: str, topic: str, tag: str) -> None:
    """One committed and one aborted transaction on every partition (one producer each)."""
    from confluent_kafka import Producer

    for commit in (True, False):
        txn = Producer({"bootstrap.servers": bootstrap, "transactional.id": f"txn-{topic}-{tag}-{commit}",
                        "linger.ms": 2})
        txn.init_transactions(30)
        txn.begin_transaction()
        for i in range(20):
            txn.produce(topic, key=f"{tag}-txn-{i}".encode(), value=f"{tag}-{commit}-{i}".encode(),
                        partition=i % PARTITIONS)
        if commit:
            txn.commit_transaction(30)
        else:
            txn.abort_transaction(30)


def write(bootstrap: str, topic: str, tag: str, n: int = 60) -> None:
    produce_mixed(bootstrap, topic, PARTITIONS, n, codecs=CODECS)
    transactions(bootstrap, topic, tag)


def batch(proc, action: str, topics: list[str]) -> dict[str, dict]:
    status, answer, _ = http(f"{proc.admin_url}/v1/links/test/mirrors:{action}", "POST",
                             json.dumps({"topics": topics, "timeout_ms": 30000}), timeout=60)
    assert status == 200, answer
    return {r["topic"]: r for r in json.loads(answer)["results"]}


def compacted_topic(cluster, topic: str) -> None:
    """A compacted one-partition topic whose log has compaction holes: many updates per key in
    one segment, then records with new keys until the broker rolls it (segment.ms), so that
    the cleaner compacts it in full. Later writes use new keys too (unique_writes), so that
    neither side's cleaner finds more to remove while the test compares them."""
    from confluent_kafka import Producer

    cluster.create_topic(topic, partitions=1, configs={
        "cleanup.policy": "compact", "segment.ms": "100", "min.cleanable.dirty.ratio": "0.01",
        "min.compaction.lag.ms": "0", "delete.retention.ms": "86400000"})
    keys, updates = 20, 24
    producer = Producer({"bootstrap.servers": cluster.bootstrap, "linger.ms": 5, "compression.codec": "lz4"})
    for k in range(keys):
        for u in range(updates):
            producer.produce(topic, key=f"key-{k}".encode(), value=f"u{u}".encode(), partition=0)
    assert producer.flush(30) == 0
    folder = cluster.partition_dir(topic, 0)
    sentinels = 0

    def rolled():
        nonlocal sentinels
        unique_writes(cluster.bootstrap, topic, f"sentinel{sentinels}", n=1)
        sentinels += 1
        return len(list(folder.glob("*.log"))) >= 2

    wait_until(rolled, 30, f"the broker to roll {topic}'s first segment", interval=0.05)
    # Compacted in full: every key once, and every record with a key of its own.
    wait_until(lambda: len(consume_all(cluster.bootstrap, topic)[0]) == keys + sentinels, 90,
               f"the log cleaner to compact {topic} in full", interval=1)


def unique_writes(bootstrap: str, topic: str, tag: str, n: int = 30) -> None:
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    for i in range(n):
        producer.produce(topic, key=f"{tag}-{i}".encode(), value=f"{tag}-value-{i}".encode(), partition=0)
    assert producer.flush(30) == 0


def wait_equal(a: str, b: str, topic: str, timeout: float = 60.0) -> None:
    """Both clusters' topics hold the same committed records in the same order."""
    def equal():
        left, right = consume_all(a, topic), consume_all(b, topic)
        try:
            compare_partitions(left, right)
            return True
        except AssertionError:
            return None

    wait_until(equal, timeout, f"{topic} equal on both clusters", interval=1.0)
    compare_partitions(consume_all(a, topic), consume_all(b, topic))


def values_from(records: dict, offsets: dict[int, int]) -> dict[int, list]:
    """What a consumer at `offsets` reads next: (key, value, headers) per partition."""
    return {p: [(r.key, r.value, r.headers) for r in rs if r.offset >= offsets[p]] for p, rs in records.items()}


def switch_group(old: str, new: str, topic: str, group: str, read_back: int = 5,
                 position: dict[int, int] | None = None) -> None:
    """The group read all but `read_back` records of each partition on `old` (or up to
    `position`) and committed; once klink synced it to `new`, it must read there exactly what
    it had left on `old`."""
    if position is None:
        position = {p: max(0, e - read_back) for p, e in end_offsets(old, topic).items()}
    commit(old, group, topic, position)
    left = values_from(consume_all(old, topic), position)

    def synced():
        at = committed_offsets(new, topic, group, PARTITIONS)
        return at if all(o >= 0 for o in at.values()) and values_from(consume_all(new, topic), at) == left else None

    wait_until(synced, 60, f"group {group} synced {old} -> {new} re-reading and skipping nothing")


def test_planned_round_trip_twice(klink_process, source_cluster, dest_cluster, topic_name):
    a, b = source_cluster.bootstrap, dest_cluster.bootstrap
    group, slow = f"{topic_name}-app", f"{topic_name}-slow"
    compacted = f"{topic_name}-compacted"
    source_cluster.create_topic(topic_name, partitions=PARTITIONS)
    write(a, topic_name, "a1")
    compacted_topic(source_cluster, compacted)
    proc = klink_process(links=link(source_cluster, dest_cluster, [topic_name, compacted], group, slow))
    wait_caught_up(proc, topic_name)
    wait_caught_up(proc, compacted)

    # Not switched yet: a running mirror cannot be reversed.
    status, doc = act(proc, topic_name, "reverse")
    assert status == 409 and doc["error_code"] == "CONFLICT" and "PROMOTED or FAILED_OVER" in doc["message"], doc
    assert_error(http(f"{mirror_url(proc, topic_name)}:reverse", "POST", '{"divergent": "maybe"}'), 400,
                 "BAD_REQUEST")
    assert_error(http(f"{mirror_url(proc, topic_name)}:reverse", "POST", '{"divergent": "copy"}'), 400,
                 "BAD_REQUEST")
    assert_error(http(f"{mirror_url(proc, topic_name)}:promote", "POST", '{"start": false}'), 400, "BAD_REQUEST")
    switch_group(a, b, topic_name, group, read_back=8)

    for round_trip in range(2):
        # A -> B: promote; the application moves to B and producers write there.
        status, doc = act(proc, topic_name, "promote")
        assert status == 200 and doc["state"] == "PROMOTED" and doc["direction"] == "forward", doc
        assert batch(proc, "promote", [compacted])[compacted]["state"] == "PROMOTED"
        write(b, topic_name, f"b{round_trip}")
        unique_writes(b, compacted, f"b{round_trip}")

        # A slow group on B has not read up to the switch yet.
        cut = {p["partition"]: p["destination_end_offset"] for p in doc["result"]["partitions"]}
        slow_at = {p: max(0, c - 3 - round_trip) for p, c in cut.items()}

        # Reverse: B's new records go to A, nothing else; A equals B.
        started = time.monotonic()
        status, doc = act(proc, topic_name, "reverse")
        took = time.monotonic() - started
        assert status == 200, doc
        assert doc["direction"] == "reverse" and doc["state"] == "ACTIVE", doc
        # Reported, not asserted (timing is the benchmark's business): the issue asks for < 2 s.
        print(f"round trip {round_trip}: reverse answered in {took:.3f} s")
        wait_equal(a, b, topic_name)
        assert batch(proc, "reverse", [compacted])[compacted]["status"] == 200
        wait_equal(a, b, compacted)
        # Its position below the cut goes back through the forward mirror's map.
        switch_group(b, a, topic_name, slow, position=slow_at)
        # Idempotent.
        status, again = act(proc, topic_name, "reverse")
        assert status == 200 and again["direction"] == "reverse", again
        switch_group(b, a, topic_name, group)

        # Planned failback: promote the reversed mirror; A is primary again.
        status, doc = act(proc, topic_name, "promote")
        assert status == 200 and doc["state"] == "PROMOTED" and doc["direction"] == "reverse", doc
        assert batch(proc, "promote", [compacted])[compacted]["state"] == "PROMOTED"
        write(a, topic_name, f"a{round_trip + 2}")
        unique_writes(a, compacted, f"a{round_trip + 2}")

        # Reverse again: A -> B from where the reversed mirror stopped.
        status, doc = act(proc, topic_name, "reverse")
        assert status == 200 and doc["direction"] == "forward" and doc["state"] == "ACTIVE", doc
        wait_equal(a, b, topic_name)
        assert batch(proc, "reverse", [compacted])[compacted]["status"] == 200
        wait_equal(a, b, compacted)
        switch_group(a, b, topic_name, group)

    history = [h["action"] for h in mirror(proc, topic_name)["history"]]
    assert history == ["promote", "reverse", "promote", "reverse"] * 2, history
    assert mirror(proc, topic_name)["generation"] == 4

    # Restarted, it runs the forward direction (generation 4), not a switched one.
    proc.stop()
    proc.start()
    wait_mirror(proc, topic_name, "ACTIVE", "forward")
    write(a, topic_name, "after-restart", n=10)
    wait_equal(a, b, topic_name)


def test_reverse_survives_restarts_kill_and_reload(klink_process, source_cluster, dest_cluster, topic_name):
    a, b = source_cluster.bootstrap, dest_cluster.bootstrap
    group = f"{topic_name}-app"
    source_cluster.create_topic(topic_name, partitions=PARTITIONS)
    write(a, topic_name, "a", n=40)
    proc = klink_process(links=link(source_cluster, dest_cluster, [topic_name], group))
    wait_caught_up(proc, topic_name)
    assert act(proc, topic_name, "promote")[0] == 200

    # Reversed but paused (reverse-and-pause): nothing reaches A until resumed.
    status, doc = act(proc, topic_name, "reverse", {"start": False})
    assert status == 200 and doc["state"] == "PAUSED" and doc["direction"] == "reverse", doc
    a_ends = end_offsets(a, topic_name)
    write(b, topic_name, "b1", n=40)
    proc.stop()
    proc.start()
    wait_mirror(proc, topic_name, "PAUSED", "reverse")
    assert end_offsets(a, topic_name) == a_ends, "a paused reversed mirror wrote"

    # kill -9 in the middle of the reverse catch-up, then again after; exact every time.
    assert act(proc, topic_name, "resume")[0] == 200
    write(b, topic_name, "b2", n=200)
    proc.kill()
    proc.start()
    wait_equal(a, b, topic_name)
    proc.kill()
    proc.start()
    wait_mirror(proc, topic_name, "ACTIVE", "reverse")
    write(b, topic_name, "b3", n=20)
    wait_equal(a, b, topic_name)

    # A reload does not revert the switch.
    proc.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: "config reloaded" in proc.stderr(), 30, "the reload was applied")
    wait_mirror(proc, topic_name, "ACTIVE", "reverse")
    write(b, topic_name, "b4", n=20)
    wait_equal(a, b, topic_name)

    # A producer writing into A while it is a reversed mirror makes it DIVERGED.
    produce_mixed(a, topic_name, PARTITIONS, 1, codecs=["none"])
    write(b, topic_name, "b5", n=10)
    doc = wait_mirror(proc, topic_name, "DIVERGED", "reverse")
    assert "something else writes to the mirror topic" in doc["reason"], doc
    m = scrape(proc.admin_url)
    assert sample(m, "klink_mirror_state", link="test", topic=topic_name, state="DIVERGED") == 1


@pytest.fixture(scope="module")
def own_source():
    """A source this module may stop and start."""
    cluster = start_cluster("pytest-failback-source", OWN_SOURCE_PORT)
    yield cluster
    cluster.stop()


def test_failback_after_an_unplanned_failover(klink_process, own_source, dest_cluster):
    topic, copy_to = unique_topic("failback"), unique_topic("failback-divergent")
    group = f"{topic}-app"
    a, b = own_source.bootstrap, dest_cluster.bootstrap
    own_source.create_topic(topic, partitions=PARTITIONS)
    write(a, topic, "a", n=40)
    proc = klink_process(links=link(own_source, dest_cluster, [topic], group))
    wait_caught_up(proc, topic)

    # Records klink never copies: the mirror is paused, then A goes down.
    assert act(proc, topic, "pause")[0] == 200
    # A Fetch already waiting when the pause came may still bring records produced right
    # after it (test_promote.py says more); produce until some stay behind.
    for attempt in range(5):
        write(a, topic, f"lost{attempt}", n=30)
        try:
            wait_until(lambda: mirror(proc, topic)["lag_records"] > 0, 10, "records left behind")
            break
        except AssertionError:
            continue
    own_source.stop_broker(0)
    status, doc = act(proc, topic, "failover", timeout_ms=5000)
    assert status == 200 and doc["state"] == "FAILED_OVER", doc
    mirrored = {p["partition"]: p["mirrored_source_offset"] for p in doc["result"]["partitions"]}
    cut = {p["partition"]: p["destination_end_offset"] for p in doc["result"]["partitions"]}
    write(b, topic, "b", n=30)
    b_records = consume_all(b, topic)
    own_source.start_broker(0)  # on its data

    def a_serves_the_topic():
        try:
            return partition_count(a, topic) == PARTITIONS
        except AssertionError:
            return None

    wait_until(a_serves_the_topic, 60, "the restarted source serves the topic")

    # Refused by default, with exact counts: what an independent consumer reads on A beyond the cut.
    beyond = {p: [r for r in rs if r.offset >= mirrored[p]] for p, rs in consume_all(a, topic).items()}
    status, doc = act(proc, topic, "reverse")
    assert status == 409 and doc["error_code"] == "DIVERGENT_RECORDS", doc
    assert {r["partition"]: r["records"] for r in doc["partitions"]} == {p: len(rs) for p, rs in beyond.items()}
    assert {r["partition"]: r["start_offset"] for r in doc["partitions"]} == mirrored
    assert doc["divergent_records"] == sum(len(rs) for rs in beyond.values()) > 0
    assert mirror(proc, topic)["state"] == "FAILED_OVER"

    # Copy: the divergent records land in `copy_to` on B, byte for byte, then the reverse keeps them.
    status, doc = act(proc, topic, "reverse", {"divergent": "copy", "copy_to": copy_to}, timeout_ms=60000)
    assert status == 200 and doc["direction"] == "reverse", doc
    copied = consume_all(b, copy_to)
    for p in range(PARTITIONS):
        assert [(r.key, r.value, r.headers, r.timestamp) for r in copied[p]] == \
            [(r.key, r.value, r.headers, r.timestamp) for r in beyond[p]], f"partition {p} of {copy_to}"
    ranges = {r["partition"]: r for r in doc["divergent_ranges"]}
    assert {p: (r["records"], r["cluster"], r.get("copied_to")) for p, r in ranges.items()} == \
        {p: (len(beyond[p]), "source", copy_to) for p in range(PARTITIONS)}

    # A = [its records up to the cut] + [its divergent records] + [B's new records].
    def a_complete():
        a_now = consume_all(a, topic)
        return a_now if all(len(a_now[p]) == len([r for r in a_now[p] if r.offset < mirrored[p]]) + len(beyond[p])
                                + len([r for r in b_records[p] if r.offset >= cut[p]]) for p in range(PARTITIONS)) \
            else None

    a_now = wait_until(a_complete, 60, "B's new records on A")
    for p in range(PARTITIONS):
        tail = [(r.key, r.value, r.headers) for r in a_now[p]][-len([r for r in b_records[p] if r.offset >= cut[p]]):]
        assert tail == [(r.key, r.value, r.headers) for r in b_records[p] if r.offset >= cut[p]], p
    # A group moving from B to A sees exactly B's sequence (the divergent records are skipped).
    switch_group(b, a, topic, group)
    m = scrape(proc.admin_url)
    assert sample(m, "klink_mirror_divergent_records", link="test", topic=topic) == sum(len(rs) for rs in beyond.values())
