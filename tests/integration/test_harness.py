"""The harness itself: clusters start, data round-trips, the independent checks agree
with each other and with Kafka's own tools. klink is not involved."""

from __future__ import annotations

import re
import subprocess
import tomllib
import zipfile

import pytest
from conftest import REPO_ROOT, RUN_DIR, to_toml
from harness.kafka import DEFAULT_VERSION, OLD_VERSION, TOOLS, KafkaCluster, fetch, tool_class
from kafka_checks import (
    CODECS,
    Record,
    assert_matches_produced,
    compare_partitions,
    consume_all,
    data_batches,
    produce_mixed,
    read_log_batches,
    total_records,
    unique_topic,
    wait_until,
)


def test_clusters_are_separate(source_cluster, dest_cluster):
    src, dst = source_cluster.metadata(), dest_cluster.metadata()
    assert list(src.brokers) == [0] and list(dst.brokers) == [0]
    assert src.brokers[0][1] == source_cluster.port(0)
    assert src.cluster_id and dst.cluster_id and src.cluster_id != dst.cluster_id


def test_mixed_data_round_trips_and_matches_disk(source_cluster, topic_name):
    partitions, per_codec = 3, 60
    source_cluster.create_topic(topic_name, partitions=partitions)
    expected = produce_mixed(source_cluster.bootstrap, topic_name, partitions, per_codec)

    consumed = consume_all(source_cluster.bootstrap, topic_name)
    assert total_records(consumed) == per_codec * len(CODECS)
    assert_matches_produced(expected, consumed)
    assert any(r.key is None for rs in consumed.values() for r in rs)
    assert any(r.value is None for rs in consumed.values() for r in rs)
    assert any(("null-header", None) in r.headers for rs in consumed.values() for r in rs)

    for p in range(partitions):
        batches = read_log_batches(source_cluster.log_dirs[0], topic_name, p)
        assert all(b.crc_ok() for b in batches)
        assert not any(b.control or b.transactional for b in batches)
        assert sum(b.records_count for b in batches) == len(consumed[p])
        assert {b.codec for b in batches} == set(CODECS)
        # Offsets are contiguous and agree with what the consumer saw.
        offsets = [o for b in batches for o in range(b.base_offset, b.last_offset + 1)]
        assert offsets == [r.offset for r in consumed[p]]
        assert all(b.producer_id >= 0 and b.base_sequence >= 0 for b in batches)  # idempotent producers


def test_dump_log_segments_agrees_with_reader(source_cluster, topic_name):
    source_cluster.create_topic(topic_name, partitions=1)
    produce_mixed(source_cluster.bootstrap, topic_name, 1, 40, codecs=["gzip", "zstd"])
    batches = read_log_batches(source_cluster.log_dirs[0], topic_name, 0)
    segment = source_cluster.partition_dir(topic_name, 0) / batches[0].segment
    out = source_cluster.run_tool("dump-log", ["--files", str(segment)]).stdout
    dumped = [(int(m[1]), int(m[2]), m[3]) for m in
              re.finditer(r"baseOffset: (\d+) lastOffset: (\d+) count: \d+ .*?compresscodec: (\w+)", out)]
    assert dumped == [(b.base_offset, b.last_offset, b.codec) for b in batches]


def test_transactions_and_isolation(source_cluster, topic_name):
    from confluent_kafka import Producer

    source_cluster.create_topic(topic_name, partitions=1)
    producer = Producer({"bootstrap.servers": source_cluster.bootstrap, "transactional.id": topic_name})
    producer.init_transactions(30)
    for commit in (True, False, True):
        producer.begin_transaction()
        for i in range(5):
            producer.produce(topic_name, value=f"{commit}-{i}".encode(), partition=0)
        producer.flush(30)  # so the aborted records reach the log too
        (producer.commit_transaction if commit else producer.abort_transaction)(30)

    committed = consume_all(source_cluster.bootstrap, topic_name)[0]
    everything = consume_all(source_cluster.bootstrap, topic_name, isolation="read_uncommitted")[0]
    assert [r.value for r in committed] == [b"True-%d" % i for i in range(5)] * 2
    assert len(everything) == 15

    batches = read_log_batches(source_cluster.log_dirs[0], topic_name, 0)
    markers = [b for b in batches if b.control]
    assert len(markers) == 3 and all(b.transactional for b in markers)
    assert sum(b.records_count for b in data_batches(batches)) == 15


def test_compare_partitions_reports_first_difference():
    def rec(offset, value, ts=1000):
        return Record(offset, b"k", value, (("h", b"v"),), 1, ts)

    same = {0: [rec(0, b"a"), rec(1, b"b")]}
    compare_partitions(same, {0: [rec(10, b"a"), rec(11, b"b")]})  # offsets may differ

    with pytest.raises(AssertionError, match=r"first difference at index 1"):
        compare_partitions(same, {0: [rec(0, b"a"), rec(1, b"X")]})
    with pytest.raises(AssertionError, match=r"destination 1"):
        compare_partitions(same, {0: [rec(0, b"a")]})
    with pytest.raises(AssertionError, match=r"partitions differ"):
        compare_partitions(same, {1: same[0]})
    with pytest.raises(AssertionError):
        compare_partitions(same, {0: [rec(0, b"a"), rec(1, b"b", ts=999)]})


