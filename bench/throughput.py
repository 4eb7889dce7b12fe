#!/usr/bin/python3
"""klink's throughput benchmark: one run, side by side, on this machine.

Measures, in this order and never at the same time:

  ceiling  Kafka's ProducerPerformance writing N x 1 KiB records (lz4, acks=all)
           into an empty 12-partition topic on the destination broker: what the
           destination can ingest from one producer process;
  klink    klink catching up on the same volume pre-loaded in the source;
  mm2      MirrorMaker 2 (dedicated mode, defaults plus the same topic filter)
           catching up on the same volume;

and prints MB/s, CPU-seconds per GB and peak RSS for each, with the ratios
klink / ceiling and klink / mm2. A benchmark, not a test: it never fails on a
missed target, it reports. See bench/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
sys.path.insert(0, str(REPO_ROOT / "tests"))

from harness.kafka import KafkaCluster, KafkaError, java_command  # noqa: E402

RECORD_SIZE = 1024
PARTITIONS = 12
DATA_TOPIC = "bench.data"
CEILING_TOPIC = "bench.ceiling"
MM2_TARGET_TOPIC = "src." + DATA_TOPIC  # DefaultReplicationPolicy: "<source alias>.<topic>"
MM2_HEAP = ["-Xmx1g"]
PRODUCER_PROPS = ["acks=all", "compression.type=lz4", "linger.ms=5", "batch.size=262144"]
POLL_INTERVAL = 0.1
MIB = 1 << 20
GIB = 1 << 30
RUN_DIR = REPO_ROOT / ".klink-run" / "bench"
PARTS = ("ceiling", "klink", "mm2")
TARGETS = {"ceiling_ratio": 0.85, "mm2_ratio": 2.0, "mm2_cpu_ratio": 0.20}


class BenchError(RuntimeError):
    """The benchmark could not run a part (not: a target was missed)."""


@dataclass
class Result:
    part: str
    label: str
    records: int
    mb_per_s: float | None = None
    cpu_seconds: float | None = None
    cpu_s_per_gb: float | None = None
    peak_rss_mib: float | None = None
    wall_seconds: float | None = None          # process start to last record (mirrors: incl. start-up)
    steady_seconds: float | None = None        # first record seen on the destination to last
    steady_cpu_s_per_gb: float | None = None   # CPU spent in the steady window only, per GB moved in it
    polled_mb_per_s: float | None = None       # ceiling only: timed by the mirrors' poller instead
    destination_records: int | None = None
    exit_code: int | None = None
    log: str | None = None
    notes: list[str] = field(default_factory=list)


# ----------------------------------------------------------------------------
# Processes: started directly (no shell in between) so that wait4 on the child
# reports the JVM's / klink's own CPU time and peak RSS.


def _die_with_parent():
    # A benchmark that is killed must not leave a 1 GiB JVM behind.
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class Child:
    """One measured child process; reaped with wait4 to get its rusage."""

    def __init__(self, name: str, cmd: list[str], log_path: Path, cwd: Path | None = None):
        self.name = name
        self.log_path = log_path
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "wb") as log:
            log.write(f"=== {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(cmd)}\n".encode())
            log.flush()
            self.started = time.monotonic()
            # Own session: Ctrl-C in the terminal reaches only this script, which
            # then stops the child in order (and still reaps it for its rusage).
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                         cwd=cwd, start_new_session=True, preexec_fn=_die_with_parent)
        self.pid = self.proc.pid
        self.exit_code: int | None = None
        self.rusage = None

    def poll(self) -> bool:
        """True while running; reaps (and records rusage) once it has exited."""
        if self.exit_code is not None:
            return False
        pid, status, rusage = os.wait4(self.pid, os.WNOHANG)
        if pid == 0:
            return True
        self._reaped(status, rusage)
        return False

    def _reaped(self, status: int, rusage):
        self.exit_code = os.waitstatus_to_exitcode(status)
        self.rusage = rusage
        self.proc.returncode = self.exit_code  # keep Popen from reaping a pid that is gone

    def wait(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while self.poll():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return True

    def stop(self, grace: float = 30.0):
        """SIGTERM, then SIGKILL after `grace` seconds; always reaps."""
        if not self.poll():
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGTERM)
        if not self.wait(grace):
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
            self.wait(30.0)

    def cpu_seconds(self) -> float:
        return self.rusage.ru_utime + self.rusage.ru_stime

    def peak_rss_mib(self) -> float:
        return self.rusage.ru_maxrss / 1024.0  # Linux reports KiB

    def live_cpu_seconds(self) -> float | None:
        """utime + stime of the running process (all threads), from /proc."""
        try:
            fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        ticks = os.sysconf("SC_CLK_TCK")
        return (int(fields[11]) + int(fields[12])) / ticks  # fields 14 and 15 of stat(5)


def describe_exit(code: int | None) -> str:
    if code is not None and code < 0:
        with contextlib.suppress(ValueError):
            return f"killed by {signal.Signals(-code).name}"
    return f"exit code {code}"


def tail(path: Path, lines: int = 40) -> str:
    try:
        data = path.read_bytes()[-64 * 1024:].decode(errors="replace")
    except OSError:
        return f"(no log at {path})"
    return "\n".join(data.splitlines()[-lines:])


# ----------------------------------------------------------------------------
# Offsets


class OffsetProbe:
    """Sums a topic's end offsets on one cluster (one ListOffsets per partition)."""

    def __init__(self, bootstrap: str):
        from confluent_kafka import Consumer
        self.consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "klink-bench-probe",
                                  "enable.auto.commit": False, "log_level": 3})

    def end_offsets(self, topic: str, partitions: int = PARTITIONS) -> int | None:
        """None while the topic (or one of its partitions) does not exist yet."""
        from confluent_kafka import KafkaException, TopicPartition
        total = 0
        for p in range(partitions):
            try:
                _, high = self.consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=5.0, cached=False)
            except KafkaException:
                return None
            if high is None or high < 0:
                return None
            total += high
        return total

    def close(self):
        self.consumer.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


