"""Network faults on loopback for the fault tests, limited to chosen TCP ports (a broker's
client port), so that everything else on lo (the admin endpoint, the brokers' controller
traffic, the tests' own producer on another listener) goes on untouched. Needs root.

- `NetFaults.blackhole(ports)`: every packet to or from the ports is dropped, both ways
  (nftables, table `inet klink_test_faults`): connections hang, new ones time out.
- `NetFaults.reset(ports)`: the connections open to the ports are reset at both ends
  (`ss -K`), and every packet to or from the ports is answered with a TCP reset
  (`reject with tcp reset`): new connections are refused.
- `NetFaults.slow(ports, delay_s, loss)`: each packet to or from the ports is held `delay_s`
  (so a round trip takes twice that) and `loss` of them are dropped. tc netem would do it,
  but this kernel is built without sch_netem (and without nft's `queue`): the loss is an
  nftables `numgen random` rule, the delay a userspace NFQUEUE (iptables' xt NFQUEUE
  target, in a chain of our own, `KLINK_TEST_SLOW`, in the legacy filter table), whose
  packets `Delayer` accepts `delay_s` after they arrive, in order. `--queue-bypass`: packets
  pass untouched when no delayer listens.
- `NetFaults.clear()` (also on exit of the `with` block): removes all of it. Rules of
  others are never touched: only our table and our chain.

The tables' rules are checked after each change (`nft list table`), so a fault that did
not apply fails the test instead of passing silently.
"""

from __future__ import annotations

import collections
import random
import shutil
import socket
import struct
import subprocess
import threading
import time

TABLE = "klink_test_faults"
CHAIN = "KLINK_TEST_SLOW"
QUEUE = 4719  # an NFQUEUE number no one else here uses

# nfnetlink_queue (linux/netfilter/nfnetlink_queue.h)
NETLINK_NETFILTER = 12
NFNL_SUBSYS_QUEUE = 3
NFQNL_MSG_PACKET = 0
NFQNL_MSG_VERDICT_BATCH = 3
NFQNL_MSG_CONFIG = 2
NFQA_PACKET_HDR = 1
NFQA_VERDICT_HDR = 2
NFQA_CFG_CMD = 1
NFQA_CFG_PARAMS = 2
NFQA_CFG_QUEUE_MAXLEN = 3
NFQNL_CFG_CMD_BIND = 1
NFQNL_CFG_CMD_UNBIND = 2
NFQNL_COPY_META = 1
NF_ACCEPT = 1
NLM_F_REQUEST = 1
NLMSG_ERROR = 2
SO_RCVBUFFORCE = 33


