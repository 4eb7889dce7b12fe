"""klink's own Kafka client (kafka) over TLS, mTLS and SASL against a real 4.1.1 broker.

Drives build/kafka_probe (tools/kafka_probe): it opens a connection with the given
security options (TCP, TLS, ApiVersions, SASL), asks for Metadata, prints one line per
round and exits 0 ok, 1 network, 2 tls, 3 authentication. The harness's secured
listeners (tests/harness/README.md) on 26610:

- SASL_TLS   SASL_SSL, SCRAM-SHA-512 / SCRAM-SHA-256 / PLAIN
- MTLS       SSL, client certificate required
- SASL_CLEAR SASL_PLAINTEXT, PLAIN / SCRAM-SHA-256, connections.max.reauth.ms = 4 s (KIP-368)
- TLS        SSL, its certificate swapped by the tests (expired, wrong host, untrusted CA)

No probe output may contain a password (checked on every run).

Run: /usr/bin/python3 -m pytest tests/integration/test_kafka_client_security.py -x -q
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT / "tests"))

from harness.certs import generate_certs  # noqa: E402
from harness.kafka import KafkaCluster, SecureListener  # noqa: E402
from kafka_checks import wait_until  # noqa: E402

RUN_DIR = REPO_ROOT / ".klink-run"
PORT = 26610
USER, PASSWORD = "klink", "klink-secret"
WRONG_PASSWORD = "wr0ng-pa55word"
REAUTH_MS = 4000
PROBE = Path(os.environ.get("KLINK_PROBE_BIN", REPO_ROOT / "build" / "kafka_probe"))

OK, NETWORK, TLS, AUTHENTICATION = 0, 1, 2, 3


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    return generate_certs(tmp_path_factory.mktemp("certs"))


@pytest.fixture(scope="module")
def cluster(certs):
    if not PROBE.exists():
        pytest.fail(f"{PROBE} is missing: build the kafka_probe target (or set KLINK_PROBE_BIN)")
    c = KafkaCluster("pytest-client-security", base_port=PORT, workdir=RUN_DIR / "pytest-client-security",
                     secure_listeners=[
                         SecureListener("SASL_SSL", ["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"], certs=certs,
                                        name="SASL_TLS"),
                         SecureListener("SSL", certs=certs, client_auth="required", name="MTLS"),
                         SecureListener("SASL_PLAINTEXT", ["PLAIN", "SCRAM-SHA-256"], name="SASL_CLEAR",
                                        reauth_ms=REAUTH_MS),
                         SecureListener("SSL", certs=certs, name="TLS"),
                     ])
    c.start()
    yield c
    c.stop()


@pytest.fixture()
def password_file(tmp_path):
    path = tmp_path / "password"
    path.write_text(PASSWORD + "\n")
    return path


def probe(*args, env: dict | None = None, timeout: float = 60.0) -> tuple[int, str]:
    proc = subprocess.run([str(PROBE), "--timeout-ms", "8000", *map(str, args)], capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, **(env or {})})
    out = proc.stdout + proc.stderr
    for secret in (PASSWORD, WRONG_PASSWORD):
        assert secret not in out, "a password leaked into the client's output"
    return proc.returncode, out


def tls_args(certs, ca=None):
    return ["--tls", "--ca-file", ca or certs.ca_cert]


def sasl_args(mechanism, password_file):
    return ["--sasl-mechanism", mechanism, "--username", USER, "--password-file", password_file]


def assert_ok(result):
    status, out = result
    assert status == OK, out
    assert out.startswith("ok round=1 connection=1 brokers=1"), out


def assert_fails(result, status, *texts):
    got, out = result
    assert got == status, out
    for text in texts:
        assert text in out, out
    return out


def assert_fails_after_swap(args, status, text, timeout: float = 15.0):
    """Like assert_fails(probe(*args), ...), for the first connections after a certificate
    swap: the broker may hand a new connection the previous certificate for a moment (the
    harness saw the new one on one connection), so the probe is repeated until it fails
    with `text`; any other outcome after `timeout` fails the test."""
    deadline = time.monotonic() + timeout
    while True:
        got, out = probe(*args)
        if got == status and text in out:
            return out
        if time.monotonic() > deadline:
            return assert_fails((got, out), status, text)
        time.sleep(0.5)


def assert_ok_after_swap(args, timeout: float = 15.0):
    """Like assert_ok(probe(*args)), for the first connections after the good certificate is
    put back: the broker may still hand a new connection the certificate it had before."""
    wait_until(lambda: probe(*args)[0] == OK, timeout, "a connection with the good certificate back",
               interval=0.5)
    assert_ok(probe(*args))


# ----------------------------------------------------------------------------
# SASL


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"])
def test_sasl_ssl(cluster, certs, password_file, mechanism):
    assert_ok(probe("--bootstrap", cluster.secure_bootstrap_for("SASL_TLS"), *tls_args(certs),
                    *sasl_args(mechanism, password_file)))


def test_sasl_ssl_password_from_environment(cluster, certs):
    assert_ok(probe("--bootstrap", cluster.secure_bootstrap_for("SASL_TLS"), *tls_args(certs),
                    "--sasl-mechanism", "SCRAM-SHA-512", "--username", USER,
                    "--password-env", "KLINK_PROBE_PASSWORD", env={"KLINK_PROBE_PASSWORD": PASSWORD}))


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256"])
def test_sasl_plaintext(cluster, password_file, mechanism):
    assert_ok(probe("--bootstrap", cluster.secure_bootstrap_for("SASL_CLEAR"), *sasl_args(mechanism, password_file)))


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-512", "PLAIN"])
def test_wrong_password_then_rewritten_file(cluster, certs, password_file, mechanism):
    password_file.write_text(WRONG_PASSWORD + "\n")
    args = ["--bootstrap", cluster.secure_bootstrap_for("SASL_TLS"), *tls_args(certs),
            *sasl_args(mechanism, password_file)]
    assert_fails(probe(*args), AUTHENTICATION, "code=authentication", "SASL_AUTHENTICATION_FAILED",
                 "Authentication failed")
    password_file.write_text(PASSWORD + "\n")  # fixed without restarting anything
    assert_ok(probe(*args))


def test_unknown_user(cluster, certs, password_file):
    assert_fails(probe("--bootstrap", cluster.secure_bootstrap_for("SASL_TLS"), *tls_args(certs),
                       "--sasl-mechanism", "SCRAM-SHA-512", "--username", "nobody", "--password-file", password_file),
                 AUTHENTICATION, "code=authentication")


def test_mechanism_not_enabled_names_the_enabled_ones(cluster, password_file):
    assert_fails(probe("--bootstrap", cluster.secure_bootstrap_for("SASL_CLEAR"),
                       *sasl_args("SCRAM-SHA-512", password_file)),
                 AUTHENTICATION, "does not enable SCRAM-SHA-512", "PLAIN", "SCRAM-SHA-256")


def test_missing_password_file(cluster, certs, tmp_path):
    assert_fails(probe("--bootstrap", cluster.secure_bootstrap_for("SASL_TLS"), *tls_args(certs),
                       *sasl_args("SCRAM-SHA-512", tmp_path / "absent")),
                 AUTHENTICATION, "absent", "No such file")


def test_session_lifetime_renews_the_connection(cluster, password_file):
    """KIP-368: with connections.max.reauth.ms = 4 s the client moves to a fresh, newly
    authenticated connection before the broker would drop the old one; no request fails."""
    status, out = probe("--bootstrap", cluster.secure_bootstrap_for("SASL_CLEAR"), *sasl_args("PLAIN", password_file),
                        "--duration-ms", "11000", "--interval-ms", "200")
    lines = out.splitlines()
    assert status == OK, out
    assert all(line.startswith("ok ") for line in lines), out
    first = lines[0].split("session_expiry_ms=")[1]
    assert 0 < int(first) <= REAUTH_MS, out
    connections = {line.split("connection=")[1].split()[0] for line in lines}
    assert len(connections) >= 3, out


# ----------------------------------------------------------------------------
# TLS


def test_mtls(cluster, certs):
    assert_ok(probe("--bootstrap", cluster.secure_bootstrap_for("MTLS"), *tls_args(certs),
                    "--cert-file", certs.client_cert, "--key-file", certs.client_key))


def test_mtls_without_client_certificate(cluster, certs):
    # TLS 1.3: the refusal arrives as an alert after the client's side of the handshake.
    assert_fails(probe("--bootstrap", cluster.secure_bootstrap_for("MTLS"), *tls_args(certs)), TLS, "code=tls")


def test_mtls_with_untrusted_client_certificate(cluster, certs):
    assert_fails(probe("--bootstrap", cluster.secure_bootstrap_for("MTLS"), *tls_args(certs),
                       "--cert-file", certs.untrusted_client_cert, "--key-file", certs.untrusted_client_key),
                 TLS, "code=tls")


def test_client_key_not_matching_certificate(cluster, certs):
    assert_fails(probe("--bootstrap", cluster.secure_bootstrap_for("MTLS"), *tls_args(certs),
                       "--cert-file", certs.client_cert, "--key-file", certs.untrusted_client_key),
                 TLS, "does not match")


def test_wrong_ca(cluster, certs):
    # The brokers send their CA along with their certificate, hence "self-signed ... in chain".
    assert_fails(probe("--bootstrap", cluster.secure_bootstrap_for("TLS"), *tls_args(certs, ca=certs.other_ca_cert)),
                 TLS, "certificate verify failed: self-signed certificate in certificate chain")


def test_system_trust_store_does_not_know_the_test_ca(cluster):
    assert_fails(probe("--bootstrap", cluster.secure_bootstrap_for("TLS"), "--tls"),
                 TLS, "certificate verify failed")


def test_host_name_as_dns_name(cluster, certs):
    port = cluster.secure_port(0, "TLS")
    assert_ok(probe("--bootstrap", f"localhost:{port}", *tls_args(certs)))


def test_tls_to_a_plaintext_listener(cluster, certs):
    assert_fails(probe("--bootstrap", cluster.bootstrap, *tls_args(certs)), TLS, "code=tls", "TLS handshake")


def test_server_certificate_swaps(cluster, certs):
    """Each bad certificate is named by its cause; the good one back (no restart) connects again."""
    args = ["--bootstrap", cluster.secure_bootstrap_for("TLS"), *tls_args(certs)]
    assert_ok(probe(*args))
    try:
        cluster.replace_server_cert("expired", listener="TLS")
        assert_fails_after_swap(args, TLS, "certificate verify failed: certificate has expired")

        cluster.replace_server_cert("wrong-host", listener="TLS")
        assert_fails_after_swap(args, TLS, "certificate verify failed: IP address mismatch")
        port = cluster.secure_port(0, "TLS")
        assert_fails(probe("--bootstrap", f"localhost:{port}", *tls_args(certs)), TLS,
                     "certificate verify failed: hostname mismatch")
        assert_ok(probe(*args, "--no-verify-hostname"))

        cluster.replace_server_cert("untrusted", listener="TLS")
        assert_fails_after_swap(args, TLS, "certificate verify failed: self-signed certificate in certificate chain")
    finally:
        cluster.replace_server_cert("good", listener="TLS")
    assert_ok_after_swap(args)
