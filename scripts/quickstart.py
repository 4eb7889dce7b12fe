"""The quickstart's steps after the build; run through scripts/quickstart."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from harness.kafka import KafkaCluster  # noqa: E402

RUN = REPO / ".klink-run" / "quickstart"
CONFIG = REPO / "config" / "quickstart.toml"
TOPIC = "demo.orders"
PARTITIONS = 6
RECORDS = 200_000
LINK = "quickstart"
ADMIN = "http://127.0.0.1:8083"  # [admin] listen in config/quickstart.toml


def say(text: str) -> None:
    print(text, flush=True)


def clusters() -> tuple[KafkaCluster, KafkaCluster]:
    # Daemonised brokers outlive this script; `scripts/kafka ... --name` finds them.
    return (KafkaCluster("quickstart-source", base_port=19092, daemon=True),
            KafkaCluster("quickstart-destination", base_port=29092, daemon=True))


def stop() -> int:
    pid_file = RUN / "klink.pid"
    if pid_file.exists():
        try:
            os.kill(int(pid_file.read_text()), signal.SIGTERM)
            say("stopped klink")
        except (ProcessLookupError, ValueError):
            pass
        pid_file.unlink()
    for c in clusters():
        c.stop()
        say(f"stopped {c.name}")
    return 0


def end_offsets(bootstrap: str, topic: str) -> int:
    from confluent_kafka import Consumer, TopicPartition
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "klink-quickstart-watch",
                         "enable.auto.commit": False})
    try:
        meta = consumer.list_topics(topic, timeout=5).topics.get(topic)
        if meta is None or meta.error is not None:
            return 0
        return sum(consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=5)[1]
                   for p in meta.partitions)
    finally:
        consumer.close()


def admin_mirror() -> dict | None:
    """The mirror of TOPIC as klink's admin endpoint reports it, or None until it can."""
    try:
        with urllib.request.urlopen(f"{ADMIN}/v1/links/{LINK}/mirrors/{TOPIC}", timeout=5) as r:
            doc = json.loads(r.read())
    except (urllib.error.URLError, OSError, ValueError):
        return None
    # Before the first Fetch answers, a partition's source end is not known yet.
    if any(p["source_end_offset"] is None for p in doc["partitions"]):
        return None
    return doc


def start() -> int:
    RUN.mkdir(parents=True, exist_ok=True)
    source, destination = clusters()
    say("== starting two local Kafka clusters (KRaft, one broker each)")
    for c in (source, destination):
        c.start()
        say(f"   {c.name}: {c.bootstrap}")

    say(f"== creating {TOPIC} ({PARTITIONS} partitions) on the source and writing {RECORDS:,} records")
    source.create_topic(TOPIC, partitions=PARTITIONS)
    source.run_tool("producer-perf", ["--topic", TOPIC, "--num-records", str(RECORDS),
                                      "--record-size", "200", "--throughput", "-1",
                                      "--producer-props", "bootstrap.servers={bootstrap}",
                                      "compression.type=lz4", "linger.ms=20"])
    total = end_offsets(source.bootstrap, TOPIC)

    say(f"== running klink with {CONFIG.relative_to(REPO)}")
    say(f"   admin: {ADMIN}/v1/links   metrics: {ADMIN}/metrics")
    log_path = RUN / "klink.log"
    log = open(log_path, "w")
    klink = subprocess.Popen([str(REPO / "build" / "klink"), "run", "--config", str(CONFIG)],
                             stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    (RUN / "klink.pid").write_text(str(klink.pid))

    say(f"   progress from {ADMIN}/v1/links/{LINK}/mirrors/{TOPIC}")
    deadline = time.monotonic() + 180
    mirrored = 0
    while time.monotonic() < deadline:
        if klink.poll() is not None:
            say(f"klink exited with {klink.returncode}; its log:\n{log_path.read_text()}")
            return 1
        doc = admin_mirror()
        if doc is None:
            say("   waiting for klink to set up the mirror")
        else:
            mirrored = sum(p["mirrored_source_offset"] for p in doc["partitions"])
            say(f"   mirrored {mirrored:>9,} / {total:,} records   lag {doc['lag_records']:,}")
            if doc["lag_records"] == 0 and mirrored >= total:
                break
        time.sleep(1)
    if mirrored < total:
        say(f"klink did not catch up within 3 minutes; see {log_path}")
        return 1

    say("== the first records on the destination (mirror topic demo.orders):")
    out = destination.run_tool("console-consumer", [
        "--bootstrap-server", "{bootstrap}", "--topic", TOPIC, "--partition", "0",
        "--offset", "0", "--max-messages", "3", "--timeout-ms", "10000",
        "--property", "print.offset=true", "--property", "print.timestamp=true"], check=False)
    for line in out.stdout.splitlines():
        say("   " + line[:120] + ("..." if len(line) > 120 else ""))

    say("")
    say("klink is running and mirrors every topic matching demo.* (new records follow within a second).")
    say(f"   source cluster:        {source.bootstrap}")
    say(f"   destination cluster:   {destination.bootstrap}")
    say(f"   klink log:             {log_path}")
    say(f"   admin:                 {ADMIN}/v1/links   metrics: {ADMIN}/metrics")
    say(f"   lag of the demo topic: curl -s {ADMIN}/v1/links/{LINK}/mirrors/{TOPIC}")
    say(f"   config:                {CONFIG}")
    say("   try:   scripts/kafka tool --name quickstart-source producer-perf --topic demo.orders "
        "--num-records 10000 --record-size 100 --throughput -1 "
        "--producer-props bootstrap.servers=127.0.0.1:19092")
    say(f"   fail over (final: klink stops writing to {TOPIC}, producers may use it):")
    say(f"          scripts/failover --admin {ADMIN} --link {LINK} --topics {TOPIC}")
    say("   stop:  scripts/quickstart stop")
    return 0


if __name__ == "__main__":
    sys.exit(stop() if len(sys.argv) > 1 and sys.argv[1] == "stop" else start())