# ----------------------------------------------------------------------------
# Parts


def producer_perf_cmd(cluster: KafkaCluster, topic: str, records: int) -> list[str]:
    return cluster.tool_command("producer-perf", [
        "--topic", topic, "--num-records", str(records), "--record-size", str(RECORD_SIZE),
        "--throughput", "-1", "--producer-props", f"bootstrap.servers={cluster.bootstrap}", *PRODUCER_PROPS])


class Window:
    """What a poller saw arrive on the destination: the first and the last poll
    that found records. The rate counts only what arrived between those two
    polls, so neither start-up nor the records that came before the first poll
    bias it; the error is about one poll interval at each end."""

    def __init__(self):
        self.first: tuple[float, int, float | None] | None = None  # (monotonic time, records, child CPU s)
        self.last: tuple[float, int, float | None] | None = None
        self.seen = 0

    def observe(self, now: float, count: int | None, cpu: float | None):
        if not count:
            return
        self.seen = count
        if self.first is None:
            self.first = (now, count, cpu)
        self.last = (now, count, cpu)

    @property
    def seconds(self) -> float | None:
        return self.last[0] - self.first[0] if self.first else None

    @property
    def moved(self) -> int:
        return self.last[1] - self.first[1] if self.first else 0

    def mb_per_s(self) -> float | None:
        seconds = self.seconds
        return self.moved * RECORD_SIZE / MIB / seconds if seconds and self.moved > 0 else None

    def cpu_s_per_gb(self) -> float | None:
        if not self.first or self.first[2] is None or self.last[2] is None or self.moved <= 0:
            return None
        return (self.last[2] - self.first[2]) / (self.moved * RECORD_SIZE / GIB)


_PERF_LINE = re.compile(r"(\d+) records sent, ([\d.]+) records/sec \(([\d.]+) MB/sec\)")


