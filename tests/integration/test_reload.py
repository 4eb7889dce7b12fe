"""SIGHUP reloads of a running klink against real Kafka: a link added, a link's include
widened (applied at once, the link not restarted), invalid configs rejected with the running
config kept, a link removed (stopped cleanly), a link's [links.mirror] changed (restarted, resuming
from its checkpoint under a live stream), and a topic excluded then included again (it stops where
it is, keeps its mirror data, and resumes exactly: no loss, no duplicates).

    KLINK_TEST_SOURCE_PORT=35192 KLINK_TEST_DEST_PORT=36192 \
        /usr/bin/python3 -m pytest tests/integration/test_reload.py -q
"""

from __future__ import annotations

import copy
import time

from admin_client import get_json, http
from kafka_checks import compare_partitions, consume_all, total_records, unique_topic, wait_until
from links_support import (
    REFRESH_MS,
    link_config,
    stays,
    JSON_LOGS,
    PacedProducer,
    events,
    high_watermarks,
    produce_n,
    reload_config,
    wait_for_high_watermarks,
)

PARTITIONS = 3
RESTARTING = "link changed by the reloaded config: restarting it"
REMOVING = "link removed by the reloaded config: stopping it"
RESELECTED = "topic selection reloaded; applying it now"
REJECTED = "reloaded config rejected; klink keeps running with the previous one"
EXCLUDED = ("mirror no longer selected by the topic filters: it stops fetching; its topic, data and checkpoint "
            "stay, and it resumes where it stopped if selected again")
REINCLUDED = "mirror selected by the topic filters again: it resumes where it stopped"


def link(name: str, source, dest, include: list[str], prefix: str | None = None,
         exclude: list[str] | None = None) -> dict:
    # A short long-poll: a Fetch already waiting on the broker when a topic is
    # deselected comes back within 100 ms.
    return link_config(name, source, dest, include, prefix=prefix, exclude=exclude,
                       mirror={"fetch_max_wait_ms": 100})


def with_links(k, links: list[dict]) -> dict:
    config = copy.deepcopy(k.config)
    config["links"] = links
    return config


def link_states(k) -> dict[str, str]:
    return {l["name"]: l["state"] for l in get_json(f"{k.admin_url}/v1/links")["links"]}


def mirror_names(k, link_name: str) -> list[tuple[str, str]]:
    doc = get_json(f"{k.admin_url}/v1/links/{link_name}/mirrors")
    return sorted((m["source_topic"], m["mirror_topic"]) for m in doc["mirrors"])


def exact(source, dest, src_topic: str, dst_topic: str, k, timeout: float = 60.0) -> int:
    """Waits for `dst_topic` to end where `src_topic` ends, then compares every record."""
    wait_for_high_watermarks(dest.bootstrap, dst_topic, high_watermarks(source.bootstrap, src_topic), k, timeout)
    src = consume_all(source.bootstrap, src_topic)
    compare_partitions(src, consume_all(dest.bootstrap, dst_topic))
    return total_records(src)


# ----------------------------------------------------------------------------
# 1. Add a link and widen another; invalid configs; remove the link again


