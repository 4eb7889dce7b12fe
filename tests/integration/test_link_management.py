"""Link management against real Kafka (issue 6): topics discovered while klink runs,
include/exclude, prefixed mirror names, source topic configs and partition counts
followed, a deleted or recreated source topic, and where a mirror starts (latest, a
timestamp)."""

from __future__ import annotations

import json
import re
import time
from datetime import datetime, timezone

from admin_client import get_json, http, sample, scrape
from links_support import REFRESH_MS, link_config, stays, topics_on
from kafka_checks import compare_partitions, consume_all, end_offsets, partition_count, unique_topic, wait_until



# ----------------------------------------------------------------------------
# Helpers


def produce(bootstrap: str, topic: str, n: int, tag: str, partitions: int, timestamp_ms: int | None = None):
    from confluent_kafka import Producer

    p = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "linger.ms": 5})
    for i in range(n):
        kwargs = {"timestamp": timestamp_ms + i} if timestamp_ms is not None else {}
        p.produce(topic, key=f"{tag}-{i}".encode(), value=f"{tag}-value-{i}".encode(), partition=i % partitions,
                  **kwargs)
        p.poll(0)
    assert p.flush(30) == 0


def admin(cluster):
    from confluent_kafka.admin import AdminClient

    return AdminClient({"bootstrap.servers": cluster.bootstrap})


def topic_config(cluster, topic: str) -> dict[str, str]:
    from confluent_kafka.admin import ConfigResource

    resource = ConfigResource(ConfigResource.Type.TOPIC, topic)
    client = admin(cluster)  # kept alive until the answer: a dropped client cancels it
    configs = client.describe_configs([resource])[resource].result(timeout=30)
    return {name: entry.value for name, entry in configs.items()}


def set_topic_config(cluster, topic: str, values: dict[str, str]):
    from confluent_kafka.admin import ConfigResource

    # AlterConfigs (not incremental): replaces the topic's dynamic configs with these.
    resource = ConfigResource(ConfigResource.Type.TOPIC, topic, set_config=values)
    client = admin(cluster)
    client.alter_configs([resource])[resource].result(timeout=30)


def mirrors(proc, link: str = "test") -> dict[str, dict]:
    status, body, _ = http(f"{proc.admin_url}/v1/links/{link}/mirrors")
    assert status == 200, body
    return {m["source_topic"]: m for m in json.loads(body)["mirrors"]}


def one_link(source, dest, name: str = "test", **topics) -> dict:
    return link_config(name, source, dest, **topics)


# ----------------------------------------------------------------------------
# Tests


def test_new_topics_are_discovered_with_prefix_and_exclusions(klink_process, source_cluster, dest_cluster):
    base = unique_topic("disc")
    link = one_link(source_cluster, dest_cluster, include=[re.escape(base) + r"\..*"],
                       exclude=[re.escape(base) + r"\.skip.*"], prefix="dr.")
    proc = klink_process(links=[link])
    wait_until(lambda: http(f"{proc.admin_url}/healthz")[0] == 200, 15, "klink listening")

    # Created after klink started: found by a later refresh.
    wanted, skipped = f"{base}.orders", f"{base}.skip-me"
    source_cluster.create_topic(wanted, partitions=3)
    source_cluster.create_topic(skipped, partitions=1)
    produce(source_cluster.bootstrap, wanted, 600, "o", 3)
    produce(source_cluster.bootstrap, skipped, 50, "s", 1)

    mirror_name = f"dr.{wanted}"
    wait_until(lambda: mirror_name in topics_on(dest_cluster.bootstrap), 20, f"{mirror_name} created on the destination")
    wait_until(lambda: sum(end_offsets(dest_cluster.bootstrap, mirror_name).values()) == 600, 30,
               "600 records mirrored")
    compare_partitions(consume_all(source_cluster.bootstrap, wanted), consume_all(dest_cluster.bootstrap, mirror_name))

    # Several refreshes later the excluded topic is still not mirrored, under any name.
    seen = mirrors(proc)
    stays(lambda: not {skipped, f"dr.{skipped}"} & topics_on(dest_cluster.bootstrap), 3 * REFRESH_MS / 1000,
          f"{skipped} (excluded) is not mirrored under any name")
    assert set(seen) == {wanted}, seen
    doc = seen[wanted]
    assert doc["mirror_topic"] == mirror_name and doc["state"] == "ACTIVE"
    # The mirror answers to its mirror name too.
    by_mirror_name = get_json(f"{proc.admin_url}/v1/links/test/mirrors/{mirror_name}")
    assert by_mirror_name["source_topic"] == wanted
    assert "mirror topic created" in proc.stderr()


