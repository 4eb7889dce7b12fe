"""Helpers shared by the link-management tests (test_link_management.py, test_bidirectional.py,
test_many_links.py, test_reload.py): a link's config table, klink's JSON log, topic listings,
high watermarks, "nothing changes" windows, a paced background producer, and SIGHUP reloads
of a running klink's config file."""

from __future__ import annotations

import json
import signal
import threading
import time

import pytest
from conftest import to_toml
from kafka_checks import watermarks

JSON_LOGS = {"log": {"format": "json"}}
# Topic listings every second: discovery, syncs and reloads show within a test's patience.
REFRESH_MS = 1000


def link_config(name: str, source, dest, include: str | list[str], *, prefix: str | None = None,
                exclude: list[str] | None = None, mirror: dict | None = None) -> dict:
    """One [[links]] table mirroring cluster `source` into cluster `dest`, topics listed every
    REFRESH_MS; `include` is one regex or a list of them."""
    topics: dict = {"include": [include] if isinstance(include, str) else list(include),
                    "refresh_interval_ms": REFRESH_MS}
    if exclude:
        topics["exclude"] = exclude
    if prefix is not None:
        topics["prefix"] = prefix
    return {
        "name": name,
        "source": {"bootstrap_servers": source.bootstrap_servers},
        "destination": {"bootstrap_servers": dest.bootstrap_servers},
        "topics": topics,
        "mirror": {"start": "earliest", **(mirror or {})},
    }


def stays(predicate, seconds: float, what: str):
    """Asserts `predicate` holds throughout `seconds` (nothing to wait for: the point is that
    nothing changes)."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        assert predicate(), what
        time.sleep(0.2)


def events(klink, msg: str | None = None, **fields) -> list[dict]:
    """klink's JSON log lines (stderr), optionally only those with `msg` and `fields`."""
    out = []
    for line in klink.stderr().splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if msg is not None and event.get("msg") != msg:
            continue
        if all(event.get(k) == v for k, v in fields.items()):
            out.append(event)
    return out


def topics_on(bootstrap: str, timeout: float = 10.0) -> set[str]:
    """Every topic name the cluster lists now (librdkafka's view, not klink's)."""
    from confluent_kafka.admin import AdminClient

    return set(AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=timeout).topics)


def high_watermarks(bootstrap: str, topic: str) -> dict[int, int]:
    return {p: hw for p, (_, hw) in watermarks(bootstrap, topic).items()}


def wait_for_high_watermarks(bootstrap: str, topic: str, want: dict[int, int], klink=None, timeout: float = 120.0):
    """Until `topic` on `bootstrap` ends exactly at `want`; fails at once if a partition goes
    beyond it (a duplicate or a record that should not be there) or klink died."""
    deadline = time.monotonic() + timeout
    seen: dict = {}
    while True:
        try:
            seen = high_watermarks(bootstrap, topic)
        except Exception as e:  # the mirror topic may not exist yet
            seen = {"error": repr(e)}
        beyond = {p: hw for p, hw in seen.items() if isinstance(p, int) and hw > want.get(p, 0)}
        if beyond:
            pytest.fail(f"{topic}: partitions past the expected end: {beyond} (want {want})", pytrace=False)
        if seen == want:
            return
        if klink is not None and not klink.running():
            pytest.fail(f"klink exited ({klink.proc.returncode}) while mirroring {topic}; stderr tail:\n"
                        f"{klink.stderr_tail()}", pytrace=False)
        if time.monotonic() > deadline:
            tail = f"\nklink stderr tail:\n{klink.stderr_tail(30)}" if klink is not None else ""
            pytest.fail(f"{topic}: high watermarks {seen}, want {want} after {timeout:.0f}s{tail}", pytrace=False)
        time.sleep(0.25)


