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
from dataclasses import dataclass, field, replace
from pathlib import Path

HARNESS_DIR = Path(__file__).resolve().parent
if __package__ in (None, ""):  # run as a script (scripts/kafka): make `harness` importable
    sys.path.insert(0, str(HARNESS_DIR.parent))
from harness.certs import SERVER_KINDS, Certs, generate_certs  # noqa: E402
REPO_ROOT = HARNESS_DIR.parent.parent
DEFAULT_VERSION = "4.1.1"
OLD_VERSION = "3.9.1"
DEFAULT_HEAP = ["-Xmx512m", "-Xms256m"]
TOOL_HEAP = ["-Xmx512m"]
# Controllers listen at base_port + CONTROLLER_PORT_OFFSET + i, so clusters need
# base ports at least 2 * CONTROLLER_PORT_OFFSET apart.
CONTROLLER_PORT_OFFSET = 50
# Secured client listener k of broker i listens at base_port + SECURE_PORT_OFFSET
# + SECURE_PORT_STRIDE * k + i: at most MAX_SECURE_LISTENERS fit below the controllers.
SECURE_PORT_OFFSET = 10
SECURE_PORT_STRIDE = 10
MAX_SECURE_LISTENERS = 4
SECURE_PROTOCOLS = ("SSL", "SASL_SSL", "SASL_PLAINTEXT")
SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
DEFAULT_USERS = {"klink": "klink-secret"}

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
    "delete-records": "org.apache.kafka.tools.DeleteRecordsCommand",
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
# SASL by hand (SaslHandshake v1 + SaslAuthenticate v1), to see whether a broker accepts
# credentials now, independent of any client library's SASL code.


@dataclass
class SaslResult:
    error: int                 # 0, or Kafka's error code (58 = SASL_AUTHENTICATION_FAILED)
    message: str | None
    session_lifetime_ms: int   # KIP-368; 0 = no re-authentication required


def _sasl_call(sock, api_key: int, correlation_id: int, body: bytes) -> bytes:
    header = struct.pack(">hhi", api_key, 1, correlation_id) + _encode_string("klink-harness")
    sock.sendall(struct.pack(">i", len(header) + len(body)) + header + body)
    resp = _recv_exact(sock, struct.unpack(">i", _recv_exact(sock, 4))[0])
    if struct.unpack(">i", resp[:4])[0] != correlation_id:
        raise KafkaError("SASL response with a wrong correlation id")
    return resp[4:]


def _sasl_authenticate_round(sock, correlation_id: int, token: bytes) -> tuple[SaslResult, bytes]:
    r = _Reader(_sasl_call(sock, 36, correlation_id, struct.pack(">i", len(token)) + token))
    error, message = r.take(">h"), r.string()
    n = r.take(">i")
    data = r.data[r.pos:r.pos + max(n, 0)]
    r.pos += max(n, 0)
    return SaslResult(error, message, r.take(">q")), data


def sasl_authenticate(host: str, port: int, mechanism: str, user: str, password: str, tls: bool = False,
                      client_cert: tuple[Path, Path] | None = None, timeout: float = 10.0) -> SaslResult:
    """Logs in once over SASL_PLAINTEXT (or SASL_SSL with `tls`, certificate not verified)."""
    import hmac
    import secrets
    import ssl

    with socket.create_connection((host, port), timeout=timeout) as raw:
        raw.settimeout(timeout)
        sock = raw
        if tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            if client_cert:
                ctx.load_cert_chain(*client_cert)
            sock = ctx.wrap_socket(raw, server_hostname="localhost")
        r = _Reader(_sasl_call(sock, 17, 1, _encode_string(mechanism)))
        if (error := r.take(">h")) != 0:
            return SaslResult(error, f"mechanism {mechanism} not enabled", 0)
        if mechanism == "PLAIN":
            return _sasl_authenticate_round(sock, 2, b"\0" + user.encode() + b"\0" + password.encode())[0]
        digest = {"SCRAM-SHA-256": "sha256", "SCRAM-SHA-512": "sha512"}[mechanism]
        nonce = secrets.token_urlsafe(18)
        first_bare = f"n={user},r={nonce}"
        result, server_first = _sasl_authenticate_round(sock, 2, ("n,," + first_bare).encode())
        if result.error:
            return result
        fields = dict(item.split("=", 1) for item in server_first.decode().split(","))
        if not fields["r"].startswith(nonce):
            raise KafkaError("SCRAM server nonce does not extend the client's")
        salted = hashlib.pbkdf2_hmac(digest, password.encode(), base64.b64decode(fields["s"]), int(fields["i"]))
        client_key = hmac.digest(salted, b"Client Key", digest)
        final_bare = f"c=biws,r={fields['r']}"
        auth_message = f"{first_bare},{server_first.decode()},{final_bare}".encode()
        signature = hmac.digest(hashlib.new(digest, client_key).digest(), auth_message, digest)
        proof = base64.b64encode(bytes(a ^ b for a, b in zip(client_key, signature))).decode()
        return _sasl_authenticate_round(sock, 3, f"{final_bare},p={proof}".encode())[0]


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


