"""Consumer-group offset sync across compaction holes: a group whose committed source
offset no longer exists (the log cleaner removed it) resumes on the destination at exactly
the destination copy of the first surviving record at or after that offset, and a group
committed past the last surviving record gets the destination's end offset.

The source is a cluster of its own whose cleaner wakes up every 200 ms (the default
backoff is 15 s), so compaction finishes within seconds.

Why an off-by-one translation fails this test. klink's destination holds the surviving
source records contiguously from offset 0 (rebuilt batches, no holes), so the destination
offset of a source survivor is the number of survivors before it. Per partition the test
pins the answer three ways: the destination group's committed() offset, the key and value of
the first record a destination member of the group reads, and the whole rest it reads.
  * Every destination-side error d ± 1 is caught directly: d - 1 re-reads the survivor
    before the expected one, d + 1 skips the expected one (and committed() differs).
  * Source-side errors are caught by where the committed offsets sit around a hole
    s < (removed offsets) < h, s and h surviving:
      - c = s + 1 (a consumer that read s and committed after it; s + 1 is gone): translating
        c - 1 = s would re-read s.
      - c strictly inside (c - s >= 2 and h - c >= 2): extrapolating from the segment before
        the hole gives d(s) + (c - s) >= d(h) + 1 (skips h), from the one after it
        d(h) - (h - c) <= d(h) - 2 (re-reads s and more).
      - c = h (a survivor right after a hole) and c = s (a survivor right before one):
        "first record > c" instead of ">= c" skips the record at c.
      - c past the last survivor (inside the removed records of an aborted transaction the
        cleaner dropped, and the source's end offset): the answer is the destination end
        offset. A record produced afterwards must then be the first one the destination
        member reads: end - 1 re-reads the last survivor, end + 1 skips the new record.
"""

from __future__ import annotations

import re
import time
import uuid
from pathlib import Path

import pytest
from conftest import RUN_DIR, KlinkProcess, free_port
from harness.kafka import KafkaCluster
from kafka_checks import (committed_offsets, compare_partitions, consume_all, end_offsets, read_as_member,
                          unique_topic, wait_until)

SOURCE_PORT = 24410
PARTITIONS = 3
ROUNDS = 4
SYNC_INTERVAL_MS = 500
TXN_PARTITION = 2  # the partition whose log ends in aborted transactions


@pytest.fixture(scope="module")
def compacting_source():
    """A source cluster whose log cleaner backs off 200 ms instead of 15 s."""
    cluster = KafkaCluster("pytest-compaction-source", brokers=1, base_port=SOURCE_PORT,
                           workdir=RUN_DIR / f"pytest-compaction-source-{SOURCE_PORT}",
                           extra_broker_config={"log.cleaner.backoff.ms": "200"})
    cluster.start()
    yield cluster
    cluster.stop()


# ----------------------------------------------------------------------------
# Helpers


def round_keys(r: int, p: int) -> list[str]:
    """One round on partition p: keys unique to the round survive, the hot keys are rewritten
    every round, so their older copies become holes of 4 and 2 offsets between survivors."""
    u = f"p{p}-r{r}-u"
    return [f"{u}a", f"p{p}-hot0", f"p{p}-hot1", f"p{p}-hot2", f"p{p}-hot3", f"{u}b",
            f"p{p}-hot4", f"p{p}-hot5", f"{u}c"]


def produce_source(bootstrap: str, topic: str) -> list[int]:
    """Keyed rounds on every partition, each round in its own segment, then two aborted
    transactions on TXN_PARTITION (each in a later segment). Returns the offsets of the first
    aborted transaction's records: once its segment is cleaned they no longer exist."""
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "linger.ms": 5})
    for r in range(ROUNDS):
        for p in range(PARTITIONS):
            for key in round_keys(r, p):
                producer.produce(topic, key=key.encode(), value=f"r{r}-{key}".encode(), partition=p)
        assert producer.flush(30) == 0
        # Pacing, not waiting for a condition: once segment.ms (100) has passed, the next
        # append rolls a new segment, which makes this round's segment cleanable.
        time.sleep(0.15)

    txn = Producer({"bootstrap.servers": bootstrap, "transactional.id": f"txn-{topic}", "linger.ms": 2})
    txn.init_transactions(30)
    aborted: list[int] = []

    def note(err, msg):
        assert err is None, err
        aborted.append(msg.offset())

    for tag, n in (("a", 4), ("b", 2)):
        txn.begin_transaction()
        for i in range(n):
            txn.produce(topic, key=f"p{TXN_PARTITION}-aborted-{tag}{i}".encode(), value=f"aborted-{tag}{i}".encode(),
                        partition=TXN_PARTITION, on_delivery=note if tag == "a" else None)
        assert txn.flush(30) == 0  # librdkafka 2.0.2 + Kafka 4.1: abort needs the records sent first
        txn.abort_transaction(30)
        time.sleep(0.15)  # pacing (segment.ms): the second transaction starts a new segment
    assert len(aborted) == 4, aborted
    return sorted(aborted)


