"""Pause is exact, against real Kafka over real HTTP: after `:pause` answers 200, klink writes
nothing more into the mirror (a Fetch that was out when the pause came brings nothing in,
batches fetched but not sent are dropped and fetched again on resume); the answer says per
partition where the mirror stopped; resumed, the copy is exact."""

from __future__ import annotations

import json

from admin_client import http, mirror_url, wait_caught_up
from kafka_checks import compare_partitions, consume_all, end_offsets, wait_until
from links_support import PacedProducer, produce_n, stays

PARTITIONS = 6
QUIET_SECONDS = 3.0


def link(source, dest, topic: str) -> list[dict]:
    return [{
        "name": "test",
        "source": {"bootstrap_servers": source.bootstrap_servers},
        "destination": {"bootstrap_servers": dest.bootstrap_servers},
        "topics": {"include": [topic]},
        "mirror": {"start": "earliest"},
    }]


def act(proc, topic: str, action: str) -> dict:
    status, body, _ = http(f"{mirror_url(proc, topic)}:{action}", "POST", timeout=60)
    assert status == 200, body
    return json.loads(body)


def stopped_at(doc: dict) -> dict[int, int]:
    return {p["partition"]: p["destination_end_offset"] for p in doc["partitions"]}


def test_nothing_is_written_after_the_pause_answers(klink_process, source_cluster, dest_cluster, topic_name):
    src, dst = source_cluster.bootstrap, dest_cluster.bootstrap
    source_cluster.create_topic(topic_name, partitions=PARTITIONS)
    produce_n(src, topic_name, PARTITIONS, 3_000, "before")
    proc = klink_process(links=link(source_cluster, dest_cluster, topic_name))
    wait_caught_up(proc, topic_name)

    # Caught up, paused, then 2,500 records: none of them reaches the destination.
    doc = act(proc, topic_name, "pause")
    assert doc["state"] == "PAUSED", doc
    at = stopped_at(doc)
    assert end_offsets(dst, topic_name) == at, "the answer does not say where the mirror stopped"
    produce_n(src, topic_name, PARTITIONS, 2_500, "while-paused")
    wait_until(lambda: json.loads(http(mirror_url(proc, topic_name))[1])["lag_records"] == 2_500, 15,
               "the lag counting the records produced while paused")
    stays(lambda: end_offsets(dst, topic_name) == at, QUIET_SECONDS, "klink wrote after the pause answered")
    act(proc, topic_name, "resume")
    wait_caught_up(proc, topic_name)

    # Under a live stream, paused and resumed again and again: every answer holds.
    stream = PacedProducer(src, topic_name, PARTITIONS, rate=2_000, tag="stream")
    stream.start()
    try:
        for round_ in range(4):
            wait_until(lambda: stream.acked > 1_000 * (round_ + 1), 30, "the stream running")
            doc = act(proc, topic_name, "pause")
            at = stopped_at(doc)
            assert end_offsets(dst, topic_name) == at, f"round {round_}: the answer is not where it stopped"
            stays(lambda: end_offsets(dst, topic_name) == at, QUIET_SECONDS,
                  f"round {round_}: klink wrote after the pause answered")
            act(proc, topic_name, "resume")
            wait_until(lambda: any(end_offsets(dst, topic_name)[p] > at[p] for p in at), 30,
                       "mirroring again after resume")
    finally:
        stream.stop()  # every record acknowledged, none lost on the way in
    wait_caught_up(proc, topic_name)
    # Dropped batches were fetched again: nothing lost, nothing duplicated.
    compare_partitions(consume_all(src, topic_name), consume_all(dst, topic_name))
