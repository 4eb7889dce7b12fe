"""Scale-out against real Kafka (issue 7): three klink instances run the same link with
`[links.scale_out] enabled = true` and share its 24 mirror partitions through the group
`klink.<link>` on the destination cluster. Session timeout 6 s (the broker's minimum), topic
listing every second, JSON logs. Every test uses a link name (so a group) and a topic of its own.

- three instances: each owns exactly 8 partitions, every partition exactly once; every
  instance's `GET /v1/links/<link>/members` answers the same three members, mapped to the three
  processes by the pid in `instance`; the ownership does not change while a stream of
  >= 300,000 records is mirrored; the destination equals the source exactly
- SIGKILL the group's leader mid-stream: the other two own 12 each (each keeping its own 8)
  within session timeout + 10 s, mirror the dead instance's partitions on, and the destination
  ends equal to the source: nothing lost, nothing duplicated
- SIGSTOP an instance started with KLINK_SCALE_OUT_UNGUARDED=1 (its own lease guard off)
  mid-stream, past the session timeout: the other two own 12 each and mirror its partitions
  on; after SIGCONT the destination refuses its stale writes (an error line with "fenced"
  naming one of its old partitions), it rejoins (8/8/8 again), and the destination equals
  the source exactly
- SIGSTOP a default (guarded) instance the same way: after SIGCONT it learns it was expelled,
  and its lease had already stopped every write: no batch of its reaches the destination to be
  refused ("fenced" nowhere), it rejoins 8/8/8, and the destination equals the source exactly

Run (ports of its own, klink from any build dir):

    KLINK_BIN=/work/main/build-it/klink KLINK_TEST_SOURCE_PORT=35192 KLINK_TEST_DEST_PORT=36192 \\
        /usr/bin/python3 -m pytest tests/integration/test_scale_out.py -q
"""

from __future__ import annotations

import json
import re
import signal
import socket
import time
import uuid
from typing import NamedTuple

import pytest

from admin_client import http
from kafka_checks import compare_partitions, consume_all, total_records, unique_topic, wait_until
from links_support import JSON_LOGS, PacedProducer, events, high_watermarks, link_config, wait_for_high_watermarks

PARTITIONS = 24
SESSION_MS = 6000
SESSION_S = SESSION_MS / 1000
# How long after a SIGKILL/SIGSTOP the survivors must own everything: the coordinator expels
# the member after the session timeout, then the survivors rejoin at their next heartbeat
# (session / 3) and the leader assigns; 10 s covers that and a loaded machine.
HAND_OVER_LIMIT_S = SESSION_S + 10
HOST = socket.gethostname()


# ----------------------------------------------------------------------------
# Helpers


class Settled(NamedTuple):
    generation: int
    leader_pid: int
    shares: dict[int, frozenset]  # klink pid -> {(topic, partition)}