def produce_tail(bootstrap: str, topic: str) -> None:
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
    for p in range(PARTITIONS):
        producer.produce(topic, key=f"p{p}-tail".encode(), value=f"tail-p{p}".encode(), partition=p)
    assert producer.flush(30) == 0


def commit(bootstrap: str, topic: str, group: str, offsets: dict[int, int]) -> None:
    """Commits `offsets` for `group` from a consumer that assigned itself the partitions."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False,
                         "isolation.level": "read_committed"})
    try:
        tps = [TopicPartition(topic, p, o) for p, o in offsets.items()]
        consumer.assign(tps)
        consumer.commit(offsets=tps, asynchronous=False)
    finally:
        consumer.close()


def read_then_commit(bootstrap: str, topic: str, partition: int, group: str, last: int) -> int:
    """A read_committed member of `group` reads `partition` from the start up to the record at
    offset `last` and commits the offset after it, as a consumer would. Returns that offset."""
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False,
                         "isolation.level": "read_committed", "fetch.wait.max.ms": 100})
    try:
        consumer.assign([TopicPartition(topic, partition, OFFSET_BEGINNING)])
        deadline = time.monotonic() + 30
        while True:
            assert time.monotonic() < deadline, f"did not reach offset {last} of partition {partition}"
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            assert msg.error() is None, msg.error()
            assert msg.offset() <= last, f"offset {last} is not a record of partition {partition}"
            if msg.offset() == last:
                break
        offset = msg.offset() + 1
        consumer.commit(offsets=[TopicPartition(topic, partition, offset)], asynchronous=False)
        return offset
    finally:
        consumer.close()


def group_offsets(bootstrap: str, topic: str, group: str) -> dict[int, int]:
    return committed_offsets(bootstrap, topic, group, PARTITIONS)


def read_as_group(bootstrap: str, topic: str, group: str, timeout: float = 30.0) -> dict[int, list[tuple]]:
    """A member of `group` reads every destination partition from the group's committed
    position to its end: (offset, key, value) per record."""
    read = read_as_member(bootstrap, topic, group, PARTITIONS, timeout)
    return {p: [(r.offset, r.key, r.value) for r in records] for p, records in read.items()}


def cleaned_to_active_segment(log_dir: Path, topic: str) -> bool:
    """Whether the cleaner's checkpoint of every partition of `topic` has reached the base
    offset of its active (newest) segment: everything cleanable has been cleaned."""
    lines = (log_dir / "cleaner-offset-checkpoint").read_text().split("\n")[2:]
    cleaned = {int(f[1]): int(f[2]) for f in (line.split() for line in lines) if len(f) == 3 and f[0] == topic}
    for p in range(PARTITIONS):
        active = max(int(seg.stem) for seg in (log_dir / f"{topic}-{p}").glob("*.log"))
        if cleaned.get(p) != active:
            return False
    return True


def wait_for_group(bootstrap: str, topic: str, group: str, want: dict[int, int], timeout: float = 30.0):
    seen: dict = {}

    def synced():
        seen["offsets"] = group_offsets(bootstrap, topic, group)
        return seen["offsets"] == want

    try:
        wait_until(synced, timeout, f"destination offsets of {group} == {want}")
    except BaseException:
        pytest.fail(f"destination offsets of {group}: want {want}, last seen {seen.get('offsets')}", pytrace=False)


def first_hole(offsets: list[int], min_removed: int = 3) -> tuple[int, int]:
    """(s, h): consecutive surviving offsets with at least `min_removed` offsets gone between."""
    for s, h in zip(offsets, offsets[1:]):
        if h - s - 1 >= min_removed:
            return s, h
    raise AssertionError(f"no hole of {min_removed}+ offsets among {offsets}")


# ----------------------------------------------------------------------------


def test_group_offsets_in_and_past_compaction_holes_translate_exactly(compacting_source, dest_cluster, klink_bin,
                                                                       tmp_path):
    src, dst = compacting_source.bootstrap, dest_cluster.bootstrap
    topic = unique_topic("groupsync-compacted")
    compacting_source.create_topic(topic, partitions=PARTITIONS, configs={
        "cleanup.policy": "compact",
        "segment.ms": "100",
        "min.cleanable.dirty.ratio": "0.01",
        "min.compaction.lag.ms": "0",
        "delete.retention.ms": "86400000",
    })
    aborted = produce_source(src, topic)

    # Compacted: the cleaner's checkpoint has reached every partition's active segment (so it
    # has nothing left to clean and the log stays as it is until new data arrives), the first
    # round's hot keys are gone everywhere (superseded by later rounds) and so are the first
    # aborted transaction's records (the cleaner drops aborted data).
    def compacted():
        if not cleaned_to_active_segment(compacting_source.log_dirs[0], topic):
            return None
        present = consume_all(src, topic, isolation="read_uncommitted")
        for p, records in present.items():
            if any(r.key.startswith(f"p{p}-hot".encode()) and r.value.startswith(b"r0-") for r in records):
                return None
        if set(aborted) & {r.offset for r in present[TXN_PARTITION]}:
            return None
        return {p: [r.offset for r in rs] for p, rs in present.items()}

    present = wait_until(compacted, 45, f"the log cleaner to compact every partition of {topic}", interval=0.5)
    # A second look: nothing is moving any more.
    wait_until(lambda: compacted() == present, 10, "the compacted source to stay unchanged", interval=0.5)

    survivors = consume_all(src, topic)  # what a read_committed consumer sees
    offsets = {p: [r.offset for r in rs] for p, rs in survivors.items()}
    for p in range(PARTITIONS):
        assert any(b - a > 1 for a, b in zip(offsets[p], offsets[p][1:])), \
            f"partition {p}: consecutive surviving records are all adjacent, no compaction hole: {offsets[p]}"
    source_end = end_offsets(src, topic)

    tag = uuid.uuid4().hex[:6]
    group_a, group_b = f"gsc-a-{tag}", f"gsc-b-{tag}"
    s0, h0 = first_hole(offsets[0])
    s1, _h1 = first_hole(offsets[1])
    # Group A: strictly inside a hole (p0), right after a surviving record whose successor
    # was compacted away (p1, read and committed like a consumer), inside the removed records
    # of an aborted transaction after the last survivor (p2).
    inside = s0 + 2
    assert inside - s0 >= 2 and h0 - inside >= 2
    assert aborted[0] > offsets[TXN_PARTITION][-1], "the aborted transaction must follow the last survivor"
    committed_a = {0: inside, 1: read_then_commit(src, topic, 1, group_a, s1), 2: aborted[1]}
    commit(src, topic, group_a, {0: committed_a[0], 2: committed_a[2]})
    # Group B: survivors right after (p0) and right before (p1) a hole, the source end (p2).
    committed_b = {0: h0, 1: s1, 2: source_end[TXN_PARTITION]}
    commit(src, topic, group_b, committed_b)
    assert group_offsets(src, topic, group_a) == committed_a
    assert group_offsets(src, topic, group_b) == committed_b
    for p, c in ((0, inside), (1, committed_a[1]), (TXN_PARTITION, aborted[1])):
        assert c not in set(present[p]), f"partition {p}: committed offset {c} still exists on the source"

    # The destination holds the survivors contiguously from 0: a survivor's destination offset
    # is the number of survivors before it; past the last one it is the destination end.
    def expected(committed: dict[int, int]) -> dict[int, int]:
        return {p: sum(1 for o in offsets[p] if o < c) for p, c in committed.items()}

    expected_a, expected_b = expected(committed_a), expected(committed_b)
    counts = {p: len(offsets[p]) for p in range(PARTITIONS)}
    assert expected_a[TXN_PARTITION] == expected_b[TXN_PARTITION] == counts[TXN_PARTITION]
    assert expected_a[1] == expected_b[1] + 1 and expected_a[0] == expected_b[0]

    link = {
        "name": "gsc",
        "source": {"bootstrap_servers": compacting_source.bootstrap_servers},
        "destination": {"bootstrap_servers": dest_cluster.bootstrap_servers},
        # Config sync would copy the source's compaction settings onto the mirror at the
        # next refresh: this link keeps the mirror's own (see below).
        "topics": {"include": [re.escape(topic)],
                   "sync_configs": ["cleanup.policy", "retention.ms", "retention.bytes"]},
        "mirror": {"start": "earliest"},
        "consumer_offsets": {"sync": True, "include": [f"gsc-.*-{tag}"], "interval_ms": SYNC_INTERVAL_MS},
    }
    # The mirror topic exists before klink starts (klink takes an empty one as it is), with a
    # long compaction lag, and the link does not sync the compaction configs: it would otherwise copy the source's segment.ms=100 and
    # min.compaction.lag.ms=0, and the destination's cleaner could drop superseded hot keys
    # while the groups read, which says nothing about the translation under test.
    dest_cluster.create_topic(topic, partitions=PARTITIONS, configs={
        "cleanup.policy": "compact", "min.compaction.lag.ms": "3600000"})
    klink = KlinkProcess(klink_bin, tmp_path, {
        "log": {"level": "debug", "format": "json"},
        "admin": {"listen": f"127.0.0.1:{free_port()}"},
        "links": [link],
    }, "klink")
    klink.start()
    try:
        def mirrored(want):
            def check():
                assert klink.running(), f"klink exited; stderr tail:\n{klink.stderr_tail()}"
                return end_offsets(dst, topic) == want
            return check

        wait_until(mirrored(counts), 45, f"the {counts} survivors mirrored")
        dest_records = consume_all(dst, topic)
        compare_partitions(survivors, dest_records)
        for p in range(PARTITIONS):
            assert [r.offset for r in dest_records[p]] == list(range(counts[p])), f"partition {p}: destination holes"
        wait_for_group(dst, topic, group_a, expected_a)
        wait_for_group(dst, topic, group_b, expected_b)

        # A new record after the last survivor: the groups committed past it on the source
        # must now read it first on the destination (and their offsets must not move).
        produce_tail(src, topic)
        wait_until(mirrored({p: counts[p] + 1 for p in range(PARTITIONS)}), 30, "the tail records mirrored")
        # Two probe groups, one after the other: the pass that synced the first one started
        # after the tail was mirrored, and it has finished once the second one is synced.
        for probe in ("probe1", "probe2"):
            group = f"gsc-{probe}-{tag}"
            commit(src, topic, group, {0: h0})
            wait_for_group(dst, topic, group, {0: expected_b[0], 1: -1001, 2: -1001})
        assert group_offsets(dst, topic, group_a) == expected_a, "a sync pass after new data moved group A"
        assert group_offsets(dst, topic, group_b) == expected_b, "a sync pass after new data moved group B"
    finally:
        rc = klink.stop()
    assert rc == 0, f"klink exited with {rc}; stderr tail:\n{klink.stderr_tail()}"

    # What a source consumer of the group would have read next, to the end, when klink mirrored
    # it: the survivors at or after the committed offset, then the tail record. (Not the source
    # now: the tail rolled the segment of the last round, which the cleaner may compact again.)
    for group, committed, want in ((group_a, committed_a, expected_a), (group_b, committed_b, expected_b)):
        got = read_as_group(dst, topic, group)
        for p in range(PARTITIONS):
            rest = [(r.key, r.value) for r in survivors[p] if r.offset >= committed[p]]
            rest.append((f"p{p}-tail".encode(), f"tail-p{p}".encode()))
            assert rest, f"partition {p}: nothing on the source at or after {committed[p]}"
            assert got[p], f"{group} partition {p}: read nothing on the destination"
            first_offset, first_key, first_value = got[p][0]
            assert (first_key, first_value) == rest[0] and first_offset == want[p], \
                f"{group} partition {p} (source offset {committed[p]}): read first @{first_offset} " \
                f"{first_key}={first_value}, want @{want[p]} {rest[0][0]}={rest[0][1]}"
            # Zero re-read, zero skipped: the rest of the partition is the same sequence.
            assert [(k, v) for _o, k, v in got[p]] == rest, f"{group} partition {p}"
        assert group_offsets(dst, topic, group) == want, f"{group}: destination offsets changed by reading"