def test_reload_adds_widens_rejects_and_removes_links(klink_process, source_cluster, dest_cluster):
    src, dst = source_cluster, dest_cluster
    uniq = unique_topic("reload")
    t1, t2, t3 = f"{uniq}-t1", f"{uniq}-t2", f"{uniq}-t3"
    for t in (t1, t2, t3):
        src.create_topic(t, partitions=PARTITIONS)
        produce_n(src.bootstrap, t, PARTITIONS, 900, "first")
    k = klink_process(links=[link("a", src, dst, [t1])], extra=JSON_LOGS, log_level="info")
    exact(src, dst, t1, t1, k)
    assert mirror_names(k, "a") == [(t1, t1)]

    # (a) Widen A to t1|t2 and add B (same clusters, prefix "b.", t1 and t3) while a producer
    # keeps writing to t1: A is not restarted, t2 is mirrored, B starts and mirrors.
    producer = PacedProducer(src.bootstrap, t1, PARTITIONS, 500, "live")
    producer.start()
    try:
        wait_until(lambda: producer.acked >= 500, 30, "the live producer to be under way")
        outcome = reload_config(k, with_links(k, [link("a", src, dst, [f"{t1}|{t2}"]),
                                                  link("b", src, dst, [t1, t3], prefix="b.")]))
        assert outcome["msg"] == "config reloaded", outcome
        assert (outcome["added"], outcome["removed"], outcome["restarted"]) == (1, 0, 0), outcome
        exact(src, dst, t2, t2, k)
        wait_until(lambda: events(k, "link starting", link="b"), 10, "link b to start")
        wait_until(lambda: mirror_names(k, "b") == [(t1, f"b.{t1}"), (t3, f"b.{t3}")], 30,
                   "b's mirrors listed by the admin endpoint")
        wait_until(lambda: producer.acked >= 2500, 30, "more live records after the reload")
    finally:
        producer.stop()
    assert exact(src, dst, t1, t1, k) == 900 + producer.acked
    assert exact(src, dst, t1, f"b.{t1}", k) == 900 + producer.acked
    assert exact(src, dst, t3, f"b.{t3}", k) == 900
    assert not events(k, RESTARTING), events(k, RESTARTING)
    assert len(events(k, "link starting", link="a")) == 1
    assert events(k, RESELECTED, link="a")
    assert mirror_names(k, "a") == [(t1, t1), (t2, t2)]
    before = get_json(f"{k.admin_url}/v1/links")["links"]
    assert [l["name"] for l in before] == ["a", "b"] and all(l["state"] == "ACTIVE" for l in before), before

    # (b) Invalid configs: rejected with the error logged; nothing changes.
    good_config = copy.deepcopy(k.config)
    bad_regex = with_links(k, [link("a", src, dst, [f"({t1}"]), link("b", src, dst, [t1, t3], prefix="b.")])
    unknown_key = with_links(k, [link("a", src, dst, [t1]), link("b", src, dst, [t3], prefix="b.")])
    unknown_key["links"][1]["topics"]["inclde"] = [t2]
    for bad, key in ((bad_regex, "links[0].topics.include[0]"), (unknown_key, "links[1].topics.inclde")):
        outcome = reload_config(k, bad)
        assert outcome["msg"] == REJECTED and outcome["level"] == "error", outcome
        assert key in outcome["error"], outcome
        assert k.running()
        after = get_json(f"{k.admin_url}/v1/links")["links"]
        assert [(l["name"], l["state"]) for l in after] == [(l["name"], l["state"]) for l in before], after
    assert mirror_names(k, "a") == [(t1, t1), (t2, t2)]
    assert mirror_names(k, "b") == [(t1, f"b.{t1}"), (t3, f"b.{t3}")]
    for t in (t1, t2, t3):
        produce_n(src.bootstrap, t, PARTITIONS, 300, "after-rejects")
    exact(src, dst, t1, t1, k)
    exact(src, dst, t2, t2, k)
    exact(src, dst, t1, f"b.{t1}", k)
    exact(src, dst, t3, f"b.{t3}", k)
    # The file is valid again for what follows (klink does not re-read it without a SIGHUP).
    k.config = good_config

    # (c) Remove B: it stops cleanly and disappears; A goes on.
    outcome = reload_config(k, with_links(k, [link("a", src, dst, [f"{t1}|{t2}"])]))
    assert outcome["msg"] == "config reloaded", outcome
    assert (outcome["added"], outcome["removed"], outcome["restarted"]) == (0, 1, 0), outcome
    assert events(k, REMOVING, link="b"), k.stderr_tail()
    wait_until(lambda: events(k, "link stopped cleanly", link="b"), 30, "link b to stop cleanly")
    assert not events(k, "link stopped cleanly", link="a")
    assert [l["name"] for l in get_json(f"{k.admin_url}/v1/links")["links"]] == ["a"]
    assert http(f"{k.admin_url}/v1/links/b/mirrors")[0] == 404
    b_t3_end = high_watermarks(dst.bootstrap, f"b.{t3}")
    for t in (t1, t3):
        produce_n(src.bootstrap, t, PARTITIONS, 300, "after-remove")
    exact(src, dst, t1, t1, k)
    stays(lambda: high_watermarks(dst.bootstrap, f"b.{t3}") == b_t3_end, 2 * REFRESH_MS / 1000,
          "b.<t3> must not grow after link b was removed")
    assert not events(k, RESTARTING), events(k, RESTARTING)

    # (d) A change beyond the topic selection ([links.mirror]) restarts A, under a live
    # stream: it resumes from its own checkpoint, nothing lost or duplicated.
    producer = PacedProducer(src.bootstrap, t1, PARTITIONS, 500, "restart")
    producer.start()
    try:
        wait_until(lambda: producer.acked >= 500, 30, "the live producer to be under way")
        changed = link("a", src, dst, [f"{t1}|{t2}"])
        changed["mirror"]["fetch_max_wait_ms"] = 200
        outcome = reload_config(k, with_links(k, [changed]))
        assert outcome["msg"] == "config reloaded", outcome
        assert (outcome["added"], outcome["removed"], outcome["restarted"]) == (0, 0, 1), outcome
        assert events(k, RESTARTING, link="a")
        wait_until(lambda: len(events(k, "link starting", link="a")) == 2, 10, "a to start again")
        wait_until(lambda: producer.acked >= 2000, 30, "more live records after the restart")
    finally:
        producer.stop()
    assert events(k, "link stopped cleanly", link="a"), k.stderr_tail()
    exact(src, dst, t1, t1, k)
    exact(src, dst, t2, t2, k)
    assert k.stop() == 0, k.stderr_tail()


