"""scripts/failover end to end: the operator's script against a running klink (real HTTP,
real Kafka). Usage errors, promoting every mirror of a link (the destination then holds
exactly the source's records and belongs to the producers: klink never writes to it again
while it keeps running), per-topic 404s, bearer tokens, and --force (fail over)."""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.error
import urllib.request

import pytest

from conftest import REPO_ROOT
from kafka_checks import compare_partitions, consume_all, end_offsets, total_records, wait_until

SCRIPT = REPO_ROOT / "scripts" / "failover"
PARTITIONS = 2


def failover(*args: str, token: str | None = None, timeout: float = 90.0) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("KLINK_ADMIN_TOKEN", "KLINK_ADMIN_URL")}
    if token is not None:
        env["KLINK_ADMIN_TOKEN"] = token
    r = subprocess.run([str(SCRIPT), *args], capture_output=True, text=True, env=env, timeout=timeout)
    print(f"$ scripts/failover {' '.join(args)}\n{show(r)}")  # pytest shows it when a test fails
    return r


def show(r: subprocess.CompletedProcess) -> str:
    return f"exit {r.returncode}\n--- stdout\n{r.stdout}--- stderr\n{r.stderr}"


def rows(stdout: str) -> dict[str, list[str]]:
    """The table's rows by topic: [TOPIC, STATUS, STATE, LAG/ABANDONED, DETAIL...]. The
    header comes first, the summary line last."""
    lines = stdout.splitlines()
    assert len(lines) >= 3 and lines[0].split()[:4] == ["TOPIC", "STATUS", "STATE", "LAG/ABANDONED"], stdout
    assert " topic(s) switched " in lines[-1], stdout
    return {line.split()[0]: line.split() for line in lines[1:-1]}


def get_json(url: str, token: str | None = None) -> dict:
    req = urllib.request.Request(url)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


def post(url: str) -> dict:
    with urllib.request.urlopen(urllib.request.Request(url, data=b"", method="POST"), timeout=10) as r:
        return json.loads(r.read())


def healthy(base: str) -> bool:
    try:
        return get_json(f"{base}/healthz")["status"] == "ok"
    except (urllib.error.URLError, OSError):
        return False


def produce(bootstrap: str, topic: str, n: int, tag: str) -> dict[int, int]:
    """n records round-robin over the partitions; returns how many went to each."""
    from confluent_kafka import Producer

    p = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "linger.ms": 5})
    counts = {i: 0 for i in range(PARTITIONS)}
    for i in range(n):
        p.produce(topic, key=f"{tag}-{i}".encode(), value=f"{tag}-value-{i}".encode(), partition=i % PARTITIONS)
        counts[i % PARTITIONS] += 1
        p.poll(0)
    assert p.flush(30) == 0
    return counts


def link(name: str, topics: list[str], source, dest) -> dict:
    return {"name": name,
            "source": {"bootstrap_servers": source.bootstrap_servers},
            "destination": {"bootstrap_servers": dest.bootstrap_servers},
            "topics": {"include": topics},
            "mirror": {"start": "earliest", "fetch_max_wait_ms": 100}}


# ----------------------------------------------------------------------------


@pytest.mark.parametrize("args, message", [
    ([], "--link NAME is required"),
    (["--admin", "127.0.0.1:1", "--all"], "--link NAME is required"),
    (["--admin", "127.0.0.1:1", "--link", "L"], "--topics A,B,... or --all"),
    (["--admin", "127.0.0.1:1", "--link", "L", "--all", "--topics", "a"], "not both"),
    (["--admin", "127.0.0.1:1", "--link", "L", "--all", "--frobnicate"], "unknown option '--frobnicate'"),
    (["--admin", "127.0.0.1:1", "--link", "L", "--topics", "a,,b"], "empty topic name"),
    (["--admin", "127.0.0.1:1", "--link", "L", "--all", "--timeout-ms", "soon"], "--timeout-ms must be"),
    (["--admin", "127.0.0.1:1", "--link", "L", "--all", "--token-file", "/nonexistent/tokens"],
     "cannot read the token file"),
    (["--admin", "127.0.0.1:1", "--link"], "--link needs a value"),
    (["--link", "L", "--all"], "--admin URL is required"),
    (["--admin", "127.0.0.1:1", "--link", "L", "--all", "--reverse", "--force"], "do not go together"),
    (["--admin", "127.0.0.1:1", "--link", "L", "--all", "--divergent", "keep"], "go with --reverse only"),
    (["--admin", "127.0.0.1:1", "--link", "L", "--all", "--paused"], "go with --reverse only"),
    (["--admin", "127.0.0.1:1", "--link", "L", "--all", "--reverse", "--divergent", "drop"],
     "--divergent must be refuse, keep or copy"),
    (["--admin", "127.0.0.1:1", "--link", "L", "--all", "--reverse", "--divergent", "copy"], "needs --copy-to"),
    (["--admin", "127.0.0.1:1", "--link", "L", "--all", "--reverse", "--copy-to", "x"],
     "--copy-to goes with --divergent copy"),
])
def test_usage_errors_exit_2(args, message):
    r = failover(*args)
    assert r.returncode == 2, show(r)
    assert message in r.stderr, show(r)
    assert "--help" in r.stderr, show(r)
    assert r.stdout == "", show(r)