def run_producer_perf(cluster: KafkaCluster, topic: str, records: int, log: Path, timeout: float,
                      probe: OffsetProbe | None = None) -> tuple[Child, float, Window]:
    """Runs ProducerPerformance to completion; with `probe`, also times it the way the
    mirrors are timed (end offsets on the cluster it writes to)."""
    child = Child(f"producer-perf {topic}", producer_perf_cmd(cluster, topic, records), log)
    window = Window()
    deadline = child.started + timeout
    try:
        while child.poll() or (probe is not None and window.seen < records and child.exit_code == 0):
            if probe is not None:
                cpu = child.live_cpu_seconds()
                window.observe(time.monotonic(), probe.end_offsets(topic), cpu)
            if time.monotonic() > deadline:
                raise BenchError(f"ProducerPerformance into {topic} did not finish in {timeout:.0f}s; "
                                 f"log {log}:\n{tail(log)}")
            time.sleep(POLL_INTERVAL)
    finally:
        child.stop(5)
    if child.exit_code != 0:
        raise BenchError(f"ProducerPerformance into {topic}: {describe_exit(child.exit_code)}; log {log}:\n{tail(log)}")
    # Its last summary line covers the whole run; the periodic lines say "records sent, ... MB/sec" too.
    matches = _PERF_LINE.findall(log.read_text(errors="replace"))
    if not matches:
        raise BenchError(f"no summary line in ProducerPerformance output {log}:\n{tail(log)}")
    sent, _, mb_s = matches[-1]
    if int(sent) != records:
        raise BenchError(f"ProducerPerformance reports {sent} records sent, expected {records}; log {log}")
    return child, float(mb_s), window


def run_ceiling(dst: KafkaCluster, records: int, timeout: float) -> Result:
    dst.create_topic(CEILING_TOPIC, PARTITIONS, 1)
    log = RUN_DIR / "ceiling.log"
    probe = OffsetProbe(dst.bootstrap)
    try:
        child, mb_s, window = run_producer_perf(dst, CEILING_TOPIC, records, log, timeout, probe)
    finally:
        probe.close()
    gb = records * RECORD_SIZE / GIB
    result = Result("ceiling", "ProducerPerformance -> destination", records, mb_per_s=mb_s,
                    cpu_seconds=child.cpu_seconds(), cpu_s_per_gb=child.cpu_seconds() / gb,
                    peak_rss_mib=child.peak_rss_mib(), wall_seconds=time.monotonic() - child.started,
                    steady_seconds=window.seconds, steady_cpu_s_per_gb=window.cpu_s_per_gb(),
                    destination_records=window.seen, exit_code=child.exit_code, log=str(log))
    # The headline is ProducerPerformance's own figure; the same poller that times
    # the mirrors gives a second one, to see how far apart the two methods are.
    result.polled_mb_per_s = window.mb_per_s()
    return result


def preload_source(src: KafkaCluster, records: int, timeout: float) -> float:
    src.create_topic(DATA_TOPIC, PARTITIONS, 1)
    _, mb_s, _ = run_producer_perf(src, DATA_TOPIC, records, RUN_DIR / "preload.log", timeout)
    probe = OffsetProbe(src.bootstrap)
    try:
        total = probe.end_offsets(DATA_TOPIC)
    finally:
        probe.close()
    if total != records:
        raise BenchError(f"source {DATA_TOPIC} holds {total} records after the pre-load, expected {records}")
    return mb_s


