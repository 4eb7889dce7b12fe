"""Checks that do not trust klink: read a broker's segment files directly, consume with
librdkafka (confluent_kafka, an independent client), and compare partitions.

Run with /usr/bin/python3 (Debian's python3-confluent-kafka).
"""

from __future__ import annotations

import ctypes
import re
import struct
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

# ----------------------------------------------------------------------------
# Polling and naming


def wait_until(predicate, timeout: float = 30.0, what: str = "condition", interval: float = 0.1):
    """Polls `predicate` until it returns something truthy, which is returned. Fails the test
    with `what` (and the predicate's last exception, if any) after `timeout` seconds."""
    import pytest

    deadline = time.monotonic() + timeout
    last_error = None
    while True:
        try:
            value = predicate()
            if value:
                return value
            last_error = None
        except Exception as e:  # the predicate may fail while the system settles
            last_error = e
        if time.monotonic() > deadline:
            detail = f" (last error: {last_error!r})" if last_error else ""
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}{detail}", pytrace=False)
        time.sleep(interval)


def unique_topic(prefix: str = "t") -> str:
    """A topic name that no other test on the shared clusters uses."""
    clean = re.sub(r"[^A-Za-z0-9._-]", "-", prefix)[:150]
    return f"{clean}-{uuid.uuid4().hex[:8]}"


CODEC_NAMES = {0: "none", 1: "gzip", 2: "snappy", 3: "lz4", 4: "zstd"}
CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]

# ----------------------------------------------------------------------------
# (a) On-disk RecordBatch v2 reader

_HEADER = struct.Struct(">qiibIhiqqqhii")  # 61 bytes, see PROTOCOL-NOTES.md
assert _HEADER.size == 61


def _crc32c_table() -> list[int]:
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_CRC32C_TABLE = _crc32c_table()


def crc32c(data: bytes) -> int:
    """Pure-Python CRC-32C (Castagnoli): slow, but independent of klink's implementation."""
    crc = 0xFFFFFFFF
    table = _CRC32C_TABLE
    for b in data:
        crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


@dataclass
class LogBatch:
    base_offset: int
    last_offset: int
    partition_leader_epoch: int
    magic: int
    crc: int
    attributes: int
    base_timestamp: int
    max_timestamp: int
    producer_id: int
    producer_epoch: int
    base_sequence: int
    records_count: int
    records: bytes  # bytes 61..end: the records section exactly as stored
    raw: bytes  # the whole batch
    segment: str  # file name of the segment holding it
    position: int  # byte position in that segment

    @property
    def codec(self) -> str:
        return CODEC_NAMES.get(self.attributes & 0x07, f"unknown({self.attributes & 0x07})")

    @property
    def log_append_time(self) -> bool:
        return bool(self.attributes & 0x08)

    @property
    def transactional(self) -> bool:
        return bool(self.attributes & 0x10)

    @property
    def control(self) -> bool:
        return bool(self.attributes & 0x20)

    def crc_ok(self) -> bool:
        return crc32c(self.raw[21:]) == self.crc


def read_segment(path: str | Path) -> list[LogBatch]:
    """Batches of one `.log` segment file, in file order. A trailing partial batch (a write
    in progress) is ignored."""
    path = Path(path)
    data = path.read_bytes()
    batches, pos = [], 0
    while pos + 17 <= len(data):
        base_offset, length = struct.unpack_from(">qi", data, pos)
        size = length + 12
        if length <= 0 or pos + size > len(data):
            break
        magic = data[pos + 16]
        if magic != 2:
            raise ValueError(f"{path}@{pos}: message format v{magic}, only v2 is supported")
        if size < 61:
            raise ValueError(f"{path}@{pos}: batch of {size} bytes is shorter than its header")
        (_, _, epoch, magic, crc, attributes, last_delta, base_ts, max_ts, producer_id,
         producer_epoch, base_sequence, records_count) = _HEADER.unpack_from(data, pos)
        raw = data[pos:pos + size]
        batches.append(LogBatch(base_offset, base_offset + last_delta, epoch, magic, crc, attributes, base_ts,
                                max_ts, producer_id, producer_epoch, base_sequence, records_count, raw[61:], raw,
                                path.name, pos))
        pos += size
    return batches


