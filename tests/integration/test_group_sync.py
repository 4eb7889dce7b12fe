"""Consumer-group offset sync ([links.consumer_offsets]): a group that committed on the
source resumes on the destination at exactly the destination copy of its next unread
record, although transactions (markers, aborted records) make the two clusters' offsets
differ; a group with a live member on the destination is left alone; translation
survives a klink restart (the offset maps come back from the checkpoints)."""

from __future__ import annotations

import json
import threading
import time
import uuid

from kafka_checks import (committed_offsets, consume_all, end_offsets, read_as_member, unique_topic,
                          wait_until)

PARTITIONS = 3
SYNC_INTERVAL_MS = 300


# ----------------------------------------------------------------------------
# Helpers


def produce_layout(bootstrap: str, topic: str) -> None:
    """Per partition: plain a0-9, committed txn b0-4, aborted txn x0-4, plain c0-9, committed
    txn d0-4, aborted txn y0-4, plain e0-9, aborted txn z0-4. Forty visible records per
    partition, interleaved with aborted records and a marker per transaction."""
    from confluent_kafka import Producer

    plain = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "linger.ms": 2})
    txn = Producer({"bootstrap.servers": bootstrap, "transactional.id": f"txn-{topic}", "linger.ms": 2})
    txn.init_transactions(30)

    def plain_run(tag: str, n: int):
        for p in range(PARTITIONS):
            for i in range(n):
                plain.produce(topic, key=f"{tag}-k{p}".encode(), value=f"{tag}{i}-p{p}".encode(), partition=p)
        assert plain.flush(30) == 0

    def txn_run(tag: str, commit: bool):
        txn.begin_transaction()
        for p in range(PARTITIONS):
            for i in range(5):
                txn.produce(topic, key=f"{tag}-k{p}".encode(), value=f"{tag}{i}-p{p}".encode(), partition=p)
        txn.flush(30)  # librdkafka 2.0.2 + Kafka 4.1: abort needs the records sent first
        (txn.commit_transaction if commit else txn.abort_transaction)(30)

    plain_run("a", 10)
    txn_run("b", True)
    txn_run("x", False)
    plain_run("c", 10)
    txn_run("d", True)
    txn_run("y", False)
    plain_run("e", 10)
    txn_run("z", False)


def produce_tail(bootstrap: str, topic: str, tag: str, n: int = 5) -> None:
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
    for p in range(PARTITIONS):
        for i in range(n):
            producer.produce(topic, key=f"{tag}-k{p}".encode(), value=f"{tag}{i}-p{p}".encode(), partition=p)
    assert producer.flush(30) == 0


def consume_and_commit(bootstrap: str, topic: str, group: str, counts: dict[int, int]) -> dict[int, int]:
    """A read_committed consumer of `group` reads the first counts[p] records of each partition
    and commits the offset after the last one it read. Returns the committed offsets."""
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False,
                         "isolation.level": "read_committed", "auto.offset.reset": "earliest"})
    committed: dict[int, int] = {}
    try:
        for p, n in counts.items():
            consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING)])
            read = []
            deadline = time.monotonic() + 30
            while len(read) < n:
                assert time.monotonic() < deadline, f"partition {p}: read {len(read)} of {n}"
                msg = consumer.poll(0.5)
                if msg is None:
                    continue
                assert msg.error() is None, msg.error()
                read.append(msg)
            committed[p] = read[-1].offset() + 1
            consumer.unassign()
        consumer.commit(offsets=[TopicPartition(topic, p, o) for p, o in committed.items()], asynchronous=False)
    finally:
        consumer.close()
    return committed


def group_offsets(bootstrap: str, topic: str, group: str) -> dict[int, int]:
    return committed_offsets(bootstrap, topic, group, PARTITIONS)


def visible_before(records, source_offset: int) -> int:
    """Destination offset of the first visible record at or after `source_offset`: klink copies
    only visible records and the mirror topic starts at 0, so it is the count before it."""
    return sum(1 for r in records if r.offset < source_offset)


