"""Damaged durable state, written into klink's state topics by an outside producer while klink
is stopped: a garbage record, a record of a future format version and a mirror record naming
a source topic id that no longer exists. klink starts, names each bad record (state topic,
partition, offset), mirrors everything else, never copies a record twice and never resumes a
switched mirror because of them. (A record without a key cannot be written: the state topics
are compacted, and brokers refuse keyless records in them.) Each test's link has a name of its
own: the damage stays in the session's destination, and no other test's link may read it."""

from __future__ import annotations

import json
import uuid

from admin_client import http, mirror_url, wait_caught_up
from kafka_checks import compare_partitions, consume_all, end_offsets, unique_topic, wait_until
from links_support import JSON_LOGS, events, link_config, produce_n, stays

OFFSETS_TOPIC = "__klink_offsets"
STATES_TOPIC = "__klink_mirror_states"
QUIET_SECONDS = 3.0


def write_state(bootstrap: str, topic: str, key: bytes | None, value: bytes) -> int:
    """Produces one record to klink's state topic as an outsider would; returns its offset."""
    from confluent_kafka import Producer

    delivered = []
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all"})
    producer.produce(topic, key=key, value=value, partition=0,
                     on_delivery=lambda err, msg: delivered.append((err, msg.offset() if msg else None)))
    assert producer.flush(30) == 0
    [(err, offset)] = delivered
    assert err is None, err
    return offset


def state_record(bootstrap: str, key: str) -> dict:
    """The newest value of `key` in the mirror state topic, as JSON."""
    from confluent_kafka import Consumer, TopicPartition

    c = Consumer({"bootstrap.servers": bootstrap, "group.id": unique_topic("reader"), "enable.auto.commit": False})
    try:
        _low, high = c.get_watermark_offsets(TopicPartition(STATES_TOPIC, 0), timeout=10)
        c.assign([TopicPartition(STATES_TOPIC, 0, 0)])
        newest = None
        while True:
            msg = c.poll(5)
            assert msg is not None, f"{STATES_TOPIC} ended before its high watermark {high}"
            assert msg.error() is None, msg.error()
            if msg.key() == key.encode():
                newest = msg.value()
            if msg.offset() + 1 >= high:
                break
        assert newest is not None, f"no state record for {key}"
        return json.loads(newest)
    finally:
        c.close()


def mirror_doc(proc, topic: str) -> dict:
    status, body, _ = http(mirror_url(proc, topic, proc.link))
    assert status == 200, body
    return json.loads(body)


def start(klink_process, source_cluster, dest_cluster, topics: list[str]):
    link = f"damaged-{uuid.uuid4().hex[:8]}"
    config = {**JSON_LOGS, "links": [link_config(link, source_cluster, dest_cluster, topics)]}
    proc = klink_process(extra=config)
    proc.link = link
    return proc


def test_unreadable_checkpoints_hold_their_partitions_and_name_the_records(klink_process, source_cluster,
                                                                          dest_cluster):
    topic = unique_topic("damaged-ckpt")
    src, dst = source_cluster.bootstrap, dest_cluster.bootstrap
    source_cluster.create_topic(topic, partitions=3)
    produce_n(src, topic, 3, 300, "first")
    proc = start(klink_process, source_cluster, dest_cluster, [topic])
    wait_caught_up(proc, topic, link=proc.link)
    proc.stop()
    copied = end_offsets(dst, topic)
    assert copied == {0: 100, 1: 100, 2: 100}

    garbage_at = write_state(dst, OFFSETS_TOPIC, f"{proc.link}/{topic}/0".encode(), b"\x00garbage\xff" * 3)
    # A well-formed header of format version 9 (this klink writes 1).
    future_at = write_state(dst, OFFSETS_TOPIC, f"{proc.link}/{topic}/1".encode(), b"ko\x09" + b"\x00" * 12)
    produce_n(src, topic, 3, 300, "second")
    proc.start()

    def held():
        doc = mirror_doc(proc, topic)
        states = [p["state"] for p in doc["partitions"]]
        return doc if states == ["FAILED", "FAILED", "ACTIVE"] and doc["partitions"][2]["lag_records"] == 0 else None

    doc = wait_until(held, 60, "partitions 0 and 1 held as FAILED, partition 2 caught up")
    p0, p1, _ = doc["partitions"]
    assert p0["reason"] == "UNREADABLE_STATE" and p1["reason"] == "UNREADABLE_STATE", doc
    assert f"{OFFSETS_TOPIC} partition 0 offset {garbage_at}" in p0["last_error"], p0
    assert f"{OFFSETS_TOPIC} partition 0 offset {future_at}" in p1["last_error"], p1
    assert "format version 9" in p1["last_error"] and "newer klink" in p1["last_error"], p1
    assert doc["state"] == "FAILED" and doc["reason"].startswith("partition 0: "), doc
    logged = events(proc, "unreadable checkpoint; the mirror partition is not started", topic=topic)
    assert {(e["partition"], e["record"]) for e in logged} == {
        (0, f"{OFFSETS_TOPIC} partition 0 offset {garbage_at}"),
        (1, f"{OFFSETS_TOPIC} partition 0 offset {future_at}")}, logged

    # Nothing copied twice: the held partitions keep what they had, the other one is exact.
    assert end_offsets(dst, topic) == {0: 100, 1: 100, 2: 200}
    stays(lambda: end_offsets(dst, topic) == {0: 100, 1: 100, 2: 200}, QUIET_SECONDS,
          "klink wrote into a partition whose checkpoint it cannot read")
    source, dest = consume_all(src, topic), consume_all(dst, topic)
    compare_partitions({2: source[2]}, {2: dest[2]})
    compare_partitions({p: source[p][:100] for p in (0, 1)}, {p: dest[p] for p in (0, 1)})
    # Restarted again, the same: nothing is overwritten or forgotten.
    proc.restart()
    wait_until(held, 60, "the same after another restart")
    assert end_offsets(dst, topic) == {0: 100, 1: 100, 2: 200}