class ScaleOutLink:
    """One link with scale-out on, run by several klink processes (same link config, each its
    own admin port and JSON log)."""

    def __init__(self, klink_process, source, dest, topic: str, monkeypatch):
        self.name = f"so-{uuid.uuid4().hex[:8]}"
        self.group_id = f"klink.{self.name}"
        self.topic = topic
        self.source, self.dest = source, dest
        self._klink_process = klink_process
        self._monkeypatch = monkeypatch
        self.procs: list = []

    def start(self, unguarded: bool = False):
        link = link_config(self.name, self.source, self.dest, re.escape(self.topic))
        link["scale_out"] = {"enabled": True, "session_timeout_ms": SESSION_MS}
        # The child copies the environment at spawn: set the hook for this one process only.
        if unguarded:
            self._monkeypatch.setenv("KLINK_SCALE_OUT_UNGUARDED", "1")
        try:
            proc = self._klink_process(links=[link], extra=JSON_LOGS, log_level="info",
                                       name=f"{self.name}-{len(self.procs)}{'-unguarded' if unguarded else ''}")
        finally:
            self._monkeypatch.delenv("KLINK_SCALE_OUT_UNGUARDED", raising=False)
        self.procs.append(proc)
        return proc

    def members(self, proc) -> dict:
        status, body, _ = http(f"{proc.admin_url}/v1/links/{self.name}/members", timeout=5.0)
        assert status == 200, f"{proc.config_path.stem}: GET members: {status} {body}"
        return json.loads(body)

    def settled(self, procs: list, counts: list[int]) -> Settled:
        """Asserts the group has settled on exactly `procs` (running klinks) with shares of
        `counts` partitions: every one of them answers /members with the same Stable group of
        one member per process (by pid), one generation, one leader; shares disjoint and
        covering topic:0..23; each instance's this_member is its own entry, holding the lease."""
        docs = {}
        for proc in procs:
            assert proc.running(), f"{proc.config_path.stem} exited ({proc.proc.returncode}):\n{proc.stderr_tail()}"
            docs[proc.proc.pid] = self.members(proc)
        views = []
        for pid, doc in docs.items():
            where = f"instance pid {pid}: {json.dumps(doc)}"
            assert doc["link"] == self.name and doc["group_id"] == self.group_id, where
            assert doc["group_state"] == "Stable", where
            by_pid = {}
            for m in doc["members"]:
                host, _, member_pid = m["instance"].rpartition(":")
                assert host == HOST, f"instance {m['instance']!r} is not {HOST}:<pid>; {where}"
                owned = [(e["topic"], p) for e in m["partitions"] for p in e["partitions"]]
                assert len(owned) == len(set(owned)) == m["partition_count"], where
                assert int(member_pid) not in by_pid, f"two members for pid {member_pid}; {where}"
                by_pid[int(member_pid)] = (m["member_id"], m["generation"], frozenset(owned))
            assert sorted(by_pid) == sorted(docs), f"members' pids {sorted(by_pid)} != klinks {sorted(docs)}; {where}"
            assert len({g for _, g, _ in by_pid.values()}) == 1, f"several generations; {where}"
            me = doc["this_member"]
            member_id, generation, owned = by_pid[pid]
            assert me["member_id"] == member_id and me["generation"] == generation, where
            assert me["lease"] is True, where
            assert me["owned_partitions"] == len(owned), where  # a count: its partitions are in `members`
            views.append((by_pid, pid if me["leader"] else None))
        first = views[0][0]
        assert all(v == first for v, _ in views), f"instances disagree: {json.dumps(docs)}"
        leaders = [pid for _, pid in views if pid is not None]
        assert len(leaders) == 1, f"leaders {leaders} among {sorted(docs)}"
        shares = {pid: owned for pid, (_, _, owned) in first.items()}
        every = sorted(tp for owned in shares.values() for tp in owned)
        assert every == [(self.topic, p) for p in range(PARTITIONS)], f"not every partition once: {every}"
        assert sorted(len(s) for s in shares.values()) == sorted(counts), \
            f"shares {sorted(len(s) for s in shares.values())}, want {sorted(counts)}"
        return Settled(next(iter(first.values()))[1], leaders[0], shares)

    def wait_settled(self, procs: list, counts: list[int], timeout: float, what: str) -> Settled:
        return wait_until(lambda: self.settled(procs, counts), timeout, what, interval=0.2)

    def assert_destination_equals_source(self, produced: int):
        """Destination ends exactly at the source's high watermarks (failing at once if any
        partition goes past them: a duplicate), then record by record equal."""
        want = high_watermarks(self.source.bootstrap, self.topic)
        assert sum(want.values()) == produced, f"source holds {sum(want.values())}, {produced} acknowledged"
        failure = None
        try:
            # Catching up takes well under a second once the stream stops; a minute is slack.
            wait_for_high_watermarks(self.dest.bootstrap, self.topic, want, timeout=60)
            src = consume_all(self.source.bootstrap, self.topic, timeout=120)
            dst = consume_all(self.dest.bootstrap, self.topic, timeout=120)
            assert total_records(src) == produced
            compare_partitions(src, dst)
        except (AssertionError, pytest.fail.Exception) as e:
            failure = str(e)
        if failure is not None:
            pytest.fail(f"{failure}\n{self.offset_mismatches()}", pytrace=False)

    def offset_mismatches(self) -> str:
        """For a failure message: klink's hand-over and resume lines whose source and destination
        offsets differ (every source record keeps its offset in these tests' mirrors, so they
        should never differ)."""
        lines = []
        for proc in self.procs:
            for e in events(proc):
                pair = {"mirror partition handed over: everything sent was acknowledged":
                        ("mirrored_source_offset", "destination_end_offset"),
                        "mirror partition resumes from its checkpoint": ("source_offset", "destination_offset"),
                        }.get(e.get("msg"))
                if pair and e.get(pair[0]) != e.get(pair[1]):
                    lines.append(f"  {proc.config_path.stem} (pid {proc.proc.pid}) {e['ts']} {e['msg']}: "
                                 f"partition {e.get('partition')} {pair[0]}={e.get(pair[0])} "
                                 f"{pair[1]}={e.get(pair[1])}")
        return "klink lines with source offset != destination offset:\n" + ("\n".join(lines) or "  (none)")


def dest_ends(link: ScaleOutLink, partitions) -> dict[int, int]:
    ends = high_watermarks(link.dest.bootstrap, link.topic)
    return {p: ends[p] for _t, p in partitions}