def test_producer_performance_tool(source_cluster, topic_name):
    source_cluster.create_topic(topic_name, partitions=2)
    out = source_cluster.run_tool("producer-perf", [
        "--topic", topic_name, "--num-records", "5000", "--record-size", "200", "--throughput", "-1",
        "--producer-props", f"bootstrap.servers={source_cluster.bootstrap}", "compression.type=lz4"]).stdout
    assert "5000 records sent" in out
    assert total_records(consume_all(source_cluster.bootstrap, topic_name)) == 5000


def test_three_broker_cluster_survives_a_broker_restart():
    cluster = KafkaCluster("pytest-three", brokers=3, base_port=19300, workdir=RUN_DIR / "pytest-three")
    cluster.start()
    try:
        assert sorted(cluster.metadata().brokers) == [0, 1, 2]
        topic = unique_topic("three")
        cluster.create_topic(topic, partitions=3, replication_factor=3, configs={"min.insync.replicas": 2})
        expected = produce_mixed(cluster.bootstrap, topic, 3, 30, codecs=["none", "zstd"])

        victim = cluster.partition_leader(topic, 0)
        cluster.kill_broker(victim)
        assert not cluster.is_running(victim)
        wait_until(lambda: cluster.partition_leader(topic, 0) not in (victim, -1), 60,
                   f"a new leader for {topic}-0 after killing broker {victim}")
        assert_matches_produced(expected, consume_all(cluster.bootstrap, topic))

        cluster.start_broker(victim)
        wait_until(lambda: all(len(p.isr) == 3 for p in cluster.metadata([topic]).topics[topic].values()), 60,
                   f"broker {victim} back in the ISR of every partition")
        # The restarted broker holds the same bytes as the others.
        for p in range(3):
            copies = [[b.raw for b in read_log_batches(d, topic, p)] for d in cluster.log_dirs]
            assert copies[0] == copies[1] == copies[2]
    finally:
        cluster.stop()
    assert not cluster.running_brokers()


def test_old_broker_via_cli():
    """Kafka 3.9 (for version negotiation tests), driven through scripts/kafka."""
    kafka = [str(REPO_ROOT / "scripts" / "kafka")]
    name = "pytest-old"
    try:
        started = subprocess.run(kafka + ["start", "--name", name, "--port", "19400", "--version", OLD_VERSION],
                                 capture_output=True, text=True, timeout=180)
        assert started.returncode == 0, started.stderr
        assert started.stdout.strip() == "127.0.0.1:19400"
        status = subprocess.run(kafka + ["status", "--name", name], capture_output=True, text=True, check=True)
        assert "running" in status.stdout and OLD_VERSION in status.stdout

        cluster = KafkaCluster.load(RUN_DIR / name)
        topic = unique_topic("old")
        listed = subprocess.run(kafka + ["tool", "--name", name, "topics", "--bootstrap-server", "{bootstrap}",
                                         "--create", "--topic", topic, "--partitions", "2"],
                                capture_output=True, text=True, timeout=120)
        assert listed.returncode == 0, listed.stderr
        expected = produce_mixed(cluster.bootstrap, topic, 2, 20)
        assert_matches_produced(expected, consume_all(cluster.bootstrap, topic))
        assert {b.codec for b in read_log_batches(cluster.log_dirs[0], topic, 0)} == set(CODECS)
    finally:
        subprocess.run(kafka + ["stop", "--name", name], timeout=120)
    assert not KafkaCluster.load(RUN_DIR / name).running_brokers()


def test_toml_writer_round_trips():
    doc = {"log": {"level": "info", "format": "text"}, "admin": {"listen": "127.0.0.1:1"},
           "links": [{"name": "a", "source": {"bootstrap_servers": ["h:1", "h:2"]},
                      "topics": {"include": ["x.*"]}, "mirror": {"start": "earliest"}},
                     {"name": "b\"q", "enabled": False, "n": 3}]}
    assert tomllib.loads(to_toml(doc)) == doc


def test_klink_process_writes_a_config_klink_accepts(klink_process, klink_bin, topic_name):
    proc = klink_process(topics=[topic_name, "with.dot"], start=False)
    proc.config_path.write_text(to_toml(proc.config))
    parsed = tomllib.loads(proc.config_path.read_text())
    assert parsed["links"][0]["topics"]["include"] == [topic_name, "with\\.dot"]
    checked = subprocess.run([str(klink_bin), "validate", "--config", str(proc.config_path)],
                             capture_output=True, text=True, timeout=30)
    assert checked.returncode == 0, checked.stderr


@pytest.mark.parametrize("version", [DEFAULT_VERSION, OLD_VERSION])
def test_every_tool_alias_names_a_class_in_the_jars(version):
    classes = set()
    for jar in fetch(version).glob("*.jar"):
        with zipfile.ZipFile(jar) as z:
            classes.update(n for n in z.namelist() if n.endswith(".class"))
    missing = {alias: tool_class(version, alias) for alias in TOOLS
               if tool_class(version, alias).replace(".", "/") + ".class" not in classes}
    assert not missing