def watch_mirror(part: str, label: str, child: Child, dst: KafkaCluster, topic: str, records: int,
                 timeout: float) -> Result:
    """Polls the destination until `topic` holds `records` records, then stops the child."""
    probe = OffsetProbe(dst.bootstrap)
    window = Window()
    deadline = child.started + timeout
    try:
        while window.seen < records:
            if not child.poll():
                raise BenchError(f"{part} exited early ({describe_exit(child.exit_code)}) with {window.seen}/{records} "
                                 f"records on the destination; log {child.log_path}:\n{tail(child.log_path)}")
            count = probe.end_offsets(topic)
            window.observe(time.monotonic(), count, child.live_cpu_seconds())
            if window.seen >= records:
                break
            if time.monotonic() > deadline:
                raise BenchError(f"{part}: only {window.seen}/{records} records in {topic} on the destination "
                                 f"after {timeout:.0f}s; log {child.log_path}:\n{tail(child.log_path)}")
            time.sleep(POLL_INTERVAL)
    except BaseException:
        child.stop(5)
        probe.close()
        raise
    child.stop(30.0)
    final = probe.end_offsets(topic)
    probe.close()

    gb = records * RECORD_SIZE / GIB
    result = Result(part, label, records, mb_per_s=window.mb_per_s(), cpu_seconds=child.cpu_seconds(),
                    cpu_s_per_gb=child.cpu_seconds() / gb, peak_rss_mib=child.peak_rss_mib(),
                    wall_seconds=window.last[0] - child.started, steady_seconds=window.seconds,
                    steady_cpu_s_per_gb=window.cpu_s_per_gb(), destination_records=final,
                    exit_code=child.exit_code, log=str(child.log_path))
    if result.mb_per_s is None:
        result.notes.append("all records arrived within one poll interval: too few records to time; "
                            "use more --records")
    if final != records:
        result.notes.append(f"WARNING: destination {topic} holds {final} records after the run, expected {records}")
    return result


def klink_config(src: KafkaCluster, dst: KafkaCluster, admin_port: int) -> str:
    def servers(c: KafkaCluster) -> str:
        return "[" + ", ".join(f'"{s}"' for s in c.bootstrap_servers) + "]"
    pattern = DATA_TOPIC.replace(".", "\\\\.")
    return f"""# Written by bench/throughput.py for one benchmark run.
[log]
level = "info"
format = "text"

[admin]
listen = "127.0.0.1:{admin_port}"

[[links]]
name = "bench"

[links.source]
bootstrap_servers = {servers(src)}

[links.destination]
bootstrap_servers = {servers(dst)}
replication_factor = 1

[links.topics]
include = ["{pattern}"]

[links.mirror]
start = "earliest"
"""


def run_klink(binary: Path, src: KafkaCluster, dst: KafkaCluster, records: int, timeout: float) -> Result:
    cfg = RUN_DIR / "klink.toml"
    cfg.write_text(klink_config(src, dst, free_port()))
    child = Child("klink", [str(binary), "run", "--config", str(cfg)], RUN_DIR / "klink.log", cwd=RUN_DIR)
    return watch_mirror("klink", "source -> destination", child, dst, DATA_TOPIC, records, timeout)


def mm2_properties(src: KafkaCluster, dst: KafkaCluster, extra: dict[str, str]) -> str:
    template = (BENCH_DIR / "mm2.properties.template").read_text()
    text = template.replace("@SOURCE@", src.bootstrap).replace("@DESTINATION@", dst.bootstrap).replace(
        "@TOPICS@", DATA_TOPIC.replace(".", "\\\\."))
    if extra:
        text += "\n# --mm2-set overrides\n" + "".join(f"{k} = {v}\n" for k, v in extra.items())
    return text


def run_mm2(src: KafkaCluster, dst: KafkaCluster, records: int, timeout: float, extra: dict[str, str]) -> Result:
    props = RUN_DIR / "mm2.properties"
    props.write_text(mm2_properties(src, dst, extra))
    # `--clusters dst`: run only the herder that writes to dst, as one deploys
    # MM2 next to its target; without it, MM2 also runs a heartbeat herder
    # against src that this one-way flow does not need.
    cmd = java_command(dst.version, "mirror-maker", [str(props), "--clusters", "dst"], heap=MM2_HEAP)
    child = Child("mm2", cmd, RUN_DIR / "mm2.log", cwd=RUN_DIR)
    result = watch_mirror("mm2", "MirrorMaker 2 dedicated", child, dst, MM2_TARGET_TOPIC, records, timeout)
    result.notes.append(f"MirrorMaker 2 JVM heap {' '.join(MM2_HEAP)}")
    return result


# ----------------------------------------------------------------------------
# Report


