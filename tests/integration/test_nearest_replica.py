"""Nearest-replica fetching (KIP-392): with `[links.source] client_rack` klink fetches
each partition from the replica in its rack that the source leader names, falls back
to the leader when that replica goes away, and copies everything exactly either way.

Own clusters: a 3-broker source in racks az1..az3 with Kafka's RackAwareReplicaSelector
(port 27010) and a 1-broker destination (port 27110), shared by the tests of this module.
"""

from __future__ import annotations

import json
import re

import pytest

from admin_client import get_json, mirror_url
from conftest import KAFKA_VERSION, RUN_DIR, KlinkProcess, free_port
from harness.kafka import KafkaCluster
from kafka_checks import compare_partitions, consume_all, end_offsets, produce_mixed, unique_topic, wait_until

SOURCE_PORT = 27010
DEST_PORT = 27110
RACKS = ["az1", "az2", "az3"]
NEAR = 0  # the broker in klink's rack (az1)
# Partition p's replicas, first = preferred leader: partitions 0 and 1 are led
# outside az1 and have a replica there; partition 2 is led from az1 itself.
ASSIGNMENT = [[1, 0, 2], [2, 0, 1], [0, 1, 2]]
LED_ELSEWHERE = [0, 1]
CODECS = ["none", "lz4"]


@pytest.fixture(scope="module")
def clusters():
    source = KafkaCluster("nearest-source", brokers=3, base_port=SOURCE_PORT, version=KAFKA_VERSION,
                          workdir=RUN_DIR / f"nearest-source-{SOURCE_PORT}", heap=["-Xmx384m"],
                          broker_racks=RACKS, extra_broker_config={
                              "replica.selector.class": "org.apache.kafka.common.replica.RackAwareReplicaSelector"})
    dest = KafkaCluster("nearest-dest", brokers=1, base_port=DEST_PORT, version=KAFKA_VERSION,
                        workdir=RUN_DIR / f"nearest-dest-{DEST_PORT}", heap=["-Xmx384m"])
    try:
        source.start()
        dest.start()
        yield source, dest
    finally:
        dest.stop()
        source.stop()


def create_topic(source: KafkaCluster, topic: str):
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": source.bootstrap})
    futures = admin.create_topics([NewTopic(topic, num_partitions=len(ASSIGNMENT), replica_assignment=ASSIGNMENT)],
                                  request_timeout=30)
    futures[topic].result(timeout=30)
    source.wait_for_topic(topic, len(ASSIGNMENT))
    leaders = {p: source.partition_leader(topic, p) for p in range(len(ASSIGNMENT))}
    assert [p for p, leader in leaders.items() if leader != NEAR] == LED_ELSEWHERE, leaders


def start_klink(klink_bin, tmp_path, source: KafkaCluster, dest: KafkaCluster, topic: str, name: str,
                client_rack: str | None) -> KlinkProcess:
    source_config = {"bootstrap_servers": source.bootstrap_servers}
    if client_rack is not None:
        source_config["client_rack"] = client_rack
    klink = KlinkProcess(klink_bin, tmp_path, {
        "log": {"level": "info", "format": "json"},
        "admin": {"listen": f"127.0.0.1:{free_port()}"},
        "links": [{
            "name": "test",
            "source": source_config,
            "destination": {"bootstrap_servers": dest.bootstrap_servers, "replication_factor": 1},
            "topics": {"include": [re.escape(topic)]},
            "mirror": {"start": "earliest", "request_timeout_ms": 5000},
        }],
    }, name)
    return klink.start()


def partitions_view(klink: KlinkProcess, topic: str) -> dict[int, dict]:
    return {p["partition"]: p for p in get_json(mirror_url(klink, topic))["partitions"]}


