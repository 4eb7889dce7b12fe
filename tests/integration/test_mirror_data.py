"""Data correctness of klink against real Kafka: what arrives on the destination is what the
source holds (keys, values, headers, timestamps, order), batches keep their bytes, and the
special cases (transactions, compaction, LogAppendTime, start = latest, SIGTERM and restart)
behave as the design says. Every check reads the clusters with independent tools
(librdkafka consumers, the brokers' segment files), never klink's own view.
"""

from __future__ import annotations

import json
import signal
import threading
import time

import pytest
from kafka_checks import (
    CODECS,
    assert_matches_produced,
    compare_partitions,
    consume_all,
    data_batches,
    end_offsets,
    produce_mixed,
    read_log_batches,
    total_records,
    wait_until,
)

JSON_LOGS = {"log": {"format": "json"}}

# ----------------------------------------------------------------------------
# klink's JSON log


def log_records(proc) -> list[dict]:
    """klink's stderr, one JSON object per line (non-JSON lines, e.g. a crash message, are kept
    as {"msg": <line>} so that they show up in failure output)."""
    out = []
    for line in proc.stderr().splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            out.append({"msg": line, "level": "unparsed"})
    return out


def messages(proc, msg: str, **fields) -> list[dict]:
    return [r for r in log_records(proc) if r.get("msg") == msg and all(r.get(k) == v for k, v in fields.items())]


def wait_for_mirroring(proc, topic: str, timeout: float = 60.0) -> dict:
    """Waits for klink's `mirroring topic` line for `topic` (klink has looked up its start
    offsets), failing early if klink died."""

    def ready():
        if not proc.running():
            pytest.fail(f"klink exited with {proc.proc.returncode}; stderr tail:\n{proc.stderr_tail()}", pytrace=False)
        found = messages(proc, "mirroring topic", topic=topic)
        return found[0] if found else None

    return wait_until(ready, timeout, f"klink to start mirroring {topic}")


def errors_and_warnings(proc) -> list[dict]:
    """Problems klink reported, except transient ones it retries (a fresh cluster's coordinator
    still loading, a cluster not reachable yet)."""
    return [r for r in log_records(proc) if r.get("level") in ("warn", "error", "unparsed")
            and "retrying" not in r.get("msg", "")]


def stop_cleanly(proc, topic: str) -> dict[int, dict]:
    """SIGTERMs klink, asserts the clean two-phase exit, returns the per-partition summaries of `topic`."""
    rc = proc.stop(signal.SIGTERM)
    assert rc == 0, f"klink exited with {rc}; stderr tail:\n{proc.stderr_tail()}"
    assert messages(proc, "link stopped cleanly"), f"no 'link stopped cleanly' line; tail:\n{proc.stderr_tail()}"
    summaries = {r["partition"]: r for r in messages(proc, "mirror partition summary", topic=topic)}
    assert summaries, f"no 'mirror partition summary' for {topic}; tail:\n{proc.stderr_tail()}"
    return summaries


def wait_for_end_offsets(bootstrap: str, topic: str, want: dict[int, int], proc, timeout: float = 120.0):
    """Waits until the destination's high watermarks equal `want`, failing early (with klink's log
    tail) if klink died or a partition overshot."""

    def reached():
        if not proc.running():
            pytest.fail(f"klink exited with {proc.proc.returncode}; stderr tail:\n{proc.stderr_tail()}", pytrace=False)
        got = end_offsets(bootstrap, topic)
        over = {p: (got[p], want[p]) for p in want if got.get(p, 0) > want[p]}
        assert not over, f"destination partitions beyond the expected end (got, want): {over}"
        return got == want

    try:
        wait_until(reached, timeout, f"destination end offsets of {topic} to reach {want}")
    except BaseException:
        print(f"klink stderr tail:\n{proc.stderr_tail(80)}")
        raise


def essence(r):
    return (r.key, r.value, r.headers, r.timestamp)


# ----------------------------------------------------------------------------
# 1. Mixed codecs, 500k records: same records, same bytes, klink's producer header