def fmt(value: float | None, width: int, digits: int) -> str:
    return ("-" if value is None else f"{value:.{digits}f}").rjust(width)


def ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def report(results: dict[str, Result], records: int, context: dict) -> tuple[str, dict]:
    lines = [f"klink throughput benchmark: {records:,} records x 1 KiB ({records * RECORD_SIZE / MIB:.1f} MiB), "
             f"lz4, {PARTITIONS} partitions, acks=all"]
    for part in PARTS:
        r = results.get(part)
        if r is None:
            continue
        line = (f"{part:<8} {r.label:<36} MB/s {fmt(r.mb_per_s, 7, 1)}   cpu-s/GB {fmt(r.cpu_s_per_gb, 6, 1)}   "
                f"peak RSS {fmt(r.peak_rss_mib, 5, 0)} MiB")
        if part == "ceiling" and r.polled_mb_per_s is not None:
            line += f"   (MB/s as polled on the destination {r.polled_mb_per_s:.1f})"
        if part != "ceiling" and r.wall_seconds is not None:
            line += f"   (wall {r.wall_seconds:.1f} s incl. start"
            if r.steady_cpu_s_per_gb is not None:
                line += f"; steady cpu-s/GB {r.steady_cpu_s_per_gb:.1f}"
            line += ")"
        lines.append(line)
    k, c, m = results.get("klink"), results.get("ceiling"), results.get("mm2")
    ratios = {}

    def verdict(value: float | None, target: float, at_least: bool) -> str:
        if value is None:
            return "n/a"
        return "met" if (value >= target if at_least else value <= target) else "missed"

    def add(key: str, title: str, value: float | None, target: float, at_least: bool):
        ratios[key] = value
        lines.append(f"{title} {fmt(value, 5, 2)}   (target {'>=' if at_least else '<='} {target:.2f}: "
                     f"{verdict(value, target, at_least)})")

    if k and c:
        add("klink_over_ceiling_throughput", "klink / ceiling   throughput",
            ratio(k.mb_per_s, c.mb_per_s), TARGETS["ceiling_ratio"], True)
    if k and m:
        add("klink_over_mm2_throughput", "klink / mm2       throughput",
            ratio(k.mb_per_s, m.mb_per_s), TARGETS["mm2_ratio"], True)
        add("klink_over_mm2_cpu_s_per_gb", "klink / mm2       cpu-s/GB  ",
            ratio(k.cpu_s_per_gb, m.cpu_s_per_gb), TARGETS["mm2_cpu_ratio"], False)
    for r in results.values():
        for note in r.notes:
            lines.append(f"note ({r.part}): {note}")
    lines.append(f"machine: {os.cpu_count()} CPUs, load average {context['load_before']} before, "
                 f"{load_average()} after (other work on the machine skews every figure)")
    doc = {"records": records, "record_size": RECORD_SIZE, "partitions": PARTITIONS,
           "producer_props": PRODUCER_PROPS, "results": {p: asdict(r) for p, r in results.items()},
           "ratios": ratios, "targets": TARGETS, **context, "load_after": load_average()}
    return "\n".join(lines), doc