def _run(*cmd: str, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(list(cmd), input=input, capture_output=True, text=True, timeout=30)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc


def _port_set(ports: list[int]) -> str:
    return "{ " + ", ".join(str(p) for p in sorted(set(ports))) + " }"


class Delayer(threading.Thread):
    """Accepts the packets of NFQUEUE `queue` `delay_s` after they were queued, in queue order
    (a constant delay keeps the order, as netem does). Copies only the packets' metadata."""

    def __init__(self, queue: int, delay_s: float):
        super().__init__(daemon=True, name=f"nfqueue-{queue}")
        self.queue, self.delay_s = queue, delay_s
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
        self.sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 16 << 20)
        self.sock.bind((0, 0))
        self.sock.settimeout(0.2)
        self.pending: collections.deque[tuple[float, int]] = collections.deque()
        self.cond = threading.Condition()
        self.delayed = 0
        self.last_id = -1
        self.error: BaseException | None = None
        self._halt = threading.Event()
        self._seq = 0
        self._config(struct.pack(">BxH", NFQNL_CFG_CMD_BIND, 0), NFQA_CFG_CMD)
        self._config(struct.pack(">IB", 0xFFFF, NFQNL_COPY_META) + b"\0" * 3, NFQA_CFG_PARAMS)
        self._config(struct.pack(">I", 100_000), NFQA_CFG_QUEUE_MAXLEN)
        self._releaser = threading.Thread(target=self._release_loop, daemon=True, name=f"nfqueue-{queue}-out")

    def _message(self, msg_type: int, attrs: list[tuple[int, bytes]]) -> bytes:
        body = struct.pack(">BBH", socket.AF_UNSPEC, 0, self.queue)
        for kind, payload in attrs:
            attr = struct.pack("=HH", 4 + len(payload), kind) + payload
            body += attr + b"\0" * (-len(attr) % 4)
        self._seq += 1
        return struct.pack("=IHHII", 16 + len(body), (NFNL_SUBSYS_QUEUE << 8) | msg_type, NLM_F_REQUEST,
                           self._seq, 0) + body

    def _config(self, payload: bytes, kind: int):
        self.sock.send(self._message(NFQNL_MSG_CONFIG, [(kind, payload)]))

    def start(self):
        super().start()
        self._releaser.start()

    def run(self):
        try:
            while not self._halt.is_set():
                try:
                    data = self.sock.recv(1 << 20)
                except socket.timeout:
                    continue
                except OSError as e:  # ENOBUFS: packets we never saw; a later batch verdict takes them
                    if self._halt.is_set():
                        return
                    if e.errno == 105:
                        continue
                    raise
                now = time.monotonic()
                for packet_id in self._packet_ids(data):
                    with self.cond:
                        self.pending.append((now + self.delay_s, packet_id))
                        self.cond.notify()
        except BaseException as e:  # noqa: BLE001 - reported by stop()
            self.error = e

    @staticmethod
    def _packet_ids(data: bytes):
        pos = 0
        while pos + 16 <= len(data):
            length, msg_type = struct.unpack_from("=IH", data, pos)
            if length < 16:
                return
            if msg_type == NLMSG_ERROR:
                (code,) = struct.unpack_from("=i", data, pos + 16)
                # ENOENT: a batch verdict found nothing left up to its id (the kernel let
                # those packets go already): harmless.
                if code not in (0, -2):
                    raise OSError(-code, f"nfnetlink_queue refused a request (errno {-code})")
            elif msg_type == (NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET:
                a, end = pos + 20, pos + length
                while a + 4 <= end:
                    alen, kind = struct.unpack_from("=HH", data, a)
                    if alen < 4:
                        break
                    if kind & 0x7FFF == NFQA_PACKET_HDR:
                        yield struct.unpack_from(">I", data, a + 4)[0]
                    a += (alen + 3) & ~3
            pos += (length + 3) & ~3

    def _verdict_up_to(self, packet_id: int):
        self.sock.send(self._message(NFQNL_MSG_VERDICT_BATCH,
                                     [(NFQA_VERDICT_HDR, struct.pack(">II", NF_ACCEPT, packet_id))]))
        self.last_id = packet_id

    def _release_loop(self):
        try:
            while not self._halt.is_set():
                with self.cond:
                    while not self.pending and not self._halt.is_set():
                        self.cond.wait(0.2)
                    if self._halt.is_set():
                        return
                    due, _ = self.pending[0]
                wait = due - time.monotonic()
                if wait > 0:
                    self._halt.wait(wait)  # the delay being emulated, not a wait for an event
                # Every packet due by now, in one batch verdict (ids rise in queue order).
                now = time.monotonic()
                last = None
                with self.cond:
                    while self.pending and self.pending[0][0] <= now:
                        last = self.pending.popleft()[1]
                        self.delayed += 1
                if last is not None:
                    self._verdict_up_to(last)
        except BaseException as e:  # noqa: BLE001
            self.error = e

    def stop(self):
        """Accepts everything still held, unbinds and closes. Call after the rule that feeds
        the queue is gone."""
        self._halt.set()
        with self.cond:
            self.cond.notify_all()
        self._releaser.join(5)
        self.join(5)
        with self.cond:
            held = [pid for _, pid in self.pending]
            self.pending.clear()
        try:
            if held:
                self._verdict_up_to(max(held))
            self._config(struct.pack(">BxH", NFQNL_CFG_CMD_UNBIND, 0), NFQA_CFG_CMD)
        finally:
            self.sock.close()


class NetFaults:
    """One fault at a time on loopback TCP ports; `clear()` (or leaving the `with` block)
    removes whatever is in force. See the module's docstring."""

    def __init__(self):
        for tool in ("nft", "iptables-legacy", "ss"):
            if shutil.which(tool) is None:
                raise RuntimeError(f"{tool} not found: scripts/setup installs nftables and iptables")
        self.delayer: Delayer | None = None
        self.last_delayed = 0  # packets the last slow link held
        self.current: str | None = None
        self.clear()  # leftovers of an earlier run that died

    def __enter__(self) -> "NetFaults":
        return self

    def __exit__(self, *exc):
        self.clear()

    def _nft_table(self, rules: list[str]):
        chains = "\n".join(
            f"  chain {hook} {{\n    type filter hook {hook} priority filter; policy accept;\n"
            + "".join(f"    {r}\n" for r in rules) + "  }"
            for hook in ("input", "output"))
        _run("nft", "-f", "-", input=f"table inet {TABLE} {{\n{chains}\n}}\n")
        listing = _run("nft", "list", "table", "inet", TABLE).stdout
        assert listing.count("tcp ") >= 2 * len(rules), f"nftables did not take the rules:\n{listing}"

    def blackhole(self, ports: list[int]):
        self.clear()
        ps = _port_set(ports)
        self._nft_table([f"tcp dport {ps} drop", f"tcp sport {ps} drop"])
        self.current = f"blackhole {sorted(ports)}"

    def reset(self, ports: list[int]):
        self.clear()
        ps = _port_set(ports)
        # Not the resets themselves (they carry the port too), or none would arrive.
        self._nft_table([f"tcp dport {ps} tcp flags & rst == 0 reject with tcp reset",
                         f"tcp sport {ps} tcp flags & rst == 0 reject with tcp reset"])
        # The rules reset a connection only when its next packet passes, and only towards
        # that packet's sender: a client waiting for an answer would never hear of it.
        # So the connections open now are reset at both ends at once, as a middlebox that
        # drops its state does (ss -K: tcp_abort, a reset to the peer, ECONNABORTED here).
        for p in sorted(set(ports)):
            _run("ss", "-K", "-t", "state", "established", f"( sport = :{p} or dport = :{p} )")
        self.current = f"reset {sorted(ports)}"

    def slow(self, ports: list[int], delay_s: float = 0.1, loss: float = 0.01):
        """Each packet to or from `ports` held `delay_s` (on the way out: once per packet, like
        netem on lo) and dropped with probability `loss` (on the way in)."""
        self.clear()
        ps = _port_set(ports)
        per_mille = round(loss * 1000)
        # Loss only in the input hook, so that a packet is dropped at most once.
        rules = [f"tcp dport {ps} numgen random mod 1000 < {per_mille} drop",
                 f"tcp sport {ps} numgen random mod 1000 < {per_mille} drop"]
        chains = (f"  chain input {{\n    type filter hook input priority filter; policy accept;\n"
                  + "".join(f"    {r}\n" for r in rules) + "  }")
        _run("nft", "-f", "-", input=f"table inet {TABLE} {{\n{chains}\n}}\n")
        self.delayer = Delayer(QUEUE, delay_s)
        self.delayer.start()
        _run("iptables-legacy", "-w", "-N", CHAIN)
        csv = ",".join(str(p) for p in sorted(set(ports)))
        for direction in ("--dports", "--sports"):
            _run("iptables-legacy", "-w", "-A", CHAIN, "-p", "tcp", "-m", "multiport", direction, csv,
                 "-j", "NFQUEUE", "--queue-num", str(QUEUE), "--queue-bypass")
        _run("iptables-legacy", "-w", "-I", "OUTPUT", "1", "-j", CHAIN)
        self.current = f"slow {sorted(ports)} delay {delay_s}s loss {loss:.1%}"

    def clear(self):
        """Removes our nftables table, our iptables chain and the delayer, whatever is there.
        Raises if something of ours is left afterwards."""
        problems = []
        _run("nft", "delete", "table", "inet", TABLE, check=False)
        while _run("iptables-legacy", "-w", "-D", "OUTPUT", "-j", CHAIN, check=False).returncode == 0:
            pass
        _run("iptables-legacy", "-w", "-F", CHAIN, check=False)
        _run("iptables-legacy", "-w", "-X", CHAIN, check=False)
        if self.delayer is not None:
            delayer, self.delayer = self.delayer, None
            delayer.stop()
            self.last_delayed = delayer.delayed
            if delayer.error is not None:
                problems.append(f"the NFQUEUE delayer failed: {delayer.error!r}")
        if _run("nft", "list", "table", "inet", TABLE, check=False).returncode == 0:
            problems.append(f"nftables table {TABLE} still there")
        if _run("iptables-legacy", "-w", "-S", CHAIN, check=False).returncode == 0:
            problems.append(f"iptables chain {CHAIN} still there")
        self.current = None
        if problems:
            raise RuntimeError("; ".join(problems))


def sockets_on(ports: list[int]) -> list[str]:
    """Every TCP socket on this machine whose local port is one of `ports` (ss's lines)."""
    filt = " or ".join(f"sport = :{p}" for p in ports)
    out = _run("ss", "-tanpH", f"( {filt} )", check=False).stdout
    return [line for line in out.splitlines() if line.strip()]


def start_cluster(cluster) -> None:
    """cluster.start(), once more if a broker could not bind its port. These tests' ports lie
    in Linux's ephemeral range (32768-60999): a client connection anywhere on the machine may
    hold one as its local port for a moment, after start()'s check that the ports are free and
    before the broker binds them. Then the start is retried once those sockets are gone."""
    from harness.kafka import KafkaError
    from kafka_checks import wait_until

    ports = [p for i in range(cluster.brokers) for p in cluster._all_ports(i)]
    try:
        cluster.start()
        return
    except KafkaError as e:
        if "Address already in use" not in str(e):
            raise
        holders = sockets_on(ports)
    print(f"{cluster.name}: a port was taken while the brokers started; sockets on them: {holders}")
    wait_until(lambda: not sockets_on(ports), 120, f"no socket on ports {ports} (held: {holders})", interval=1.0)
    cluster.start()