def test_mixed_codecs_mirror_records_and_bytes(source_cluster, dest_cluster, klink_process, topic_name):
    partitions, per_codec = 6, 100_000  # produce_mixed: n records PER codec -> 500,000 in all
    source_cluster.create_topic(topic_name, partitions=partitions)
    produce_mixed(source_cluster.bootstrap, topic_name, partitions, per_codec, timeout=120)
    src_ends = end_offsets(source_cluster.bootstrap, topic_name)
    assert sum(src_ends.values()) == per_codec * len(CODECS)

    klink = klink_process(topics=[topic_name], extra=JSON_LOGS, log_level="info")
    wait_for_end_offsets(dest_cluster.bootstrap, topic_name, src_ends, klink, timeout=300)
    summaries = stop_cleanly(klink, topic_name)
    assert sum(s["records_produced"] for s in summaries.values()) == per_codec * len(CODECS)
    assert all(s["state"] not in ("FAILED", "DIVERGED") for s in summaries.values()), summaries
    assert not errors_and_warnings(klink), errors_and_warnings(klink)[:5]

    # (a) What consumers see: same key/value/headers/timestamp (and type) per partition, in order.
    src = consume_all(source_cluster.bootstrap, topic_name, timeout=300)
    dst = consume_all(dest_cluster.bootstrap, topic_name, timeout=300)
    assert total_records(src) == total_records(dst) == per_codec * len(CODECS)
    compare_partitions(src, dst)
    del src, dst

    # (b) What the brokers store: every batch's records section is byte-identical and in the
    # same order; the header is klink's idempotent producer's.
    source_producers = set()
    klink_producers = set()
    for p in range(partitions):
        s = data_batches(read_log_batches(source_cluster.log_dirs[0], topic_name, p))
        d = read_log_batches(dest_cluster.log_dirs[0], topic_name, p)
        assert not any(b.control for b in d)
        assert len(d) == len(s), f"partition {p}: source has {len(s)} batches, destination {len(d)}"
        for i, (a, b) in enumerate(zip(s, d)):
            where = f"partition {p} batch {i} (source offset {a.base_offset}, destination {b.base_offset})"
            assert b.records == a.records, f"{where}: records section differs"
            assert (b.records_count, b.last_offset - b.base_offset) == (a.records_count, a.last_offset - a.base_offset), where
            assert (b.attributes & 0x07, b.base_timestamp, b.max_timestamp) == (
                a.attributes & 0x07, a.base_timestamp, a.max_timestamp), where
            assert not b.transactional and not b.log_append_time, where
        assert {b.codec for b in d} == set(CODECS)
        # Offsets on the destination are dense and start at 0 (a fresh mirror topic).
        assert d[0].base_offset == 0
        assert all(d[i].base_offset == d[i - 1].last_offset + 1 for i in range(1, len(d))), f"partition {p}: offset gap"
        # Idempotent sequence chain of klink's producer: next base = previous base + count.
        assert d[0].base_sequence == 0, f"partition {p}: first base sequence {d[0].base_sequence}"
        broken = [(i, d[i - 1].base_sequence, d[i - 1].records_count, d[i].base_sequence) for i in range(1, len(d))
                  if d[i].base_sequence != d[i - 1].base_sequence + d[i - 1].records_count]
        assert not broken, f"partition {p}: sequence chain broken at (index, prev base, prev count, base): {broken[:5]}"
        # The pure-Python CRC is slow: check a sample (first and last batches of each partition).
        sample = d[:20] + d[-5:]
        bad = [b.base_offset for b in sample if not b.crc_ok()]
        assert not bad, f"partition {p}: destination batches with a bad CRC at offsets {bad}"
        source_producers |= {b.producer_id for b in s}
        klink_producers |= {(b.producer_id, b.producer_epoch) for b in d}
    # produce_mixed used one idempotent producer per codec; the destination's batches all carry
    # the one producer id klink got from the destination (ids are per cluster, so comparing the
    # numbers across clusters says nothing: both fresh clusters hand out 0 first).
    assert len(source_producers) == len(CODECS)
    assert len(klink_producers) == 1, f"destination batches come from several producers: {klink_producers}"
    (klink_pid, _), = klink_producers
    assert klink_pid >= 0


# ----------------------------------------------------------------------------
# 2. Transactions: only committed and non-transactional records, no markers


