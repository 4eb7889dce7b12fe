"""A three-broker destination whose partition leaders are killed and moved while klink writes
into it: mirror topics with replication factor 3 and min.insync.replicas=2, a producer
streaming into the source all along, and on the destination, one after the other,

1. kill -9 of the broker leading the most mirror partitions, then its restart;
2. a preferred-leader election (Kafka's kafka-leader-election tool) that hands those
   partitions back to it;
3. a partition reassignment that moves a partition's leader to another broker (its leader
   taken out of the replica set), then the old leader added back as a follower.

Asserted: after each step every mirror partition gets past the point where the step began
within a bound (none stuck); at the end the destination equals the source exactly, record
for record at the same offsets (nothing lost, nothing duplicated), every partition's lag is
0 per klink within a bound, no partition stopped, and klink counted the destination's
refusals or lost connections in klink_kafka_errors_total.

Own cluster: the destination, 3 brokers on 36500..36502 (controllers 36550..36552), heap
kept modest; the source is the session's.
"""

from __future__ import annotations

import collections
import json
import time

import pytest
from admin_client import get_json, scrape
from conftest import RUN_DIR
from harness.kafka import KafkaCluster
from kafka_checks import compare_partitions, consume_all, total_records, unique_topic, wait_until
from links_support import JSON_LOGS, PacedProducer, events, high_watermarks, wait_for_high_watermarks
from net_faults import start_cluster

DEST_PORT = 36500
PARTITIONS = 6
RATE = 3000  # records/s into the source, all along
LINK = "leaders"
# A partition that does not get past a fault's starting point within this is stuck.
PROGRESS_BOUND_S = 60
STOPPED = "mirror partition stopped"


@pytest.fixture(scope="module")
def dest3():
    cluster = KafkaCluster(
        "leaders-dest", brokers=3, base_port=DEST_PORT, workdir=RUN_DIR / "leaders-dest",
        heap=["-Xmx384m", "-Xms128m"],
        extra_broker_config={
            # Mirror topics (and klink's state topics) get min.insync.replicas=2 from the
            # brokers' default: klink copies the source's topic configs, not this one.
            "min.insync.replicas": 2,
            # A SIGKILLed leader's partitions move after 3 s instead of Kafka's 9 s.
            "broker.session.timeout.ms": 3000,
            "broker.heartbeat.interval.ms": 500,
            # Leadership moves only when the test moves it.
            "auto.leader.rebalance.enable": "false",
        })
    start_cluster(cluster)
    yield cluster
    cluster.stop()


def leaders(cluster: KafkaCluster, topic: str) -> dict[int, int]:
    return {p: info.leader for p, info in cluster.metadata([topic]).topics[topic].items()}


def topic_config(bootstrap: str, topic: str) -> dict[str, str]:
    from confluent_kafka.admin import AdminClient, ConfigResource

    admin = AdminClient({"bootstrap.servers": bootstrap})
    resource = ConfigResource(ConfigResource.Type.TOPIC, topic)
    entries = admin.describe_configs([resource])[resource].result(timeout=30)
    return {name: entry.value for name, entry in entries.items()}


def reassign(cluster: KafkaCluster, tmp_path, topic: str, partition: int, replicas: list[int]):
    """Kafka's reassignment tool: moves `partition` to `replicas`, then waits until it is done."""
    plan = tmp_path / f"reassign-{partition}-{'-'.join(map(str, replicas))}.json"
    plan.write_text(json.dumps({"version": 1, "partitions": [
        {"topic": topic, "partition": partition, "replicas": replicas}]}))
    cluster.run_tool("reassign", ["--bootstrap-server", "{bootstrap}", "--reassignment-json-file", str(plan),
                                  "--execute"])

    def done():
        out = cluster.run_tool("reassign", ["--bootstrap-server", "{bootstrap}", "--reassignment-json-file",
                                            str(plan), "--verify"], check=False).stdout
        return "is complete" in out and "still in progress" not in out

    wait_until(done, 120, f"the reassignment of {topic}-{partition} to {replicas}", interval=1.0)
    wait_until(lambda: cluster.metadata([topic]).topics[topic][partition].replicas == replicas, 60,
               f"{topic}-{partition}'s replicas to be {replicas}")


def destination_errors(base: str) -> dict[tuple[str, str], float]:
    return {(dict(labels)["api"], dict(labels)["error"]): v for (name, labels), v in scrape(base).items()
            if name == "klink_kafka_errors_total" and dict(labels).get("cluster") == "destination"}