def test_configs_and_partition_count_follow_the_source(klink_process, source_cluster, dest_cluster):
    topic = unique_topic("sync")
    source_cluster.create_topic(topic, partitions=3, configs={"retention.ms": "86400000"})
    produce(source_cluster.bootstrap, topic, 300, "a", 3)
    proc = klink_process(links=[one_link(source_cluster, dest_cluster, include=[re.escape(topic)])])
    wait_until(lambda: sum(end_offsets(dest_cluster.bootstrap, topic).values()) == 300, 60, "first 300 mirrored")
    created = topic_config(dest_cluster, topic)
    assert created["retention.ms"] == "86400000"
    assert created["compression.type"] == "producer"

    # Retention changed on the source appears on the mirror.
    set_topic_config(source_cluster, topic, {"retention.ms": "3600000", "segment.ms": "7200000"})
    wait_until(lambda: topic_config(dest_cluster, topic)["retention.ms"] == "3600000", 20,
               "retention.ms synced to the mirror")
    synced = topic_config(dest_cluster, topic)
    assert synced["segment.ms"] == "7200000"
    assert synced["compression.type"] == "producer"  # never synced
    assert "mirror topic configs synced from the source" in proc.stderr()

    # 3 -> 6 partitions: the mirror grows and the new partitions are mirrored from their start.
    from confluent_kafka.admin import NewPartitions

    client = admin(source_cluster)
    client.create_partitions([NewPartitions(topic, 6)])[topic].result(timeout=30)
    source_cluster.wait_for_topic(topic, 6)
    produce(source_cluster.bootstrap, topic, 600, "b", 6)
    wait_until(lambda: partition_count(dest_cluster.bootstrap, topic) == 6, 20, "mirror grown to 6 partitions")
    wait_until(lambda: sum(end_offsets(dest_cluster.bootstrap, topic).values()) == 900, 60, "all 900 mirrored")
    src = consume_all(source_cluster.bootstrap, topic)
    dst = consume_all(dest_cluster.bootstrap, topic)
    assert all(len(src[p]) == 100 for p in range(3, 6))
    compare_partitions(src, dst)
    doc = mirrors(proc)[topic]
    assert [p["partition"] for p in doc["partitions"]] == list(range(6))
    assert doc["lag_records"] == 0


def test_deleted_source_topic_makes_the_mirror_source_unavailable(klink_process, source_cluster, dest_cluster):
    topic = unique_topic("gone")
    source_cluster.create_topic(topic, partitions=2)
    produce(source_cluster.bootstrap, topic, 400, "a", 2)
    proc = klink_process(links=[one_link(source_cluster, dest_cluster, include=[re.escape(topic)])])
    wait_until(lambda: sum(end_offsets(dest_cluster.bootstrap, topic).values()) == 400, 60, "400 mirrored")
    before = consume_all(source_cluster.bootstrap, topic)

    client = admin(source_cluster)
    client.delete_topics([topic])[topic].result(timeout=30)
    doc = wait_until(lambda: (m := mirrors(proc).get(topic)) and m["state"] == "SOURCE_UNAVAILABLE" and m, 30,
                     "mirror SOURCE_UNAVAILABLE")
    assert "deleted" in doc["reason"]
    samples = scrape(proc.admin_url)
    assert sample(samples, "klink_mirror_state", link="test", topic=topic, state="SOURCE_UNAVAILABLE") == 1
    assert sample(samples, "klink_mirror_state", link="test", topic=topic, state="ACTIVE") == 0
    assert "mirror stopped: the source topic was deleted" in proc.stderr()
    # The mirror topic and its data are kept as they were.
    compare_partitions(before, consume_all(dest_cluster.bootstrap, topic))

    # The same name created again is another topic: the mirror fails instead of
    # appending the new topic's offsets to the old one's.
    source_cluster.create_topic(topic, partitions=2)
    produce(source_cluster.bootstrap, topic, 10, "new", 2)
    doc = wait_until(lambda: (m := mirrors(proc).get(topic)) and m["state"] == "FAILED" and m, 30, "mirror FAILED")
    assert "SOURCE_TOPIC_RECREATED" in doc["reason"]
    ends = end_offsets(dest_cluster.bootstrap, topic)
    stays(lambda: end_offsets(dest_cluster.bootstrap, topic) == ends, 3 * REFRESH_MS / 1000,
          "nothing of the recreated topic is appended to the mirror")
    compare_partitions(before, consume_all(dest_cluster.bootstrap, topic))

    # After a restart the recreated source is still refused (the mirror recorded the old topic id).
    proc.restart()
    doc = wait_until(lambda: http(f"{proc.admin_url}/healthz")[0] == 200 and
                     (m := mirrors(proc).get(topic)) and m["state"] == "FAILED" and m, 30, "FAILED after restart")
    assert "SOURCE_TOPIC_RECREATED" in doc["reason"]
    compare_partitions(before, consume_all(dest_cluster.bootstrap, topic))