def read_log_batches(log_dir: str | Path, topic: str, partition: int) -> list[LogBatch]:
    """Every batch of `topic`-`partition` under a broker's log dir, in offset order across
    segments (read while the broker runs: what the page cache holds is what is returned)."""
    part_dir = Path(log_dir) / f"{topic}-{partition}"
    if not part_dir.is_dir():
        raise FileNotFoundError(f"no partition folder {part_dir}")
    segments = sorted(part_dir.glob("*.log"), key=lambda p: int(p.stem))
    return [b for seg in segments for b in read_segment(seg)]


def data_batches(batches: list[LogBatch]) -> list[LogBatch]:
    """Batches that carry records (not commit/abort markers)."""
    return [b for b in batches if not b.control]


# ----------------------------------------------------------------------------
# (b) Consuming with librdkafka


class Record(NamedTuple):
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes | None], ...]
    timestamp_type: int  # 0 none, 1 CreateTime, 2 LogAppendTime (confluent_kafka's TIMESTAMP_*)
    timestamp: int


def partition_count(bootstrap: str, topic: str, timeout: float = 10.0) -> int:
    from confluent_kafka.admin import AdminClient

    md = AdminClient({"bootstrap.servers": bootstrap}).list_topics(topic, timeout=timeout)
    t = md.topics.get(topic)
    if t is None or t.error is not None:
        raise AssertionError(f"topic {topic} not found at {bootstrap}: {t.error if t else 'absent'}")
    return len(t.partitions)


_py_incref = ctypes.pythonapi.Py_IncRef
_py_incref.argtypes = [ctypes.py_object]
_py_incref.restype = None


def _offset_none_refcount_bug(headers):
    """Debian 12's python3-confluent-kafka (1.7.0) drops a reference to None it never took when
    a consumed message is freed (one per message, one more per null header value that headers()
    returned). On Python < 3.12 None is refcounted, so after ~100k consumed records the
    interpreter aborts with "none_dealloc: deallocating None". Taking those references here keeps
    None alive; a spare one per message is harmless if a fixed binding is installed."""
    if sys.version_info >= (3, 12):  # None is immortal
        return
    for _ in range(2 + sum(1 for _k, v in headers if v is None)):
        _py_incref(None)


def consume_all(bootstrap: str, topic: str, isolation: str = "read_committed", timeout: float = 60.0,
                partitions: list[int] | None = None) -> dict[int, list[Record]]:
    """Everything readable in `topic` now, per partition, from the start (no group offsets
    committed). Ends when every partition reports end-of-partition; fails after `timeout`."""
    from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

    if partitions is None:
        partitions = list(range(partition_count(bootstrap, topic)))
    consumer = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": f"klink-check-{uuid.uuid4().hex}",
        "enable.auto.commit": False,
        "enable.partition.eof": True,
        "isolation.level": isolation,
        "auto.offset.reset": "earliest",
        "fetch.wait.max.ms": 100,
    })
    result: dict[int, list[Record]] = {p: [] for p in partitions}
    try:
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
        pending = set(partitions)
        deadline = time.monotonic() + timeout
        while pending:
            if time.monotonic() > deadline:
                raise AssertionError(f"consume_all({topic}) timed out after {timeout}s; partitions not at end: "
                                     f"{sorted(pending)}; read so far: { {p: len(r) for p, r in result.items()} }")
            for msg in consumer.consume(num_messages=1000, timeout=0.5):
                err = msg.error()
                if err is not None:
                    if err.code() == KafkaError._PARTITION_EOF:
                        pending.discard(msg.partition())
                        continue
                    raise AssertionError(f"consume_all({topic}): {err}")
                ts_type, ts = msg.timestamp()
                headers = tuple((k, v) for k, v in (msg.headers() or []))
                _offset_none_refcount_bug(headers)
                result[msg.partition()].append(Record(msg.offset(), msg.key(), msg.value(), headers, ts_type, ts))
                # A record after an EOF means the partition grew: read on to its new end.
                pending.add(msg.partition())
    finally:
        consumer.close()
    return result


# ----------------------------------------------------------------------------
# (c) Comparison


