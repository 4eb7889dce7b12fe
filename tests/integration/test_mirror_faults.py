"""klink under faults and bad input, against real Kafka brokers: a missing topic, a corrupt
batch in the source's log, a batch the destination refuses, an older (3.9.1) source
broker, an unreachable source that comes up later, and a partition leader killed mid-stream.

    KLINK_TEST_SOURCE_PORT=19700 KLINK_TEST_DEST_PORT=29700 \
        /usr/bin/python3 -m pytest tests/integration/test_mirror_faults.py -x -q

Clusters of its own (started and stopped by the test that needs them): 3 brokers on
19800..19802 (controllers 19850..19852), a late-starting source on 19810, Kafka 3.9.1 on 19900.
Config errors through the binary are covered by test_config_cli.py.
"""

from __future__ import annotations

import collections
import json
import os
import socket
import threading
import time

import pytest
from conftest import RUN_DIR
from harness.kafka import OLD_VERSION, KafkaCluster
from kafka_checks import (
    assert_matches_produced,
    compare_partitions,
    consume_all,
    data_batches,
    produce_mixed,
    read_log_batches,
    total_records,
    unique_topic,
    wait_until,
    watermarks,
)

JSON_LOGS = {"log": {"format": "json"}}
UNREACHABLE = "cluster unreachable; retrying with backoff"
REACHABLE = "cluster reachable"
NO_MATCH = "no source topic matches an include pattern yet; checking again at each refresh"
STOPPED = "mirror partition stopped"
# klink's topic refresh interval (not configurable yet) and its reconnect back-off cap.
TOPIC_REFRESH_S = 30
MAX_BACKOFF_S = 10

THREE_BROKER_PORT = 19800
LATE_SOURCE_PORT = 19810
OLD_BROKER_PORT = 19900


# ----------------------------------------------------------------------------
# Helpers


def events(klink, msg: str | None = None, **fields) -> list[dict]:
    """klink's JSON log lines (stderr), optionally only those with `msg` and `fields`."""
    out = []
    for line in klink.stderr().splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if msg is not None and event.get("msg") != msg:
            continue
        if all(event.get(k) == v for k, v in fields.items()):
            out.append(event)
    return out


def link_to(source_servers: list[str], dest_cluster, topics: list[str], name: str = "faults") -> list[dict]:
    # Test topic names are made of [A-Za-z0-9_-], so they are their own whole-name regexes.
    return [{
        "name": name,
        "source": {"bootstrap_servers": source_servers},
        "destination": {"bootstrap_servers": dest_cluster.bootstrap_servers},
        "topics": {"include": topics},
        "mirror": {"start": "earliest"},
    }]


def high_watermarks(bootstrap: str, topic: str) -> dict[int, int]:
    return {p: hw for p, (_, hw) in watermarks(bootstrap, topic).items()}


def wait_for_high_watermarks(bootstrap: str, topic: str, want: dict[int, int], klink=None, timeout: float = 120.0):
    """Until the destination's partitions end exactly at `want`; fails at once if one goes
    beyond (a duplicate or a record that should not have been written)."""
    deadline = time.monotonic() + timeout
    seen: dict[int, int] = {}
    while True:
        try:
            seen = high_watermarks(bootstrap, topic)
        except Exception as e:  # the mirror topic may not exist yet
            seen = {"error": repr(e)}
        beyond = {p: hw for p, hw in seen.items() if isinstance(p, int) and hw > want.get(p, 0)}
        if beyond:
            pytest.fail(f"{topic}: destination partitions past the expected end: {beyond} (want {want})",
                        pytrace=False)
        if seen == want:
            return
        if klink is not None and not klink.running():
            pytest.fail(f"klink exited ({klink.proc.returncode}) while mirroring {topic}; stderr tail:\n"
                        f"{klink.stderr_tail()}", pytrace=False)
        if time.monotonic() > deadline:
            tail = f"\nklink stderr tail:\n{klink.stderr_tail(20)}" if klink is not None else ""
            pytest.fail(f"{topic}: destination high watermarks {seen}, want {want} after {timeout:.0f}s{tail}",
                        pytrace=False)
        time.sleep(0.25)


