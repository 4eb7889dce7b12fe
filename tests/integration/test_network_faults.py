"""klink through network partitions, not process stops: while a producer writes without pause
to a mirrored source topic, the source and then the destination are black-holed (every
packet dropped, both ways) for 30 s, then each has its connections reset for 15 s, then both
sit behind a slow, lossy link (100 ms each way, 1 % loss) for a minute. Meanwhile a probe
asks klink's admin endpoint every 0.5 s for the mirror's status, the link list and the
metrics. Asserted:

- after each fault, once the producer holds: the destination ends exactly where the source
  does, klink's lag (admin and metric) is 0; at the end every record is on the destination
  at the same offset as on the source (no control batches here, so klink's offset map is
  the identity), and klink's own status says so partition by partition;
- the admin endpoint answered every probe during the faults, each in under a second;
- while the destination is cut, klink's lag rises (it still reads the source's end) by most
  of what the producer wrote meanwhile, and never above the truth; while the source is cut
  klink cannot know the source's end (its lag stays what it last measured): it must say
  the source is unreachable (link UNAVAILABLE, mirror SOURCE_UNAVAILABLE, /readyz 503)
  instead of "ACTIVE, caught up"; likewise the destination (link UNAVAILABLE, /readyz 503).
  A silent cluster cannot be told from a slow one before a request times out, so the link
  uses request_timeout_ms = 5000 (default 30000, as long as the cut): klink says so about
  two request timeouts into a black-hole, at once for reset connections;
- klink_kafka_errors_total counts each cut: Fetch errors on the source for a source cut,
  Produce errors on the destination for a destination cut;
- the slow link was in klink's way: over a thousand packets delayed, klink's Produce round
  trips meanwhile 200 ms or more on average.

The faults hit only the brokers' client ports (net_faults.py: nftables table
`klink_test_faults`, an NFQUEUE delayer for the latency since this kernel has no netem);
the producer writes through a second listener of the source (SASL_PLAINTEXT) that no fault
touches, so it goes on during a source cut. Needs root, nft and iptables (scripts/setup).

Own clusters: the source on 36300 (PLAINTEXT for klink; SASL_PLAINTEXT 36310 for the
producer; controller 36350); the destination is the session's.
"""

from __future__ import annotations

import json
import threading
import time

import pytest
from admin_client import http, scrape
from conftest import RUN_DIR
from harness.kafka import KafkaCluster, SecureListener
from kafka_checks import compare_partitions, consume_all, total_records, unique_topic, wait_until
from links_support import JSON_LOGS, PacedProducer, events, high_watermarks, wait_for_high_watermarks
from net_faults import NetFaults, start_cluster

SOURCE_PORT = 36300
PARTITIONS = 4
RATE = 800  # records/s, all through the faults
LINK = "net"
CUT_S = 30
RESET_S = 15
SLOW_S = 60
PROBE_EVERY_S = 0.5
ADMIN_LIMIT_S = 1.0
USER, PASSWORD = "klink", "klink-secret"
REQUEST_TIMEOUT_MS = 5000


# ----------------------------------------------------------------------------
# The probe: the admin endpoint every 0.5 s, from its own thread


class AdminProbe(threading.Thread):
    """Every PROBE_EVERY_S: the mirror's status, the link list, /readyz and /metrics, each
    timed. `samples` keeps one dict per round (monotonic time `t`, latencies, what klink said)."""

    PATHS = ("mirror", "links", "readyz", "metrics")

    def __init__(self, base: str, topic: str):
        super().__init__(daemon=True)
        self.base, self.topic = base, topic
        self.samples: list[dict] = []
        self._halt = threading.Event()

    def _get(self, path: str) -> tuple[float, int, str]:
        started = time.monotonic()
        try:
            status, body, _ = http(f"{self.base}{path}", timeout=10)
        except Exception as e:  # noqa: BLE001 - an unanswered probe is a result
            return time.monotonic() - started, -1, repr(e)
        return time.monotonic() - started, status, body

    def probe(self) -> dict:
        s: dict = {"t": time.monotonic(), "latency": {}, "status": {}}
        urls = {"mirror": f"/v1/links/{LINK}/mirrors/{self.topic}", "links": "/v1/links", "readyz": "/readyz",
                "metrics": "/metrics"}
        for name, path in urls.items():
            latency, status, body = self._get(path)
            s["latency"][name], s["status"][name] = latency, status
            if status != 200 and name != "readyz":
                continue
            if name == "mirror":
                doc = json.loads(body)
                s["mirror_state"], s["lag"] = doc["state"], doc["lag_records"]
                s["partitions"] = doc["partitions"]
            elif name == "links":
                s["link_state"] = json.loads(body)["links"][0]["state"]
        return s

    def run(self):
        while not self._halt.is_set():
            self.samples.append(self.probe())
            self._halt.wait(PROBE_EVERY_S)  # the probing period itself

    def stop(self):
        self._halt.set()
        self.join(30)

    def between(self, start: float, end: float) -> list[dict]:
        return [s for s in self.samples if start <= s["t"] <= end]


