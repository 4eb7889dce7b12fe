"""Source records deleted before klink copied them (DeleteRecords on a paused mirror, as
retention would): `[links.mirror] on_source_gap` decides. `fail` (the default) stops the
partition as FAILED with reason SOURCE_RECORDS_DELETED and the exact range, writing nothing
past what it had; `skip` continues after the gap, counts the skipped offsets in
klink_mirror_records_skipped_total, and the offset map stays exact across it (a consumer
position inside the gap translates to the first record after it)."""

from __future__ import annotations

import json

from admin_client import http, mirror_url, sample, scrape, wait_caught_up
from kafka_checks import (Record, commit, committed_offsets, consume_all, end_offsets, unique_topic,
                          wait_until, watermarks)
from links_support import JSON_LOGS, events, link_config, produce_n, reload_config

PARTITIONS = 2
GROUP_SYNC = {"sync": True, "interval_ms": 500}


def act(proc, topic: str, action: str) -> dict:
    status, body, _ = http(f"{mirror_url(proc, topic)}:{action}", "POST", timeout=60)
    assert status == 200, body
    return json.loads(body)


def mirror_doc(proc, topic: str) -> dict:
    status, body, _ = http(mirror_url(proc, topic))
    assert status == 200, body
    return json.loads(body)


def delete_records(cluster, topic: str, before: dict[int, int]):
    """DeleteRecords: partition p's log then starts at before[p]."""
    doc = {"version": 1, "partitions": [{"topic": topic, "partition": p, "offset": o} for p, o in before.items()]}
    path = cluster.workdir / f"delete-{topic}.json"
    path.write_text(json.dumps(doc))
    cluster.run_tool("delete-records", ["--bootstrap-server", "{bootstrap}", "--offset-json-file", str(path)])
    low = {p: lo for p, (lo, _hi) in watermarks(cluster.bootstrap, topic).items()}
    assert all(low[p] == o for p, o in before.items()), low


def values(records: list[Record]) -> list[bytes]:
    return [r.value for r in records]


def gap_scenario(proc, source_cluster, topic: str):
    """Caught up at 100 records per partition, paused, 200 more produced, partition 0's source
    records below 250 deleted, resumed: partition 0 has a gap 100..249. (250 starts a batch:
    a log start inside a batch would have that batch copied whole, as at any start inside
    one, so the test would have to read batch boundaries to know the expected mirror.)"""
    src = source_cluster.bootstrap
    wait_caught_up(proc, topic)
    act(proc, topic, "pause")
    produce_n(src, topic, PARTITIONS, 2 * 150, "while-paused")
    produce_n(src, topic, PARTITIONS, 2 * 50, "after-the-gap")
    delete_records(source_cluster, topic, {0: 250})
    act(proc, topic, "resume")


def start_mirroring(klink_process, source_cluster, dest_cluster, policy: str | None):
    topic = unique_topic("gap")
    source_cluster.create_topic(topic, partitions=PARTITIONS)
    produce_n(source_cluster.bootstrap, topic, PARTITIONS, 2 * 100, "before")
    mirror = {} if policy is None else {"on_source_gap": policy}
    config = {**JSON_LOGS, "links": [link_config("test", source_cluster, dest_cluster, topic, mirror=mirror)]}
    config["links"][0]["consumer_offsets"] = GROUP_SYNC
    proc = klink_process(extra=config)
    return topic, proc