# ----------------------------------------------------------------------------
# Main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="bench/run", description=__doc__.split("\n\n")[0])
    p.add_argument("--records", type=int, default=1_000_000, help="records of 1 KiB per part (default 1,000,000)")
    p.add_argument("--only", default=",".join(PARTS),
                   help="comma-separated parts to run: ceiling, klink, mm2 (default: all)")
    p.add_argument("--klink", type=Path, default=REPO_ROOT / "build" / "klink", help="klink binary (default build/klink)")
    p.add_argument("--ports", default="39092,49092", help="source,destination broker ports (default 39092,49092)")
    p.add_argument("--timeout", type=float, default=900.0, help="seconds allowed per part (default 900)")
    p.add_argument("--mm2-set", action="append", default=[], metavar="KEY=VALUE",
                   help="extra MirrorMaker 2 property, for experiments (repeatable; off the default comparison)")
    p.add_argument("--keep", action="store_true", help="leave both clusters running at the end")
    args = p.parse_args(argv)
    args.klink = args.klink.resolve()  # klink runs with its work folder as cwd
    args.parts = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = [s for s in args.parts if s not in PARTS]
    if unknown or not args.parts:
        p.error(f"--only takes a comma-separated subset of {', '.join(PARTS)}; got {args.only!r}")
    try:
        args.src_port, args.dst_port = (int(x) for x in args.ports.split(","))
    except ValueError:
        p.error("--ports expects two ports, e.g. 39092,49092")
    if args.records <= 0:
        p.error("--records must be positive")
    args.mm2_extra = {}
    for item in args.mm2_set:
        key, sep, value = item.partition("=")
        if not sep:
            p.error(f"--mm2-set expects KEY=VALUE, got {item!r}")
        args.mm2_extra[key.strip()] = value.strip()
    return args


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if "klink" in args.parts and not os.access(args.klink, os.X_OK):
        print(f"bench: no klink binary at {args.klink}; run scripts/build first (or pass --klink PATH)",
              file=sys.stderr)
        return 2
    # Explicitly: a shell's background job inherits SIGINT ignored.
    signal.signal(signal.SIGINT, _raise_interrupt)
    signal.signal(signal.SIGTERM, _raise_interrupt)
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    context = {"load_before": load_average(), "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
               "parts": args.parts, "mm2_heap": MM2_HEAP, "mm2_overrides": args.mm2_extra}
    src = KafkaCluster("bench-source", base_port=args.src_port, daemon=args.keep)
    dst = KafkaCluster("bench-destination", base_port=args.dst_port, daemon=args.keep)
    results: dict[str, Result] = {}
    status = 0
    try:
        print(f"bench: starting source ({src.bootstrap}) and destination ({dst.bootstrap}) brokers", file=sys.stderr)
        src.start()
        dst.start()
        if "ceiling" in args.parts:
            print(f"bench: ceiling: ProducerPerformance -> destination {CEILING_TOPIC}", file=sys.stderr)
            results["ceiling"] = run_ceiling(dst, args.records, args.timeout)
        if "klink" in args.parts or "mm2" in args.parts:
            print(f"bench: pre-loading {args.records:,} records into source {DATA_TOPIC}", file=sys.stderr)
            context["preload_mb_per_s"] = preload_source(src, args.records, args.timeout)
        for part in ("klink", "mm2"):
            if part not in args.parts:
                continue
            print(f"bench: {part}: catching up on source {DATA_TOPIC}", file=sys.stderr)
            try:
                if part == "klink":
                    results[part] = run_klink(args.klink, src, dst, args.records, args.timeout)
                else:
                    results[part] = run_mm2(src, dst, args.records, args.timeout, args.mm2_extra)
            except (BenchError, OSError) as e:
                # One failing mirror must not hide the other's figures.
                print(f"bench: {part} failed: {e}", file=sys.stderr)
                results[part] = Result(part, "FAILED", args.records, notes=[str(e).splitlines()[0]])
                status = 1
    except (BenchError, KafkaError, OSError) as e:
        print(f"bench: {e}", file=sys.stderr)
        status = 1
    except KeyboardInterrupt:
        print("bench: interrupted; stopping brokers", file=sys.stderr)
        status = 130
    finally:
        # A second Ctrl-C must not cut the brokers' shutdown short (it is bounded).
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if args.keep:
            print(f"bench: --keep: brokers left running ({src.bootstrap} / {dst.bootstrap}); stop them with "
                  f"scripts/kafka stop --name bench-source && scripts/kafka stop --name bench-destination",
                  file=sys.stderr)
        else:
            for cluster in (src, dst):
                with contextlib.suppress(Exception):
                    cluster.stop()
    if results:
        text, doc = report(results, args.records, context)
        doc["exit_status"] = status
        print(text)
        (RUN_DIR / "last.json").write_text(json.dumps(doc, indent=2) + "\n")
        print(f"(also written to {RUN_DIR / 'last.json'}; logs in {RUN_DIR})", file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
