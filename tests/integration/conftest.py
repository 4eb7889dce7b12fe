"""Fixtures for klink's real-Kafka integration tests.

Run with Debian's interpreter (it has confluent_kafka):
    /usr/bin/python3 -m pytest tests/integration -q

Environment:
    KLINK_BIN                 klink executable (default <repo>/build/klink)
    KLINK_TEST_SOURCE_PORT    port of the session's source cluster (default 19192)
    KLINK_TEST_DEST_PORT      port of the session's destination cluster (default 29192)
    KLINK_KAFKA_VERSION       Kafka version of both clusters (default 4.1.1)
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness.kafka import DEFAULT_VERSION, KafkaCluster  # noqa: E402

RUN_DIR = REPO_ROOT / ".klink-run"
KAFKA_VERSION = os.environ.get("KLINK_KAFKA_VERSION", DEFAULT_VERSION)


# wait_until / unique_topic live in kafka_checks (importable by tests); re-exported here.
from kafka_checks import unique_topic, wait_until  # noqa: E402,F401


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ----------------------------------------------------------------------------
# Clusters


def start_cluster(name: str, port: int) -> KafkaCluster:
    # The port is part of the folder so that two pytest runs on different
    # ports never wipe each other's brokers.
    cluster = KafkaCluster(name, brokers=1, base_port=port, version=KAFKA_VERSION,
                           workdir=RUN_DIR / f"{name}-{port}")
    cluster.start()
    return cluster


@pytest.fixture(scope="session")
def source_cluster():
    cluster = start_cluster("pytest-source", int(os.environ.get("KLINK_TEST_SOURCE_PORT", "19192")))
    yield cluster
    cluster.stop()


@pytest.fixture(scope="session")
def dest_cluster():
    cluster = start_cluster("pytest-dest", int(os.environ.get("KLINK_TEST_DEST_PORT", "29192")))
    yield cluster
    cluster.stop()


@pytest.fixture
def topic_name(request) -> str:
    """A unique topic name derived from the test's name."""
    return unique_topic(request.node.name)


# ----------------------------------------------------------------------------
# klink


@pytest.fixture(scope="session")
def klink_bin() -> Path:
    path = Path(os.environ.get("KLINK_BIN", REPO_ROOT / "build" / "klink"))
    if not os.access(path, os.X_OK):
        # A failure, not a skip: a run without klink proves nothing.
        pytest.fail(f"klink binary not found at {path} (build it with scripts/build or set KLINK_BIN)")
    return path


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    raise TypeError(f"cannot write {type(v).__name__} as a TOML value")


def to_toml(doc: dict) -> str:
    """A small TOML writer for klink configs: tables, arrays of tables, scalars and lists."""
    out: list[str] = []

    def is_table(v):
        return isinstance(v, dict)

    def is_table_array(v):
        return isinstance(v, list) and v and all(isinstance(x, dict) for x in v)

    def emit(table: dict, path: list[str], header: str | None):
        if header:
            out.append(f"\n{header}")
        for k, v in table.items():
            if not is_table(v) and not is_table_array(v):
                out.append(f"{k} = {_toml_value(v)}")
        for k, v in table.items():
            if is_table(v):
                emit(v, path + [k], f"[{'.'.join(path + [k])}]")
            elif is_table_array(v):
                for item in v:
                    emit(item, path + [k], f"[[{'.'.join(path + [k])}]]")

    emit(doc, [], None)
    return "\n".join(out).lstrip("\n") + "\n"


def _merge(base: dict, extra: dict) -> dict:
    for k, v in extra.items():
        if isinstance(v, dict) and isinstance(base.get(k), dict):
            _merge(base[k], v)
        else:
            base[k] = v
    return base


class KlinkProcess:
    """One `klink run` process with its config and stderr file under the test's tmp_path."""

    def __init__(self, binary: Path, workdir: Path, config: dict, name: str):
        self.binary = binary
        self.workdir = workdir
        self.config = config
        self.config_path = workdir / f"{name}.toml"
        self.stderr_path = workdir / f"{name}.stderr"
        self.stdout_path = workdir / f"{name}.stdout"
        self.proc: subprocess.Popen | None = None
        self.returncode: int | None = None

    @property
    def admin_url(self) -> str:
        return f"http://{self.config['admin']['listen']}"

    def start(self) -> "KlinkProcess":
        self.config_path.write_text(to_toml(self.config))
        with open(self.stdout_path, "ab") as out, open(self.stderr_path, "ab") as err:
            self.proc = subprocess.Popen([str(self.binary), "run", "--config", str(self.config_path)],
                                         stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        self.returncode = None
        return self

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        """Sends `sig` (SIGTERM: graceful; SIGKILL: a crash) and returns the exit code
        (negative for death by signal). SIGKILLs after `timeout` if still alive."""
        assert self.proc is not None, "klink was not started"
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                pytest.fail(f"klink did not exit within {timeout}s of signal {sig}; stderr tail:\n{self.stderr_tail()}",
                            pytrace=False)
        self.returncode = self.proc.returncode
        return self.returncode

    def kill(self) -> int:
        return self.stop(signal.SIGKILL)

    def restart(self) -> "KlinkProcess":
        if self.running():
            self.stop()
        return self.start()

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace") if self.stderr_path.exists() else ""

    def stderr_tail(self, lines: int = 40) -> str:
        return "\n".join(self.stderr().splitlines()[-lines:])


@pytest.fixture
def klink_process(klink_bin, tmp_path, source_cluster, dest_cluster):
    """Factory: klink_process(topics=[...], extra={...}, links=None, include=None) -> started KlinkProcess.

    The default config mirrors `topics` from source_cluster to dest_cluster from the
    earliest offset; `extra` is deep-merged into it; `links` replaces the [[links]] list.
    Every process still running at the end of the test is killed."""
    started: list[KlinkProcess] = []

    def factory(topics: list[str] | None = None, extra: dict | None = None, links: list[dict] | None = None,
                name: str | None = None, start: bool = True, log_level: str = "debug",
                include: list[str] | None = None) -> KlinkProcess:
        # `topics` are literal names (made into whole-name regexes); `include` are raw regexes.
        patterns = [re.sub(r"([.+*?^$()\[\]{}|\\])", r"\\\1", t) for t in topics or []] + list(include or [])
        config = {
            "log": {"level": log_level, "format": "text"},
            "admin": {"listen": f"127.0.0.1:{free_port()}"},
            "links": links if links is not None else [{
                "name": "test",
                "source": {"bootstrap_servers": source_cluster.bootstrap_servers},
                "destination": {"bootstrap_servers": dest_cluster.bootstrap_servers},
                "topics": {"include": patterns},
                "mirror": {"start": "earliest"},
            }],
        }
        _merge(config, extra or {})
        proc = KlinkProcess(klink_bin, tmp_path, config, name or f"klink-{len(started)}")
        started.append(proc)
        return proc.start() if start else proc

    yield factory
    for proc in started:
        if proc.running():
            proc.stop(signal.SIGKILL)
