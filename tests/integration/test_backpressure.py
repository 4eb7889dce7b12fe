"""Bounded memory: a stalled destination makes klink stop fetching, so its
memory stays near `max_buffered_bytes` however much the source holds; when
the destination comes back, everything arrives exactly once."""

from __future__ import annotations

import os
import signal
import time

from conftest import RUN_DIR, KlinkProcess
from harness.kafka import KafkaCluster
from kafka_checks import end_offsets, unique_topic, wait_until

MIB = 1024 * 1024


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def test_stalled_destination_bounds_memory_and_loses_nothing(klink_bin, source_cluster, tmp_path):
    topic = unique_topic("backpressure")
    records = 150_000  # x 1 KiB: ~150 MiB waiting on the source, far above the buffer bound
    source_cluster.create_topic(topic, partitions=6)
    source_cluster.run_tool("producer-perf", [
        "--topic", topic, "--num-records", str(records), "--record-size", "1024",
        "--throughput", "-1", "--producer-props", "bootstrap.servers={bootstrap}",
        "acks=1", "compression.type=lz4", "linger.ms=10", "batch.size=131072"])

    destination = KafkaCluster("pytest-backpressure-dest", base_port=19950,
                               workdir=RUN_DIR / "pytest-backpressure-dest")
    destination.start()
    broker_pid = destination._pid(0)
    klink = KlinkProcess(klink_bin, tmp_path, {
        "log": {"level": "info", "format": "text"},
        "admin": {"listen": "127.0.0.1:0"},
        "links": [{
            "name": "bp",
            "source": {"bootstrap_servers": source_cluster.bootstrap_servers},
            "destination": {"bootstrap_servers": destination.bootstrap_servers,
                            "replication_factor": 1},
            "topics": {"include": [topic.replace(".", "\\.")]},
            "mirror": {"start": "earliest", "max_buffered_bytes": 16 * MIB,
                       "fetch_max_bytes": 4 * MIB, "partition_fetch_max_bytes": 1 * MIB,
                       "request_timeout_ms": 5000},
        }],
    }, "klink-backpressure")
    try:
        klink.start()
        wait_until(lambda: "mirroring topic" in klink.stderr(), 60, "klink set up the mirror topic")
        # The sanitized klink (scripts/test, KLINK_SANITIZED=1) carries ASan's
        # shadow memory and quarantine: there what the stall adds is measured.
        baseline = rss_bytes(klink.proc.pid) if os.environ.get("KLINK_SANITIZED") == "1" else 0
        os.kill(broker_pid, signal.SIGSTOP)
        # Watch klink while the destination accepts nothing: the fetched data
        # can only pile up in klink's memory if back-pressure is missing.
        peak = 0
        deadline = time.monotonic() + 8
        while time.monotonic() < deadline:
            assert klink.running(), klink.stderr_tail()
            peak = max(peak, rss_bytes(klink.proc.pid))
            time.sleep(0.2)
        os.kill(broker_pid, signal.SIGCONT)
        assert peak - baseline < 100 * MIB, \
            f"klink grew to {peak / MIB:.0f} MiB (from {baseline / MIB:.0f}) with the destination stalled"

        want = end_offsets(source_cluster.bootstrap, topic)
        wait_until(lambda: end_offsets(destination.bootstrap, topic) == want, 180,
                   "the destination to catch up after the stall")
        assert sum(want.values()) == records
        assert klink.stop() == 0
    finally:
        os.kill(broker_pid, signal.SIGCONT)
        if klink.running():
            klink.stop(signal.SIGKILL)
        destination.stop()
