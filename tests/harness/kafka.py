#!/usr/bin/env python3
"""Real Apache Kafka clusters on loopback for klink's tests, quickstart and benchmarks.

Importable (``from harness.kafka import KafkaCluster``) and a CLI (``scripts/kafka``).
Brokers run from the jars of Maven artifacts (``fetch``), in KRaft mode, every node
a combined ``broker,controller``. See tests/harness/README.md.

Only the standard library is required; ``confluent_kafka`` (Debian's
python3-confluent-kafka for /usr/bin/python3) is used for topic creation when present.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import ctypes
import fcntl
import hashlib
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

HARNESS_DIR = Path(__file__).resolve().parent
REPO_ROOT = HARNESS_DIR.parent.parent
DEFAULT_VERSION = "4.1.1"
OLD_VERSION = "3.9.1"
DEFAULT_HEAP = ["-Xmx512m", "-Xms256m"]
TOOL_HEAP = ["-Xmx512m"]
# Controllers listen at base_port + CONTROLLER_PORT_OFFSET + i, so clusters need
# base ports at least 2 * CONTROLLER_PORT_OFFSET apart.
CONTROLLER_PORT_OFFSET = 50

# Short names accepted by run_tool() and `scripts/kafka tool` (4.x classes; 3.x differences below).
TOOLS = {
    "topics": "org.apache.kafka.tools.TopicCommand",
    "producer-perf": "org.apache.kafka.tools.ProducerPerformance",
    "consumer-perf": "org.apache.kafka.tools.ConsumerPerformance",
    "console-consumer": "org.apache.kafka.tools.consumer.ConsoleConsumer",
    "console-producer": "org.apache.kafka.tools.ConsoleProducer",
    "verifiable-producer": "org.apache.kafka.tools.VerifiableProducer",
    "verifiable-consumer": "org.apache.kafka.tools.VerifiableConsumer",
    "consumer-groups": "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand",
    "reassign": "org.apache.kafka.tools.reassign.ReassignPartitionsCommand",
    "leader-election": "org.apache.kafka.tools.LeaderElectionCommand",
    "get-offsets": "org.apache.kafka.tools.GetOffsetShell",
    "transactions": "org.apache.kafka.tools.TransactionsCommand",
    "configs": "kafka.admin.ConfigCommand",
    "dump-log": "kafka.tools.DumpLogSegments",
    "storage": "kafka.tools.StorageTool",
    "mirror-maker": "org.apache.kafka.connect.mirror.MirrorMaker",
}
TOOLS_3X = {"console-producer": "kafka.tools.ConsoleProducer"}


def tool_class(version: str, name: str) -> str:
    """The class behind a TOOLS alias for Kafka `version`; other names pass through."""
    if major_version(version) < 4 and name in TOOLS_3X:
        return TOOLS_3X[name]
    return TOOLS.get(name, name)


class KafkaError(RuntimeError):
    """The harness could not fetch, start, stop or talk to a cluster."""


# ----------------------------------------------------------------------------
# Jars


def cache_root() -> Path:
    env = os.environ.get("KLINK_CACHE_DIR")
    return Path(env) if env else Path.home() / ".cache" / "klink"


def kafka_home(version: str) -> Path:
    return cache_root() / "kafka" / version


def lib_dir(version: str) -> Path:
    return kafka_home(version) / "lib"


def major_version(version: str) -> int:
    return int(version.split(".")[0])


def _pom_for(version: str) -> Path:
    return HARNESS_DIR / "maven" / ("kafka-4.x.pom.xml" if major_version(version) >= 4 else "kafka-3.x.pom.xml")


def _fetch_stamp(version: str) -> str:
    # The marker names what was resolved, so editing the pom refetches.
    digest = hashlib.sha256(_pom_for(version).read_bytes()).hexdigest()
    return f"kafka {version} pom-sha256 {digest}\n"


def is_fetched(version: str) -> bool:
    marker = kafka_home(version) / ".complete"
    return marker.is_file() and marker.read_text() == _fetch_stamp(version)


def fetch(version: str = DEFAULT_VERSION, quiet: bool = True) -> Path:
    """Resolve the jars of `version` into <cache>/kafka/<version>/lib once; returns lib/."""
    home = kafka_home(version)
    if is_fetched(version):
        return home / "lib"
    home.mkdir(parents=True, exist_ok=True)
    # Several processes (setup, pytest workers) may race to fetch the same version.
    with open(home / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if is_fetched(version):
            return home / "lib"
        mvn = shutil.which("mvn")
        if not mvn:
            raise KafkaError("mvn not found on PATH (run scripts/setup)")
        pom = home / "pom.xml"
        shutil.copyfile(_pom_for(version), pom)
        staging = home / "lib.partial"
        shutil.rmtree(staging, ignore_errors=True)
        cmd = [mvn, "-B", "-q", "-f", str(pom), "dependency:copy-dependencies",
               f"-Dkafka.version={version}", f"-DoutputDirectory={staging}", "-DincludeScope=runtime"]
        if not quiet:
            print(f"fetching Kafka {version} jars into {home / 'lib'}", file=sys.stderr)
        proc = subprocess.run(cmd, cwd=home, capture_output=quiet, text=True)
        if proc.returncode != 0:
            out = (proc.stdout or "") + (proc.stderr or "") if quiet else ""
            raise KafkaError(f"mvn failed to resolve Kafka {version} (exit {proc.returncode})\n{_tail(out, 40)}")
        if not any(staging.glob("kafka_2.13-*.jar")):
            raise KafkaError(f"mvn finished but no kafka_2.13 jar in {staging}")
        shutil.rmtree(home / "lib", ignore_errors=True)
        staging.rename(home / "lib")
        (home / ".complete").write_text(_fetch_stamp(version))
    return home / "lib"


# ----------------------------------------------------------------------------
# Java


def java_binary() -> str:
    java_home = os.environ.get("JAVA_HOME")
    if java_home and os.access(Path(java_home) / "bin" / "java", os.X_OK):
        return str(Path(java_home) / "bin" / "java")
    found = shutil.which("java")
    if not found:
        raise KafkaError("java not found (need Java >= 17; run scripts/setup)")
    return found


def _log_config_args(version: str) -> list[str]:
    if major_version(version) >= 4:
        return [f"-Dlog4j2.configurationFile={HARNESS_DIR / 'log4j2.properties'}"]
    return [f"-Dlog4j.configuration=file:{HARNESS_DIR / 'log4j.properties'}"]


def java_command(version: str, class_name: str, args: list[str], heap: list[str] | None = None,
                 jvm_args: list[str] | None = None) -> list[str]:
    """The command line that runs `class_name` (or a TOOLS alias) from Kafka `version`'s jars."""
    class_name = tool_class(version, class_name)
    return [java_binary(), *(heap if heap is not None else TOOL_HEAP),
            "-XX:+UseG1GC", "-Djava.awt.headless=true", *_log_config_args(version), *(jvm_args or []),
            "-cp", str(lib_dir(version)) + "/*", class_name, *args]