def test_fail_stops_the_partition_naming_the_deleted_range(klink_process, source_cluster, dest_cluster):
    topic, proc = start_mirroring(klink_process, source_cluster, dest_cluster, None)
    src, dst = source_cluster.bootstrap, dest_cluster.bootstrap
    before = consume_all(src, topic)
    gap_scenario(proc, source_cluster, topic)

    def failed():
        doc = mirror_doc(proc, topic)
        return doc if doc["partitions"][0]["state"] == "FAILED" else None

    doc = wait_until(failed, 30, "partition 0 FAILED")
    p0, p1 = doc["partitions"]
    assert doc["state"] == "FAILED", doc
    assert p0["reason"] == "SOURCE_RECORDS_DELETED", p0
    assert p0["source_gap"] == {"from_offset": 100, "to_offset": 250}, p0
    assert "source offsets 100..249 were deleted" in p0["last_error"], p0
    assert "on_source_gap" in p0["last_error"], "the error says how to continue"
    assert doc["reason"].startswith("partition 0: ") and "deleted" in doc["reason"], doc
    # The other partition is not held back; partition 0 has exactly what it had.
    wait_until(lambda: end_offsets(dst, topic)[1] == 300, 30, "partition 1 mirrored to its end")
    assert end_offsets(dst, topic)[0] == 100
    line = events(proc, "mirror partition stopped", topic=topic, partition=0)
    assert line and line[0]["link"] == "test" and line[0]["state"] == "FAILED", line
    assert sample(scrape(proc.admin_url), "klink_mirror_state", link="test", topic=topic, state="FAILED") == 1

    # The way on: accept the loss with on_source_gap = "skip" and reload.
    config = dict(proc.config)
    config["links"] = [dict(config["links"][0], mirror={"start": "earliest", "on_source_gap": "skip"})]
    assert reload_config(proc, config)["msg"] == "config reloaded"
    wait_until(lambda: end_offsets(dst, topic) == {0: 150, 1: 300}, 60, "partition 0 continued after the gap")
    doc = wait_caught_up(proc, topic)
    assert doc["state"] == "ACTIVE" and doc["partitions"][0]["records_skipped"] == 150, doc
    source, dest = consume_all(src, topic), consume_all(dst, topic)
    assert values(dest[0]) == values(before[0]) + values(source[0]), "0..99 then the records after the gap"
    assert values(dest[1]) == values(source[1])


def test_skip_continues_after_the_gap_and_translation_stays_exact(klink_process, source_cluster, dest_cluster):
    topic, proc = start_mirroring(klink_process, source_cluster, dest_cluster, "skip")
    src, dst = source_cluster.bootstrap, dest_cluster.bootstrap
    before = consume_all(src, topic)
    gap_scenario(proc, source_cluster, topic)
    wait_until(lambda: end_offsets(dst, topic) == {0: 150, 1: 300}, 60, "both partitions mirrored past the gap")
    doc = wait_caught_up(proc, topic)
    p0 = doc["partitions"][0]
    assert doc["state"] == "ACTIVE" and p0["state"] == "ACTIVE", doc
    assert p0["records_skipped"] == 150 and p0["source_gap"] == {"from_offset": 100, "to_offset": 250}, p0
    assert p0["reason"] is None, p0
    assert sample(scrape(proc.admin_url), "klink_mirror_records_skipped_total", link="test", topic=topic) == 150
    line = events(proc, "source records deleted before they were mirrored: skipped (on_source_gap = skip)",
                  topic=topic, partition=0)
    assert line and line[0]["from_offset"] == 100 and line[0]["to_offset"] == 250, line

    # Bytes: partition 0 holds source 0..99 then 250..299, nothing else.
    source, dest = consume_all(src, topic), consume_all(dst, topic)
    assert values(dest[0]) == values(before[0]) + values(source[0]), "0..99 then the records after the gap"
    assert [r.offset for r in source[0]] == list(range(250, 300))
    assert values(dest[1]) == values(source[1])

    # Translation across the gap: at its start, inside it, after it. (Positions below the
    # source's log start, 250 now, are dropped from the map once the source has dropped them:
    # a source consumer there is out of range too.)
    group = unique_topic("gap-group")
    for at, want in ((100, 100), (180, 100), (250, 100), (275, 125), (300, 150)):
        commit(src, group, topic, {0: at})
        wait_until(lambda: committed_offsets(dst, topic, group, PARTITIONS)[0] == want, 30,
                   f"source offset {at} translated to destination offset {want}")
