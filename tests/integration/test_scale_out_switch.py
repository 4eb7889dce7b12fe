"""Whole-link promote and failover with scale-out: three klink instances share one link, and
one call to any of them switches every partition of the mirror, whichever instance ran it.

- promote through an instance that is not the group's leader while the mirror is behind:
  the call copies every partition up to the source's end as of the call, then all three
  instances report PROMOTED, the group assigns the topic to nobody, the destination equals the
  source exactly, and records produced afterwards never reach the mirror;
- failover through another instance while a stream runs: all three report FAILED_OVER, the
  destination stops growing at once, and each mirror partition is an exact prefix of its source
  partition (nothing duplicated, nothing skipped before the stop).

The hand-over is a rebalance (linker/README.md, "Whole-link promote and failover").

Run: KLINK_TEST_SOURCE_PORT=37192 KLINK_TEST_DEST_PORT=38192 \\
     /usr/bin/python3 -m pytest tests/integration/test_scale_out_switch.py -q
"""

from __future__ import annotations

import json

import pytest

from admin_client import get_json, http
from kafka_checks import Record, compare_partitions, consume_all, unique_topic, wait_until
from links_support import JSON_LOGS, PacedProducer, high_watermarks, link_config, produce_n, stays

PARTITIONS = 24
SESSION_MS = 6000


def start_three(klink_process, source_cluster, dest_cluster, topic: str) -> list:
    link = link_config("so", source_cluster, dest_cluster, topic)
    link["scale_out"] = {"enabled": True, "session_timeout_ms": SESSION_MS}
    procs = [klink_process(links=[link], extra=JSON_LOGS, name=f"so-{i}", log_level="info")
             for i in range(3)]
    wait_until(lambda: shares(procs[0]) == [8, 8, 8], timeout=60,
               what="three instances owning 8 partitions each")
    return procs


def members(proc) -> dict | None:
    status, body, _ = http(f"{proc.admin_url}/v1/links/so/members")
    return json.loads(body) if status == 200 else None


def shares(proc) -> list[int] | None:
    doc = members(proc)
    if doc is None:
        return None
    return sorted(m["partition_count"] for m in doc["members"])


def assigned_partitions_of(proc, topic: str) -> int:
    doc = members(proc)
    assert doc is not None
    return sum(len(t["partitions"]) for m in doc["members"] for t in m["partitions"] if t["topic"] == topic)


def mirror_state(proc, topic: str) -> str | None:
    status, body, _ = http(f"{proc.admin_url}/v1/links/so/mirrors/{topic}")
    return json.loads(body).get("state") if status == 200 else None


def switch(proc, topic: str, action: str, timeout_ms: int = 60000) -> tuple[int, dict]:
    status, body, _ = http(f"{proc.admin_url}/v1/links/so/mirrors/{topic}:{action}", method="POST",
                           body=json.dumps({"timeout_ms": timeout_ms}), timeout=timeout_ms / 1000 + 30)
    return status, json.loads(body)


def not_leader(procs):
    for p in procs:
        doc = members(p)
        if doc is not None and not doc["this_member"]["leader"]:
            return p
    pytest.fail("every instance claims to lead the group")


def is_prefix(src: dict[int, list[Record]], dst: dict[int, list[Record]]):
    """Each destination partition is an exact prefix of its source partition."""
    def essence(r: Record):
        return r.key, r.value, r.headers, r.timestamp

    for p in range(PARTITIONS):
        a, b = src.get(p, []), dst.get(p, [])
        assert [essence(r) for r in a[:len(b)]] == [essence(r) for r in b], \
            f"partition {p}: the destination's {len(b)} records are not the source's first {len(b)}"


def test_promote_the_whole_link_through_any_instance(klink_process, source_cluster, dest_cluster):
    topic = unique_topic("sop")
    source_cluster.create_topic(topic, partitions=PARTITIONS)
    produce_n(source_cluster.bootstrap, topic, PARTITIONS, 24_000, "a")
    procs = start_three(klink_process, source_cluster, dest_cluster, topic)
    # Behind on purpose: the promotion itself must copy the rest.
    produce_n(source_cluster.bootstrap, topic, PARTITIONS, 24_000, "b")
    caller = not_leader(procs)

    status, doc = switch(caller, topic, "promote")
    assert status == 200, doc
    assert doc["state"] == "PROMOTED", doc
    assert doc["result"]["abandoned_records"] == 0, doc
    assert len(doc["partitions"]) == PARTITIONS, doc

    src = consume_all(source_cluster.bootstrap, topic)
    compare_partitions(src, consume_all(dest_cluster.bootstrap, topic))
    # Every instance knows (the others read the state record at their next refresh), and the
    # group hands the topic to nobody.
    for p in procs:
        wait_until(lambda p=p: mirror_state(p, topic) == "PROMOTED", timeout=20,
                   what=f"{p.config_path.name} reporting PROMOTED")
    assert assigned_partitions_of(procs[0], topic) == 0
    # Final: what the source receives now never reaches the promoted mirror.
    ends = high_watermarks(dest_cluster.bootstrap, topic)
    produce_n(source_cluster.bootstrap, topic, PARTITIONS, 2_400, "late")
    stays(lambda: high_watermarks(dest_cluster.bootstrap, topic) == ends, 4,
          "an instance wrote to the promoted mirror")
    # A second call is answered from the record, by any instance.
    status, again = switch(procs[0], topic, "promote")
    assert status == 200 and again["state"] == "PROMOTED", again