def test_help_documents_everything():
    r = failover("--help")
    assert r.returncode == 0, show(r)
    for word in ("--admin", "--link", "--topics", "--all", "--force", "--timeout-ms", "--token-file",
                 "KLINK_ADMIN_TOKEN", "mirrors:promote", "mirrors:failover", "Exit codes", "--reverse",
                 "--divergent", "--copy-to", "--paused", "mirrors:reverse"):
        assert word in r.stdout, word


def test_unreachable_endpoint_exits_3():
    r = failover("--admin", "127.0.0.1:1", "--link", "L", "--all")
    assert r.returncode == 3, show(r)
    assert "cannot connect to the admin endpoint" in r.stderr, show(r)


def test_promote_all_then_unknown_topic_then_force(klink_process, source_cluster, dest_cluster, topic_name):
    t1, t2, t3 = f"{topic_name}-a", f"{topic_name}-b", f"{topic_name}-c"
    for t in (t1, t2, t3):
        source_cluster.create_topic(t, partitions=PARTITIONS)
        produce(source_cluster.bootstrap, t, 200, "before-start")
    # Link "L" is promoted as a whole; link "F" keeps mirroring t3 meanwhile, which
    # shows that klink is still running and fetching after the promotion.
    proc = klink_process(links=[link("L", [t1, t2], source_cluster, dest_cluster),
                                link("F", [t3], source_cluster, dest_cluster)])
    base = proc.admin_url
    wait_until(lambda: healthy(base), 15, "klink's admin endpoint up")
    wait_until(lambda: sorted(m["source_topic"] for m in get_json(f"{base}/v1/links/L/mirrors")["mirrors"])
               == sorted([t1, t2]), 30, "link L mirroring both topics")
    wait_until(lambda: [m["source_topic"] for m in get_json(f"{base}/v1/links/F/mirrors")["mirrors"]] == [t3],
               30, "link F mirroring its topic")
    # Records the promote itself has to carry over: produced just before the call.
    for t in (t1, t2):
        produce(source_cluster.bootstrap, t, 300, "before-promote")

    # (b) promote every mirror of L.
    r = failover("--admin", base, "--link", "L", "--all", "--timeout-ms", "20000")
    assert r.returncode == 0, show(r) + "\nklink:\n" + proc.stderr_tail()
    table = rows(r.stdout)
    assert set(table) == {t1, t2}, show(r)
    for t in (t1, t2):
        assert table[t][1:4] == ["200", "PROMOTED", "0"], show(r)
    assert "2 of 2 topic(s) switched (2 promoted, 0 failed over)" in r.stdout, show(r)
    for m in get_json(f"{base}/v1/links/L/mirrors")["mirrors"]:
        assert m["state"] == "PROMOTED", m

    # The destination holds exactly what the source holds.
    promoted_end = {}
    for t in (t1, t2):
        src = consume_all(source_cluster.bootstrap, t)
        dst = consume_all(dest_cluster.bootstrap, t)
        assert total_records(src) == 500
        compare_partitions(src, dst)
        promoted_end[t] = end_offsets(dest_cluster.bootstrap, t)

    # Producers own the mirror topics now; klink keeps running and writes nothing more
    # into them, even with new source records it would otherwise have mirrored.
    ours = {t: produce(dest_cluster.bootstrap, t, 50, "app-on-destination") for t in (t1, t2)}
    for t in (t1, t2, t3):
        produce(source_cluster.bootstrap, t, 100, "after-promote")
    src3 = end_offsets(source_cluster.bootstrap, t3)
    wait_until(lambda: end_offsets(dest_cluster.bootstrap, t3) == src3, 30,
               "link F mirrored the records produced after the promotion (klink still fetching)")
    assert proc.running(), proc.stderr_tail()
    for t in (t1, t2):
        expected = {p: promoted_end[t][p] + ours[t][p] for p in range(PARTITIONS)}
        assert end_offsets(dest_cluster.bootstrap, t) == expected, f"klink wrote into promoted topic {t}"
        values = [rec.value for recs in consume_all(dest_cluster.bootstrap, t).values() for rec in recs]
        assert not any(v.startswith(b"after-promote") for v in values), t

    # (c) an unknown topic: exit 1, its row says 404; the promoted one answers the same again.
    r = failover("--admin", base, "--link", "L", "--topics", f"{t1},no-such-topic-{topic_name}")
    assert r.returncode == 1, show(r)
    table = rows(r.stdout)
    assert table[t1][1:3] == ["200", "PROMOTED"], show(r)
    unknown = table[f"no-such-topic-{topic_name}"]
    assert unknown[1] == "404" and "UNKNOWN_TOPIC" in " ".join(unknown[4:]), show(r)
    assert "did NOT switch" in r.stdout, show(r)

    # An unknown link fails the whole call.
    r = failover("--admin", base, "--link", "nope", "--all")
    assert r.returncode == 3, show(r)
    assert "UNKNOWN_LINK" in r.stderr, show(r)

    # (e) --force fails over link F's topic at once. Paused first, with records produced
    # after the pause, so that the fail-over leaves exactly those behind.
    post(f"{base}/v1/links/F/mirrors/{t3}:pause")  # exact: nothing is fetched after the answer
    produce(source_cluster.bootstrap, t3, 40, "abandoned")
    wait_until(lambda: get_json(f"{base}/v1/links/F/mirrors/{t3}")["lag_records"] == 40, 15,
               "klink seeing the 40 unmirrored records of the paused topic")
    r = failover("--admin", base, "--link", "F", "--topics", t3, "--force")
    assert r.returncode == 0, show(r) + "\nklink:\n" + proc.stderr_tail()
    table = rows(r.stdout)
    assert table[t3][1:4] == ["200", "FAILED_OVER", "40"], show(r)
    assert "1 of 1 topic(s) switched (0 promoted, 1 failed over, 40 record(s) abandoned)" in r.stdout, show(r)
    doc = get_json(f"{base}/v1/links/F/mirrors/{t3}")
    assert doc["state"] == "FAILED_OVER" and doc["result"]["abandoned_records"] == 40, doc
    # Promoting it afterwards is refused for that topic (409 CONFLICT), yet it has
    # switched: the script reads its state and counts it.
    r = failover("--admin", base, "--link", "F", "--all")
    assert r.returncode == 0, show(r)
    row = rows(r.stdout)[t3]
    assert row[1:6] == ["409", "FAILED_OVER", "40", "already", "FAILED_OVER:"], show(r)
    assert "CONFLICT:" in row, show(r)
    # Failing over a promoted topic answers its promotion again.
    r = failover("--admin", base, "--link", "L", "--topics", t1, "--force")
    assert r.returncode == 0 and rows(r.stdout)[t1][1:3] == ["200", "PROMOTED"], show(r)
    assert proc.running(), proc.stderr_tail()

    # (f) --reverse: the source got 100 records after the promotion that the destination
    # lacks; the fail-back is refused per topic (exit 1, the count in LAG/ABANDONED), then
    # kept: the destination's own records go back to the source after them.
    r = failover("--admin", base, "--link", "L", "--all", "--reverse")
    assert r.returncode == 1, show(r)
    table = rows(r.stdout)
    for t in (t1, t2):
        assert table[t][1] == "409" and table[t][3] == "100", show(r)
        assert "DIVERGENT_RECORDS" in " ".join(table[t][4:]), show(r)
    assert "--divergent keep" in r.stderr, show(r)
    source_before = {t: end_offsets(source_cluster.bootstrap, t) for t in (t1, t2)}
    r = failover("--admin", base, "--link", "L", "--all", "--reverse", "--divergent", "keep")
    assert r.returncode == 0, show(r) + "\nklink:\n" + proc.stderr_tail()
    table = rows(r.stdout)
    for t in (t1, t2):
        assert table[t][1:3] == ["200", "ACTIVE"], show(r)
    assert "2 of 2 topic(s) switched back (reversed)" in r.stdout, show(r)
    for t in (t1, t2):
        expected = {p: source_before[t][p] + ours[t][p] for p in range(PARTITIONS)}
        wait_until(lambda t=t, expected=expected: end_offsets(source_cluster.bootstrap, t) == expected, 30,
                   f"{t}'s destination records back on the source")