def read_on_destination(bootstrap: str, topic: str, group: str, timeout: float = 60.0):
    """A member of `group` subscribes on the destination (failover) and reads from the group's
    committed position to the end of every partition: (key, value) per record."""
    read = read_as_member(bootstrap, topic, group, PARTITIONS, timeout)
    return {p: [(r.key, r.value) for r in records] for p, records in read.items()}


def klink_events(klink, msg: str) -> list[dict]:
    events = []
    for line in klink.stderr().splitlines():
        try:
            e = json.loads(line)
        except ValueError:
            continue
        if e.get("msg") == msg:
            events.append(e)
    return events


def start_klink(klink_process, source_cluster, dest_cluster, topic: str, groups: list[str], name="klink"):
    link = {
        "name": "gs",
        "source": {"bootstrap_servers": source_cluster.bootstrap_servers},
        "destination": {"bootstrap_servers": dest_cluster.bootstrap_servers},
        "topics": {"include": [topic]},
        "mirror": {"start": "earliest"},
        "consumer_offsets": {"sync": True, "include": groups, "exclude": ["klink-check-.*"],
                             "interval_ms": SYNC_INTERVAL_MS},
    }
    return klink_process(links=[link], name=name, log_level="debug", extra={"log": {"format": "json"}})


# ----------------------------------------------------------------------------


