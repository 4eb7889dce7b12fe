"""Scale-out group membership (linker/group_membership) against a real destination cluster.

Drives tools/klink_member: each process is one member of a klink group sharing the fake
partitions t:0..t:23 and prints one JSON line per event (assigned / revoked / lease / left).
Session timeout 6 s (the broker's minimum), rebalance timeout 10 s.

- three members: 8 partitions each, every partition owned once; any member can describe the
  whole group (DescribeGroups); SIGKILL one: the other two own 12 each
- SIGSTOP one past the session timeout: the other two take everything; after SIGCONT the frozen
  member reports its lease lost before any new ownership (never its old generation again), then
  the three are back to 8/8/8
- sticky: a member leaves (SIGTERM: LeaveGroup, no session wait) and another joins: the two
  survivors end up with exactly the partitions they had at the start

Run: KLINK_TEST_DEST_PORT=40192 /usr/bin/python3 -m pytest tests/integration/test_group_membership.py -q
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from kafka_checks import wait_until

REPO_ROOT = Path(__file__).resolve().parents[2]
MEMBER_BIN = Path(os.environ.get("KLINK_MEMBER_BIN",
                                 REPO_ROOT / "build" / "tools" / "klink_member" / "klink_member"))
PARTITIONS = 24
SESSION_MS = 6000
REBALANCE_MS = 10000
ALL = {f"t:{p}" for p in range(PARTITIONS)}


class Member:
    """One klink_member process; its stdout is a JSON line per event."""

    def __init__(self, bootstrap: str, group: str, workdir: Path, name: str):
        self.name = name
        self.out_path = workdir / f"{name}.out"
        self.err_path = workdir / f"{name}.err"
        with open(self.out_path, "wb") as out, open(self.err_path, "wb") as err:
            self.proc = subprocess.Popen(
                [str(MEMBER_BIN), "--bootstrap", bootstrap, "--group", group, "--instance", name,
                 "--partitions", str(PARTITIONS), "--session-timeout-ms", str(SESSION_MS),
                 "--rebalance-timeout-ms", str(REBALANCE_MS)],
                stdin=subprocess.DEVNULL, stdout=out, stderr=err)

    def events(self) -> list[dict]:
        lines = self.out_path.read_text().splitlines()
        # The last line may be half written.
        out = []
        for line in lines:
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                break
        return out

    def owned(self) -> tuple[int, set[str]]:
        """(generation, partitions) it currently owns: its last assignment unless revoked since."""
        generation, owned = -1, set()
        for e in self.events():
            if e["event"] == "assigned":
                generation, owned = e["generation"], set(e["partitions"])
            elif e["event"] in ("revoked", "left"):
                generation, owned = -1, set()
        return generation, owned

    def send(self, sig: int):
        self.proc.send_signal(sig)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def stderr_tail(self, lines: int = 20) -> str:
        return "\n".join(self.err_path.read_text(errors="replace").splitlines()[-lines:])


@pytest.fixture(scope="module")
def bootstrap(dest_cluster) -> str:
    if not os.access(MEMBER_BIN, os.X_OK):
        pytest.fail(f"{MEMBER_BIN} is missing: build the klink_member target (or set KLINK_MEMBER_BIN)")
    return dest_cluster.bootstrap


@pytest.fixture
def members(bootstrap, tmp_path):
    """Factory: members(n) -> started Members of one fresh group; all stopped at the end."""
    started: list[Member] = []
    group = f"klink.test-{uuid.uuid4().hex[:8]}"

    def start(n: int, prefix: str = "m") -> list[Member]:
        new = [Member(bootstrap, group, tmp_path, f"{prefix}{len(started) + i}") for i in range(n)]
        started.extend(new)
        return new

    start.group = group
    yield start
    for m in started:
        if m.proc.poll() is None:
            m.send(signal.SIGCONT)
            m.stop(signal.SIGKILL)


def settled(ms: list[Member], per_member: list[int]):
    """Every member owns its share in one generation, the shares are disjoint and cover ALL."""
    owned = [m.owned() for m in ms]
    generations = {g for g, _ in owned}
    if len(generations) != 1 or -1 in generations:
        return None
    sets = [s for _, s in owned]
    if sorted(len(s) for s in sets) != sorted(per_member):
        return None
    union = set().union(*sets)
    assert sum(len(s) for s in sets) == len(union), f"overlapping ownership: {sets}"
    assert union == ALL, f"not every partition owned: {sorted(ALL - union)}"
    return generations.pop(), sets


def wait_settled(ms: list[Member], per_member: list[int], timeout: float, what: str):
    try:
        return wait_until(lambda: settled(ms, per_member), timeout=timeout, what=what)
    except BaseException:
        for m in ms:
            print(f"--- {m.name}: {m.owned()}\n{m.stderr_tail()}")
        raise


def describe(bootstrap: str, group: str) -> dict:
    proc = subprocess.run([str(MEMBER_BIN), "--bootstrap", bootstrap, "--group", group, "--describe"],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.splitlines()[-1])


def test_three_members_share_the_partitions_and_survive_a_kill(members, bootstrap):
    ms = members(3)
    generation, sets = wait_settled(ms, [8, 8, 8], 20, "three members with 8 partitions each")
    assert sum(1 for m in ms if any(e.get("leader") for e in m.events()
                                    if e["event"] == "assigned" and e["generation"] == generation)) == 1

    # Any instance can show the whole link: DescribeGroups decodes every member's share.
    view = wait_until(lambda: (d := describe(bootstrap, members.group))["state"] == "Stable" and d,
                      timeout=10, what="a stable group in DescribeGroups")
    assert sorted(m["instance"] for m in view["members"]) == sorted(m.name for m in ms)
    assert all(m["generation"] == generation for m in view["members"])
    by_instance = {m["instance"]: set(m["partitions"]) for m in view["members"]}
    assert [by_instance[m.name] for m in ms] == sets

    killed_at = time.monotonic()
    ms[0].stop(signal.SIGKILL)
    survivors = ms[1:]
    _, after = wait_settled(survivors, [12, 12], SESSION_MS / 1000 + REBALANCE_MS / 1000 + 5,
                            "the two survivors with 12 partitions each")
    assert time.monotonic() - killed_at < SESSION_MS / 1000 + REBALANCE_MS / 1000 + 5
    # Sticky: each survivor kept what it had.
    assert sets[1] <= after[0] and sets[2] <= after[1]


def test_frozen_member_loses_its_lease_before_anything_else(members):
    ms = members(3)
    generation, sets = wait_settled(ms, [8, 8, 8], 20, "three members with 8 partitions each")
    frozen, others = ms[0], ms[1:]
    frozen.send(signal.SIGSTOP)
    stopped_at = time.monotonic()
    seen = len(frozen.events())
    _, during = wait_settled(others, [12, 12], SESSION_MS / 1000 + REBALANCE_MS / 1000 + 5,
                             "the two others with everything")
    # The coordinator could only expire the frozen member after its session timeout.
    assert time.monotonic() - stopped_at >= SESSION_MS / 1000 * 0.9
    frozen.send(signal.SIGCONT)

    wait_settled(ms, [8, 8, 8], REBALANCE_MS / 1000 + 10, "the three back to 8 each")
    after = frozen.events()[seen:]
    kinds = [(e["event"], e.get("lease"), e.get("generation")) for e in after]
    # Its first word after waking is "lease lost" (the lease, counted from the send time of its
    # last acknowledged heartbeat, ran out while it was frozen); it never claims its old
    # generation again.
    first_lease_or_assignment = next(k for k in kinds if k[0] in ("lease", "assigned"))
    assert first_lease_or_assignment[:2] == ("lease", False), kinds
    assert all(g > generation for (kind, _, g) in kinds if kind == "assigned"), kinds
    lost = kinds.index(first_lease_or_assignment)
    assert "assigned" not in [k[0] for k in kinds[:lost]], kinds
    # The others kept their partitions through it all.
    assert sets[1] <= during[0] and sets[2] <= during[1]


def test_sticky_after_leave_and_rejoin(members):
    ms = members(3)
    _, before = wait_settled(ms, [8, 8, 8], 20, "three members with 8 partitions each")
    left_at = time.monotonic()
    assert ms[0].stop(signal.SIGTERM) == 0
    assert ms[0].events()[-1]["event"] == "left"
    survivors = ms[1:]
    _, middle = wait_settled(survivors, [12, 12], 10, "the two survivors with 12 partitions each")
    # LeaveGroup: no session timeout to wait for.
    assert time.monotonic() - left_at < SESSION_MS / 1000
    assert before[1] <= middle[0] and before[2] <= middle[1]

    newcomer = members(1, prefix="new")[0]
    _, final = wait_settled([newcomer, *survivors], [8, 8, 8], 20, "back to three members")
    # The survivors give back what they took over and keep what they had from the start.
    assert final[1] == before[1] and final[2] == before[2]
    assert final[0] == before[0]