def test_token_missing_or_wrong_exits_3(klink_process, tmp_path, topic_name, source_cluster):
    secret = f"s3cret-{topic_name[-8:]}"
    (tmp_path / "tokens").write_text(f"# operators\n{secret}\n")
    proc = klink_process(topics=[topic_name], extra={"admin": {"tokens_file": str(tmp_path / "tokens")}})
    base = proc.admin_url
    wait_until(lambda: healthy(base), 15, "klink's admin endpoint up")

    r = failover("--admin", base, "--link", "test", "--all")
    assert r.returncode == 3, show(r)
    assert "401" in r.stderr and "no token was given" in r.stderr and "--token-file" in r.stderr, show(r)

    (tmp_path / "wrong").write_text("not-the-token\n")
    r = failover("--admin", base, "--link", "test", "--all", "--token-file", str(tmp_path / "wrong"))
    assert r.returncode == 3, show(r)
    assert "401" in r.stderr and "rejected the token" in r.stderr, show(r)
    assert "not-the-token" not in r.stdout + r.stderr

    # The right token (file with a comment line, then the environment) gets through to
    # the per-topic answers.
    (tmp_path / "right").write_text(f"# klink admin\n\n{secret}\n")
    for kwargs, args in (({}, ["--token-file", str(tmp_path / "right")]), ({"token": secret}, [])):
        r = failover("--admin", base, "--link", "test", "--topics", "no-such-topic", *args, **kwargs)
        assert r.returncode == 1, show(r)
        assert rows(r.stdout)["no-such-topic"][1] == "404", show(r)
        assert secret not in r.stdout + r.stderr