def wait_all_grow(link: ScaleOutLink, partitions, timeout: float, what: str):
    """Every one of `partitions` of the mirror gets records beyond where it is now (a producer runs)."""
    before = dest_ends(link, partitions)

    def grown():
        now = dest_ends(link, partitions)
        stuck = sorted(p for p in before if now[p] <= before[p])
        assert not stuck, f"partitions {stuck} of {link.topic} still at {[now[p] for p in stuck]}"
        return True

    wait_until(grown, timeout, what, interval=0.25)


def fenced_errors(proc) -> list[dict]:
    return [e for e in events(proc) if e.get("level") == "error" and "fenced" in json.dumps(e).lower()]


class Stream(PacedProducer):
    """links_support.PacedProducer on the link's topic, with what these tests check while it
    runs: healthy() asserts it still runs clean, stop() returns how many records were sent
    (every one acknowledged)."""

    def __init__(self, link: ScaleOutLink, rate: int):
        super().__init__(link.source.bootstrap, link.topic, PARTITIONS, rate, tag=link.name, value_size=20)

    def healthy(self) -> bool:
        self.check()
        assert self.is_alive() or self._halt.is_set(), f"stream to {self.topic} ended by itself"
        return True

    def wait_acked(self, n: int, timeout: float):
        wait_until(lambda: self.healthy() and self.acked >= n, timeout, f"{n} records acknowledged", interval=0.1)

    def halt(self):
        self._halt.set()

    def stop(self) -> int:
        """Stops producing; asserts every record sent was acknowledged; returns how many."""
        super().stop()
        return self.sent


@pytest.fixture
def scale_out_link(klink_process, source_cluster, dest_cluster, monkeypatch, request):
    topic = unique_topic(request.node.name)
    source_cluster.create_topic(topic, partitions=PARTITIONS)
    link = ScaleOutLink(klink_process, source_cluster, dest_cluster, topic, monkeypatch)
    yield link
    for proc in link.procs:  # a frozen klink cannot even die of SIGKILL before it is continued
        if proc.running():
            proc.proc.send_signal(signal.SIGCONT)


# ----------------------------------------------------------------------------
# Tests


def test_three_instances_share_the_link_and_mirror_exactly_once(scale_out_link):
    link = scale_out_link
    klinks = [link.start() for _ in range(3)]
    start = link.wait_settled(klinks, [8, 8, 8], 60, "three instances owning 8 partitions each")

    total = 300_000
    producer = Stream(link, rate=40_000)
    producer.start()
    # While the stream runs, the ownership stays exactly as it settled (nobody joined or
    # left: a rebalance here would be a bug, or a heartbeat starved past the session).
    deadline = time.monotonic() + 90
    try:
        while producer.healthy() and producer.acked < total:
            assert time.monotonic() < deadline, f"only {producer.acked} records acknowledged after 90s"
            now = link.settled(klinks, [8, 8, 8])
            assert now == start, f"ownership changed mid-stream: {start} -> {now}"
            time.sleep(0.5)
    finally:
        producer.halt()
    sent = producer.stop()
    assert sent >= total
    link.assert_destination_equals_source(sent)
    assert link.settled(klinks, [8, 8, 8]) == start
    for proc in klinks:
        assert not fenced_errors(proc), f"{proc.config_path.stem}: {fenced_errors(proc)[:3]}"


def test_sigkill_one_instance_others_take_over_exactly_once(scale_out_link):
    link = scale_out_link
    klinks = [link.start() for _ in range(3)]
    before = link.wait_settled(klinks, [8, 8, 8], 60, "three instances owning 8 partitions each")
    # The leader dies: the survivors must also elect a new one.
    victim = next(p for p in klinks if p.proc.pid == before.leader_pid)
    survivors = [p for p in klinks if p is not victim]

    producer = Stream(link, rate=12_000)
    producer.start()
    try:
        producer.wait_acked(30_000, 60)
        wait_all_grow(link, before.shares[victim.proc.pid], 20, "the victim mirroring its partitions")
        killed_at = time.monotonic()
        assert victim.stop(signal.SIGKILL) == -signal.SIGKILL
        after = link.wait_settled(survivors, [12, 12], HAND_OVER_LIMIT_S,
                                  f"the two survivors owning 12 each within {HAND_OVER_LIMIT_S:.0f}s of the SIGKILL")
        took = time.monotonic() - killed_at
        print(f"scale_out: SIGKILL hand-over took {took:.1f}s (session timeout {SESSION_S:.0f}s)")
        assert took < HAND_OVER_LIMIT_S
        assert after.generation > before.generation
        for proc in survivors:  # sticky: each keeps its own 8 and takes 4 of the dead one's
            pid = proc.proc.pid
            assert before.shares[pid] <= after.shares[pid], \
                f"pid {pid}: {sorted(before.shares[pid])} -> {sorted(after.shares[pid])}"
        wait_all_grow(link, before.shares[victim.proc.pid], 30,
                      "the survivors mirroring the dead instance's partitions")
    finally:
        producer.halt()  # whatever happened; stop() below checks every record was acknowledged
    link.assert_destination_equals_source(producer.stop())
    assert link.settled(survivors, [12, 12]) == after