def _show(r: Record) -> str:
    def short(b):
        if b is None:
            return "null"
        return repr(b if len(b) <= 40 else b[:37] + b"...") + (f"({len(b)}B)" if len(b) > 40 else "")

    hdrs = ",".join(f"{k}={short(v)}" for k, v in r.headers)
    return f"@{r.offset} key={short(r.key)} value={short(r.value)} headers=[{hdrs}] ts={r.timestamp_type}:{r.timestamp}"


def compare_partitions(src: dict[int, list[Record]], dst: dict[int, list[Record]],
                       compare_timestamp_type: bool = True, context: int = 3):
    """Asserts that each partition holds the same key/value/headers/timestamp sequence
    on both sides (offsets may differ). The error shows the first difference."""
    problems = []
    if sorted(src) != sorted(dst):
        problems.append(f"partitions differ: source {sorted(src)} destination {sorted(dst)}")

    def essence(r: Record):
        return (r.key, r.value, r.headers, r.timestamp_type if compare_timestamp_type else None, r.timestamp)

    for p in sorted(set(src) & set(dst)):
        a, b = src[p], dst[p]
        ea, eb = [essence(r) for r in a], [essence(r) for r in b]
        if ea == eb:
            continue
        first = next((i for i, (x, y) in enumerate(zip(ea, eb)) if x != y), min(len(ea), len(eb)))
        lines = [f"partition {p}: source has {len(a)} records, destination {len(b)}; first difference at index {first}"]
        lo = max(0, first - context)
        for i in range(lo, first + context + 1):
            left = _show(a[i]) if i < len(a) else "(none)"
            right = _show(b[i]) if i < len(b) else "(none)"
            mark = "  " if i < first else "!!" if i == first else "  "
            lines.append(f" {mark} [{i}] src {left}\n {mark} [{i}] dst {right}")
        problems.append("\n".join(lines))
    if problems:
        raise AssertionError("source and destination differ:\n" + "\n".join(problems))


def total_records(records: dict[int, list[Record]]) -> int:
    return sum(len(r) for r in records.values())


# ----------------------------------------------------------------------------
# (d) Producing varied data


class Produced(NamedTuple):
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes | None], ...]
    codec: str


def _record(i: int, codec: str) -> tuple[bytes | None, bytes | None, list[tuple[str, bytes | None]]]:
    key = None if i % 7 == 3 else f"key-{i % 50}".encode()
    if i % 11 == 5:
        value = None
    elif i % 13 == 6:
        value = b""
    else:
        # Repetitive, somewhat large values so that codecs actually compress.
        value = (f"{codec}-value-{i}-" * (1 + i % 40)).encode()
    headers: list[tuple[str, bytes | None]] = []
    if i % 3 == 0:
        headers.append(("seq", str(i).encode()))
    if i % 5 == 0:
        headers.append(("codec", codec.encode()))
        headers.append(("null-header", None))
    return key, value, headers


def produce_mixed(bootstrap: str, topic: str, partitions: int, n: int, codecs: list[str] | None = None,
                  idempotent: bool = True, linger_ms: int = 5, timeout: float = 60.0) -> dict[int, list[Produced]]:
    """Produces `n` records per codec (one producer per codec, one after the other) spread
    round-robin over `partitions`: null keys, null and empty values, headers (some null).
    Returns what each partition should now hold, in order."""
    from confluent_kafka import Producer

    expected: dict[int, list[Produced]] = {p: [] for p in range(partitions)}
    for codec in codecs or CODECS:
        errors = []

        def on_delivery(err, _msg, errors=errors):
            if err is not None:
                errors.append(err)

        producer = Producer({
            "bootstrap.servers": bootstrap,
            "compression.codec": codec,
            "enable.idempotence": idempotent,
            "acks": "all",
            "linger.ms": linger_ms,
            # Without idempotence, retries with several requests in flight could reorder.
            "max.in.flight.requests.per.connection": 5 if idempotent else 1,
        })
        for i in range(n):
            key, value, headers = _record(i, codec)
            p = i % partitions
            producer.produce(topic, value=value, key=key, headers=headers or None, partition=p,
                             on_delivery=on_delivery)
            expected[p].append(Produced(key, value, tuple(headers), codec))
            producer.poll(0)
        left = producer.flush(timeout)
        if left or errors:
            raise AssertionError(f"produce_mixed({topic}, {codec}): {left} undelivered, errors: {errors[:5]}")
    return expected