# ----------------------------------------------------------------------------
# Reading klink


def kafka_errors(samples: dict) -> dict[tuple[str, str, str], float]:
    """klink_kafka_errors_total of the link by (cluster, api, error), from a scrape."""
    out = {}
    for (name, labels), value in samples.items():
        if name == "klink_kafka_errors_total":
            d = dict(labels)
            if d.get("link") == LINK:
                out[(d["cluster"], d["api"], d["error"])] = value
    return out


def mean_latency(before: dict, after: dict, histogram: str) -> float | None:
    """The mean of the link's `histogram` observations between two scrapes."""
    def total(samples, suffix):
        return sum(v for (name, labels), v in samples.items()
                   if name == histogram + suffix and dict(labels).get("link") == LINK)

    count = total(after, "_count") - total(before, "_count")
    return (total(after, "_sum") - total(before, "_sum")) / count if count else None


def metric_lag(base: str, topic: str) -> float:
    samples = scrape(base)
    return samples[("klink_mirror_lag_records", frozenset({("link", LINK), ("topic", topic)}))]


def grew(before: dict, after: dict, cluster: str, api: str | None = None) -> dict:
    """The counters of `cluster` (and `api`) that rose between the two scrapes."""
    return {k: after[k] - before.get(k, 0) for k in after
            if k[0] == cluster and (api is None or k[1] == api) and after[k] > before.get(k, 0)}


# ----------------------------------------------------------------------------
# The test


@pytest.fixture
def net_source():
    cluster = KafkaCluster("net-faults-source", brokers=1, base_port=SOURCE_PORT, workdir=RUN_DIR / "net-faults-source",
                           secure_listener=SecureListener("SASL_PLAINTEXT", mechanisms=["PLAIN"],
                                                          users={USER: PASSWORD}))
    start_cluster(cluster)
    yield cluster
    cluster.stop()