# ----------------------------------------------------------------------------
# A minimal Kafka wire client: Metadata v4 only, to see brokers and leaders without
# depending on any Kafka client library (and to keep readiness checks independent).


@dataclass
class PartitionInfo:
    error: int
    leader: int
    replicas: list[int]
    isr: list[int]


@dataclass
class Metadata:
    cluster_id: str | None
    controller_id: int
    brokers: dict[int, tuple[str, int]]
    topics: dict[str, dict[int, PartitionInfo]] = field(default_factory=dict)
    topic_errors: dict[str, int] = field(default_factory=dict)


class _Reader:
    def __init__(self, data: bytes):
        self.data, self.pos = data, 0

    def take(self, fmt: str):
        value = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += struct.calcsize(fmt)
        return value[0]

    def string(self) -> str | None:
        n = self.take(">h")
        if n < 0:
            return None
        s = self.data[self.pos:self.pos + n].decode()
        self.pos += n
        return s

    def int32_array(self) -> list[int]:
        return [self.take(">i") for _ in range(self.take(">i"))]


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("connection closed by broker")
        buf += chunk
    return bytes(buf)


def _encode_string(s: str) -> bytes:
    b = s.encode()
    return struct.pack(">h", len(b)) + b


def fetch_metadata(host: str, port: int, topics: list[str] | None = None, timeout: float = 5.0) -> Metadata:
    """Metadata v4 from one broker; topics=None asks for no topics (brokers only), [] is not used."""
    topic_part = struct.pack(">i", 0) if topics is None else (
        struct.pack(">i", len(topics)) + b"".join(_encode_string(t) for t in topics))
    body = topic_part + b"\x00"  # allow_auto_topic_creation = false
    correlation_id = 7
    header = struct.pack(">hhi", 3, 4, correlation_id) + _encode_string("klink-harness")
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.settimeout(timeout)
        sock.sendall(struct.pack(">i", len(header) + len(body)) + header + body)
        size = struct.unpack(">i", _recv_exact(sock, 4))[0]
        resp = _recv_exact(sock, size)
    r = _Reader(resp)
    if r.take(">i") != correlation_id:
        raise KafkaError("metadata response with a wrong correlation id")
    r.take(">i")  # throttle_time_ms
    brokers = {}
    for _ in range(r.take(">i")):
        node_id, bhost, bport = r.take(">i"), r.string(), r.take(">i")
        r.string()  # rack
        brokers[node_id] = (bhost, bport)
    md = Metadata(cluster_id=r.string(), controller_id=r.take(">i"), brokers=brokers)
    for _ in range(r.take(">i")):
        error, name = r.take(">h"), r.string()
        r.take(">b")  # is_internal
        parts = {}
        for _ in range(r.take(">i")):
            perr, index, leader = r.take(">h"), r.take(">i"), r.take(">i")
            parts[index] = PartitionInfo(perr, leader, r.int32_array(), r.int32_array())
        md.topics[name] = parts
        md.topic_errors[name] = error
    return md