def test_start_latest_and_at_a_timestamp(klink_process, source_cluster, dest_cluster):
    latest, stamped = unique_topic("latest"), unique_topic("stamp")
    source_cluster.create_topic(latest, partitions=2)
    source_cluster.create_topic(stamped, partitions=2)
    produce(source_cluster.bootstrap, latest, 100, "old", 2)
    now_ms = int(time.time() * 1000)
    t0, t1 = now_ms - 3_600_000, now_ms - 1_800_000
    produce(source_cluster.bootstrap, stamped, 100, "early", 2, timestamp_ms=t0)
    produce(source_cluster.bootstrap, stamped, 60, "late", 2, timestamp_ms=t1)
    start_at = datetime.fromtimestamp(t1 / 1000, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"

    links = [
        {**one_link(source_cluster, dest_cluster, "latest", include=[re.escape(latest)]),
         "mirror": {"start": "latest"}},
        {**one_link(source_cluster, dest_cluster, "stamped", include=[re.escape(stamped)]),
         "mirror": {"start": start_at}},
    ]
    proc = klink_process(links=links)
    wait_until(lambda: http(f"{proc.admin_url}/healthz")[0] == 200 and latest in mirrors(proc, "latest"), 30,
               "latest mirror set up")
    produce(source_cluster.bootstrap, latest, 40, "new", 2)
    wait_until(lambda: sum(end_offsets(dest_cluster.bootstrap, latest).values()) == 40, 30, "40 new records mirrored")
    dst = consume_all(dest_cluster.bootstrap, latest)
    assert sorted(r.key.decode().split("-")[0] for p in dst.values() for r in p) == ["new"] * 40
    # Each destination record is the source's record at offset 50 + i (100 old ones, 50 per partition).
    src = consume_all(source_cluster.bootstrap, latest)
    compare_partitions({p: recs[50:] for p, recs in src.items()}, dst)

    wait_until(lambda: sum(end_offsets(dest_cluster.bootstrap, stamped).values()) == 60, 30,
               "records at or after the timestamp mirrored")
    dst = consume_all(dest_cluster.bootstrap, stamped)
    assert all(r.key.startswith(b"late-") and r.timestamp >= t1 for p in dst.values() for r in p)
    src = consume_all(source_cluster.bootstrap, stamped)
    compare_partitions({p: recs[50:] for p, recs in src.items()}, dst)


def test_consumer_offsets_land_on_the_prefixed_mirror(klink_process, source_cluster, dest_cluster):
    from confluent_kafka import Consumer, TopicPartition

    from kafka_checks import committed_offsets

    topic = unique_topic("pgrp")
    group = f"grp-{topic}"
    source_cluster.create_topic(topic, partitions=2)
    produce(source_cluster.bootstrap, topic, 200, "a", 2)
    c = Consumer({"bootstrap.servers": source_cluster.bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        c.commit(offsets=[TopicPartition(topic, 0, 40), TopicPartition(topic, 1, 70)], asynchronous=False)
    finally:
        c.close()
    link = {**one_link(source_cluster, dest_cluster, include=[re.escape(topic)], prefix="dr."),
            "consumer_offsets": {"sync": True, "include": [re.escape(group)], "interval_ms": 500}}
    proc = klink_process(links=[link])
    mirror_name = f"dr.{topic}"
    # Records land at the same offsets here, so the translation is the identity.
    wait_until(lambda: committed_offsets(dest_cluster.bootstrap, mirror_name, group, 2) == {0: 40, 1: 70}, 30,
               "group offsets committed on the prefixed mirror")
    assert topic not in topics_on(dest_cluster.bootstrap)  # nothing under the source's name
    doc = get_json(f"{proc.admin_url}/v1/links/test/groups/{group}/offsets")
    assert [(t["topic"], t["mirror_topic"]) for t in doc["topics"]] == [(topic, mirror_name)]


def test_a_changed_prefix_starts_a_new_mirror_and_leaves_the_old_one(klink_process, source_cluster, dest_cluster):
    topic = unique_topic("rename")
    source_cluster.create_topic(topic, partitions=2)
    produce(source_cluster.bootstrap, topic, 200, "a", 2)
    proc = klink_process(links=[one_link(source_cluster, dest_cluster, include=[re.escape(topic)], prefix="a.")])
    wait_until(lambda: sum(end_offsets(dest_cluster.bootstrap, f"a.{topic}").values()) == 200, 60, "a. mirror")
    proc.stop()

    proc.config["links"][0]["topics"]["prefix"] = "b."
    proc.start()
    wait_until(lambda: sum(end_offsets(dest_cluster.bootstrap, f"b.{topic}").values()) == 200, 60,
               "b. mirror copied from the start")
    produce(source_cluster.bootstrap, topic, 50, "b", 2)
    wait_until(lambda: sum(end_offsets(dest_cluster.bootstrap, f"b.{topic}").values()) == 250, 60, "b. mirror live")
    src = consume_all(source_cluster.bootstrap, topic)
    compare_partitions(src, consume_all(dest_cluster.bootstrap, f"b.{topic}"))
    # The old mirror is left as it was.
    compare_partitions({p: recs[:100] for p, recs in src.items()}, consume_all(dest_cluster.bootstrap, f"a.{topic}"))
    assert "the link's prefix changed" in proc.stderr()