def test_partitions_resets_and_a_slow_link(klink_process, net_source, dest_cluster):
    topic = unique_topic("net-faults")
    net_source.create_topic(topic, partitions=PARTITIONS)
    src_port, dst_port = net_source.port(0), dest_cluster.port(0)
    # Through the source's SASL listener, which no fault touches.
    producer = PacedProducer(net_source.secure_bootstrap, topic, PARTITIONS, RATE, "net", value_size=120,
                             properties={"security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "PLAIN",
                                         "sasl.username": USER, "sasl.password": PASSWORD,
                                         "message.timeout.ms": 300000})
    k = klink_process(links=[{
        "name": LINK,
        "source": {"bootstrap_servers": net_source.bootstrap_servers},
        "destination": {"bootstrap_servers": dest_cluster.bootstrap_servers},
        "topics": {"include": [topic]},
        # klink cannot tell a silent cluster from a slow one before a request times out:
        # 5 s instead of the default 30 s, so that it can know within a 30 s cut.
        "mirror": {"start": "earliest", "request_timeout_ms": REQUEST_TIMEOUT_MS},
    }], extra=JSON_LOGS)
    base = k.admin_url
    probe = AdminProbe(base, topic)
    phases: list[dict] = []

    def settle(name: str):
        """Holds the producer and waits until klink has copied everything exactly."""
        producer.hold()
        ends = high_watermarks(net_source.bootstrap, topic)
        assert sum(ends.values()) == producer.acked, (ends, producer.acked)
        wait_for_high_watermarks(dest_cluster.bootstrap, topic, ends, k, timeout=180)

        def caught_up():
            s = probe.probe()
            return (s.get("lag") == 0 and all(p["source_end_offset"] == ends[p["partition"]] for p in s["partitions"])
                    and metric_lag(base, topic) == 0 and s.get("link_state") == "ACTIVE"
                    and s.get("mirror_state") == "ACTIVE" and s["status"]["readyz"] == 200)
        wait_until(caught_up, 60, f"klink's lag back to 0 after {name}")
        producer.go()

    def fault(name: str, apply, seconds: float, cluster: str):
        before = scrape(base)
        acked_before = producer.acked
        dest_before = sum(high_watermarks(dest_cluster.bootstrap, topic).values())
        start = time.monotonic()
        apply()
        try:
            deadline = start + seconds
            while time.monotonic() < deadline:  # the fault's duration is the scenario
                assert k.running(), f"klink exited during {name}:\n{k.stderr_tail()}"
                producer.check()
                time.sleep(0.5)
            end = time.monotonic()  # probes up to here saw the fault in force
            acked_during = producer.acked - acked_before
            at_end = scrape(base)
        finally:
            faults.clear()
        settle(name)
        after = scrape(base)
        phases.append({"name": name, "cluster": cluster, "start": start, "end": end, "acked_before": acked_before,
                       "acked_during": acked_during, "dest_before": dest_before,
                       "errors": grew(kafka_errors(before), kafka_errors(after), cluster),
                       # Round trips while the fault was in force; errors also when they surfaced
                       # later (a request timing out after the cut was lifted).
                       "produce_latency": mean_latency(before, at_end, "klink_produce_latency_seconds"),
                       "fetch_latency": mean_latency(before, at_end, "klink_fetch_latency_seconds"),
                       "delayed_packets": faults.last_delayed})

    with NetFaults() as faults:
        probe.start()
        producer.start()
        try:
            wait_until(lambda: producer.acked > RATE * 3, 60, "the producer running")
            settle("the start")
            fault("a black-holed source", lambda: faults.blackhole([src_port]), CUT_S, "source")
            fault("a black-holed destination", lambda: faults.blackhole([dst_port]), CUT_S, "destination")
            fault("reset source connections", lambda: faults.reset([src_port]), RESET_S, "source")
            fault("reset destination connections", lambda: faults.reset([dst_port]), RESET_S, "destination")
            fault("a slow lossy link", lambda: faults.slow([src_port, dst_port], 0.1, 0.01), SLOW_S, "both")
        finally:
            producer.stop()
            probe.stop()

    # Everything, exactly, at the same offsets.
    ends = high_watermarks(net_source.bootstrap, topic)
    assert sum(ends.values()) == producer.sent
    wait_for_high_watermarks(dest_cluster.bootstrap, topic, ends, k, timeout=180)
    source = consume_all(net_source.bootstrap, topic, timeout=120)
    dest = consume_all(dest_cluster.bootstrap, topic, timeout=120)
    assert total_records(source) == producer.sent
    compare_partitions(source, dest)
    for p in range(PARTITIONS):
        assert [r.offset for r in source[p]] == [r.offset for r in dest[p]], f"partition {p}: offsets differ"
    final = probe.probe()
    for p in final["partitions"]:
        assert p["mirrored_source_offset"] == ends[p["partition"]] == p["destination_end_offset"], p

    report(probe, phases)
    check_admin_latency(probe, phases)
    for phase in phases:
        check_phase(probe, phase)
    assert k.stop() == 0, k.stderr_tail()
    s = {e["partition"]: e for e in events(k, "mirror partition summary")}
    assert sum(e["records_produced"] for e in s.values()) == producer.sent, s