def test_damaged_mirror_records_never_resume_a_mirror(klink_process, source_cluster, dest_cluster):
    promoted, active, recreated = (unique_topic(t) for t in ("damaged-promoted", "damaged-active", "damaged-id"))
    src, dst = source_cluster.bootstrap, dest_cluster.bootstrap
    topics = [promoted, active, recreated]
    for t in topics:
        source_cluster.create_topic(t, partitions=2)
        produce_n(src, t, 2, 100, "first")
    proc = start(klink_process, source_cluster, dest_cluster, topics)
    for t in topics:
        wait_caught_up(proc, t, link=proc.link)
    status, body, _ = http(f"{mirror_url(proc, promoted, proc.link)}:promote", "POST", timeout=120)
    assert status == 200, body
    proc.stop()
    copied = {t: end_offsets(dst, t) for t in topics}

    garbage_at = write_state(dst, STATES_TOPIC, f"{proc.link}/{promoted}".encode(), b"{not json")
    future_at = write_state(dst, STATES_TOPIC, f"{proc.link}/{active}".encode(),
                            json.dumps({"version": 2, "state": "active"}).encode())
    record = state_record(dst, f"{proc.link}/{recreated}")
    record["source_topic_id"] = "AAAAAAAAAAAAAAAAAAAAAA"  # a topic id no topic has
    write_state(dst, STATES_TOPIC, f"{proc.link}/{recreated}".encode(), json.dumps(record).encode())
    for t in topics:
        produce_n(src, t, 2, 100, "second")
    proc.start()

    def stopped(topic: str, state: str):
        def check():
            doc = mirror_doc(proc, topic)
            return doc if doc["state"] == state else None
        return wait_until(check, 60, f"{topic} {state}")

    doc = stopped(promoted, "DIVERGED")
    assert f"{STATES_TOPIC} partition 0 offset {garbage_at}" in doc["reason"], doc
    doc = stopped(active, "DIVERGED")
    assert f"{STATES_TOPIC} partition 0 offset {future_at}" in doc["reason"], doc
    assert "record version 2" in doc["reason"] and "newer klink" in doc["reason"], doc
    doc = stopped(recreated, "FAILED")
    assert "SOURCE_TOPIC_RECREATED" in doc["reason"] and "AAAAAAAAAAAAAAAAAAAAAA" in doc["reason"], doc
    logged = {e["topic"]: e["record"] for e in events(proc, "unreadable mirror state record; the mirror stays stopped")}
    assert logged.get(promoted) == f"{STATES_TOPIC} partition 0 offset {garbage_at}", logged
    assert logged.get(active) == f"{STATES_TOPIC} partition 0 offset {future_at}", logged

    # None of them was written to: the promoted mirror stays a topic of its own.
    stays(lambda: {t: end_offsets(dst, t) for t in topics} == copied, QUIET_SECONDS,
          "klink wrote into a mirror whose state record is damaged")