def test_group_offsets_sync_exactly_across_transactions_live_members_and_restart(
        source_cluster, dest_cluster, klink_process):
    topic = unique_topic("groupsync")
    source_cluster.create_topic(topic, partitions=PARTITIONS)
    produce_layout(source_cluster.bootstrap, topic)
    src = source_cluster.bootstrap
    dst = dest_cluster.bootstrap
    tag = uuid.uuid4().hex[:6]
    group = f"gs-main-{tag}"
    busy_group = f"gs-busy-{tag}"
    control_group = f"gs-control-{tag}"
    late_group = f"gs-late-{tag}"

    # (a) The group stops right before a commit marker (p0), right before a committed
    # transaction (p1) and right before an aborted one (p2).
    committed = consume_and_commit(src, topic, group, {0: 15, 1: 25, 2: 40})
    produce_tail(src, topic, "t")  # every partition has a next record to read
    source_records = consume_all(src, topic)
    assert all(len(source_records[p]) == 45 for p in range(PARTITIONS)), \
        {p: len(r) for p, r in source_records.items()}
    source_offsets = end_offsets(src, topic)
    assert all(source_offsets[p] > 45 for p in range(PARTITIONS)), \
        f"the layout must make source offsets differ from visible counts: {source_offsets}"
    expected = {p: visible_before(source_records[p], committed[p]) for p in range(PARTITIONS)}
    assert expected == {0: 15, 1: 25, 2: 40}, expected
    # What the source consumer would read next, to the end.
    source_rest = {p: [(r.key, r.value) for r in source_records[p] if r.offset >= committed[p]]
                   for p in range(PARTITIONS)}

    klink = start_klink(klink_process, source_cluster, dest_cluster, topic, [f"gs-.*-{tag}"])
    wait_until(lambda: end_offsets(dst, topic) == {p: 45 for p in range(PARTITIONS)}, timeout=60,
               what="every visible record mirrored")
    wait_until(lambda: group_offsets(dst, topic, group) == expected, timeout=30,
               what=f"destination offsets of {group} == {expected}")

    destination_rest = read_on_destination(dst, topic, group)
    for p in range(PARTITIONS):
        assert destination_rest[p], f"partition {p}: nothing read on the destination"
        assert destination_rest[p][0] == source_rest[p][0], \
            f"partition {p}: first record on the destination {destination_rest[p][0]} " \
            f"!= next unread source record {source_rest[p][0]}"
        # Zero re-read, zero skipped: the rest of the partition is the same sequence.
        assert destination_rest[p] == source_rest[p], f"partition {p}"

    # (b) A group with a live member on the destination is not overwritten.
    member_ready = threading.Event()
    stop_member = threading.Event()
    member_errors: list = []
    member_committed: dict[int, int] = {}

    def live_member():
        from confluent_kafka import Consumer, TopicPartition

        consumer = Consumer({"bootstrap.servers": dst, "group.id": busy_group, "enable.auto.commit": False,
                             "auto.offset.reset": "earliest", "isolation.level": "read_committed"})
        try:
            consumer.subscribe([topic])
            seen: dict[int, int] = {}
            while not stop_member.is_set():
                msg = consumer.poll(0.2)
                if msg is not None and msg.error() is None and msg.partition() not in seen:
                    seen[msg.partition()] = msg.offset()
                    consumer.pause([TopicPartition(topic, msg.partition())])
                if len(seen) == PARTITIONS and not member_ready.is_set():
                    offsets = [TopicPartition(topic, p, 3) for p in range(PARTITIONS)]
                    consumer.commit(offsets=offsets, asynchronous=False)
                    member_committed.update({p: 3 for p in range(PARTITIONS)})
                    member_ready.set()
        except Exception as e:  # surfaced below
            member_errors.append(e)
            member_ready.set()
        finally:
            consumer.close()  # leaves the group: it becomes Empty

    member = threading.Thread(target=live_member)
    member.start()
    try:
        wait_until(member_ready.is_set, timeout=60, what="the destination member to join and commit")
        assert not member_errors, member_errors
        busy_committed = consume_and_commit(src, topic, busy_group, {0: 20, 1: 20, 2: 20})
        busy_expected = {p: visible_before(source_records[p], busy_committed[p]) for p in range(PARTITIONS)}
        assert busy_expected == {0: 20, 1: 20, 2: 20}
        wait_until(lambda: any(e.get("group") == busy_group for e in klink_events(
            klink, "consumer group is active on the destination; its offsets are not synced while it has members")),
            timeout=30, what=f"klink to see {busy_group} active on the destination")
        # A group committed after that line is synced by a later full pass, which also
        # visited the busy group: it must still hold its member's own offsets.
        control_committed = consume_and_commit(src, topic, control_group, {0: 1, 1: 1, 2: 1})
        control_expected = {p: visible_before(source_records[p], control_committed[p]) for p in range(PARTITIONS)}
        wait_until(lambda: group_offsets(dst, topic, control_group) == control_expected, timeout=30,
                   what=f"{control_group} synced")
        assert group_offsets(dst, topic, busy_group) == member_committed, \
            "klink overwrote the offsets of a group with a live member on the destination"
    finally:
        stop_member.set()
        member.join(30)
    assert not member_errors, member_errors
    # Once the member has left, the group is synced.
    wait_until(lambda: group_offsets(dst, topic, busy_group) == busy_expected, timeout=30,
               what=f"{busy_group} synced after its destination member left")

    # (c) After a crash and restart the maps come from the checkpoints: a group that commits
    # only now, at offsets mirrored before the restart, is translated exactly. The new
    # process mirrors nothing new, so no offset map is rebuilt from fresh data.
    klink.kill()
    late_committed = consume_and_commit(src, topic, late_group, {0: 16, 1: 5, 2: 38})
    late_expected = {p: visible_before(source_records[p], late_committed[p]) for p in range(PARTITIONS)}
    assert late_expected == {0: 16, 1: 5, 2: 38}
    restarted = start_klink(klink_process, source_cluster, dest_cluster, topic, [f"gs-.*-{tag}"],
                            name="klink-restarted")
    wait_until(lambda: group_offsets(dst, topic, late_group) == late_expected, timeout=60,
               what=f"{late_group} synced after the restart")
    late_rest = read_on_destination(dst, topic, late_group)
    for p in range(PARTITIONS):
        want = [(r.key, r.value) for r in source_records[p] if r.offset >= late_committed[p]]
        assert late_rest[p] == want, f"partition {p} after the restart"
    assert end_offsets(dst, topic) == {p: 45 for p in range(PARTITIONS)}, "the restart duplicated records"
    synced = [e for e in klink_events(restarted, "consumer group offsets synced to the destination")
              if e.get("group") == late_group]
    assert synced, restarted.stderr_tail()
    assert restarted.stop() == 0