def report(probe: AdminProbe, phases: list[dict]):
    for ph in phases:
        window = probe.between(ph["start"], ph["end"])
        lags = [s["lag"] for s in window if "lag" in s]
        print(f"{ph['name']}: {ph['end'] - ph['start']:.0f}s, {ph['acked_during']} records produced, "
              f"lag max {max(lags, default=None)}, states "
              f"{sorted({(s.get('link_state'), s.get('mirror_state'), s['status']['readyz']) for s in window}, key=str)}, "
              f"admin max {max((max(s['latency'].values()) for s in window), default=0):.3f}s, errors {ph['errors']}, "
              f"mean produce/fetch round trip {fmt(ph['produce_latency'])}/{fmt(ph['fetch_latency'])}, "
              f"packets delayed {ph['delayed_packets']}")


def fmt(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.0f}ms"


def check_admin_latency(probe: AdminProbe, phases: list[dict]):
    window = probe.between(phases[0]["start"], phases[-1]["end"])
    # One probe round every 0.5 s: a probe that hung would show as a gap too.
    assert len(window) >= (phases[-1]["end"] - phases[0]["start"]) / (PROBE_EVERY_S + 4 * ADMIN_LIMIT_S)
    slow = [(round(s["t"] - phases[0]["start"], 1), name, round(lat, 3), s["status"][name])
            for s in window for name, lat in s["latency"].items()
            if lat >= ADMIN_LIMIT_S or s["status"][name] not in (200, 503)]
    assert not slow, f"admin probes slower than {ADMIN_LIMIT_S}s or unanswered (t, path, s, status): {slow[:20]}"
    worst = max(max(s["latency"].values()) for s in window)
    print(f"admin endpoint: {len(window)} probe rounds during the faults, slowest answer {worst * 1000:.0f} ms")


def check_phase(probe: AdminProbe, ph: dict):
    window = probe.between(ph["start"], ph["end"])
    name = ph["name"]
    assert window, f"no probe during {name}"
    if ph["cluster"] == "both":
        # The slow link was really there, and in klink's way: every Produce crossed it twice
        # (100 ms each way), so their mean round trip is at least 200 ms.
        assert ph["delayed_packets"] > 1000, f"{name}: only {ph['delayed_packets']} packets went through the delay"
        assert ph["produce_latency"] is not None and ph["produce_latency"] >= 0.19, \
            f"{name}: klink's Produce round trips averaged {fmt(ph['produce_latency'])}"
    if ph["cluster"] in ("source", "destination"):
        api = "Fetch" if ph["cluster"] == "source" else "Produce"
        assert any(k[1] == api for k in ph["errors"]), \
            f"{name}: klink_kafka_errors_total counted no {api} error on the {ph['cluster']}: {ph['errors']}"
    if ph["cluster"] == "destination":
        # klink still reads the source's end: the lag rises by most of what was produced.
        lags = [s["lag"] for s in window if "lag" in s]
        assert max(lags) >= 0.5 * ph["acked_during"], \
            f"{name}: lag rose to {max(lags)} only, {ph['acked_during']} records produced meanwhile"
        # ... and never above the truth: what the source holds (acknowledged, plus a second of
        # records in flight) minus what the destination held when the cut began.
        truth = ph["acked_before"] + ph["acked_during"] + RATE - ph["dest_before"]
        assert max(lags) <= truth, f"{name}: lag {max(lags)} above the records missing ({truth} at most)"
    if ph["cluster"] in ("source", "destination"):
        # A cut cluster must not look healthy all along: once its requests time out (or are
        # refused) klink knows, and says so. For the source that matters most: its end is
        # unknown meanwhile, so the lag klink shows is the last one it could measure.
        mirror_says = "SOURCE_UNAVAILABLE" if ph["cluster"] == "source" else "ACTIVE"
        told = [s for s in window if s.get("link_state") == "UNAVAILABLE"
                and s.get("mirror_state") == mirror_says and s["status"]["readyz"] == 503]
        assert told, (f"{name}: klink never said the {ph['cluster']} was unreachable; it said (link, mirror, "
                      f"readyz) {sorted({(s.get('link_state'), s.get('mirror_state'), s['status']['readyz']) for s in window}, key=str)}")
        print(f"{name}: unreachable reported {told[0]['t'] - ph['start']:.1f}s into the cut")