def test_failover_the_whole_link_under_a_stream(klink_process, source_cluster, dest_cluster):
    topic = unique_topic("sof")
    source_cluster.create_topic(topic, partitions=PARTITIONS)
    produce_n(source_cluster.bootstrap, topic, PARTITIONS, 12_000, "a")
    procs = start_three(klink_process, source_cluster, dest_cluster, topic)
    stream = PacedProducer(source_cluster.bootstrap, topic, PARTITIONS, rate=4000, tag="s")
    stream.start()
    try:
        wait_until(lambda: sum(high_watermarks(dest_cluster.bootstrap, topic).values()) > 20_000,
                   timeout=60, what="the stream reaching the mirror")
        caller = not_leader(procs)
        status, doc = switch(caller, topic, "failover")
        assert status == 200, doc
        assert doc["state"] == "FAILED_OVER", doc
        for p in procs:
            wait_until(lambda p=p: mirror_state(p, topic) == "FAILED_OVER", timeout=20,
                       what=f"{p.config_path.name} reporting FAILED_OVER")
        # No instance writes to it any more, while the source keeps growing.
        ends = high_watermarks(dest_cluster.bootstrap, topic)
        stays(lambda: high_watermarks(dest_cluster.bootstrap, topic) == ends, 4,
              "an instance wrote to the failed-over mirror")
    finally:
        stream.stop()
    assert assigned_partitions_of(procs[0], topic) == 0
    src = consume_all(source_cluster.bootstrap, topic)
    dst = consume_all(dest_cluster.bootstrap, topic)
    is_prefix(src, dst)
    assert sum(len(r) for r in dst.values()) >= 20_000


def test_reverse_the_whole_link_with_a_prefix_and_promote_back(klink_process, source_cluster, dest_cluster):
    """Failback with scale-out: one call reverses the mirror for every instance; the reverse's
    partitions are shared by the instances through a group of its own; B's `prefix + T` goes
    back into A's T; promoting it back through another instance is final."""
    topic = unique_topic("sor")
    mirror = f"dr.{topic}"
    a, b = source_cluster.bootstrap, dest_cluster.bootstrap
    source_cluster.create_topic(topic, partitions=PARTITIONS)
    produce_n(a, topic, PARTITIONS, 4_800, "a")
    link = link_config("so", source_cluster, dest_cluster, topic, prefix="dr.")
    link["scale_out"] = {"enabled": True, "session_timeout_ms": SESSION_MS}
    procs = [klink_process(links=[link], extra=JSON_LOGS, name=f"sor-{i}", log_level="info") for i in range(2)]
    wait_until(lambda: shares(procs[0]) == [12, 12], timeout=60, what="two instances owning 12 partitions each")

    status, doc = switch(procs[0], topic, "promote")
    assert status == 200 and doc["state"] == "PROMOTED", doc
    produce_n(b, mirror, PARTITIONS, 2_400, "b")  # the applications write to B now

    status, doc = switch(procs[1], topic, "reverse")
    assert status == 200, doc
    assert (doc["direction"], doc["source_topic"], doc["mirror_topic"]) == ("reverse", mirror, topic), doc
    wait_until(lambda: high_watermarks(a, topic) == high_watermarks(b, mirror), timeout=60,
               what="B's new records back on A")
    compare_partitions(consume_all(b, mirror), consume_all(a, topic))

    # Both instances run the reverse, each a share of its partitions.
    def reverse_shares():
        counts = []
        for p in procs:
            status, body, _ = http(f"{p.admin_url}/v1/links/so/mirrors/{topic}")
            m = json.loads(body) if status == 200 else {}
            if m.get("direction") != "reverse" or m.get("state") != "ACTIVE":
                return None
            counts.append(len(m["partitions"]))
        return counts if sum(counts) == PARTITIONS and all(counts) else None

    wait_until(reverse_shares, timeout=60, what="both instances running a share of the reverse")
    produce_n(b, mirror, PARTITIONS, 2_400, "b2")
    wait_until(lambda: high_watermarks(a, topic) == high_watermarks(b, mirror), timeout=60,
               what="B's later records on A")

    # Promote back through the other instance: A is primary again, and final.
    status, doc = switch(procs[0], topic, "promote")
    assert status == 200 and doc["state"] == "PROMOTED" and doc["direction"] == "reverse", doc
    compare_partitions(consume_all(b, mirror), consume_all(a, topic))
    ends = high_watermarks(a, topic)
    produce_n(b, mirror, PARTITIONS, 240, "late")
    stays(lambda: high_watermarks(a, topic) == ends, 4, "an instance wrote to A after the promotion back")
    for p in procs:
        wait_until(lambda p=p: mirror_state(p, topic) == "PROMOTED", timeout=20,
                   what=f"{p.config_path.name} reporting PROMOTED")