def test_leaders_killed_elected_and_moved_while_klink_writes(klink_process, source_cluster, dest3, tmp_path):
    topic = unique_topic("dest-leaders")
    src = source_cluster.bootstrap
    source_cluster.create_topic(topic, partitions=PARTITIONS)
    k = klink_process(links=[{
        "name": LINK,
        "source": {"bootstrap_servers": source_cluster.bootstrap_servers},
        "destination": {"bootstrap_servers": dest3.bootstrap_servers, "replication_factor": 3},
        "topics": {"include": [topic]},
        "mirror": {"start": "earliest"},
    }], extra=JSON_LOGS)
    producer = PacedProducer(src, topic, PARTITIONS, rate=RATE, tag="lead", value_size=200)
    producer.start()
    steps: list[str] = []

    def gets_past_now(what: str):
        """Every mirror partition gets past where the source ends now: none is stuck."""
        target = high_watermarks(src, topic)
        started = time.monotonic()

        def past():
            now = high_watermarks(dest3.bootstrap, topic)
            return all(now[p] >= target[p] for p in target)

        wait_until(past, PROGRESS_BOUND_S, f"every mirror partition past {target} after {what}", interval=0.5)
        steps.append(f"{what}: every partition past the source's end at the fault in "
                     f"{time.monotonic() - started:.1f}s")

    try:
        wait_until(lambda: producer.acked >= RATE * 3, 60, "the producer running")
        wait_until(lambda: sum(high_watermarks(dest3.bootstrap, topic).values()) > 0, 60, "klink mirroring")
        md = dest3.metadata([topic]).topics[topic]
        assert all(len(info.replicas) == 3 for info in md.values()), md
        assert topic_config(dest3.bootstrap, topic)["min.insync.replicas"] == "2"
        gets_past_now("the start")

        # 1. kill -9 the broker leading the most mirror partitions, then restart it.
        now = leaders(dest3, topic)
        victim = collections.Counter(now.values()).most_common(1)[0][0]
        led = sorted(p for p, b in now.items() if b == victim)
        dest3.kill_broker(victim)
        wait_until(lambda: all(b not in (-1, victim) for b in leaders(dest3, topic).values()), 60,
                   f"leadership of {led} to move off broker {victim}")
        gets_past_now(f"kill -9 of broker {victim} (leader of {led})")
        dest3.start_broker(victim)
        wait_until(lambda: all(len(i.isr) == 3 for i in dest3.metadata([topic]).topics[topic].values()), 120,
                   f"broker {victim} back in every ISR")
        gets_past_now(f"broker {victim} restarted")

        # 2. A preferred-leader election gives the partitions back to their first replica.
        preferred = {p: info.replicas[0] for p, info in dest3.metadata([topic]).topics[topic].items()}
        assert leaders(dest3, topic) != preferred, "nothing for the election to move"
        election = tmp_path / "election.json"
        election.write_text(json.dumps({"partitions": [{"topic": topic, "partition": q} for q in range(PARTITIONS)]}))
        # It exits non-zero when some partition needs no election: the condition below decides.
        dest3.run_tool("leader-election", ["--bootstrap-server", "{bootstrap}", "--election-type", "PREFERRED",
                                           "--path-to-json-file", str(election)], check=False)
        wait_until(lambda: leaders(dest3, topic) == preferred, 60, f"the preferred leaders {preferred}")
        gets_past_now("the preferred-leader election")

        # 3. Reassign a partition without its leader: the leader moves; then the old leader
        #    comes back as a follower (replication factor 3 again).
        p = 0
        info = dest3.metadata([topic]).topics[topic][p]
        old = info.leader
        others = [b for b in info.replicas if b != old]
        reassign(dest3, tmp_path, topic, p, others)
        wait_until(lambda: dest3.partition_leader(topic, p) in others, 60, f"partition {p}'s leader to move")
        gets_past_now(f"the reassignment of partition {p} from {info.replicas} to {others}")
        reassign(dest3, tmp_path, topic, p, others + [old])
        assert dest3.partition_leader(topic, p) != old
        gets_past_now(f"broker {old} added back to partition {p}")
    finally:
        producer.stop()

    # Nothing lost, nothing duplicated, no partition stuck.
    ends = high_watermarks(src, topic)
    assert sum(ends.values()) == producer.sent
    wait_for_high_watermarks(dest3.bootstrap, topic, ends, k, timeout=PROGRESS_BOUND_S)

    def lag_zero():
        doc = get_json(f"{k.admin_url}/v1/links/{LINK}/mirrors/{topic}")
        return doc["lag_records"] == 0 and all(
            q["lag_records"] == 0 and q["source_end_offset"] == ends[q["partition"]] for q in doc["partitions"])

    wait_until(lag_zero, PROGRESS_BOUND_S, "every partition's lag 0 per klink")
    source = consume_all(src, topic, timeout=120)
    dest = consume_all(dest3.bootstrap, topic, timeout=120)
    assert total_records(source) == producer.sent
    compare_partitions(source, dest)
    for q in range(PARTITIONS):
        assert [r.offset for r in source[q]] == [r.offset for r in dest[q]], f"partition {q}: offsets differ"
    assert not events(k, STOPPED), events(k, STOPPED)
    errors = destination_errors(k.admin_url)
    assert any(api == "Produce" for api, _ in errors), f"no Produce error counted on the destination: {errors}"
    assert k.stop() == 0, k.stderr_tail()
    summary = {e["partition"]: e for e in events(k, "mirror partition summary")}
    assert sum(e["records_produced"] for e in summary.values()) == producer.sent, summary
    for line in steps:
        print(line)
    print(f"{producer.sent} records; destination errors counted {errors}; produce retries "
          f"{sum(e['produce_retries'] for e in summary.values())}")