def assert_matches_produced(expected: dict[int, list[Produced]], consumed: dict[int, list[Record]]):
    """Consumed records equal what produce_mixed() sent (key, value, headers), per partition."""
    for p, want in expected.items():
        got = consumed.get(p, [])
        w = [(e.key, e.value, e.headers) for e in want]
        g = [(r.key, r.value, r.headers) for r in got]
        if w != g:
            first = next((i for i, (x, y) in enumerate(zip(w, g)) if x != y), min(len(w), len(g)))
            raise AssertionError(f"partition {p}: produced {len(w)}, consumed {len(g)}; first difference at "
                                 f"{first}: produced {w[first] if first < len(w) else None} consumed "
                                 f"{g[first] if first < len(g) else None}")


def watermarks(bootstrap: str, topic: str, partitions: list[int] | None = None,
               timeout: float = 10.0) -> dict[int, tuple[int, int]]:
    """(log start offset, high watermark) of each partition, as the leaders report them now."""
    from confluent_kafka import Consumer, TopicPartition

    if partitions is None:
        partitions = list(range(partition_count(bootstrap, topic)))
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"klink-check-{uuid.uuid4().hex}",
                         "enable.auto.commit": False})
    try:
        return {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=timeout, cached=False)
                for p in partitions}
    finally:
        consumer.close()


# ----------------------------------------------------------------------------
# (e) Offsets


def end_offsets(bootstrap: str, topic: str, partitions: list[int] | None = None,
                timeout: float = 10.0) -> dict[int, int]:
    """The high watermark of each partition (the offset the next record will get)."""
    return {p: high for p, (_low, high) in watermarks(bootstrap, topic, partitions, timeout).items()}


# ----------------------------------------------------------------------------
# Consumer groups


def commit(bootstrap: str, group: str, topic: str, offsets: dict[int, int]) -> None:
    """Commits offsets for `group` as an admin would (no member, no generation)."""
    from confluent_kafka import Consumer, TopicPartition

    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        c.commit(offsets=[TopicPartition(topic, p, o) for p, o in offsets.items()], asynchronous=False)
    finally:
        c.close()


def committed_offsets(bootstrap: str, topic: str, group: str, partitions: int) -> dict[int, int]:
    """The group's committed offset per partition (-1001 when none), read without joining it."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        tps = consumer.committed([TopicPartition(topic, p) for p in range(partitions)], timeout=10)
        return {tp.partition: tp.offset for tp in tps}
    finally:
        consumer.close()


def read_as_member(bootstrap: str, topic: str, group: str, partitions: int,
                   timeout: float = 30.0) -> dict[int, list[Record]]:
    """A member of `group` subscribes (read_committed) and reads every partition from the group's
    committed position to its end. With no committed offset it starts at the very beginning, so a
    missing offset sync cannot look like success."""
    from confluent_kafka import Consumer, KafkaError

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False,
                         "isolation.level": "read_committed", "enable.partition.eof": True,
                         "auto.offset.reset": "earliest", "fetch.wait.max.ms": 100})
    out: dict[int, list[Record]] = {p: [] for p in range(partitions)}
    pending = set(range(partitions))
    try:
        consumer.subscribe([topic])
        deadline = time.monotonic() + timeout
        while pending:
            assert time.monotonic() < deadline, f"{group}: did not reach the end of partitions {sorted(pending)}"
            for msg in consumer.consume(num_messages=100, timeout=0.5):
                if msg.error() is not None:
                    assert msg.error().code() == KafkaError._PARTITION_EOF, msg.error()
                    pending.discard(msg.partition())
                    continue
                headers = tuple((k, v) for k, v in (msg.headers() or []))
                _offset_none_refcount_bug(headers)
                ts_type, ts = msg.timestamp()
                out[msg.partition()].append(Record(msg.offset(), msg.key(), msg.value(), headers, ts_type, ts))
                pending.add(msg.partition())
    finally:
        consumer.close()
    return out