# ----------------------------------------------------------------------------
# Processes


def _tail(text: str, lines: int = 30) -> str:
    return "\n".join(text.splitlines()[-lines:])


def _file_tail(path: Path, lines: int = 30) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 64 * 1024))
            return _tail(f.read().decode(errors="replace"), lines)
    except OSError:
        return f"(no log at {path})"


def _pid_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            # A zombie has exited; its parent just has not reaped it yet.
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def _pid_cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def _die_with_parent():
    # Brokers started by a test process must not outlive it if it crashes.
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def random_cluster_id() -> str:
    """A Kafka Uuid as its tools print it (url-safe base64, no padding)."""
    while True:
        raw = uuid.uuid4().bytes
        text = base64.urlsafe_b64encode(raw).decode().rstrip("=")
        if not text.startswith("-"):
            return text


class KafkaCluster:
    """One KRaft cluster of 1..N combined broker+controller JVMs on 127.0.0.1.

    Broker i (node.id i, 0-based) listens on base_port + i and its controller on
    base_port + CONTROLLER_PORT_OFFSET + i. Not thread-safe: drive it from one thread.
    """

    def __init__(self, name: str, brokers: int = 1, base_port: int = 19092, version: str = DEFAULT_VERSION,
                 workdir: str | os.PathLike | None = None, extra_broker_config: dict | None = None,
                 daemon: bool = False, heap: list[str] | None = None, start_timeout: float = 120.0):
        if not 1 <= brokers <= 9:
            raise ValueError("brokers must be 1..9")
        self.name = name
        self.brokers = brokers
        self.base_port = base_port
        self.version = version
        self.workdir = Path(workdir) if workdir else REPO_ROOT / ".klink-run" / name
        self.extra_broker_config = dict(extra_broker_config or {})
        self.daemon = daemon
        self.heap = list(heap or DEFAULT_HEAP)
        self.start_timeout = start_timeout
        self.cluster_id: str | None = None
        self._procs: dict[int, subprocess.Popen] = {}

    # -- layout ---------------------------------------------------------------

    def port(self, i: int) -> int:
        return self.base_port + i

    def controller_port(self, i: int) -> int:
        return self.base_port + CONTROLLER_PORT_OFFSET + i

    @property
    def ports(self) -> list[int]:
        return [self.port(i) for i in range(self.brokers)]

    @property
    def bootstrap(self) -> str:
        return ",".join(f"127.0.0.1:{p}" for p in self.ports)

    @property
    def bootstrap_servers(self) -> list[str]:
        return [f"127.0.0.1:{p}" for p in self.ports]

    def broker_dir(self, i: int) -> Path:
        return self.workdir / f"broker-{i}"

    @property
    def log_dirs(self) -> list[Path]:
        """Each broker's `log.dirs` (topic-partition folders live directly under it)."""
        return [self.broker_dir(i) / "data" for i in range(self.brokers)]

    def log_file(self, i: int) -> Path:
        return self.broker_dir(i) / "server.log"

    def _props_file(self, i: int) -> Path:
        return self.broker_dir(i) / "server.properties"

    def _pid_file(self, i: int) -> Path:
        return self.broker_dir(i) / "broker.pid"

    def _state_file(self) -> Path:
        return self.workdir / "cluster.json"

    def broker_config(self, i: int) -> dict[str, str]:
        n = self.brokers
        voters = ",".join(f"{j}@127.0.0.1:{self.controller_port(j)}" for j in range(n))
        config = {
            "process.roles": "broker,controller",
            "node.id": str(i),
            "controller.quorum.voters": voters,
            "listeners": f"PLAINTEXT://127.0.0.1:{self.port(i)},CONTROLLER://127.0.0.1:{self.controller_port(i)}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{self.port(i)}",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "log.dirs": str(self.log_dirs[i]),
            "num.partitions": "1",
            "default.replication.factor": "1",
            # Tests create topics explicitly: a mirror must not appear by accident.
            "auto.create.topics.enable": "false",
            "offsets.topic.replication.factor": str(min(n, 3)),
            "offsets.topic.num.partitions": "5",
            "transaction.state.log.replication.factor": str(min(n, 3)),
            "transaction.state.log.min.isr": str(min(n, 2)),
            "transaction.state.log.num.partitions": "5",
            "group.initial.rebalance.delay.ms": "0",
            "num.network.threads": "2",
            "num.io.threads": "4",
            "num.recovery.threads.per.data.dir": "1",
            "log.retention.hours": "168",
            "controlled.shutdown.enable": "true",
        }
        if major_version(self.version) >= 4:
            config["share.coordinator.state.topic.replication.factor"] = str(min(n, 3))
            config["share.coordinator.state.topic.min.isr"] = str(min(n, 2))
        config.update({k: str(v) for k, v in self.extra_broker_config.items()})
        return config

    # -- lifecycle ------------------------------------------------------------

    def start(self, fresh: bool = True) -> "KafkaCluster":
        """Formats (when fresh) and starts every broker, then waits until all are in the metadata."""
        fetch(self.version)
        busy = [p for i in range(self.brokers) for p in (self.port(i), self.controller_port(i)) if not _port_free(p)]
        if busy:
            raise KafkaError(f"cluster {self.name}: ports already in use on 127.0.0.1: {busy} "
                             f"(another cluster running? try `scripts/kafka status`)")
        if fresh or not self._state_file().exists():
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir.mkdir(parents=True)
            self.cluster_id = random_cluster_id()
            for i in range(self.brokers):
                self.broker_dir(i).mkdir()
                self._props_file(i).write_text(
                    "".join(f"{k}={v}\n" for k, v in self.broker_config(i).items()))
            self._format_storage()
        else:
            self.cluster_id = json.loads(self._state_file().read_text())["cluster_id"]
        self._save_state()
        for i in range(self.brokers):
            self._launch(i)
        try:
            self.wait_ready(timeout=self.start_timeout)
        except BaseException:
            self.stop(timeout=10)
            raise
        return self

    def _format_storage(self):
        procs = []
        for i in range(self.brokers):
            cmd = java_command(self.version, "kafka.tools.StorageTool",
                               ["format", "-t", self.cluster_id, "-c", str(self._props_file(i))],
                               heap=["-Xmx256m"])
            procs.append((i, subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)))
        for i, proc in procs:
            out, _ = proc.communicate(timeout=120)
            (self.broker_dir(i) / "format.log").write_text(out)
            if proc.returncode != 0:
                raise KafkaError(f"cluster {self.name}: formatting broker {i} failed:\n{_tail(out)}")

    def _launch(self, i: int):
        if self.is_running(i):
            raise KafkaError(f"cluster {self.name}: broker {i} is already running")
        cmd = java_command(self.version, "kafka.Kafka", [str(self._props_file(i))], heap=self.heap,
                           jvm_args=["-XX:MaxGCPauseMillis=20", "-XX:+ExitOnOutOfMemoryError",
                                     f"-Dklink.harness.cluster={self.name}"])
        with open(self.log_file(i), "ab") as log:
            log.write(f"=== {time.strftime('%Y-%m-%d %H:%M:%S')} starting broker {i}: {' '.join(cmd)}\n".encode())
            log.flush()
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                    cwd=self.broker_dir(i), start_new_session=True,
                                    preexec_fn=None if self.daemon else _die_with_parent)
        self._procs[i] = proc
        self._pid_file(i).write_text(f"{proc.pid}\n")

    def _pid(self, i: int) -> int | None:
        proc = self._procs.get(i)
        if proc is not None:
            return proc.pid if proc.poll() is None else None
        try:
            pid = int(self._pid_file(i).read_text().strip())
        except (OSError, ValueError):
            return None
        # Guard against a recycled pid: it must be this broker's JVM.
        if _pid_alive(pid) and str(self._props_file(i)) in _pid_cmdline(pid):
            return pid
        return None

    def is_running(self, i: int) -> bool:
        return self._pid(i) is not None

    def running_brokers(self) -> list[int]:
        return [i for i in range(self.brokers) if self.is_running(i)]

    def wait_ready(self, brokers: list[int] | None = None, timeout: float = 120.0):
        """Waits until each of `brokers` (default: all) answers and every one of them
        sees all of `brokers` registered in its metadata."""
        wanted = list(range(self.brokers)) if brokers is None else list(brokers)
        deadline = time.monotonic() + timeout
        last_problem = "no attempt made"
        while True:
            for i in wanted:
                if not self.is_running(i):
                    raise KafkaError(f"cluster {self.name}: broker {i} exited during start-up; "
                                     f"tail of {self.log_file(i)}:\n{_file_tail(self.log_file(i))}")
            try:
                for i in wanted:
                    md = fetch_metadata("127.0.0.1", self.port(i), timeout=2.0)
                    missing = set(wanted) - set(md.brokers)
                    if missing:
                        raise KafkaError(f"broker {i} does not list brokers {sorted(missing)} yet")
                return
            except (OSError, KafkaError, struct.error) as e:
                last_problem = str(e)
            if time.monotonic() > deadline:
                tails = "\n".join(f"--- tail of {self.log_file(i)}:\n{_file_tail(self.log_file(i))}" for i in wanted)
                raise KafkaError(f"cluster {self.name}: not ready after {timeout:.0f}s ({last_problem})\n{tails}")
            time.sleep(0.25)

    def _signal_and_wait(self, indexes: list[int], sig: int, timeout: float) -> list[int]:
        """Sends `sig` to each broker JVM; returns those still alive after `timeout`."""
        pids = {i: self._pid(i) for i in indexes}
        for pid in pids.values():
            if pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, sig)
        deadline = time.monotonic() + timeout
        alive = [i for i, pid in pids.items() if pid is not None]
        while alive and time.monotonic() < deadline:
            time.sleep(0.1)
            alive = [i for i in alive if self._reap(i, pids[i])]
        return alive

    def _reap(self, i: int, pid: int) -> bool:
        proc = self._procs.get(i)
        if proc is not None:
            return proc.poll() is None
        return _pid_alive(pid)

    def stop(self, timeout: float = 30.0):
        """SIGTERM to every broker, then SIGKILL to those still alive after `timeout` seconds."""
        running = self.running_brokers()
        left = self._signal_and_wait(running, signal.SIGTERM, timeout)
        if left:
            self._signal_and_wait(left, signal.SIGKILL, 10.0)
        for i in running:
            proc = self._procs.pop(i, None)
            if proc is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=5)
            with contextlib.suppress(FileNotFoundError):
                self._pid_file(i).unlink()

    def kill_broker(self, i: int, sig: int = signal.SIGKILL, timeout: float = 30.0):
        """Stops broker i with `sig` (SIGKILL: a crash; SIGTERM: controlled shutdown) and waits
        for the JVM to exit."""
        if self._signal_and_wait([i], sig, timeout):
            self._signal_and_wait([i], signal.SIGKILL, 10.0)
        proc = self._procs.pop(i, None)
        if proc is not None:
            proc.wait(timeout=5)

    def stop_broker(self, i: int, timeout: float = 30.0):
        self.kill_broker(i, signal.SIGTERM, timeout)

    def start_broker(self, i: int, wait: bool = True, timeout: float | None = None):
        """Restarts broker i on its existing data; waits until every running broker sees it."""
        self._launch(i)
        if wait:
            self.wait_ready(self.running_brokers(), timeout=timeout or self.start_timeout)

    def _save_state(self):
        state = {"name": self.name, "brokers": self.brokers, "base_port": self.base_port,
                 "version": self.version, "cluster_id": self.cluster_id,
                 "extra_broker_config": self.extra_broker_config, "bootstrap": self.bootstrap}
        self._state_file().write_text(json.dumps(state, indent=2) + "\n")

    @classmethod
    def load(cls, workdir: str | os.PathLike) -> "KafkaCluster":
        """The cluster whose state a previous start() left in `workdir` (e.g. from the CLI)."""
        state = json.loads((Path(workdir) / "cluster.json").read_text())
        cluster = cls(state["name"], brokers=state["brokers"], base_port=state["base_port"],
                      version=state["version"], workdir=workdir,
                      extra_broker_config=state.get("extra_broker_config"), daemon=True)
        cluster.cluster_id = state.get("cluster_id")
        return cluster

    def __enter__(self) -> "KafkaCluster":
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # -- metadata and topics --------------------------------------------------

    def metadata(self, topics: list[str] | None = None, broker: int | None = None) -> Metadata:
        """Metadata from `broker` (default: the first running one)."""
        candidates = [broker] if broker is not None else self.running_brokers()
        last_error: Exception | None = None
        for i in candidates:
            try:
                return fetch_metadata("127.0.0.1", self.port(i), topics)
            except (OSError, struct.error) as e:
                last_error = e
        raise KafkaError(f"cluster {self.name}: no broker answered metadata ({last_error})")

    def partition_leader(self, topic: str, partition: int) -> int:
        return self.metadata([topic]).topics[topic][partition].leader

    def wait_for_topic(self, name: str, partitions: int, timeout: float = 30.0):
        """Until every running broker knows all partitions of `name` with a leader."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                ok = True
                for i in self.running_brokers():
                    parts = fetch_metadata("127.0.0.1", self.port(i), [name]).topics.get(name, {})
                    if len(parts) < partitions or any(p.leader < 0 or p.error for p in parts.values()):
                        ok = False
                        break
                if ok:
                    return
            except (OSError, struct.error):
                pass
            if time.monotonic() > deadline:
                raise KafkaError(f"cluster {self.name}: topic {name} has no leaders after {timeout}s")
            time.sleep(0.1)

    def create_topic(self, name: str, partitions: int = 1, replication_factor: int = 1,
                     configs: dict | None = None, timeout: float = 30.0):
        configs = {k: str(v) for k, v in (configs or {}).items()}
        try:
            from confluent_kafka.admin import AdminClient, NewTopic
        except ImportError:
            args = ["--bootstrap-server", self.bootstrap, "--create", "--topic", name,
                    "--partitions", str(partitions), "--replication-factor", str(replication_factor)]
            for k, v in configs.items():
                args += ["--config", f"{k}={v}"]
            self.run_tool("topics", args)
        else:
            admin = AdminClient({"bootstrap.servers": self.bootstrap})
            futures = admin.create_topics([NewTopic(name, num_partitions=partitions,
                                                    replication_factor=replication_factor, config=configs)],
                                          request_timeout=timeout)
            try:
                futures[name].result(timeout=timeout)
            except Exception as e:  # confluent_kafka raises KafkaException
                raise KafkaError(f"cluster {self.name}: create topic {name} failed: {e}") from None
        self.wait_for_topic(name, partitions, timeout)

    def partition_dir(self, topic: str, partition: int, broker: int | None = None) -> Path:
        """The on-disk folder of a partition on `broker` (default: its current leader)."""
        if broker is None:
            broker = self.partition_leader(topic, partition)
        return self.log_dirs[broker] / f"{topic}-{partition}"

    # -- tools ----------------------------------------------------------------

    def tool_command(self, class_name: str, args: list[str], heap: list[str] | None = None) -> list[str]:
        return java_command(self.version, class_name, [a.replace("{bootstrap}", self.bootstrap) for a in args], heap)

    def run_tool(self, class_name: str, args: list[str], timeout: float = 300.0, check: bool = True,
                 input: str | None = None, heap: list[str] | None = None) -> subprocess.CompletedProcess:
        """Runs a Kafka tool class (or a TOOLS alias) from this cluster's jars; `{bootstrap}`
        in args is replaced. Returns the completed process (text stdout/stderr)."""
        cmd = self.tool_command(class_name, args, heap)
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, input=input,
                              stdin=None if input is not None else subprocess.DEVNULL)
        if check and proc.returncode != 0:
            raise KafkaError(f"{tool_class(self.version, class_name)} exited {proc.returncode}\n"
                             f"stdout:\n{_tail(proc.stdout)}\nstderr:\n{_tail(proc.stderr)}")
        return proc

    def start_tool(self, class_name: str, args: list[str], heap: list[str] | None = None,
                   **popen_kwargs) -> subprocess.Popen:
        """Starts a long-running tool (console consumer, MirrorMaker); the caller stops it."""
        popen_kwargs.setdefault("stdin", subprocess.DEVNULL)
        return subprocess.Popen(self.tool_command(class_name, args, heap), **popen_kwargs)


# ----------------------------------------------------------------------------
# CLI


def _run_dir() -> Path:
    return REPO_ROOT / ".klink-run"


def _cluster_dir(args) -> Path:
    return Path(args.workdir) if args.workdir else _run_dir() / args.name


def _cmd_fetch(args) -> int:
    versions = args.version or [DEFAULT_VERSION]
    for v in versions:
        lib = fetch(v, quiet=not args.verbose)
        if args.verbose:
            print(lib)
    return 0


def _cmd_start(args) -> int:
    workdir = _cluster_dir(args)
    if (workdir / "cluster.json").exists():
        existing = KafkaCluster.load(workdir)
        if existing.running_brokers():
            if len(existing.running_brokers()) == existing.brokers:
                print(existing.bootstrap)
                return 0
            print(f"cluster {args.name} is partly running; run `scripts/kafka stop --name {args.name}` first",
                  file=sys.stderr)
            return 1
    extra = {}
    for item in args.config or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"--config expects key=value, got {item!r}")
        extra[key] = value
    cluster = KafkaCluster(args.name, brokers=args.brokers, base_port=args.port, version=args.version,
                           workdir=workdir, extra_broker_config=extra, daemon=True)
    cluster.start(fresh=not args.keep_data)
    print(cluster.bootstrap)
    return 0


def _cmd_stop(args) -> int:
    workdir = _cluster_dir(args)
    if not (workdir / "cluster.json").exists():
        print(f"no cluster {args.name} in {workdir}", file=sys.stderr)
        return 0
    KafkaCluster.load(workdir).stop(timeout=args.timeout)
    return 0


def _cmd_status(args) -> int:
    dirs = [_cluster_dir(args)] if args.name else sorted(p.parent for p in _run_dir().glob("*/cluster.json"))
    for d in dirs:
        if not (d / "cluster.json").exists():
            continue
        c = KafkaCluster.load(d)
        running = c.running_brokers()
        state = "running" if len(running) == c.brokers else ("partial" if running else "stopped")
        print(f"{c.name}\t{state}\t{len(running)}/{c.brokers} brokers\tkafka {c.version}\t{c.bootstrap}\t{d}")
    return 0


def _cmd_tool(args) -> int:
    cluster = KafkaCluster.load(_cluster_dir(args))
    tool_args = args.args[1:] if args.args and args.args[0] == "--" else args.args
    return subprocess.call(cluster.tool_command(args.tool_class, tool_args))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/kafka", description="Real Kafka clusters on loopback.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("fetch", help="resolve the Kafka jars into the cache")
    p.add_argument("--version", action="append", help=f"Kafka version (repeatable; default {DEFAULT_VERSION})")
    p.add_argument("-v", "--verbose", action="store_true")
    p.set_defaults(func=_cmd_fetch)

    p = sub.add_parser("start", help="start a cluster in the background and wait until it is ready")
    p.add_argument("--name", required=True)
    p.add_argument("--port", type=int, default=19092, help="port of broker 0; broker i uses port+i")
    p.add_argument("--brokers", type=int, default=1)
    p.add_argument("--version", default=DEFAULT_VERSION)
    p.add_argument("--workdir", help="default: <repo>/.klink-run/<name>")
    p.add_argument("--config", action="append", metavar="KEY=VALUE", help="extra broker config (repeatable)")
    p.add_argument("--keep-data", action="store_true", help="restart on the existing data instead of a fresh cluster")
    p.set_defaults(func=_cmd_start)

    p = sub.add_parser("stop", help="stop a cluster (SIGTERM, then SIGKILL)")
    p.add_argument("--name", required=True)
    p.add_argument("--workdir")
    p.add_argument("--timeout", type=float, default=30.0)
    p.set_defaults(func=_cmd_stop)

    p = sub.add_parser("status", help="list clusters under .klink-run")
    p.add_argument("--name")
    p.add_argument("--workdir")
    p.set_defaults(func=_cmd_status)

    p = sub.add_parser("tool", help="run a Kafka tool class (or alias) from the cluster's jars")
    p.add_argument("--name", required=True)
    p.add_argument("--workdir")
    p.add_argument("tool_class", metavar="CLASS", help="class name or alias: " + ", ".join(TOOLS))
    p.add_argument("args", nargs=argparse.REMAINDER, help="tool arguments; {bootstrap} is replaced")
    p.set_defaults(func=_cmd_tool)

    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except KafkaError as e:
        print(f"kafka: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