def test_transactions_committed_only_and_no_markers(source_cluster, dest_cluster, klink_process, topic_name):
    from confluent_kafka import Producer

    partitions = 2
    source_cluster.create_topic(topic_name, partitions=partitions)
    txn = Producer({"bootstrap.servers": source_cluster.bootstrap, "transactional.id": f"txn-{topic_name}",
                    "linger.ms": 5})
    plain = Producer({"bootstrap.servers": source_cluster.bootstrap, "enable.idempotence": True, "linger.ms": 5})
    txn.init_transactions(30)

    expected: dict[int, list[tuple]] = {p: [] for p in range(partitions)}
    outcomes = [True, False, True, False, False, True, True, False, True]
    for t, commit in enumerate(outcomes):
        txn.begin_transaction()
        txn_records = []
        for i in range(30):
            p = i % partitions
            rec = (f"k{i % 4}".encode(), f"txn{t}-{'commit' if commit else 'abort'}-{i}".encode(),
                   (("txn", str(t).encode()),))
            txn.produce(topic_name, key=rec[0], value=rec[1], headers=list(rec[2]), partition=p)
            txn_records.append((p, rec))
        txn.flush(30)  # appended before the plain records below; also needed before abort (librdkafka 2.0.2)
        plain_records = []
        for i in range(7):
            p = i % partitions
            rec = (None if i == 3 else f"plain-k{i}".encode(), f"plain{t}-{i}".encode(), ())
            plain.produce(topic_name, key=rec[0], value=rec[1], partition=p)
            plain_records.append((p, rec))
        assert plain.flush(30) == 0
        (txn.commit_transaction if commit else txn.abort_transaction)(30)
        for p, rec in (txn_records if commit else []) + plain_records:
            expected[p].append(rec)
    # A last plain record after the final marker.
    plain.produce(topic_name, value=b"last", partition=0)
    assert plain.flush(30) == 0
    expected[0].append((None, b"last", ()))

    src = consume_all(source_cluster.bootstrap, topic_name)
    assert {p: [(r.key, r.value, r.headers) for r in rs] for p, rs in src.items()} == expected
    src_batches = {p: read_log_batches(source_cluster.log_dirs[0], topic_name, p) for p in range(partitions)}
    assert all(any(b.control for b in bs) for bs in src_batches.values())  # the scenario really has markers

    klink = klink_process(topics=[topic_name], extra=JSON_LOGS)
    # The destination holds no markers and no aborted records: its offsets count exactly the expected records.
    wait_for_end_offsets(dest_cluster.bootstrap, topic_name, {p: len(v) for p, v in expected.items()}, klink)
    summaries = stop_cleanly(klink, topic_name)

    dst = consume_all(dest_cluster.bootstrap, topic_name)
    compare_partitions(src, dst)
    for p in range(partitions):
        d = read_log_batches(dest_cluster.log_dirs[0], topic_name, p)
        assert not [b.base_offset for b in d if b.control], f"partition {p}: control batch on the destination"
        assert not [b.base_offset for b in d if b.transactional], f"partition {p}: transactional batch on the destination"
        assert sum(b.records_count for b in d) == len(expected[p])
        assert all(b.crc_ok() for b in d)
    assert sum(s["control_batches_dropped"] for s in summaries.values()) > 0, summaries
    assert sum(s["aborted_batches_dropped"] for s in summaries.values()) > 0, summaries
    # Every marker on the source was dropped (one per transaction per partition touched).
    markers = sum(1 for bs in src_batches.values() for b in bs if b.control)
    assert sum(s["control_batches_dropped"] for s in summaries.values()) == markers, summaries


# ----------------------------------------------------------------------------
# 3. Compaction: surviving records (and tombstones) arrive, destination has no offset holes


def _partition_record_counts(bootstrap, topic):
    return {p: len(rs) for p, rs in consume_all(bootstrap, topic).items()}