def keep_running_for(klink, seconds: float):
    """Asserts that klink stays up for `seconds` (there is nothing to poll for: the point is
    that nothing happens)."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        assert klink.running(), f"klink exited ({klink.proc.returncode}); stderr tail:\n{klink.stderr_tail()}"
        time.sleep(0.2)


def port_closed(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1.0)
        return s.connect_ex(("127.0.0.1", port)) != 0


def produce_rounds(bootstrap: str, topic: str, rounds: list[dict[int, list[bytes]]]):
    """Produces each round's values to their partitions and flushes after every round, so
    each round is at least one batch of its own per partition (uncompressed)."""
    from confluent_kafka import Producer

    errors = []
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all",
                         "linger.ms": 50, "compression.codec": "none"})
    for r, parts in enumerate(rounds):
        for p, values in parts.items():
            for i, value in enumerate(values):
                producer.produce(topic, key=f"r{r}-p{p}-{i}".encode(), value=value, partition=p,
                                 on_delivery=lambda err, _m: err and errors.append(err))
        assert producer.flush(60) == 0, f"round {r} not delivered"
    assert not errors, errors[:5]


def summaries(klink) -> dict[int, dict]:
    return {e["partition"]: e for e in events(klink, "mirror partition summary")}


# ----------------------------------------------------------------------------
# 1. Include pattern without a topic


def test_include_pattern_without_topic_warns_once_and_keeps_running(klink_process, source_cluster, dest_cluster):
    never = unique_topic("does-not-exist-yet")
    late = unique_topic("created-later")
    k = klink_process(include=[never, late], extra=JSON_LOGS)
    wait_until(lambda: len(events(k, NO_MATCH)) >= 2, timeout=30, what="a no-match warning per pattern")
    assert sorted(e["pattern"] for e in events(k, NO_MATCH)) == sorted([never, late])

    # The late topic appears now; klink notices it at its next refresh (<= 30 s), and that
    # refresh must not warn again about the pattern that still matches nothing.
    source_cluster.create_topic(late, partitions=2)
    expected = produce_mixed(source_cluster.bootstrap, late, 2, 40, codecs=["none", "zstd"])
    wait_until(lambda: events(k, "mirroring topic", topic=late), timeout=TOPIC_REFRESH_S + 30,
               what=f"klink to pick up {late} at its next topic refresh")
    wait_for_high_watermarks(dest_cluster.bootstrap, late, high_watermarks(source_cluster.bootstrap, late), k)
    assert_matches_produced(expected, consume_all(dest_cluster.bootstrap, late))

    assert len(events(k, NO_MATCH, pattern=never)) == 1, events(k, NO_MATCH)
    assert len(events(k, NO_MATCH, pattern=late)) == 1, events(k, NO_MATCH)
    assert k.running()
    assert k.stop() == 0, k.stderr_tail()
    assert events(k, "link stopped cleanly")


# ----------------------------------------------------------------------------
# 2. A corrupt batch in the source's log


def _fetch_crc_error(bootstrap: str, topic: str, partition: int, timeout: float = 30.0) -> str | None:
    """Reads `partition` with librdkafka's CRC check on; returns its error text if any batch
    fails it, None if the whole partition reads clean."""
    from confluent_kafka import Consumer, KafkaError, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"crc-{os.getpid()}-{time.time_ns()}",
                         "enable.auto.commit": False, "enable.partition.eof": True, "check.crcs": True})
    try:
        consumer.assign([TopicPartition(topic, partition, 0)])
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for msg in consumer.consume(num_messages=500, timeout=0.5):
                err = msg.error()
                if err is None:
                    continue
                if err.code() == KafkaError._PARTITION_EOF:
                    return None
                return str(err)
        raise AssertionError(f"reading {topic}-{partition} did not finish within {timeout}s")
    finally:
        consumer.close()


def test_corrupt_source_batch_stops_only_its_partition(klink_process, source_cluster, dest_cluster, topic_name):
    topic = topic_name
    source_cluster.create_topic(topic, partitions=3)
    # 6 rounds of 20 records per partition: at least 6 uncompressed batches each.
    rounds = [{p: [f"round-{r}-p{p}-{i}-".encode() * 8 for i in range(20)] for p in range(3)} for r in range(6)]
    produce_rounds(source_cluster.bootstrap, topic, rounds)
    source = consume_all(source_cluster.bootstrap, topic)
    assert [len(source[p]) for p in range(3)] == [120, 120, 120]

    # Flip one byte in the records section of a batch in the middle of partition 1's log.
    log_dir = source_cluster.log_dirs[0]
    batches = data_batches(read_log_batches(log_dir, topic, 1))
    assert len(batches) >= 6, [(b.base_offset, b.records_count) for b in batches]
    victim_index = len(batches) // 2
    victim = batches[victim_index]
    assert victim.crc_ok() and victim.codec == "none"
    position = victim.position + 61 + len(victim.records) // 2
    segment = log_dir / f"{topic}-1" / victim.segment
    with open(segment, "r+b") as f:
        f.seek(position)
        old = f.read(1)[0]
        f.seek(position)
        f.write(bytes([old ^ 0x5A]))
        f.flush()
        os.fsync(f.fileno())
    corrupted = data_batches(read_log_batches(log_dir, topic, 1))
    assert [b.crc_ok() for b in corrupted] == [i != victim_index for i in range(len(corrupted))]
    # The broker serves its log bytes without re-validating them: an independent client with
    # CRC checks on sees the damage through a plain Fetch.
    crc_error = _fetch_crc_error(source_cluster.bootstrap, topic, 1)
    assert crc_error is not None and "crc" in crc_error.lower(), crc_error
    assert _fetch_crc_error(source_cluster.bootstrap, topic, 0) is None

    k = klink_process(topics=[topic], extra=JSON_LOGS)
    stopped = wait_until(lambda: events(k, STOPPED, topic=topic), timeout=60, what="mirror partition stopped")
    event = stopped[0]
    assert event["partition"] == 1, event
    assert event["state"] == "FAILED", event
    assert event["mirror_topic"] == topic, event
    assert f"CRC mismatch in record batch at offset {victim.base_offset}" in event["reason"], event
    # (The event's mirrored_source_offset is what the destination had acknowledged when the bad
    # batch was seen; the batches before it may still be in flight then. The summary at
    # shutdown, below, must say victim.base_offset.)
    assert event["mirrored_source_offset"] <= victim.base_offset, event

    want = {0: 120, 1: victim.base_offset, 2: 120}
    wait_for_high_watermarks(dest_cluster.bootstrap, topic, want, k, timeout=45)
    dest = consume_all(dest_cluster.bootstrap, topic)
    compare_partitions({0: source[0], 2: source[2]}, {0: dest[0], 2: dest[2]})
    compare_partitions({1: [r for r in source[1] if r.offset < victim.base_offset]}, {1: dest[1]})

    assert len(events(k, STOPPED)) == 1, events(k, STOPPED)
    assert k.running()
    assert k.stop() == 0, k.stderr_tail()
    assert high_watermarks(dest_cluster.bootstrap, topic) == want
    s = summaries(k)
    assert s[1]["state"] == "FAILED" and s[1]["mirrored_source_offset"] == victim.base_offset, s[1]
    assert s[0]["state"] == s[2]["state"] == "ACTIVE", s


# ----------------------------------------------------------------------------
# 3. A batch the destination refuses


def test_destination_refusing_a_batch_stops_only_its_partition(klink_process, source_cluster, dest_cluster,
                                                               topic_name):
    topic = topic_name
    source_cluster.create_topic(topic, partitions=3)
    # The mirror topic exists already, with a batch size limit the source does not have.
    dest_cluster.create_topic(topic, partitions=3, configs={"max.message.bytes": 2000})
    small = lambda r, p: [f"small-{r}-{p}-{i}".encode() for i in range(5)]  # noqa: E731
    rounds = [{p: small(r, p) for p in range(3)} for r in range(3)]
    rounds.append({0: small(3, 0), 1: [os.urandom(500) for _ in range(10)], 2: small(3, 2)})  # ~5 KB batch
    rounds += [{p: small(r, p) for p in range(3)} for r in range(4, 7)]
    produce_rounds(source_cluster.bootstrap, topic, rounds)
    source = consume_all(source_cluster.bootstrap, topic)

    big = [b for b in data_batches(read_log_batches(source_cluster.log_dirs[0], topic, 1)) if len(b.raw) > 2000]
    assert len(big) == 1, [(b.base_offset, len(b.raw)) for b in big]
    big = big[0]
    assert big.base_offset == 15 and len(source[1]) == 40, (big.base_offset, len(source[1]))

    k = klink_process(topics=[topic], extra=JSON_LOGS)
    stopped = wait_until(lambda: events(k, STOPPED, topic=topic), timeout=60, what="mirror partition stopped")
    event = stopped[0]
    assert event["partition"] == 1 and event["state"] == "FAILED", event
    # klink appends the broker's error_message when the Produce response carries one; Kafka
    # 4.1 sends none for MESSAGE_TOO_LARGE (only for record validation errors), so either form.
    prefix = f"destination refused the batch from source offset {big.base_offset}: MESSAGE_TOO_LARGE"
    assert event["reason"] == prefix or event["reason"].startswith(prefix + ": "), event
    assert event["mirrored_source_offset"] == big.base_offset, event

    want = {0: len(source[0]), 1: big.base_offset, 2: len(source[2])}
    wait_for_high_watermarks(dest_cluster.bootstrap, topic, want, k, timeout=45)
    dest = consume_all(dest_cluster.bootstrap, topic)
    compare_partitions({0: source[0], 2: source[2]}, {0: dest[0], 2: dest[2]})
    compare_partitions({1: source[1][:big.base_offset]}, {1: dest[1]})
    assert not events(k, "mirror topic created", topic=topic), "klink must use the existing mirror topic"

    assert len(events(k, STOPPED)) == 1, events(k, STOPPED)
    assert k.running()
    assert k.stop() == 0, k.stderr_tail()
    # Nothing after the refused batch was written, not even while draining at shutdown.
    assert high_watermarks(dest_cluster.bootstrap, topic) == want


# ----------------------------------------------------------------------------
# 4. An older source broker (ApiVersions negotiation: Fetch <= 17, Produce without topic ids...)


def test_kafka_3_9_source_broker(klink_process, dest_cluster):
    topic = unique_topic("from-3-9")
    cluster = KafkaCluster("faults-old", brokers=1, base_port=OLD_BROKER_PORT, version=OLD_VERSION,
                           workdir=RUN_DIR / "faults-old")
    with cluster:
        cluster.create_topic(topic, partitions=3)
        expected = produce_mixed(cluster.bootstrap, topic, 3, 150)
        k = klink_process(links=link_to(cluster.bootstrap_servers, dest_cluster, [topic]), extra=JSON_LOGS)
        wait_for_high_watermarks(dest_cluster.bootstrap, topic, high_watermarks(cluster.bootstrap, topic), k)
        source = consume_all(cluster.bootstrap, topic)
        dest = consume_all(dest_cluster.bootstrap, topic)
        assert_matches_produced(expected, source)
        compare_partitions(source, dest)
        # Byte for byte: the same batches with the same records sections, codec by codec.
        for p in range(3):
            src_batches = data_batches(read_log_batches(cluster.log_dirs[0], topic, p))
            dst_batches = data_batches(read_log_batches(dest_cluster.log_dirs[0], topic, p))
            assert {b.codec for b in src_batches} == {"none", "gzip", "snappy", "lz4", "zstd"}
            assert [(b.codec, b.records_count, b.records) for b in src_batches] == \
                   [(b.codec, b.records_count, b.records) for b in dst_batches], f"partition {p}"
        assert not events(k, STOPPED), events(k, STOPPED)
        assert k.stop() == 0, k.stderr_tail()


# ----------------------------------------------------------------------------
# 5. An unreachable source that comes up later


def test_unreachable_source_is_retried_until_it_comes_up(klink_process, dest_cluster):
    topic = unique_topic("late-source")
    cluster = KafkaCluster("faults-late", brokers=1, base_port=LATE_SOURCE_PORT, workdir=RUN_DIR / "faults-late")
    try:
        # Prepare the data, then take the cluster down: klink starts against a closed port.
        cluster.start()
        cluster.create_topic(topic, partitions=2)
        expected = produce_mixed(cluster.bootstrap, topic, 2, 100, codecs=["none", "lz4"])
        cluster.stop()
        assert port_closed(LATE_SOURCE_PORT)

        k = klink_process(links=link_to(cluster.bootstrap_servers, dest_cluster, [topic]), extra=JSON_LOGS)
        first = wait_until(lambda: events(k, UNREACHABLE), timeout=30, what="the unreachable warning")[0]
        assert first["cluster"] == "source" and first["link"] == "faults" and first["error"], first
        keep_running_for(k, 10.0)
        # Retried all along (1, 2, 4, 8 s back-off), reported once.
        assert len(events(k, UNREACHABLE)) == 1, events(k, UNREACHABLE)
        assert not events(k, REACHABLE, cluster="source")
        assert events(k, REACHABLE, cluster="destination")

        cluster.start(fresh=False)
        up = time.monotonic()
        wait_until(lambda: events(k, REACHABLE, cluster="source"), timeout=MAX_BACKOFF_S + 10,
                   what="klink to reach the source once it is up (back-off <= 10 s)")
        reached_after = time.monotonic() - up
        wait_for_high_watermarks(dest_cluster.bootstrap, topic, high_watermarks(cluster.bootstrap, topic), k,
                                 timeout=TOPIC_REFRESH_S + 60)
        assert_matches_produced(expected, consume_all(dest_cluster.bootstrap, topic))
        compare_partitions(consume_all(cluster.bootstrap, topic), consume_all(dest_cluster.bootstrap, topic))
        assert len(events(k, UNREACHABLE)) == 1, events(k, UNREACHABLE)
        assert len(events(k, REACHABLE, cluster="source")) == 1
        assert k.stop() == 0, k.stderr_tail()
        print(f"source reachable {reached_after:.1f}s after the cluster came up")
    finally:
        cluster.stop()


# ----------------------------------------------------------------------------
# 6. The leader of most partitions is killed while a producer streams


class StreamingProducer(threading.Thread):
    """Produces `minimum` records or more (until stop() is called), paced at `rate` per second,
    round-robin over the partitions, idempotent with acks=all; counts acknowledgements."""

    def __init__(self, bootstrap: str, topic: str, partitions: int, minimum: int, rate: float):
        super().__init__(daemon=True)
        self.bootstrap, self.topic, self.partitions = bootstrap, topic, partitions
        self.minimum, self.rate = minimum, rate
        self.acked = 0
        self.sent = 0
        self.errors: list = []
        self.undelivered = -1
        self._finish = threading.Event()
        self._cancel = threading.Event()

    def _on_delivery(self, err, _msg):
        if err is None:
            self.acked += 1
        else:
            self.errors.append(err)

    def run(self):
        from confluent_kafka import Producer

        producer = Producer({"bootstrap.servers": self.bootstrap, "enable.idempotence": True, "acks": "all",
                             "linger.ms": 5, "compression.codec": "lz4", "message.timeout.ms": 120000})
        start = time.monotonic()
        i = 0
        while not self._cancel.is_set() and (i < self.minimum or not self._finish.is_set()):
            for _ in range(500):
                value = f"value-{i:07d}-".encode() + bytes(range(97, 123)) * 4
                while True:
                    try:
                        producer.produce(self.topic, key=f"key-{i}".encode(), value=value,
                                         partition=i % self.partitions, on_delivery=self._on_delivery)
                        break
                    except BufferError:  # local queue full while a leader is away
                        producer.poll(0.1)
                i += 1
            producer.poll(0)
            ahead = i / self.rate - (time.monotonic() - start)
            if ahead > 0:
                self._cancel.wait(ahead)  # pacing, not waiting for an event
        self.sent = i
        self.undelivered = producer.flush(0 if self._cancel.is_set() else 150)

    def stop(self, abort: bool = False):
        (self._cancel if abort else self._finish).set()


def test_leader_killed_mid_stream_loses_and_duplicates_nothing(klink_process, dest_cluster):
    topic = unique_topic("leader-move")
    partitions = 6
    cluster = KafkaCluster(
        "faults-3b", brokers=3, base_port=THREE_BROKER_PORT, workdir=RUN_DIR / "faults-3b",
        extra_broker_config={
            # Kafka's defaults (9 s session, 2 s heartbeat) keep a SIGKILLed broker's partitions
            # leaderless for ~9 s; 3 s is enough here and keeps the test short.
            "broker.session.timeout.ms": 3000,
            "broker.heartbeat.interval.ms": 500,
            # No automatic preferred-leader rebalancing: the test runs the election itself.
            "auto.leader.rebalance.enable": "false",
        })
    with cluster:
        cluster.create_topic(topic, partitions=partitions, replication_factor=3,
                             configs={"min.insync.replicas": 2})
        k = klink_process(links=link_to(cluster.bootstrap_servers, dest_cluster, [topic]), extra=JSON_LOGS)
        producer = StreamingProducer(cluster.bootstrap, topic, partitions, minimum=200_000, rate=6000)
        producer.start()
        try:
            wait_until(lambda: producer.acked >= 40_000, timeout=60, what="40k records acknowledged")
            wait_until(lambda: sum(high_watermarks(dest_cluster.bootstrap, topic).values()) > 0, timeout=60,
                       what="klink to start mirroring")

            leaders = {p: info.leader for p, info in cluster.metadata([topic]).topics[topic].items()}
            victim = collections.Counter(leaders.values()).most_common(1)[0][0]
            led = sorted(p for p, b in leaders.items() if b == victim)
            cluster.kill_broker(victim)
            acked_at_kill = producer.acked

            def moved():
                now = cluster.metadata([topic]).topics[topic]
                return all(now[p].leader not in (-1, victim) for p in range(partitions))

            wait_until(moved, timeout=60, what=f"leadership of partitions {led} to move off broker {victim}")
            wait_until(lambda: producer.acked >= acked_at_kill + 30_000, timeout=120,
                       what="the producer to go on through the failover")

            cluster.start_broker(victim)
            wait_until(lambda: all(len(info.isr) == 3 for info in cluster.metadata([topic]).topics[topic].values()),
                       timeout=120, what=f"broker {victim} back in every ISR")
            cluster.run_tool("leader-election", ["--bootstrap-server", "{bootstrap}", "--election-type",
                                                 "PREFERRED", "--topic", topic, "--partition", str(led[0])],
                             check=False)
            wait_until(lambda: cluster.partition_leader(topic, led[0]) == victim, timeout=60,
                       what=f"broker {victim} to lead partition {led[0]} again")
            acked_at_election = producer.acked
            wait_until(lambda: producer.acked >= acked_at_election + 10_000, timeout=120,
                       what="the producer to go on after the preferred leader election")
            producer.stop()
            producer.join(timeout=300)
        finally:
            producer.stop(abort=True)
            producer.join(timeout=30)
        assert producer.undelivered == 0 and not producer.errors, (producer.undelivered, producer.errors[:5])
        assert producer.sent >= 200_000

        source_ends = high_watermarks(cluster.bootstrap, topic)
        # The idempotent producer wrote each record exactly once to the source.
        assert sum(source_ends.values()) == producer.sent, source_ends
        wait_for_high_watermarks(dest_cluster.bootstrap, topic, source_ends, k, timeout=180)
        source = consume_all(cluster.bootstrap, topic, timeout=120)
        dest = consume_all(dest_cluster.bootstrap, topic, timeout=120)
        assert total_records(source) == producer.sent
        compare_partitions(source, dest)
        assert not events(k, STOPPED), events(k, STOPPED)
        # klink did lose its fetch connection to the killed leader (debug log).
        assert events(k, "fetch failed", broker=victim), k.stderr_tail()
        assert k.stop() == 0, k.stderr_tail()
        s = summaries(k)
        assert sum(e["records_produced"] for e in s.values()) == producer.sent, s
        print(f"killed broker {victim} (leader of {led}); {producer.sent} records; "
              f"produce retries {sum(e['produce_retries'] for e in s.values())}")