class PacedProducer(threading.Thread):
    """Produces to one topic at about `rate` records/s, round-robin over its partitions,
    idempotent with acks=all, until stop(); `acked` counts acknowledgements. `properties` are
    extra librdkafka settings (a SASL listener, a longer message timeout); hold() pauses it with
    everything sent acknowledged, go() resumes; check() asserts nothing failed so far."""

    def __init__(self, bootstrap: str, topic: str, partitions: int, rate: float, tag: str,
                 value_size: int = 100, codec: str = "lz4", properties: dict | None = None):
        super().__init__(daemon=True)
        self.bootstrap, self.topic, self.partitions, self.rate, self.tag = bootstrap, topic, partitions, rate, tag
        self.value_size, self.codec, self.properties = value_size, codec, properties or {}
        self.acked = 0
        self.sent = 0
        self.errors: list = []
        self.undelivered = -1
        self.failure: BaseException | None = None
        self._halt = threading.Event()
        self._running = threading.Event()
        self._running.set()
        self._held = threading.Event()

    def _on_delivery(self, err, _msg):
        if err is None:
            self.acked += 1
        else:
            self.errors.append(err)

    def run(self):
        try:
            self._run()
        except BaseException as e:  # noqa: BLE001 - reported by check() and stop()
            self.failure = e

    def _run(self):
        from confluent_kafka import Producer

        producer = Producer({"bootstrap.servers": self.bootstrap, "enable.idempotence": True, "acks": "all",
                             "linger.ms": 5, "compression.codec": self.codec, **self.properties})
        pad = b"x" * self.value_size
        start, base = time.monotonic(), 0
        i = 0
        while not self._halt.is_set():
            if not self._running.is_set():
                assert producer.flush(120) == 0, f"{self.topic}: records left undelivered while holding"
                self._held.set()
                self._running.wait()
                self._held.clear()
                start, base = time.monotonic(), i
                continue
            for _ in range(100):
                try:
                    producer.produce(self.topic, key=f"{self.tag}-{i}".encode(),
                                     value=f"{self.tag}-{i}-".encode() + pad,
                                     partition=i % self.partitions, on_delivery=self._on_delivery)
                except BufferError:
                    # The local queue is full (fresh brokers: the first producer id
                    # waits for the transaction coordinator): wait, then send it again.
                    producer.poll(0.1)
                    continue
                i += 1
                self.sent = i
            producer.poll(0)
            ahead = (i - base) / self.rate - (time.monotonic() - start)
            if ahead > 0:
                self._halt.wait(ahead)  # pacing, not waiting for an event
        self.undelivered = producer.flush(120)

    def hold(self, timeout: float = 150.0):
        """Stops producing; returns once everything sent is acknowledged."""
        from kafka_checks import wait_until

        self._running.clear()
        wait_until(lambda: self._held.is_set() or self.failure, timeout, "the producer to hold, all acknowledged")
        self.check()
        assert self.acked == self.sent, (self.acked, self.sent)

    def go(self):
        self._running.set()

    def check(self):
        assert self.failure is None, f"the producer of {self.topic} failed: {self.failure!r}"
        assert not self.errors, f"{self.topic}: records failed: {self.errors[:5]}"

    def stop(self) -> "PacedProducer":
        self._halt.set()
        self._running.set()
        self.join(150)
        assert not self.is_alive(), f"producer of {self.topic} did not finish"
        self.check()
        assert self.undelivered == 0, f"{self.topic}: {self.undelivered} undelivered"
        assert self.acked == self.sent
        return self


def produce_n(bootstrap: str, topic: str, partitions: int, n: int, tag: str, value_size: int = 100,
              codec: str = "lz4") -> None:
    """`n` records round-robin over `partitions`, all acknowledged before returning."""
    from confluent_kafka import Producer

    errors = []
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all",
                         "linger.ms": 5, "compression.codec": codec})
    pad = b"y" * value_size
    for i in range(n):
        while True:
            try:
                producer.produce(topic, key=f"{tag}-{i}".encode(), value=f"{tag}-{i}-".encode() + pad,
                                 partition=i % partitions, on_delivery=lambda err, _m: err and errors.append(err))
                break
            except BufferError:
                producer.poll(0.1)
        if i % 1000 == 0:
            producer.poll(0)
    assert producer.flush(120) == 0, f"{topic}: records left undelivered"
    assert not errors, errors[:5]


def reload_config(klink, config: dict, timeout: float = 30.0) -> dict:
    """Rewrites klink's config file with `config`, sends SIGHUP and waits for the outcome:
    the `config reloaded` line (returned) or the rejection line (returned too)."""
    outcomes = ("config reloaded", "reloaded config rejected; klink keeps running with the previous one")

    def outcome_lines():
        return [e for e in events(klink) if e.get("msg") in outcomes]

    done_before = len(outcome_lines())
    klink.config = config
    klink.config_path.write_text(to_toml(config))
    klink.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + timeout
    while True:
        lines = outcome_lines()
        if len(lines) > done_before:
            return lines[done_before]
        if not klink.running():
            pytest.fail(f"klink exited ({klink.proc.returncode}) on SIGHUP; stderr tail:\n{klink.stderr_tail()}",
                        pytrace=False)
        if time.monotonic() > deadline:
            pytest.fail(f"no reload outcome {timeout:.0f}s after SIGHUP; stderr tail:\n{klink.stderr_tail()}",
                        pytrace=False)
        time.sleep(0.1)