def test_compacted_topic_mirrors_survivors_without_holes(source_cluster, dest_cluster, klink_process, topic_name):
    from confluent_kafka import Producer

    partitions, keys, rounds = 2, 20, 12
    source_cluster.create_topic(topic_name, partitions=partitions, configs={
        "cleanup.policy": "compact",
        "segment.ms": "100",  # every append after 100 ms rolls a new segment
        "min.cleanable.dirty.ratio": "0.01",
        "min.compaction.lag.ms": "0",
        # Tombstones stay after cleaning, so that they are part of what is mirrored.
        "delete.retention.ms": "86400000",
    })
    produced = 0
    for r in range(rounds):
        # A new idempotent producer per round: when the cleaner removes every record of a
        # producer's last batch it keeps the batch, empty, to preserve the producer's sequence
        # state, so the compacted source also holds empty batches that klink must cope with.
        producer = Producer({"bootstrap.servers": source_cluster.bootstrap, "enable.idempotence": True,
                             "linger.ms": 5, "compression.codec": "lz4"})
        for k in range(keys):
            for u in range(5):
                tombstone = r == rounds - 2 and k % 4 == 0 and u == 4
                producer.produce(topic_name, key=f"key-{k}".encode(),
                                 value=None if tombstone else f"r{r}-u{u}-".encode() * (1 + k),
                                 headers=[("round", str(r).encode()), ("update", str(u).encode())],
                                 partition=k % partitions)
                produced += 1
        assert producer.flush(30) == 0
        time.sleep(0.15)  # pacing, not waiting: segment.ms passes, so the next round starts a new segment
    # The last round (above) made every earlier segment inactive, hence cleanable.
    assert sum(end_offsets(source_cluster.bootstrap, topic_name).values()) == produced

    # The broker's cleaner backs off up to log.cleaner.backoff.ms (15 s) when it finds nothing to do.
    def compacted():
        counts = _partition_record_counts(source_cluster.bootstrap, topic_name)
        return counts if all(c < produced / partitions / 2 for c in counts.values()) else None

    counts = wait_until(compacted, 90, f"the log cleaner to compact both partitions of {topic_name}", interval=1)
    # Compaction only cleans again when new dirty data arrives; make sure it is settled: two
    # reads in a row agree (on a loaded machine the cleaner may still take a second pass).
    last = {"counts": counts}

    def settled():
        now = _partition_record_counts(source_cluster.bootstrap, topic_name)
        same, last["counts"] = now == last["counts"], now
        return same

    wait_until(settled, 60, "the compacted source to stay unchanged", interval=2)
    src = consume_all(source_cluster.bootstrap, topic_name)
    tombstones = [r for rs in src.values() for r in rs if r.value is None]
    assert tombstones, "no tombstone survived on the source: the scenario does not test tombstones"
    src_batches = {p: data_batches(read_log_batches(source_cluster.log_dirs[0], topic_name, p))
                   for p in range(partitions)}
    all_batches = [b for bs in src_batches.values() for b in bs]
    assert any(0 < b.records_count < b.last_offset - b.base_offset + 1 for b in all_batches), \
        "no source batch has an offset hole: compaction did not happen as intended"
    assert any(b.records_count == 0 for b in all_batches), "no empty batch kept for a producer's state"

    klink = klink_process(topics=[topic_name], extra=JSON_LOGS)
    wait_for_end_offsets(dest_cluster.bootstrap, topic_name, {p: len(rs) for p, rs in src.items()}, klink)
    summaries = stop_cleanly(klink, topic_name)
    assert sum(s["batches_rebuilt"] for s in summaries.values()) > 0, summaries

    dst = consume_all(dest_cluster.bootstrap, topic_name)
    compare_partitions(src, dst)
    assert sum(1 for rs in dst.values() for r in rs if r.value is None) == len(tombstones)
    for p in range(partitions):
        d = read_log_batches(dest_cluster.log_dirs[0], topic_name, p)
        holes = [(b.base_offset, b.records_count, b.last_offset - b.base_offset + 1) for b in d
                 if b.records_count != b.last_offset - b.base_offset + 1]
        assert not holes, f"partition {p}: destination batches with offset holes (base, count, span): {holes[:5]}"
        assert all(b.records_count > 0 for b in d), f"partition {p}: empty batch on the destination"
        assert d[0].base_offset == 0
        assert all(d[i].base_offset == d[i - 1].last_offset + 1 for i in range(1, len(d))), f"partition {p}: offset gap"
        assert {b.codec for b in d} == {"lz4"}, "rebuilt batches keep the source's codec"
        assert all(b.crc_ok() for b in d)


# ----------------------------------------------------------------------------
# 4. LogAppendTime source: same timestamps, CreateTime mirror, rebuilt batches