def _server_jaas(mechanism: str, users: dict[str, str]) -> str:
    if mechanism == "PLAIN":
        entries = "".join(f' user_{u}="{p}"' for u, p in users.items())
        return f"org.apache.kafka.common.security.plain.PlainLoginModule required{entries};"
    # SCRAM credentials live in the cluster metadata, not in JAAS.
    return "org.apache.kafka.common.security.scram.ScramLoginModule required;"


def _pem_to_der(path: Path) -> bytes:
    text = Path(path).read_text()
    body = text.split("-----BEGIN CERTIFICATE-----", 1)[1].split("-----END CERTIFICATE-----", 1)[0]
    return base64.b64decode("".join(body.split()))


def random_cluster_id() -> str:
    """A Kafka Uuid as its tools print it (url-safe base64, no padding)."""
    while True:
        raw = uuid.uuid4().bytes
        text = base64.urlsafe_b64encode(raw).decode().rstrip("=")
        if not text.startswith("-"):
            return text


_SECRET_FORBIDDEN = set(',[]="\'\\') | {" ", "\t", "\n"}


def _check_secret(what: str, value: str):
    # Kafka's --add-scram and kafka-configs parse `[name=..,password=..]` without quoting,
    # and PLAIN users live inside a JAAS string: keep test secrets to plain characters.
    if not value or set(value) & _SECRET_FORBIDDEN:
        raise ValueError(f"{what} must be non-empty without spaces, quotes, commas, brackets or '='")


@dataclass
class SecureListener:
    """One extra client listener of every broker, next to the PLAINTEXT one.

    protocol      SSL | SASL_SSL | SASL_PLAINTEXT
    mechanisms    SASL mechanisms enabled on it: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512
    users         name -> password. SCRAM: the initial credentials, created at format time for each
                  SCRAM mechanism listed (cluster-wide; current ones in KafkaCluster.scram_users).
                  PLAIN: the listener's current users, written into its JAAS config
    certs         a harness.certs.Certs (required for SSL and SASL_SSL)
    client_auth   none | requested | required (mTLS: clients need a certificate signed by certs.ca_cert)
    server_cert   which certificate the brokers present: good | expired | wrong-host | untrusted
    name          listener name (default SECURE<k>, k = its index in the cluster's list)
    reauth_ms     connections.max.reauth.ms for its SASL mechanisms (KIP-368), None = Kafka's default (off)
    """

    protocol: str = "SASL_SSL"
    mechanisms: list[str] = field(default_factory=lambda: ["SCRAM-SHA-512"])
    users: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_USERS))
    certs: Certs | None = None
    client_auth: str = "none"
    server_cert: str = "good"
    name: str | None = None
    reauth_ms: int | None = None

    @property
    def uses_ssl(self) -> bool:
        return self.protocol in ("SSL", "SASL_SSL")

    @property
    def uses_sasl(self) -> bool:
        return self.protocol.startswith("SASL_")

    @property
    def scram_mechanisms(self) -> list[str]:
        return [m for m in self.mechanisms if m.startswith("SCRAM-")] if self.uses_sasl else []

    def validate(self):
        if self.protocol not in SECURE_PROTOCOLS:
            raise ValueError(f"secure listener protocol must be one of {SECURE_PROTOCOLS}, not {self.protocol!r}")
        if self.uses_sasl:
            if not self.mechanisms or any(m not in SASL_MECHANISMS for m in self.mechanisms):
                raise ValueError(f"SASL mechanisms must be a non-empty subset of {SASL_MECHANISMS}")
            if not self.users:
                raise ValueError("a SASL listener needs at least one user")
            for user, password in self.users.items():
                _check_secret("a user name", user)
                _check_secret(f"the password of {user}", password)
        if self.uses_ssl and self.certs is None:
            raise ValueError(f"a {self.protocol} listener needs certs (harness.certs.generate_certs)")
        if self.client_auth not in ("none", "requested", "required"):
            raise ValueError("client_auth must be none, requested or required")
        if self.server_cert not in SERVER_KINDS:
            raise ValueError(f"server_cert must be one of {SERVER_KINDS}")
        if self.name is not None and not self.name.replace("_", "").isalnum():
            raise ValueError("a listener name is letters, digits and underscores")

    def to_state(self) -> dict:
        return {"protocol": self.protocol, "mechanisms": list(self.mechanisms), "users": dict(self.users),
                "certs": str(self.certs.directory) if self.certs else None, "client_auth": self.client_auth,
                "server_cert": self.server_cert, "name": self.name, "reauth_ms": self.reauth_ms}

    @classmethod
    def from_state(cls, state: dict) -> "SecureListener":
        state = dict(state)
        certs = state.pop("certs", None)
        return cls(certs=Certs(Path(certs)) if certs else None, **state)


