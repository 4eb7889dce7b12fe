"""Several links in one klink daemon: a link whose source refuses connections (a closed port),
one whose source accepts connections but never answers (a hung broker), and one whose source
cluster is SIGKILLed while klink runs must not stall a healthy link. The
healthy link "good" mirrors a 200,000-record backlog plus a live stream exactly, its lag
reaches 0, the admin endpoint keeps answering, and both broken links show UNAVAILABLE.

The good link's catch-up throughput is printed next to the same stream mirrored by the good
link alone (not asserted: the machine is shared):

    many_links: good link with a dead peer vs alone: X MB/s vs Y MB/s (ratio Z)

    KLINK_TEST_SOURCE_PORT=35192 KLINK_TEST_DEST_PORT=36192 \
        /usr/bin/python3 -m pytest tests/integration/test_many_links.py -q -s

Ports of its own: a one-broker cluster on 27210 (killed mid-run); nothing listens on 27310
(the dead link's bootstrap); the test's silent listener on 27311 (the hung link's).
"""

from __future__ import annotations

import socket
import threading
import time

from admin_client import get_json, http, sample, scrape
from conftest import KAFKA_VERSION, RUN_DIR
from harness.kafka import KafkaCluster
from kafka_checks import compare_partitions, consume_all, total_records, unique_topic, wait_until
from links_support import JSON_LOGS, PacedProducer, events, high_watermarks, produce_n, wait_for_high_watermarks

DYING_PORT = 27210
DEAD_PORT = 27310
HUNG_PORT = 27311
PARTITIONS = 6
BACKLOG = 200_000
LIVE_RATE = 4000
LIVE_S = 5
VALUE_SIZE = 250
ADMIN_LIMIT_S = 2.0


def link(name: str, source_servers: list[str], dest, include: str) -> dict:
    return {
        "name": name,
        "source": {"bootstrap_servers": source_servers},
        "destination": {"bootstrap_servers": dest.bootstrap_servers},
        "topics": {"include": [include], "refresh_interval_ms": 1000},
        "mirror": {"start": "earliest"},
    }


class SilentBroker(threading.Thread):
    """Accepts connections on `port` and reads whatever arrives, never answering: a hung broker."""

    def __init__(self, port: int):
        super().__init__(daemon=True)
        self.server = socket.create_server(("127.0.0.1", port))
        self.server.settimeout(0.2)
        self.connections: list[socket.socket] = []
        self.bytes_received = 0
        self._halt = threading.Event()

    def run(self):
        while not self._halt.is_set():
            try:
                conn, _ = self.server.accept()
                conn.setblocking(False)
                self.connections.append(conn)
            except TimeoutError:
                pass
            for conn in list(self.connections):
                try:
                    data = conn.recv(65536)
                    if data:
                        self.bytes_received += len(data)
                    else:
                        self.connections.remove(conn)
                except BlockingIOError:
                    pass
                except OSError:
                    self.connections.remove(conn)

    def stop(self):
        self._halt.set()
        self.join(5)
        for conn in self.connections:
            conn.close()
        self.server.close()


class AdminPoller(threading.Thread):
    """GETs /v1/links every 0.3 s and records how long each answer took."""

    def __init__(self, base: str):
        super().__init__(daemon=True)
        self.base = base
        self.durations: list[float] = []
        self.failures: list[str] = []
        self.last: dict | None = None
        self._halt = threading.Event()

    def run(self):
        while not self._halt.is_set():
            t0 = time.monotonic()
            try:
                self.last = get_json(f"{self.base}/v1/links")
            except Exception as e:  # reported at the end, with the others
                self.failures.append(repr(e))
            self.durations.append(time.monotonic() - t0)
            self._halt.wait(0.3)  # polling period

    def stop(self):
        self._halt.set()
        self.join(15)


def link_states(k) -> dict[str, str]:
    return {l["name"]: l["state"] for l in get_json(f"{k.admin_url}/v1/links")["links"]}


def catch_up(k, source, dest, topic: str, started: float) -> float:
    """Seconds from klink's start (`started`) until `topic` on dest ends where the source ends."""
    wait_for_high_watermarks(dest.bootstrap, topic, high_watermarks(source.bootstrap, topic), k, timeout=240)
    return time.monotonic() - started


def mirrored_mb(k, topic: str) -> float:
    return sample(scrape(k.admin_url), "klink_mirror_bytes_total", link="good", topic=topic) / 1e6


