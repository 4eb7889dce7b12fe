"""Pause is exact on a scale-out link too: `:pause` sent to one instance answers 200 only once
every instance running partitions of the mirror has stopped them (each confirms in klink's state
topic), so after the answer nothing more is written into the mirror by any instance, under a
live stream, again and again; resumed, the copy is exact. An instance that cannot confirm (it is
frozen) makes the answer a 503 naming it."""

from __future__ import annotations

import json
import signal

from admin_client import http
from kafka_checks import wait_until
from links_support import high_watermarks, stays
from test_scale_out import PARTITIONS, HAND_OVER_LIMIT_S, Stream, scale_out_link  # noqa: F401

QUIET_SECONDS = 3.0


def act(link, proc, action: str, timeout_ms: int = 30000) -> tuple[int, dict]:
    url = f"{proc.admin_url}/v1/links/{link.name}/mirrors/{link.topic}:{action}"
    status, body, _ = http(url, "POST", json.dumps({"timeout_ms": timeout_ms}), timeout=timeout_ms / 1000 + 30)
    return status, json.loads(body)


def ends(link) -> dict[int, int]:
    return high_watermarks(link.dest.bootstrap, link.topic)


def test_pause_answers_when_every_instance_stopped(scale_out_link):
    link = scale_out_link
    klinks = [link.start() for _ in range(3)]
    link.wait_settled(klinks, [8, 8, 8], 90, "three instances sharing the link")
    stream = Stream(link, rate=2_000)
    stream.start()
    try:
        for round_ in range(4):
            stream.wait_acked(2_000 * (round_ + 1), 60)
            asked = klinks[round_ % 3]  # each instance answers a pause in turn
            status, doc = act(link, asked, "pause")
            assert status == 200, doc
            at = ends(link)
            stays(lambda: stream.healthy() and ends(link) == at, QUIET_SECONDS,
                  f"round {round_}: an instance wrote after the pause answered")
            status, doc = act(link, klinks[(round_ + 1) % 3], "resume")
            assert status == 200, doc
            before = dict(at)
            wait_until(lambda: all(ends(link)[p] > before[p] for p in range(PARTITIONS)), 60,
                       f"round {round_}: every partition mirrored again after resume")
    finally:
        sent = stream.stop()
    link.assert_destination_equals_source(sent)


def test_pause_names_an_instance_that_does_not_confirm(scale_out_link):
    link = scale_out_link
    klinks = [link.start() for _ in range(2)]
    settled = link.wait_settled(klinks, [12, 12], 90, "two instances sharing the link")
    frozen = next(p for p in klinks if p.proc.pid != settled.leader_pid)
    asker = next(p for p in klinks if p is not frozen)
    frozen.proc.send_signal(signal.SIGSTOP)
    try:
        status, doc = act(link, asker, "pause", timeout_ms=2000)
        assert status == 503 and doc["error_code"] == "PAUSE_NOT_SETTLED", doc
        assert f":{frozen.proc.pid}" in doc["message"] and "have not confirmed" in doc["message"], doc
    finally:
        frozen.proc.send_signal(signal.SIGCONT)
    # Thawed, it confirms: asking again answers 200.
    status, doc = act(link, asker, "pause", timeout_ms=int(HAND_OVER_LIMIT_S * 1000))
    assert status == 200, doc
