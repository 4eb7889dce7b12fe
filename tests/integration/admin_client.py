"""Talking to klink's admin endpoint from tests: plain HTTP (urllib), JSON answers, and the
Prometheus text format parsed into samples."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request

from kafka_checks import wait_until


def http(url: str, method: str = "GET", body: bytes | str | None = None,
         token: str | None = None, timeout: float = 10.0) -> tuple[int, str, dict]:
    """(status, body, headers) of one request; error statuses are answers, not exceptions."""
    data = body.encode() if isinstance(body, str) else body
    req = urllib.request.Request(url, data=data, method=method)
    if token is not None:
        req.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read().decode(), dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(), dict(e.headers)


def get_json(url: str, token: str | None = None) -> dict:
    status, body, _ = http(url, token=token)
    assert status == 200, f"GET {url}: {status} {body}"
    return json.loads(body)


def assert_error(answer: tuple[int, str, dict], status: int, code: str | None = None) -> dict:
    got, body, _ = answer
    assert got == status, f"expected {status}, got {got}: {body}"
    doc = json.loads(body)
    assert set(doc) == {"error_code", "message"}, doc
    if code is not None:
        assert doc["error_code"] == code, doc
    return doc


_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)$')
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def scrape(base: str) -> dict[tuple[str, frozenset], float]:
    """Every sample of /metrics as {(name, frozenset(labels)): value}."""
    status, body, headers = http(f"{base}/metrics")
    assert status == 200, body
    assert headers.get("Content-Type", "").startswith("text/plain"), headers
    out = {}
    for line in body.splitlines():
        if not line or line.startswith("#"):
            continue
        m = _SAMPLE.match(line)
        assert m, f"not a Prometheus sample line: {line!r}"
        labels = frozenset(_LABEL.findall(m.group(2) or ""))
        out[(m.group(1), labels)] = float(m.group(3))
    return out


def sample(samples: dict, name: str, **labels) -> float:
    key = (name, frozenset((k, str(v)) for k, v in labels.items()))
    assert key in samples, f"no sample {name}{labels}; have {sorted(k for k in samples if k[0] == name)}"
    return samples[key]




def mirror_url(proc, topic: str, link: str = "test") -> str:
    return f"{proc.admin_url}/v1/links/{link}/mirrors/{topic}"


def wait_caught_up(proc, topic: str, timeout: float = 60.0, link: str = "test") -> dict:
    """The mirror's JSON once the admin endpoint reports it has partitions, knows their
    source end, and has no lag."""
    def caught_up():
        status, body, _ = http(mirror_url(proc, topic, link))
        if status != 200:
            return None
        doc = json.loads(body)
        return doc if doc["lag_records"] == 0 and doc["partitions"] and all(
            p["source_end_offset"] is not None and p["source_end_offset"] > 0 for p in doc["partitions"]) else None

    return wait_until(caught_up, timeout, f"mirror {topic} caught up per the admin endpoint")
