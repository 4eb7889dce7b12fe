"""`klink validate` / `klink run` on good and malformed configs: exit codes and
messages that name the key and its line:col. Needs no Kafka cluster.

    KLINK_BIN=build/klink /usr/bin/python3 -m pytest tests/integration/test_config_cli.py -q
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((REPO_ROOT / "config").glob("*.toml"))

LINK = """[[links]]
name = "dr"
[links.source]
bootstrap_servers = ["127.0.0.1:19092"]
[links.destination]
bootstrap_servers = ["127.0.0.1:29092"]
[links.topics]
include = ["orders"]
"""


def klink(binary: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(binary), *args], capture_output=True, text=True, timeout=30)


# (case id, file contents, key path, line, column, a phrase telling the user what to do)
MALFORMED = [
    ("unknown_top_level_key", 'colour = "red"\n' + LINK, "colour", 1, 1, "expected one of: log, admin, links"),
    ("unknown_nested_key", LINK + "[links.mirror]\nfetch_max_byte = 1048576\n",
     "links[0].mirror.fetch_max_byte", 10, 1, 'did you mean "fetch_max_bytes"?'),
    ("wrong_type", LINK + '[links.mirror]\nmax_in_flight = "5"\n',
     "links[0].mirror.max_in_flight", 10, 17, "expected an integer, got a string"),
    ("bad_enum", LINK + '[links.mirror]\nstart = "beginning"\n',
     "links[0].mirror.start", 10, 9, "expected earliest, latest or an RFC 3339 timestamp"),
    ("bad_regex", LINK.replace('include = ["orders"]', 'include = ["orders", "*payments"]'),
     "links[0].topics.include[1]", 8, 22, "invalid regular expression"),
    ("empty_bootstrap_list", LINK.replace('bootstrap_servers = ["127.0.0.1:29092"]', "bootstrap_servers = []"),
     "links[0].destination.bootstrap_servers", 6, 21, "must not be empty"),
    ("bad_host_port", LINK.replace('"127.0.0.1:19092"', '"127.0.0.1:http"'),
     "links[0].source.bootstrap_servers[0]", 4, 22, "is not a number in 1..65535"),
    ("duplicate_link_names", LINK + LINK, "links[1].name", 10, 8, "link names must be unique"),
    ("bad_link_name", LINK.replace('name = "dr"', 'name = "dr/eu"'),
     "links[0].name", 2, 8, "use 1..64 characters"),
    ("out_of_range", LINK + "[links.mirror]\nrequest_timeout_ms = 999\n",
     "links[0].mirror.request_timeout_ms", 10, 22, "expected 1000..600000"),
    ("missing_topics", LINK.replace('[links.topics]\ninclude = ["orders"]\n', ""),
     "links[0].topics", 1, 1, "missing required table"),
    ("missing_links", '[log]\nlevel = "info"\n', "links", 1, 1, "add at least one [[links]] table"),
    ("partition_bytes_above_fetch_bytes",
     LINK + "[links.mirror]\nfetch_max_bytes = 2097152\npartition_fetch_max_bytes = 4194304\n",
     "links[0].mirror.partition_fetch_max_bytes", 11, 29, "exceeds fetch_max_bytes"),
    ("buffer_too_small", LINK + "[links.mirror]\nmax_buffered_bytes = 1048576\n",
     "links[0].mirror.max_buffered_bytes", 10, 22, "is below partition_fetch_max_bytes"),
    ("ipv6_admin_without_brackets", '[admin]\nlisten = "::1:8083"\n' + LINK,
     "admin.listen", 2, 10, 'put it in brackets, e.g. "[::1]:8083"'),
]


@pytest.mark.parametrize("text,key,line,col,hint", [c[1:] for c in MALFORMED], ids=[c[0] for c in MALFORMED])
def test_validate_rejects_malformed_config(klink_bin, tmp_path, text, key, line, col, hint):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    result = klink(klink_bin, "validate", "--config", str(path))
    assert result.returncode == 2, result
    assert result.stdout == ""
    message = result.stderr.strip()
    assert message.startswith(f"{path}:{line}:{col}: {key}: "), message
    assert hint in message, message
    assert len(message.splitlines()) == 1, message


def test_validate_reports_toml_syntax_errors_with_position(klink_bin, tmp_path):
    path = tmp_path / "syntax.toml"
    path.write_text(LINK + "[links.mirror\n")
    result = klink(klink_bin, "validate", "--config", str(path))
    assert result.returncode == 2
    assert re.match(rf"^{re.escape(str(path))}:9:\d+: TOML syntax error: ", result.stderr), result.stderr


def test_validate_reports_missing_file(klink_bin, tmp_path):
    path = tmp_path / "nope.toml"
    result = klink(klink_bin, "validate", "--config", str(path))
    assert result.returncode == 2
    assert result.stderr.strip() == f"{path}: cannot read config file: No such file or directory"


@pytest.mark.parametrize("example", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_every_example_config_validates(klink_bin, example):
    result = klink(klink_bin, "validate", "--config", str(example))
    assert result.returncode == 0, result.stderr
    assert re.fullmatch(rf"{re.escape(str(example))}: ok \(\d+ links\)\n", result.stdout), result.stdout
    assert result.stderr == ""


def test_examples_are_present():
    names = {p.name for p in EXAMPLES}
    assert {"quickstart.toml", "dr-basic.toml", "json-logs.toml", "many-topics-filters.toml"} <= names


def test_run_with_invalid_config_exits_2_before_starting(klink_bin, tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("[log]\nlevel = 3\n")
    result = klink(klink_bin, "run", "--config", str(path))
    assert result.returncode == 2
    assert result.stderr.strip() == f"{path}:2:9: log.level: expected a string, got an integer"


@pytest.mark.parametrize("args", [[], ["validate"], ["frobnicate"], ["validate", "--config"], ["run", "--bogus", "x"]],
                         ids=["no_subcommand", "no_config", "unknown_subcommand", "config_without_value",
                              "unknown_option"])
def test_wrong_usage_exits_2(klink_bin, args):
    result = klink(klink_bin, *args)
    assert result.returncode == 2, result
    assert result.stderr != ""


def test_version(klink_bin):
    result = klink(klink_bin, "--version")
    assert result.returncode == 0
    assert result.stdout.startswith("klink ")


def test_help(klink_bin):
    result = klink(klink_bin, "--help")
    assert result.returncode == 0
    assert "validate" in result.stdout and "run" in result.stdout