def test_sigstop_past_session_timeout_stale_writes_fenced(scale_out_link):
    link = scale_out_link
    a, b = link.start(), link.start()
    frozen = link.start(unguarded=True)
    klinks = [a, b, frozen]
    before = link.wait_settled(klinks, [8, 8, 8], 60, "three instances owning 8 partitions each")
    old_share = before.shares[frozen.proc.pid]

    producer = Stream(link, rate=10_000)
    producer.start()
    try:
        producer.wait_acked(20_000, 60)
        wait_all_grow(link, old_share, 20, "the instance to freeze mirroring its partitions")
        frozen_at = time.monotonic()
        frozen.proc.send_signal(signal.SIGSTOP)
        try:
            time.sleep(SESSION_S + 3)
            during = link.wait_settled([a, b], [12, 12], frozen_at + HAND_OVER_LIMIT_S - time.monotonic(),
                                       f"the other two owning 12 each within {HAND_OVER_LIMIT_S:.0f}s of the SIGSTOP")
            print(f"scale_out: SIGSTOP hand-over within {time.monotonic() - frozen_at:.1f}s")
            assert during.generation > before.generation
            wait_all_grow(link, old_share, 30, "the other two mirroring the frozen instance's partitions")
        finally:
            continued_at = time.monotonic()
            frozen.proc.send_signal(signal.SIGCONT)

        # Unguarded, it sends what it had in hand when frozen; the destination refuses it.
        old_partitions = {p for _t, p in old_share}

        def refused():
            lines = fenced_errors(frozen)
            assert lines, "no error line with 'fenced' yet"
            hits = [e for e in lines if e.get("topic") == link.topic and e.get("partition") in old_partitions]
            assert hits, f"fenced lines name none of its old partitions {sorted(old_partitions)}: {lines[:3]}"
            return hits

        hits = wait_until(refused, 30, "the resumed instance's stale writes refused (fenced)", interval=0.2)
        print(f"scale_out: first fenced line {time.monotonic() - continued_at:.1f}s after SIGCONT: {hits[0]}")
        assert frozen.running(), f"the fenced instance exited:\n{frozen.stderr_tail()}"

        after = link.wait_settled(klinks, [8, 8, 8], 60, "the resumed instance back in the group, 8/8/8")
        assert after.generation > during.generation
        # Owners in good standing are never fenced.
        for proc in (a, b):
            assert not fenced_errors(proc), f"{proc.config_path.stem}: {fenced_errors(proc)[:3]}"
        wait_all_grow(link, after.shares[frozen.proc.pid], 30, "the rejoined instance mirroring its new share")
    finally:
        producer.halt()  # whatever happened; stop() below checks every record was acknowledged
    link.assert_destination_equals_source(producer.stop())


def test_sigstop_guarded_instance_stops_writing_by_itself(scale_out_link):
    """The default (guarded) instance: frozen past the session timeout, its lease is over when it
    wakes, so it sends nothing at all (nothing for the destination to refuse) and rejoins."""
    link = scale_out_link
    klinks = [link.start(), link.start(), link.start()]
    frozen = klinks[2]
    before = link.wait_settled(klinks, [8, 8, 8], 60, "three instances owning 8 partitions each")
    producer = Stream(link, rate=10_000)
    producer.start()
    try:
        producer.wait_acked(20_000, 60)
        wait_all_grow(link, before.shares[frozen.proc.pid], 20, "the instance to freeze mirroring")
        frozen.proc.send_signal(signal.SIGSTOP)
        try:
            time.sleep(SESSION_S + 3)
            link.wait_settled(klinks[:2], [12, 12], HAND_OVER_LIMIT_S, "the other two owning 12 each")
        finally:
            frozen.proc.send_signal(signal.SIGCONT)
        after = link.wait_settled(klinks, [8, 8, 8], 60, "the resumed instance back in the group, 8/8/8")
        assert after.generation > before.generation
        # It learnt it had been expelled, and its lease guard had already stopped every write:
        # not one stale batch reached the destination to be refused.
        assert events(frozen, "scale-out group: member reset"), frozen.stderr_tail()
        for proc in klinks:
            assert not fenced_errors(proc), f"{proc.config_path.stem}: {fenced_errors(proc)[:3]}"
    finally:
        producer.halt()
    link.assert_destination_equals_source(producer.stop())