class KafkaCluster:
    """One KRaft cluster of 1..N combined broker+controller JVMs on 127.0.0.1.

    Broker i (node.id i, 0-based) listens on base_port + i and its controller on
    base_port + CONTROLLER_PORT_OFFSET + i. Optional secured listeners (`secure_listener`, or
    several as `secure_listeners`) add listener k on base_port + 10 + 10 * k + i; the PLAINTEXT
    listener stays for tools and the tests' own clients, inter-broker and controller traffic
    stay PLAINTEXT. Not thread-safe: drive it from one thread.
    """

    def __init__(self, name: str, brokers: int = 1, base_port: int = 19092, version: str = DEFAULT_VERSION,
                 workdir: str | os.PathLike | None = None, extra_broker_config: dict | None = None,
                 daemon: bool = False, heap: list[str] | None = None, start_timeout: float = 120.0,
                 secure_listener: SecureListener | None = None,
                 secure_listeners: list[SecureListener] | None = None,
                 broker_racks: list[str] | None = None):
        if not 1 <= brokers <= 9:
            raise ValueError("brokers must be 1..9")
        if broker_racks is not None and len(broker_racks) != brokers:
            raise ValueError(f"broker_racks names {len(broker_racks)} racks for {brokers} brokers")
        if secure_listener is not None and secure_listeners:
            raise ValueError("pass secure_listener or secure_listeners, not both")
        listeners = [secure_listener] if secure_listener is not None else list(secure_listeners or [])
        # Own copies: the cluster names them and tracks users and certificates as they change.
        listeners = [replace(lst, mechanisms=list(lst.mechanisms), users=dict(lst.users)) for lst in listeners]
        if len(listeners) > MAX_SECURE_LISTENERS:
            raise ValueError(f"at most {MAX_SECURE_LISTENERS} secure listeners")
        for k, listener in enumerate(listeners):
            listener.validate()
            if listener.name is None:
                listener.name = f"SECURE{k}"
            listener.name = listener.name.upper()
        names = [lst.name for lst in listeners]
        if len(set(names)) != len(names) or {"PLAINTEXT", "CONTROLLER"} & set(names):
            raise ValueError(f"secure listener names must be unique and not PLAINTEXT/CONTROLLER: {names}")
        self.secure_listeners: list[SecureListener] = listeners
        # (mechanism, user) -> current password; SCRAM credentials are cluster-wide.
        self.scram_users: dict[tuple[str, str], str] = self._initial_scram_users()
        self.name = name
        self.brokers = brokers
        self.base_port = base_port
        self.version = version
        self.workdir = Path(workdir) if workdir else REPO_ROOT / ".klink-run" / name
        self.extra_broker_config = dict(extra_broker_config or {})
        # broker.rack of broker i (KIP-36 placement, KIP-392 nearest-replica reads); None: no racks.
        self.broker_racks = list(broker_racks) if broker_racks is not None else None
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

    # -- secured listeners ------------------------------------------------------

    def secure_listener(self, listener: int | str = 0) -> SecureListener:
        """A secured listener by index or (case-insensitive) name."""
        if isinstance(listener, str):
            for lst in self.secure_listeners:
                if lst.name == listener.upper():
                    return lst
            raise KeyError(f"cluster {self.name} has no secure listener {listener!r}")
        if not 0 <= listener < len(self.secure_listeners):
            raise KeyError(f"cluster {self.name} has {len(self.secure_listeners)} secure listeners, not #{listener}")
        return self.secure_listeners[listener]

    def _listener_index(self, listener: int | str) -> int:
        return self.secure_listeners.index(self.secure_listener(listener))

    def secure_port(self, i: int = 0, listener: int | str = 0) -> int:
        """Port of secured listener `listener` on broker i."""
        k = self._listener_index(listener)
        return self.base_port + SECURE_PORT_OFFSET + SECURE_PORT_STRIDE * k + i

    def secure_bootstrap_for(self, listener: int | str = 0) -> str:
        return ",".join(f"127.0.0.1:{self.secure_port(i, listener)}" for i in range(self.brokers))

    @property
    def secure_bootstrap(self) -> str:
        """Bootstrap of the first secured listener, "127.0.0.1:port[,...]"."""
        return self.secure_bootstrap_for(0)

    def _all_ports(self, i: int) -> list[int]:
        return [self.port(i), self.controller_port(i),
                *(self.secure_port(i, k) for k in range(len(self.secure_listeners)))]

    def _initial_scram_users(self) -> dict[tuple[str, str], str]:
        out: dict[tuple[str, str], str] = {}
        for lst in self.secure_listeners:
            for mech in lst.scram_mechanisms:
                for user, password in lst.users.items():
                    if out.setdefault((mech, user), password) != password:
                        raise ValueError(f"user {user} has two different {mech} passwords on different listeners")
        return out

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
        if self.broker_racks is not None:
            config["broker.rack"] = self.broker_racks[i]
        if self.secure_listeners:
            config.update(self._secure_config(i))
        config.update({k: str(v) for k, v in self.extra_broker_config.items()})
        return config

    def _secure_config(self, i: int) -> dict[str, str]:
        ends = [f"{lst.name}://127.0.0.1:{self.secure_port(i, k)}" for k, lst in enumerate(self.secure_listeners)]
        config = {
            "listeners": f"PLAINTEXT://127.0.0.1:{self.port(i)},CONTROLLER://127.0.0.1:{self.controller_port(i)},"
                         + ",".join(ends),
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{self.port(i)}," + ",".join(ends),
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,"
                                              + ",".join(f"{lst.name}:{lst.protocol}" for lst in self.secure_listeners),
        }
        for lst in self.secure_listeners:
            prefix = f"listener.name.{lst.name.lower()}."
            if lst.uses_ssl:
                config.update({
                    prefix + "ssl.keystore.type": "PEM",
                    prefix + "ssl.keystore.location": str(lst.certs.server_keystore(lst.server_cert)),
                    prefix + "ssl.truststore.type": "PEM",
                    prefix + "ssl.truststore.location": str(lst.certs.ca_cert),
                    prefix + "ssl.client.auth": lst.client_auth,
                    # replace_server_cert swaps in certificates with other SANs (wrong-host).
                    prefix + "ssl.allow.dn.changes": "true",
                    prefix + "ssl.allow.san.changes": "true",
                })
            if lst.uses_sasl:
                config[prefix + "sasl.enabled.mechanisms"] = ",".join(lst.mechanisms)
                for mech in lst.mechanisms:
                    config[prefix + f"{mech.lower()}.sasl.jaas.config"] = _server_jaas(mech, lst.users)
                    if lst.reauth_ms is not None:
                        config[prefix + f"{mech.lower()}.connections.max.reauth.ms"] = str(lst.reauth_ms)
        return config

    # -- lifecycle ------------------------------------------------------------

    def start(self, fresh: bool = True) -> "KafkaCluster":
        """Formats (when fresh) and starts every broker, then waits until all are in the metadata."""
        fetch(self.version)
        busy = [p for i in range(self.brokers) for p in self._all_ports(i) if not _port_free(p)]
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
        # SCRAM users are bootstrap metadata records: every node's format gets the same set.
        scram = [arg for (mech, user), password in sorted(self.scram_users.items())
                 for arg in ("--add-scram", f"{mech}=[name={user},password={password}]")]
        for i in range(self.brokers):
            cmd = java_command(self.version, "kafka.tools.StorageTool",
                               ["format", "-t", self.cluster_id, "-c", str(self._props_file(i)), *scram],
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
                    for k in range(len(self.secure_listeners)):
                        # Accepting TCP is enough: a handshake needs credentials the caller chose.
                        socket.create_connection(("127.0.0.1", self.secure_port(i, k)), timeout=2.0).close()
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
                 "extra_broker_config": self.extra_broker_config, "broker_racks": self.broker_racks,
                 "bootstrap": self.bootstrap,
                 "secure_listeners": [lst.to_state() for lst in self.secure_listeners],
                 "scram_users": [[m, u, p] for (m, u), p in sorted(self.scram_users.items())]}
        if self.secure_listeners:
            state["secure_bootstrap"] = {lst.name: self.secure_bootstrap_for(k)
                                         for k, lst in enumerate(self.secure_listeners)}
        self._state_file().write_text(json.dumps(state, indent=2) + "\n")

    @classmethod
    def load(cls, workdir: str | os.PathLike) -> "KafkaCluster":
        """The cluster whose state a previous start() left in `workdir` (e.g. from the CLI)."""
        state = json.loads((Path(workdir) / "cluster.json").read_text())
        cluster = cls(state["name"], brokers=state["brokers"], base_port=state["base_port"],
                      version=state["version"], workdir=workdir,
                      extra_broker_config=state.get("extra_broker_config"), daemon=True,
                      broker_racks=state.get("broker_racks"),
                      secure_listeners=[SecureListener.from_state(x) for x in state.get("secure_listeners", [])])
        cluster.cluster_id = state.get("cluster_id")
        if "scram_users" in state:
            cluster.scram_users = {(m, u): p for m, u, p in state["scram_users"]}
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

    # -- security at runtime ----------------------------------------------------

    def set_scram_password(self, user: str, password: str, mechanisms: list[str] | None = None):
        """Creates or changes `user`'s SCRAM credentials (kafka-configs over PLAINTEXT), for
        `mechanisms` (default: every SCRAM mechanism of the secured listeners, else
        SCRAM-SHA-512). New authentications use it once the brokers have replayed the change
        (well under a second after this returns); established connections stay authenticated
        until they re-authenticate (`reauth_ms`)."""
        _check_secret("a user name", user)
        _check_secret(f"the password of {user}", password)
        mechs = mechanisms or sorted({m for lst in self.secure_listeners for m in lst.scram_mechanisms}) \
            or ["SCRAM-SHA-512"]
        for mech in mechs:  # one mechanism per request: Kafka refuses two alterations of one user
            self.run_tool("configs", ["--bootstrap-server", self.bootstrap, "--alter", "--entity-type", "users",
                                      "--entity-name", user, "--add-config", f"{mech}=[password={password}]"])
        for mech in mechs:
            self.scram_users[(mech, user)] = password
        self._after_security_change()
        self._wait_for_login(user, password, mechs)

    def _wait_for_login(self, user: str, password: str, mechanisms: list[str], timeout: float = 30.0):
        # The tool returns once the controller committed the change; brokers replay it a moment later.
        for k, lst in enumerate(self.secure_listeners):
            mech = next((m for m in mechanisms if m in lst.scram_mechanisms), None)
            if mech is None:
                continue
            for i in self.running_brokers():
                deadline = time.monotonic() + timeout
                while (result := self.sasl_login(user, password, mech, k, i)).error:
                    if time.monotonic() > deadline:
                        raise KafkaError(f"cluster {self.name}: broker {i} refuses the new {mech} password of "
                                         f"{user} after {timeout:.0f}s: {result.message}")
                    time.sleep(0.1)
            return

    def sasl_login(self, user: str, password: str, mechanism: str | None = None, listener: int | str = 0,
                   broker: int = 0) -> SaslResult:
        """One SASL login on a secured listener by hand (not librdkafka, not klink): error 0 when the
        broker accepts the credentials now; session_lifetime_ms shows the listener's reauth_ms."""
        lst = self.secure_listener(listener)
        if not lst.uses_sasl:
            raise KafkaError(f"cluster {self.name}: listener {lst.name} has no SASL")
        client_cert = (lst.certs.client_cert, lst.certs.client_key) if lst.uses_ssl and lst.client_auth != "none" \
            else None
        return sasl_authenticate("127.0.0.1", self.secure_port(broker, listener), mechanism or lst.mechanisms[0],
                                 user, password, tls=lst.uses_ssl, client_cert=client_cert)

    def delete_scram_user(self, user: str, mechanisms: list[str] | None = None):
        """Removes `user`'s SCRAM credentials (default: all SCRAM mechanisms of the listeners)."""
        mechs = mechanisms or sorted({m for lst in self.secure_listeners for m in lst.scram_mechanisms}) \
            or ["SCRAM-SHA-512"]
        for mech in mechs:
            self.run_tool("configs", ["--bootstrap-server", self.bootstrap, "--alter", "--entity-type", "users",
                                      "--entity-name", user, "--delete-config", mech])
        for mech in mechs:
            self.scram_users.pop((mech, user), None)
        self._after_security_change()

    def set_plain_password(self, user: str, password: str, listener: int | str | None = None):
        """Creates or changes a PLAIN user on `listener` (default: every listener with PLAIN).
        PLAIN users live in the listener's JAAS config, which Kafka does not reload on an
        existing listener: this rewrites server.properties and restarts the running brokers
        one by one (data kept; connections drop)."""
        _check_secret("a user name", user)
        _check_secret(f"the password of {user}", password)
        targets = [self.secure_listener(listener)] if listener is not None else \
            [lst for lst in self.secure_listeners if "PLAIN" in lst.mechanisms and lst.uses_sasl]
        if not targets or any("PLAIN" not in lst.mechanisms for lst in targets):
            raise KafkaError(f"cluster {self.name}: no secure listener with PLAIN to change")
        for lst in targets:
            lst.users[user] = password
        self._rewrite_properties()
        self.restart_brokers()

    def password(self, user: str = "klink", mechanism: str = "SCRAM-SHA-512", listener: int | str = 0) -> str | None:
        """The password `user` has now for `mechanism` (PLAIN: on `listener`), None if none."""
        if mechanism == "PLAIN":
            lst = self.secure_listener(listener)
            return lst.users.get(user) if "PLAIN" in lst.mechanisms else None
        return self.scram_users.get((mechanism, user))

    def set_password(self, user: str, password: str):
        """Changes `user`'s password for every mechanism that has it: SCRAM at runtime, then
        PLAIN (which restarts the brokers, see set_plain_password)."""
        if any(lst.scram_mechanisms for lst in self.secure_listeners):
            self.set_scram_password(user, password)
        if any("PLAIN" in lst.mechanisms and lst.uses_sasl for lst in self.secure_listeners):
            self.set_plain_password(user, password)

    def restart_brokers(self, timeout: float | None = None):
        """Stops and restarts each running broker in turn, on its data (picks up server.properties)."""
        for i in self.running_brokers():
            self.stop_broker(i)
            self.start_broker(i, timeout=timeout)

    def replace_server_cert(self, kind: str, listener: int | str = 0, timeout: float = 60.0):
        """Makes every running broker present server certificate `kind` (good | expired |
        wrong-host | untrusted) on `listener`, without a restart: Kafka's dynamic keystore
        update (kafka-configs --entity-type brokers, per broker) on a fresh copy of the
        keystore. Returns once each broker hands out the new certificate on new connections;
        established connections keep their session."""
        lst = self.secure_listener(listener)
        if not lst.uses_ssl:
            raise KafkaError(f"cluster {self.name}: listener {lst.name} has no TLS")
        if kind not in SERVER_KINDS:
            raise ValueError(f"server certificate kind must be one of {SERVER_KINDS}")
        k = self._listener_index(listener)
        key = f"listener.name.{lst.name.lower()}.ssl.keystore.location"
        for i in self.running_brokers():
            # A new path each time: Kafka rebuilds the SSL engine only when the location
            # (or the file's modification time) changed.
            copy = self.broker_dir(i) / f"{lst.name.lower()}-{kind}-{time.time_ns()}-keystore.pem"
            shutil.copyfile(lst.certs.server_keystore(kind), copy)
            self.run_tool("configs", ["--bootstrap-server", self.bootstrap, "--alter", "--entity-type", "brokers",
                                      "--entity-name", str(i), "--add-config", f"{key}={copy}"])
        lst.server_cert = kind
        self._after_security_change()
        want = _pem_to_der(lst.certs.server_cert(kind))
        deadline = time.monotonic() + timeout
        for i in self.running_brokers():
            while (got := self.presented_cert(i, k)) != want:
                if time.monotonic() > deadline:
                    raise KafkaError(f"cluster {self.name}: broker {i} still presents another certificate "
                                     f"on {lst.name} after {timeout:.0f}s (got {len(got or b'')} bytes)")
                time.sleep(0.2)

    def presented_cert(self, i: int = 0, listener: int | str = 0) -> bytes | None:
        """DER of the certificate broker i presents on a TLS listener (not verified), or None."""
        import ssl

        lst = self.secure_listener(listener)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        if lst.client_auth != "none":
            ctx.load_cert_chain(lst.certs.client_cert, lst.certs.client_key)
        try:
            with socket.create_connection(("127.0.0.1", self.secure_port(i, listener)), timeout=5.0) as raw:
                with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
                    return tls.getpeercert(binary_form=True)
        except (OSError, ssl.SSLError):
            return None

    def _rewrite_properties(self):
        for i in range(self.brokers):
            self._props_file(i).write_text("".join(f"{k}={v}\n" for k, v in self.broker_config(i).items()))
        self._save_state()

    def _after_security_change(self):
        # Keeps cluster.json (and a restart's server.properties) in step with what the brokers use.
        if self.workdir.exists():
            self._rewrite_properties()


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
    listeners = []
    if args.secure:
        users = dict(DEFAULT_USERS)
        if args.user:
            users = {}
            for item in args.user:
                name, sep, password = item.partition("=")
                if not sep:
                    raise SystemExit(f"--user expects NAME=PASSWORD, got {item!r}")
                users[name] = password
        certs = None
        if any(not spec.upper().startswith("SASL_PLAINTEXT") for spec in args.secure):
            # Outside the workdir: a fresh start wipes the workdir, clients keep trusting the CA.
            certs = generate_certs(Path(args.certs) if args.certs else _run_dir() / f"{args.name}-certs")
        try:
            listeners = [_parse_secure_spec(spec, users, certs) for spec in args.secure]
        except (ValueError, TypeError) as e:
            raise SystemExit(f"--secure: {e}")
    cluster = KafkaCluster(args.name, brokers=args.brokers, base_port=args.port, version=args.version,
                           workdir=workdir, extra_broker_config=extra, daemon=True, secure_listeners=listeners)
    cluster.start(fresh=not args.keep_data)
    print(cluster.bootstrap)
    _print_secure(cluster)
    return 0


