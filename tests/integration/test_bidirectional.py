"""Bidirectional (active-active) links between two real clusters: producers write on both
sides while klink mirrors each side's topics to the other, and no topic is ever mirrored back
(no `east.west.…`, `west.east.…`, `east.east.…`). Two set-ups:

- one klink with two links, prefixes "east." and "west.": mirrors are recognised by the other
  link's prefix;
- two klink processes, one per direction, the reverse one WITHOUT a prefix: its mirrors keep
  their names, so they are recognised only by what the other process recorded in
  `__klink_mirror_states` on the cluster.

And `klink validate` / `klink run` refuse two opposite links without prefixes.

    KLINK_TEST_SOURCE_PORT=35192 KLINK_TEST_DEST_PORT=36192 \
        /usr/bin/python3 -m pytest tests/integration/test_bidirectional.py -q

The session's source cluster plays "east", its destination cluster "west".
"""

from __future__ import annotations

import re
import subprocess
import time

from admin_client import get_json, http
from conftest import to_toml
from kafka_checks import compare_partitions, consume_all, total_records, unique_topic, wait_until
from links_support import JSON_LOGS, REFRESH_MS, PacedProducer, link_config, events, high_watermarks, topics_on, wait_for_high_watermarks

SKIPPED = "source topic is itself a mirror; it is never mirrored back"
PARTITIONS = 3
# Several refresh intervals of traffic on both sides while klink runs.
RUN_S = 8.0
RATE = 700  # records/s per side: ~5,600 records per topic


def link(name: str, source, dest, include: str, prefix: str | None) -> dict:
    return link_config(name, source, dest, include, prefix=prefix)


def ours(topics: set[str], uniq: str) -> set[str]:
    return {t for t in topics if uniq in t}


def run_producers_and_watch(east, west, orders: str, payments: str, uniq: str,
                            allowed_east: set[str], allowed_west: set[str], klinks: list) -> tuple[int, int]:
    """Produces on both sides for RUN_S seconds while sampling both clusters' topic lists;
    fails at the first topic of this test that should not exist. Returns the records produced."""
    east_producer = PacedProducer(east.bootstrap, orders, PARTITIONS, RATE, "east")
    west_producer = PacedProducer(west.bootstrap, payments, PARTITIONS, RATE, "west")
    east_producer.start()
    west_producer.start()
    samples = 0
    try:
        end = time.monotonic() + RUN_S
        while time.monotonic() < end:
            for k in klinks:
                assert k.running(), f"klink exited ({k.proc.returncode}); stderr tail:\n{k.stderr_tail()}"
            on_east, on_west = ours(topics_on(east.bootstrap), uniq), ours(topics_on(west.bootstrap), uniq)
            assert on_east <= allowed_east, f"unexpected topics on east: {sorted(on_east - allowed_east)}"
            assert on_west <= allowed_west, f"unexpected topics on west: {sorted(on_west - allowed_west)}"
            samples += 1
            time.sleep(0.3)  # sampling period of a check that nothing appears
    finally:
        east_producer.stop()
        west_producer.stop()
    print(f"{samples} topic-list samples of both clusters; produced {east_producer.acked} on east, "
          f"{west_producer.acked} on west")
    assert east_producer.acked >= 2000 and west_producer.acked >= 2000
    return east_producer.acked, west_producer.acked


def assert_exact(src_bootstrap: str, src_topic: str, dst_bootstrap: str, dst_topic: str, n: int, klink):
    wait_for_high_watermarks(dst_bootstrap, dst_topic, high_watermarks(src_bootstrap, src_topic), klink, timeout=90)
    src, dst = consume_all(src_bootstrap, src_topic), consume_all(dst_bootstrap, dst_topic)
    assert total_records(src) == n
    compare_partitions(src, dst)


def mirrors_of(klink, link_name: str, uniq: str) -> list[tuple[str, str]]:
    doc = get_json(f"{klink.admin_url}/v1/links/{link_name}/mirrors")
    return sorted((m["source_topic"], m["mirror_topic"]) for m in doc["mirrors"] if uniq in m["source_topic"])


# ----------------------------------------------------------------------------
# 1. One klink, two prefixed links