def test_log_append_time_source_keeps_timestamps(source_cluster, dest_cluster, klink_process, topic_name):
    from confluent_kafka import TIMESTAMP_CREATE_TIME, TIMESTAMP_LOG_APPEND_TIME
    from confluent_kafka.admin import AdminClient, ConfigResource

    partitions = 3
    source_cluster.create_topic(topic_name, partitions=partitions, configs={"message.timestamp.type": "LogAppendTime"})
    expected = produce_mixed(source_cluster.bootstrap, topic_name, partitions, 200)
    src = consume_all(source_cluster.bootstrap, topic_name)
    assert_matches_produced(expected, src)
    assert {r.timestamp_type for rs in src.values() for r in rs} == {TIMESTAMP_LOG_APPEND_TIME}

    klink = klink_process(topics=[topic_name], extra=JSON_LOGS)
    wait_for_end_offsets(dest_cluster.bootstrap, topic_name, {p: len(rs) for p, rs in src.items()}, klink)
    summaries = stop_cleanly(klink, topic_name)

    dst = consume_all(dest_cluster.bootstrap, topic_name)
    compare_partitions(src, dst, compare_timestamp_type=False)  # same key/value/headers and timestamp
    assert {r.timestamp_type for rs in dst.values() for r in rs} == {TIMESTAMP_CREATE_TIME}
    # The timestamps really are the source's append times, not the destination's.
    src_ts = [r.timestamp for rs in src.values() for r in rs]
    assert [r.timestamp for p in sorted(dst) for r in dst[p]] == [r.timestamp for p in sorted(src) for r in src[p]]
    assert len(set(src_ts)) > 1

    resource = ConfigResource(ConfigResource.Type.TOPIC, topic_name)
    admin = AdminClient({"bootstrap.servers": dest_cluster.bootstrap})  # must outlive the future
    configs = admin.describe_configs([resource])[resource].result(30)
    assert configs["message.timestamp.type"].value == "CreateTime"

    assert sum(s["batches_rebuilt"] for s in summaries.values()) > 0, summaries
    assert all(s["batches_rebuilt"] == s["batches_produced"] for s in summaries.values()), summaries
    for p in range(partitions):
        d = read_log_batches(dest_cluster.log_dirs[0], topic_name, p)
        assert not [b.base_offset for b in d if b.log_append_time], f"partition {p}: LogAppendTime batch on destination"
        assert {b.codec for b in d} == set(CODECS), "rebuilt batches keep each source batch's codec"
        assert all(b.crc_ok() for b in d)


# ----------------------------------------------------------------------------
# 5. start = "latest"


def test_start_latest_copies_only_new_records(source_cluster, dest_cluster, klink_process, topic_name):
    partitions = 3
    source_cluster.create_topic(topic_name, partitions=partitions)
    produce_mixed(source_cluster.bootstrap, topic_name, partitions, 50, codecs=["none", "zstd"])
    before = end_offsets(source_cluster.bootstrap, topic_name)
    assert all(before.values())

    klink = klink_process(topics=[topic_name], extra=JSON_LOGS, start=False)
    klink.config["links"][0]["mirror"]["start"] = "latest"
    klink.start()
    line = wait_for_mirroring(klink, topic_name)
    assert line.get("start") == "latest"

    after = produce_mixed(source_cluster.bootstrap, topic_name, partitions, 60, codecs=["gzip", "lz4"])
    wait_for_end_offsets(dest_cluster.bootstrap, topic_name, {p: len(v) for p, v in after.items()}, klink)
    stop_cleanly(klink, topic_name)

    src = consume_all(source_cluster.bootstrap, topic_name)
    dst = consume_all(dest_cluster.bootstrap, topic_name)
    assert_matches_produced(after, dst)
    compare_partitions({p: rs[before[p]:] for p, rs in src.items()}, dst)


# ----------------------------------------------------------------------------
# 6. SIGTERM mid-stream, restart


class BackgroundProducer:
    """Keeps producing numbered records, round-robin over the partitions, until stopped."""

    def __init__(self, bootstrap: str, topic: str, partitions: int):
        from confluent_kafka import Producer

        self.topic, self.partitions = topic, partitions
        self.producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "linger.ms": 5,
                                  "compression.codec": "snappy"})
        self.sent = 0
        self.errors: list = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _on_delivery(self, err, _msg):
        if err is not None:
            self.errors.append(err)

    def _run(self):
        while not self._stop.is_set():
            for _ in range(40):
                i = self.sent
                self.producer.produce(self.topic, key=f"k{i % 17}".encode(), value=f"record-{i}".encode() * 3,
                                      headers=[("i", str(i).encode())], partition=i % self.partitions,
                                      on_delivery=self._on_delivery)
                self.sent += 1
            self.producer.poll(0)
            self._stop.wait(0.01)  # pacing: roughly 4,000 records a second
        self.left = self.producer.flush(30)

    def start(self):
        self._thread.start()
        return self

    def running(self) -> bool:
        return self._thread.is_alive()

    def stop(self):
        self._stop.set()
        self._thread.join(60)
        assert not self._thread.is_alive() and self.left == 0 and not self.errors, (self.left, self.errors[:5])


def test_sigterm_mid_stream_then_restart(source_cluster, dest_cluster, klink_process, topic_name):
    partitions = 3
    source_cluster.create_topic(topic_name, partitions=partitions)
    producer = BackgroundProducer(source_cluster.bootstrap, topic_name, partitions).start()
    try:
        wait_until(lambda: sum(end_offsets(source_cluster.bootstrap, topic_name).values()) >= 3000, 60,
                   "the background producer to write 3000 records")
        first = klink_process(topics=[topic_name], extra=JSON_LOGS, name="klink-first")
        wait_for_mirroring(first, topic_name)
        wait_until(lambda: sum(end_offsets(dest_cluster.bootstrap, topic_name).values()) >= 6000, 60,
                   "klink to mirror 6000 records")
        assert producer.running(), "the producer must still be writing when klink is stopped"
        sent_at_sigterm = producer.sent
        summaries = stop_cleanly(first, topic_name)
        assert not errors_and_warnings(first), errors_and_warnings(first)[:5]

        # What the first run left: a prefix of each source partition, ending where klink says it did.
        prefix = consume_all(dest_cluster.bootstrap, topic_name)
        assert all(len(rs) > 0 for rs in prefix.values())
        for p, rs in prefix.items():
            assert summaries[p]["records_produced"] == len(rs), (p, summaries[p], len(rs))
            assert summaries[p]["mirrored_source_offset"] == len(rs), (p, summaries[p], len(rs))

        second = klink_process(topics=[topic_name], extra=JSON_LOGS, name="klink-second")
        wait_for_mirroring(second, topic_name)
        wait_until(lambda: producer.sent > sent_at_sigterm + 4000, 60, "more records produced after the restart")
    finally:
        producer.stop()

    src_ends = end_offsets(source_cluster.bootstrap, topic_name)
    assert sum(src_ends.values()) == producer.sent
    # Exact resume (offset-map checkpoints in __klink_offsets): each partition continues right
    # after what the first run acknowledged, so the destination ends up equal to the source,
    # without duplicates. (Before exact resume, a restart copied everything again and the
    # destination held the first run's prefix followed by the whole source.)
    resumed = {r["partition"]: r for r in messages(second, "mirror partition resumes from its checkpoint",
                                                   topic=topic_name)}
    assert sorted(resumed) == list(range(partitions)), f"resume lines: {resumed}"
    for p in range(partitions):
        assert (resumed[p]["source_offset"], resumed[p]["destination_offset"]) == (len(prefix[p]), len(prefix[p])), \
            (p, resumed[p], len(prefix[p]))
    wait_for_end_offsets(dest_cluster.bootstrap, topic_name, src_ends, second)
    summaries = stop_cleanly(second, topic_name)
    assert not errors_and_warnings(second), errors_and_warnings(second)[:5]
    for p in range(partitions):
        assert summaries[p]["records_produced"] == src_ends[p] - len(prefix[p]), (p, summaries[p])

    src = consume_all(source_cluster.bootstrap, topic_name)
    dst = consume_all(dest_cluster.bootstrap, topic_name)
    for p in range(partitions):
        assert [essence(r) for r in prefix[p]] == [essence(r) for r in src[p][:len(prefix[p])]], \
            f"partition {p}: the first run's copy is not a source prefix"
    # Every source record exactly once, in source order, at the same offset.
    compare_partitions(src, dst)
    assert all([r.offset for r in dst[p]] == [r.offset for r in src[p]] for p in range(partitions))