def _parse_secure_spec(spec: str, users: dict[str, str], certs: Certs | None) -> SecureListener:
    """PROTOCOL[:MECH[+MECH...]][,client_auth=..][,server_cert=..][,name=..][,reauth_ms=..]"""
    head, *options = spec.split(",")
    protocol, _, mechs = head.partition(":")
    kwargs: dict = {"protocol": protocol.upper(), "users": dict(users), "certs": certs}
    if mechs:
        kwargs["mechanisms"] = [m.upper() for m in mechs.split("+")]
    for option in options:
        key, sep, value = option.partition("=")
        if not sep or key not in ("client_auth", "server_cert", "name", "reauth_ms"):
            raise ValueError(f"unknown option {option!r} (client_auth, server_cert, name, reauth_ms)")
        kwargs[key] = int(value) if key == "reauth_ms" else value
    listener = SecureListener(**kwargs)
    listener.validate()
    return listener


def _print_secure(cluster: KafkaCluster):
    # Only clusters with secured listeners print more than the bootstrap line.
    for k, lst in enumerate(cluster.secure_listeners):
        extra = ""
        if lst.uses_sasl:
            extra += f" mechanisms={'+'.join(lst.mechanisms)} users={','.join(lst.users)}"
        if lst.uses_ssl:
            extra += f" client_auth={lst.client_auth} server_cert={lst.server_cert} ca={lst.certs.ca_cert}"
        print(f"{lst.name}\t{lst.protocol}\t{cluster.secure_bootstrap_for(k)}\t{extra.strip()}")


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
        if args.name:
            _print_secure(c)
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
    p.add_argument("--secure", action="append", metavar="SPEC",
                   help="add a secured listener (repeatable, listener k on port+10+10k): "
                        "PROTOCOL[:MECH+MECH][,client_auth=none|requested|required][,server_cert=KIND]"
                        "[,name=NAME][,reauth_ms=MS], e.g. SASL_SSL:SCRAM-SHA-512+PLAIN or SSL,client_auth=required")
    p.add_argument("--user", action="append", metavar="NAME=PASSWORD",
                   help=f"SASL user of the secured listeners (repeatable; default "
                        f"{','.join(f'{u}={p}' for u, p in DEFAULT_USERS.items())})")
    p.add_argument("--certs", metavar="DIR", help="certificate directory (default .klink-run/<name>-certs)")
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