def test_one_daemon_two_prefixed_links_never_mirror_back(klink_process, source_cluster, dest_cluster):
    east, west = source_cluster, dest_cluster
    uniq = unique_topic("bidi")
    orders, payments = f"{uniq}.orders", f"{uniq}.payments"
    east.create_topic(orders, partitions=PARTITIONS)
    west.create_topic(payments, partitions=PARTITIONS)
    # Matches the mirrors too, so that only the loop rules keep them from going back.
    include = f".*{re.escape(uniq)}.*"
    k = klink_process(links=[link("east-to-west", east, west, include, "east."),
                             link("west-to-east", west, east, include, "west.")],
                      extra=JSON_LOGS, log_level="info")

    allowed_east = {orders, f"west.{payments}"}
    allowed_west = {payments, f"east.{orders}"}
    n_east, n_west = run_producers_and_watch(east, west, orders, payments, uniq, allowed_east, allowed_west, [k])

    assert_exact(east.bootstrap, orders, west.bootstrap, f"east.{orders}", n_east, k)
    assert_exact(west.bootstrap, payments, east.bootstrap, f"west.{payments}", n_west, k)

    # Each link saw the other's mirror on its source and skipped it, by prefix.
    skip_w = wait_until(lambda: events(k, SKIPPED, link="west-to-east", topic=f"east.{orders}"), 10,
                        "west-to-east to skip east's mirror on west")
    skip_e = wait_until(lambda: events(k, SKIPPED, link="east-to-west", topic=f"west.{payments}"), 10,
                        "east-to-west to skip west's mirror on east")
    assert "prefix" in skip_w[0]["reason"] and "prefix" in skip_e[0]["reason"], (skip_w, skip_e)
    # Logged once per topic, not at every refresh.
    assert len(skip_w) == 1 and len(skip_e) == 1, (skip_w, skip_e)

    # Each mirror listed once, under its own link; addressable by its mirror name too.
    assert mirrors_of(k, "east-to-west", uniq) == [(orders, f"east.{orders}")]
    assert mirrors_of(k, "west-to-east", uniq) == [(payments, f"west.{payments}")]
    status, body, _ = http(f"{k.admin_url}/v1/links/east-to-west/mirrors/east.{orders}")
    assert status == 200 and f'"source_topic":"{orders}"' in body.replace(" ", ""), (status, body)
    links = {l["name"]: l for l in get_json(f"{k.admin_url}/v1/links")["links"]}
    assert set(links) == {"east-to-west", "west-to-east"}
    assert all(l["state"] == "ACTIVE" for l in links.values()), links

    # At the end, several refreshes later: still nothing more.
    assert ours(topics_on(east.bootstrap), uniq) == allowed_east
    assert ours(topics_on(west.bootstrap), uniq) == allowed_west
    assert k.stop() == 0, k.stderr_tail()
    assert len(events(k, "link stopped cleanly")) == 2, k.stderr_tail()


# ----------------------------------------------------------------------------
# 2. Two processes, the reverse link without a prefix


def test_two_processes_unprefixed_reverse_link_skips_recorded_mirrors(klink_process, source_cluster, dest_cluster):
    east, west = source_cluster, dest_cluster
    uniq = unique_topic("bidi2")
    orders, payments = f"{uniq}.orders", f"{uniq}.payments"
    east.create_topic(orders, partitions=PARTITIONS)
    west.create_topic(payments, partitions=PARTITIONS)
    include = f".*{re.escape(uniq)}.*"
    # A: east -> west, prefix "east.". B: west -> east, no prefix: B's mirror of payments is
    # "payments" on east, and a mirror of A's "east.orders" would be "east.orders" on east.
    # Neither process has a link into its own source: only the recorded state tells them.
    a = klink_process(links=[link("a-east-to-west", east, west, include, "east.")], extra=JSON_LOGS,
                      log_level="info", name="klink-a")
    b = klink_process(links=[link("b-west-to-east", west, east, include, None)], extra=JSON_LOGS,
                      log_level="info", name="klink-b")

    allowed_east = {orders, payments}  # payments: B's mirror, same name
    allowed_west = {payments, f"east.{orders}"}
    n_east, n_west = run_producers_and_watch(east, west, orders, payments, uniq, allowed_east, allowed_west, [a, b])

    assert_exact(east.bootstrap, orders, west.bootstrap, f"east.{orders}", n_east, a)
    assert_exact(west.bootstrap, payments, east.bootstrap, payments, n_west, b)

    skip_b = wait_until(lambda: events(b, SKIPPED, link="b-west-to-east", topic=f"east.{orders}"), 10,
                        "B to skip A's mirror east.<orders> on west")
    skip_a = wait_until(lambda: events(a, SKIPPED, link="a-east-to-west", topic=payments), 10,
                        "A to skip B's unprefixed mirror <payments> on east")
    assert "state" in skip_b[0]["reason"] and "state" in skip_a[0]["reason"], (skip_b, skip_a)

    assert mirrors_of(a, "a-east-to-west", uniq) == [(orders, f"east.{orders}")]
    assert mirrors_of(b, "b-west-to-east", uniq) == [(payments, payments)]
    # B never recreated east.<orders> on east, A never made east.<payments> on west.
    assert f"east.{orders}" not in topics_on(east.bootstrap)
    assert ours(topics_on(east.bootstrap), uniq) == allowed_east
    assert ours(topics_on(west.bootstrap), uniq) == allowed_west
    for k in (a, b):
        assert k.stop() == 0, k.stderr_tail()


# ----------------------------------------------------------------------------
# 3. Validation


def test_validate_rejects_opposite_links_without_prefixes(klink_bin, tmp_path, source_cluster, dest_cluster):
    east, west = source_cluster, dest_cluster
    config = {"links": [link("there", east, west, "orders", None), link("back-again", west, east, "orders", None)]}
    path = tmp_path / "loop.toml"
    path.write_text(to_toml(config))
    for command in ("validate", "run"):
        result = subprocess.run([str(klink_bin), command, "--config", str(path)], capture_output=True, text=True,
                                timeout=30)
        output = result.stdout + result.stderr
        assert result.returncode == 2, (command, result.returncode, output)
        assert '"there"' in output and '"back-again"' in output, output
        assert "opposite directions" in output, output
    # Different non-empty prefixes are accepted.
    config["links"][0]["topics"]["prefix"] = "east."
    config["links"][1]["topics"]["prefix"] = "west."
    path.write_text(to_toml(config))
    result = subprocess.run([str(klink_bin), "validate", "--config", str(path)], capture_output=True, text=True,
                            timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr
