"""Nothing lost, nothing duplicated: klink is killed with SIGKILL again and
again while producers write (with committed and aborted transactions), and
restarted each time; at the end the destination holds every committed source
record exactly once, in order."""

from __future__ import annotations

import random
import signal
import threading
import time

from kafka_checks import compare_partitions, consume_all, end_offsets, unique_topic, wait_until

PARTITIONS = 6
TRANSACTIONS = 120         # x 500 records, every fourth one aborted
PLAIN_RECORDS = 250_000    # idempotent, non-transactional, interleaved


def produce_in_background(bootstrap: str, topic: str, stop: threading.Event, errors: list):
    from confluent_kafka import Producer

    def plain():
        p = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True,
                      "linger.ms": 5, "compression.type": "lz4"})
        for i in range(PLAIN_RECORDS):
            if stop.is_set():
                break
            while True:
                try:
                    p.produce(topic, key=f"k{i % 977}".encode(), value=f"plain-{i}".encode(),
                              partition=i % PARTITIONS, headers=[("n", str(i).encode())])
                    break
                except BufferError:
                    p.poll(0.05)
            if i % 1000 == 0:
                p.poll(0)
        p.flush(60)

    def transactional():
        p = Producer({"bootstrap.servers": bootstrap, "transactional.id": f"crash-{topic}",
                      "linger.ms": 5, "compression.type": "zstd"})
        p.init_transactions(30)
        for t in range(TRANSACTIONS):
            if stop.is_set():
                break
            p.begin_transaction()
            for i in range(500):
                p.produce(topic, key=f"t{t}".encode(), value=f"txn-{t}-{i}".encode(),
                          partition=(t + i) % PARTITIONS)
            p.flush(30)  # librdkafka 2.0.2 + Kafka 4.1: abort needs the records sent first
            if t % 4 == 3:
                p.abort_transaction(30)
            else:
                p.commit_transaction(30)

    def guarded(fn):
        try:
            fn()
        except Exception as e:  # surfaced by the test
            errors.append(e)

    threads = [threading.Thread(target=guarded, args=(fn,)) for fn in (plain, transactional)]
    for t in threads:
        t.start()
    return threads


def test_repeated_sigkill_loses_and_duplicates_nothing(source_cluster, dest_cluster, klink_process):
    topic = unique_topic("crash")
    source_cluster.create_topic(topic, partitions=PARTITIONS)
    stop = threading.Event()
    errors: list = []
    producers = produce_in_background(source_cluster.bootstrap, topic, stop, errors)
    rng = random.Random(20261125)
    klink = klink_process(topics=[topic], log_level="info")
    try:
        for kill in range(12):
            # Let it copy for a random while, then crash it: mid-fetch,
            # mid-produce, mid-checkpoint, wherever it happens to be. The log
            # file is appended to across restarts: wait for this run's line.
            wait_until(lambda: klink.stderr().count("mirroring topic") > kill, 60,
                       "this run of klink to start mirroring")
            time.sleep(rng.uniform(0.3, 2.5))
            assert klink.stop(signal.SIGKILL) == -signal.SIGKILL
            klink.start()
        for t in producers:
            t.join(300)
        assert not errors, errors
        source = consume_all(source_cluster.bootstrap, topic, timeout=180)
        committed = sum(len(r) for r in source.values())
        assert committed == PLAIN_RECORDS + 500 * (TRANSACTIONS - TRANSACTIONS // 4)

        def caught_up():
            counts = end_offsets(dest_cluster.bootstrap, topic)
            return sum(counts.values()) >= committed
        wait_until(caught_up, 240, "klink to copy every committed record")
        assert klink.stop() == 0
        destination = consume_all(dest_cluster.bootstrap, topic, timeout=180)
        # Same records, same order, each exactly once (compare_partitions fails
        # on a duplicate as on a loss).
        compare_partitions(source, destination)
        assert "resumes from its checkpoint" in klink.stderr()
    finally:
        stop.set()
        for t in producers:
            t.join(60)