def test_dead_and_killed_links_do_not_stall_a_good_one(klink_process, source_cluster, dest_cluster):
    alone_topic = unique_topic("many-alone")
    good_topic = unique_topic("many-good")
    for t in (alone_topic, good_topic):
        source_cluster.create_topic(t, partitions=PARTITIONS)
        produce_n(source_cluster.bootstrap, t, PARTITIONS, BACKLOG, "r", value_size=VALUE_SIZE, codec="none")

    # --- The same stream with the good link alone.
    alone = klink_process(links=[link("good", source_cluster.bootstrap_servers, dest_cluster, alone_topic)],
                          extra=JSON_LOGS, log_level="info", name="klink-alone")
    alone_s = catch_up(alone, source_cluster, dest_cluster, alone_topic, time.monotonic())
    alone_mb = mirrored_mb(alone, alone_topic)
    assert alone.stop() == 0, alone.stderr_tail()

    # --- Good link next to a dead one and one whose cluster dies.
    dying_topic = unique_topic("many-dying")
    dying = KafkaCluster("many-links-dying", brokers=1, base_port=DYING_PORT, version=KAFKA_VERSION,
                         workdir=RUN_DIR / f"many-links-dying-{DYING_PORT}")
    hung = SilentBroker(HUNG_PORT)
    hung.start()
    try:
        dying.start()
        dying.create_topic(dying_topic, partitions=2)
        produce_n(dying.bootstrap, dying_topic, 2, 2000, "d")

        k = klink_process(links=[
            link("dead", [f"127.0.0.1:{DEAD_PORT}"], dest_cluster, ".*"),
            link("hung", [f"127.0.0.1:{HUNG_PORT}"], dest_cluster, ".*"),
            link("dying", dying.bootstrap_servers, dest_cluster, dying_topic),
            link("good", source_cluster.bootstrap_servers, dest_cluster, good_topic),
        ], extra=JSON_LOGS, log_level="info", name="klink-many")
        started = time.monotonic()
        wait_until(lambda: http(f"{k.admin_url}/healthz", timeout=ADMIN_LIMIT_S)[0] == 200, 10, "admin endpoint up")
        poller = AdminPoller(k.admin_url)
        poller.start()
        try:
            # The dying link's small topic first, then its cluster is SIGKILLed while the
            # good link is still working through its backlog (or its live stream).
            wait_for_high_watermarks(dest_cluster.bootstrap, dying_topic,
                                     high_watermarks(dying.bootstrap, dying_topic), k, timeout=60)
            dying.kill_broker(0)
            killed_at = time.monotonic() - started
            good_s = catch_up(k, source_cluster, dest_cluster, good_topic, started)
            good_mb = mirrored_mb(k, good_topic)
            good_hw = high_watermarks(source_cluster.bootstrap, good_topic)
            caught_up_records = sum(good_hw.values())

            # A live stream after the backlog, with every peer down.
            live = PacedProducer(source_cluster.bootstrap, good_topic, PARTITIONS, LIVE_RATE, "live",
                                 value_size=VALUE_SIZE)
            live.start()
            try:
                wait_until(lambda: live.acked >= LIVE_RATE * LIVE_S, LIVE_S + 30, "the live stream")
            finally:
                live.stop()
            wait_for_high_watermarks(dest_cluster.bootstrap, good_topic,
                                     high_watermarks(source_cluster.bootstrap, good_topic), k, timeout=60)

            def lag_zero():
                doc = get_json(f"{k.admin_url}/v1/links/good/mirrors/{good_topic}")
                return doc if doc["lag_records"] == 0 and doc["state"] == "ACTIVE" else None

            wait_until(lag_zero, 30, "the good link's lag to reach 0 per the admin endpoint")
            def dying_unavailable():
                states = link_states(k)
                return states if states.get("dying") == "UNAVAILABLE" else None

            states = wait_until(dying_unavailable, 30, "the dying link to show UNAVAILABLE")
            assert states == {"dead": "UNAVAILABLE", "hung": "UNAVAILABLE", "dying": "UNAVAILABLE",
                              "good": "ACTIVE"}, states
            links = {l["name"]: l for l in get_json(f"{k.admin_url}/v1/links")["links"]}
            assert links["good"]["lag_records"] == 0, links["good"]
            assert links["dead"]["source_reachable"] is False, links["dead"]
            assert links["dying"]["source_reachable"] is False, links["dying"]
            assert links["hung"]["source_reachable"] is False, links["hung"]
            assert hung.bytes_received > 0, "klink never talked to the hung broker"
        finally:
            poller.stop()
        # Throughout: every admin call answered, each well within the limit.
        assert not poller.failures, poller.failures[:5]
        assert len(poller.durations) >= 15, poller.durations
        slowest = max(poller.durations)
        assert slowest < ADMIN_LIMIT_S, f"an admin call took {slowest:.2f}s"
        # Dead all along: "dead" never reached its source, and said so once.
        assert not events(k, "cluster reachable", link="dead", cluster="source")
        assert len(events(k, "cluster unreachable; retrying with backoff", link="dead", cluster="source")) == 1
        assert events(k, "cluster unreachable; retrying with backoff", link="dying", cluster="source")

        src = consume_all(source_cluster.bootstrap, good_topic, timeout=120)
        assert total_records(src) == BACKLOG + live.acked
        compare_partitions(src, consume_all(dest_cluster.bootstrap, good_topic, timeout=120))
        # The dying link's mirror kept what it had copied.
        assert high_watermarks(dest_cluster.bootstrap, dying_topic) == {0: 1000, 1: 1000}
        assert k.stop() == 0, k.stderr_tail()
        assert events(k, "link stopped cleanly", link="good"), k.stderr_tail()
    finally:
        dying.stop()
        hung.stop()

    alone_rate, good_rate = alone_mb / alone_s, good_mb / good_s
    print(f"\nmany_links: {caught_up_records} records caught up; dying cluster killed {killed_at:.1f}s after "
          f"klink started; admin calls: {len(poller.durations)}, slowest {slowest * 1000:.0f} ms")
    print(f"many_links: good link with a dead peer vs alone: {good_rate:.1f} MB/s vs {alone_rate:.1f} MB/s "
          f"(ratio {good_rate / alone_rate:.2f})")