# ----------------------------------------------------------------------------
# 2. Exclude a topic, then include it again


def test_reload_exclude_then_reinclude_resumes_exactly(klink_process, source_cluster, dest_cluster):
    src, dst = source_cluster, dest_cluster
    uniq = unique_topic("reload-excl")
    t1, t2 = f"{uniq}-t1", f"{uniq}-t2"
    for t in (t1, t2):
        src.create_topic(t, partitions=PARTITIONS)
        produce_n(src.bootstrap, t, PARTITIONS, 1200, "first")
    pattern = f"{uniq}-t[0-9]"
    k = klink_process(links=[link("a", src, dst, [pattern])], extra=JSON_LOGS, log_level="info")
    exact(src, dst, t1, t1, k)
    exact(src, dst, t2, t2, k)

    # Narrow: t2 excluded. It stops, leaves the listing, keeps its topic and data.
    outcome = reload_config(k, with_links(k, [link("a", src, dst, [pattern], exclude=[t2])]))
    assert outcome["msg"] == "config reloaded" and outcome["restarted"] == 0, outcome
    wait_until(lambda: events(k, EXCLUDED, link="a", topic=t2), 10, "t2 to be deselected")
    wait_until(lambda: mirror_names(k, "a") == [(t1, t1)], 10, "t2 to leave the admin listing")
    assert http(f"{k.admin_url}/v1/links/a/mirrors/{t2}")[0] == 404
    t2_end = high_watermarks(dst.bootstrap, t2)
    assert sum(t2_end.values()) == 1200
    for t in (t1, t2):
        produce_n(src.bootstrap, t, PARTITIONS, 600, "while-excluded")
    exact(src, dst, t1, t1, k)
    stays(lambda: high_watermarks(dst.bootstrap, t2) == t2_end, 2 * REFRESH_MS / 1000,
          "t2 must not be mirrored while excluded")
    assert sum(high_watermarks(src.bootstrap, t2).values()) == 1800

    # Include it again (and change [admin], which needs a restart): resumes where it stopped.
    config = with_links(k, [link("a", src, dst, [pattern])])
    old_admin = k.admin_url
    config["admin"] = {"listen": "127.0.0.1:1"}
    outcome = reload_config(k, config)
    assert outcome["msg"] == "config reloaded" and outcome["restarted"] == 0, outcome
    assert events(k, "the [admin] section changed; it takes effect at the next restart")
    wait_until(lambda: events(k, REINCLUDED, link="a", topic=t2), 10, "t2 to be selected again")
    k.config["admin"]["listen"] = old_admin.removeprefix("http://")  # still served where it was
    assert exact(src, dst, t2, t2, k) == 1800
    exact(src, dst, t1, t1, k)
    assert mirror_names(k, "a") == [(t1, t1), (t2, t2)]
    doc = wait_until(lambda: (d := get_json(f"{k.admin_url}/v1/links/a/mirrors/{t2}"))["lag_records"] == 0 and d,
                     30, "t2's lag to reach 0")
    assert doc["state"] == "ACTIVE", doc
    assert not events(k, RESTARTING), events(k, RESTARTING)
    assert len(events(k, "link starting", link="a")) == 1
    assert k.stop() == 0, k.stderr_tail()