def wait_exact(source: KafkaCluster, dest: KafkaCluster, topic: str, timeout: float = 60.0):
    """Until the destination has as many records as the source, then: the same records."""
    want = end_offsets(source.bootstrap, topic)
    wait_until(lambda: end_offsets(dest.bootstrap, topic) == want, timeout,
               f"the destination to reach the source's end offsets {want}")
    compare_partitions(consume_all(source.bootstrap, topic), consume_all(dest.bootstrap, topic))


def log_events(klink: KlinkProcess, msg: str) -> list[dict]:
    events = []
    for line in klink.stderr().splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if event.get("msg") == msg:
            events.append(event)
    return events


def test_without_client_rack_every_partition_is_read_from_its_leader(clusters, klink_bin, tmp_path):
    source, dest = clusters
    topic = unique_topic("nearest-norack")
    create_topic(source, topic)
    produce_mixed(source.bootstrap, topic, len(ASSIGNMENT), 200, codecs=CODECS)
    klink = start_klink(klink_bin, tmp_path, source, dest, topic, "klink-norack", None)
    try:
        wait_exact(source, dest, topic)
        view = partitions_view(klink, topic)
        assert sorted(view) == [0, 1, 2]
        assert all(p["preferred_read_replica"] is None for p in view.values()), view
        assert log_events(klink, "fetching partition from a preferred read replica") == []
        assert klink.stop() == 0
    finally:
        if klink.running():
            klink.kill()


def test_client_rack_reads_from_the_nearest_replica_and_falls_back_when_it_stops(clusters, klink_bin, tmp_path):
    source, dest = clusters
    topic = unique_topic("nearest-rack")
    create_topic(source, topic)
    produce_mixed(source.bootstrap, topic, len(ASSIGNMENT), 300, codecs=CODECS)
    klink = start_klink(klink_bin, tmp_path, source, dest, topic, "klink-rack", RACKS[NEAR])
    try:
        # The leaders outside az1 send klink to broker 0; partition 2's leader is broker 0 itself.
        view = wait_until(lambda: (v := partitions_view(klink, topic)) and all(
            v[p]["preferred_read_replica"] == NEAR for p in LED_ELSEWHERE) and v, 30,
            "partitions led outside az1 to name broker 0 as their preferred read replica")
        assert view[2]["preferred_read_replica"] is None, view[2]
        wait_exact(source, dest, topic)
        # Fetched from the replica from then on: more records arrive while it is preferred.
        produce_mixed(source.bootstrap, topic, len(ASSIGNMENT), 100, codecs=["zstd"])
        wait_exact(source, dest, topic)
        view = partitions_view(klink, topic)
        assert all(view[p]["preferred_read_replica"] == NEAR for p in LED_ELSEWHERE), view
        switched = log_events(klink, "fetching partition from a preferred read replica")
        assert sorted((e["topic"], e["partition"], e["broker"]) for e in switched) == \
            [(topic, p, NEAR) for p in LED_ELSEWHERE], switched
        # ...and never left it: every record since the switch came from broker 0.
        assert log_events(klink, "fetching partition from its leader again") == []

        # az1 goes away: klink goes back to the leaders and loses nothing.
        source.stop_broker(NEAR)
        produce_mixed(source.bootstrap, topic, len(ASSIGNMENT), 150, codecs=["gzip"])
        wait_until(lambda: all(p["preferred_read_replica"] in (None, 1, 2)
                               for p in partitions_view(klink, topic).values()), 30,
                   "no partition to name the stopped broker 0 any more")
        wait_exact(source, dest, topic, timeout=90)
        view = partitions_view(klink, topic)
        # No replica is left in az1, so the leaders keep klink to themselves.
        assert all(p["preferred_read_replica"] is None for p in view.values()), view
        assert all(p["last_error"] is None for p in view.values()), view
        back = log_events(klink, "fetching partition from its leader again")
        assert {e["partition"] for e in back} == set(LED_ELSEWHERE), back
        assert all(e["broker"] == NEAR and e["reason"] for e in back), back
        assert klink.stop() == 0
    finally:
        if klink.running():
            klink.kill()
