"""The harness's secured listeners, checked with clients that are not klink's.

librdkafka (Debian's python3-confluent-kafka) and Kafka's Java client connect to brokers the
harness started with SSL, mTLS, SASL_SSL and SASL_PLAINTEXT listeners, using certificates
from harness.certs. Two clusters:

- 4.1.1 on 25010: SASL_SSL (SCRAM-SHA-512, SCRAM-SHA-256, PLAIN), SSL with client auth
  required, SASL_PLAINTEXT (PLAIN), and an SSL listener whose certificate the tests swap.
- 3.9.1 on 25110: SASL_SSL with SCRAM-SHA-512, for librdkafka's SCRAM: librdkafka < 2.6.1
  builds a SCRAM final message that 4.x brokers reject (see tests/harness/README.md), so
  4.1.1's SCRAM is checked with Kafka's Java client instead.

Run: /usr/bin/python3 -m pytest tests/integration/test_harness_security.py -x -q
"""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT / "tests"))

from harness.certs import SERVER_KINDS, generate_certs  # noqa: E402
from harness.kafka import OLD_VERSION, KafkaCluster, SecureListener  # noqa: E402

ck = pytest.importorskip("confluent_kafka")

RUN_DIR = REPO_ROOT / ".klink-run"
PORT = 25010
OLD_PORT = 25110
USER, PASSWORD = "klink", "klink-secret"
REAUTH_MS = 600_000

# librdkafka error codes
AUTHENTICATION = ck.KafkaError._AUTHENTICATION
SSL = ck.KafkaError._SSL
TRANSPORT = ck.KafkaError._TRANSPORT
# librdkafka reports a failed verification as _SSL or, when OpenSSL's error surfaces on a
# read, as _TRANSPORT (same "certificate verify failed" text).
TLS_FAILURE = (SSL, TRANSPORT)


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    return generate_certs(tmp_path_factory.mktemp("certs"))


@pytest.fixture(scope="module")
def cluster(certs):
    c = KafkaCluster("pytest-security", base_port=PORT, workdir=RUN_DIR / "pytest-security", secure_listeners=[
        SecureListener("SASL_SSL", ["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"], certs=certs, name="SASL_TLS"),
        SecureListener("SSL", certs=certs, client_auth="required", name="MTLS"),
        SecureListener("SASL_PLAINTEXT", ["PLAIN"], name="SASL_CLEAR", reauth_ms=REAUTH_MS),
        SecureListener("SSL", certs=certs, name="TLS"),
    ])
    c.start()
    c.create_topic("sec")
    yield c
    c.stop()


@pytest.fixture(scope="module")
def old_cluster(certs):
    c = KafkaCluster("pytest-security-old", base_port=OLD_PORT, version=OLD_VERSION,
                     workdir=RUN_DIR / "pytest-security-old",
                     secure_listener=SecureListener("SASL_SSL", ["SCRAM-SHA-512"], certs=certs))
    c.start()
    c.create_topic("sec")
    yield c
    c.stop()


# ----------------------------------------------------------------------------
# librdkafka helpers


def tls_conf(certs, ca=None, verify_host=True) -> dict:
    return {"ssl.ca.location": str(ca or certs.ca_cert),
            "ssl.endpoint.identification.algorithm": "https" if verify_host else "none"}


def sasl_conf(mechanism: str, password: str, user: str = USER) -> dict:
    return {"sasl.mechanism": mechanism, "sasl.username": user, "sasl.password": password}


def first_error(conf: dict, timeout: float = 15.0):
    """Connects a producer; returns None once metadata arrives, else the first error it reports."""
    errors = []
    p = ck.Producer({**conf, "error_cb": errors.append, "reconnect.backoff.ms": 200})
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            p.poll(0.2)
            if errors:
                return errors[0]
            try:
                p.list_topics(timeout=0.5)
                return None
            except ck.KafkaException:
                pass
        return errors[0] if errors else ck.KafkaError(ck.KafkaError._TIMED_OUT, "no metadata, no error")
    finally:
        p.flush(0)


def assert_connects(conf: dict):
    err = first_error(conf)
    assert err is None, f"expected to connect, got {err}"


def assert_fails(conf: dict, codes: tuple[int, ...], text: str | None = None) -> str:
    err = first_error(conf)
    assert err is not None, "connected, expected a failure"
    assert err.code() in codes, f"unexpected error {err}"
    if text is not None:
        assert text in err.str(), err.str()
    return err.str()


def roundtrip(conf: dict, topic: str, n: int = 20):
    """Produces n records over `conf` and reads them back over it."""
    tag = uuid.uuid4().hex
    p = ck.Producer({**conf, "message.timeout.ms": 20000})
    for i in range(n):
        p.produce(topic, key=tag.encode(), value=f"{tag}-{i}".encode())
    assert p.flush(30) == 0, "records not delivered"
    c = ck.Consumer({**conf, "group.id": f"harness-security-{tag}", "enable.auto.commit": False,
                     "auto.offset.reset": "earliest"})
    try:
        c.assign([ck.TopicPartition(topic, 0, ck.OFFSET_BEGINNING)])
        got = []
        deadline = time.monotonic() + 30
        while len(got) < n and time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is None:
                continue
            assert not m.error(), m.error()
            if m.key() == tag.encode():
                got.append(m.value().decode())
        assert got == [f"{tag}-{i}" for i in range(n)]
    finally:
        c.close()


# ----------------------------------------------------------------------------
# certificates


def test_certs_are_what_they_claim(certs):
    def verify(cert, ca, *extra):
        return subprocess.run(["openssl", "verify", "-CAfile", str(ca), *extra, str(cert)],
                              capture_output=True, text=True)

    assert verify(certs.server_cert(), certs.ca_cert, "-verify_ip", "127.0.0.1").returncode == 0
    assert verify(certs.server_cert(), certs.ca_cert, "-verify_hostname", "localhost").returncode == 0
    assert verify(certs.client_cert, certs.ca_cert).returncode == 0
    expired = verify(certs.server_cert("expired"), certs.ca_cert)
    assert expired.returncode != 0 and "certificate has expired" in expired.stdout + expired.stderr
    wrong = verify(certs.server_cert("wrong-host"), certs.ca_cert, "-verify_ip", "127.0.0.1")
    assert wrong.returncode != 0 and "IP address mismatch" in wrong.stdout + wrong.stderr
    assert verify(certs.server_cert("wrong-host"), certs.ca_cert).returncode == 0  # only the name is wrong
    assert verify(certs.server_cert("untrusted"), certs.ca_cert).returncode != 0
    assert verify(certs.server_cert("untrusted"), certs.other_ca_cert).returncode == 0
    assert verify(certs.untrusted_client_cert, certs.ca_cert).returncode != 0
    for kind in SERVER_KINDS:
        text = certs.server_keystore(kind).read_text()
        assert text.startswith("-----BEGIN PRIVATE KEY-----") and text.count("BEGIN CERTIFICATE") == 2


def test_layout(cluster):
    assert cluster.secure_bootstrap == f"127.0.0.1:{PORT + 10}"
    assert [cluster.secure_port(0, k) for k in range(4)] == [PORT + 10, PORT + 20, PORT + 30, PORT + 40]
    assert cluster.secure_bootstrap_for("mtls") == f"127.0.0.1:{PORT + 20}"
    assert cluster.bootstrap == f"127.0.0.1:{PORT}"  # PLAINTEXT stays where it was
    loaded = KafkaCluster.load(cluster.workdir)
    assert [lst.name for lst in loaded.secure_listeners] == ["SASL_TLS", "MTLS", "SASL_CLEAR", "TLS"]
    assert loaded.secure_bootstrap_for("TLS") == cluster.secure_bootstrap_for("TLS")
    assert loaded.password(USER, "SCRAM-SHA-256") == PASSWORD


# ----------------------------------------------------------------------------
# SASL


def test_sasl_ssl_scram_sha_512_produce_consume_librdkafka(old_cluster, certs):
    conf = {"bootstrap.servers": old_cluster.secure_bootstrap, "security.protocol": "SASL_SSL",
            **tls_conf(certs), **sasl_conf("SCRAM-SHA-512", PASSWORD)}
    roundtrip(conf, "sec")


def test_sasl_ssl_scram_wrong_password_librdkafka(old_cluster, certs):
    conf = {"bootstrap.servers": old_cluster.secure_bootstrap, "security.protocol": "SASL_SSL",
            **tls_conf(certs), **sasl_conf("SCRAM-SHA-512", "not-the-password")}
    assert_fails(conf, (AUTHENTICATION,), "Authentication failed")


def test_scram_password_change_applies_to_new_connections(old_cluster, certs):
    base = {"bootstrap.servers": old_cluster.secure_bootstrap, "security.protocol": "SASL_SSL", **tls_conf(certs)}
    old_cluster.set_scram_password(USER, "rotated-secret")
    try:
        assert old_cluster.password(USER, "SCRAM-SHA-512") == "rotated-secret"
        assert_fails({**base, **sasl_conf("SCRAM-SHA-512", PASSWORD)}, (AUTHENTICATION,))
        roundtrip({**base, **sasl_conf("SCRAM-SHA-512", "rotated-secret")}, "sec", n=5)
        # A user added at runtime works too.
        old_cluster.set_scram_password("second", "second-secret")
        assert_connects({**base, **sasl_conf("SCRAM-SHA-512", "second-secret", user="second")})
    finally:
        old_cluster.set_scram_password(USER, PASSWORD)


def _java_client_config(tmp_path, certs, mechanism, user, password) -> Path:
    module = "scram.ScramLoginModule" if mechanism.startswith("SCRAM") else "plain.PlainLoginModule"
    path = tmp_path / f"client-{mechanism}-{uuid.uuid4().hex[:6]}.properties"
    path.write_text(
        "security.protocol=SASL_SSL\n"
        f"sasl.mechanism={mechanism}\n"
        f"sasl.jaas.config=org.apache.kafka.common.security.{module} required "
        f'username="{user}" password="{password}";\n'
        "ssl.truststore.type=PEM\n"
        f"ssl.truststore.location={certs.ca_cert}\n")
    return path


@pytest.mark.parametrize("mechanism,password,ok", [
    ("SCRAM-SHA-512", PASSWORD, True),
    ("SCRAM-SHA-256", PASSWORD, True),
    ("SCRAM-SHA-512", "not-the-password", False),
])
def test_sasl_ssl_scram_kafka_4_java_client(cluster, certs, tmp_path, mechanism, password, ok):
    props = _java_client_config(tmp_path, certs, mechanism, USER, password)
    proc = cluster.run_tool("topics", ["--bootstrap-server", cluster.secure_bootstrap_for("SASL_TLS"),
                                       "--command-config", str(props), "--list"], check=False, timeout=120)
    if ok:
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert "sec" in proc.stdout.split()
    else:
        assert proc.returncode != 0
        assert "SaslAuthenticationException" in proc.stdout + proc.stderr


def test_sasl_ssl_plain_librdkafka(cluster, certs):
    base = {"bootstrap.servers": cluster.secure_bootstrap_for("SASL_TLS"), "security.protocol": "SASL_SSL",
            **tls_conf(certs)}
    roundtrip({**base, **sasl_conf("PLAIN", PASSWORD)}, "sec", n=5)
    assert_fails({**base, **sasl_conf("PLAIN", "nope")}, (AUTHENTICATION,))


def test_sasl_plaintext_plain(cluster):
    base = {"bootstrap.servers": cluster.secure_bootstrap_for("SASL_CLEAR"), "security.protocol": "SASL_PLAINTEXT"}
    roundtrip({**base, **sasl_conf("PLAIN", PASSWORD)}, "sec")
    assert_fails({**base, **sasl_conf("PLAIN", "nope")}, (AUTHENTICATION,), "Authentication failed")
    # The listener offers only PLAIN.
    assert_fails({**base, **sasl_conf("SCRAM-SHA-512", PASSWORD)}, (AUTHENTICATION,))


def test_reauth_ms_sets_the_session_lifetime(cluster):
    # KIP-368: the broker tells the client when it must re-authenticate.
    ok = cluster.sasl_login(USER, cluster.password(USER, "PLAIN", "SASL_CLEAR"), "PLAIN", "SASL_CLEAR")
    assert ok.error == 0 and 0 < ok.session_lifetime_ms <= REAUTH_MS
    assert cluster.sasl_login(USER, "nope", "PLAIN", "SASL_CLEAR").error == 58  # SASL_AUTHENTICATION_FAILED
    assert cluster.sasl_login(USER, PASSWORD, "PLAIN", "SASL_TLS").session_lifetime_ms == 0


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-256", "SCRAM-SHA-512", "PLAIN"])
def test_harness_sasl_login_kafka_4(cluster, mechanism):
    # The harness's own SASL probe (used to wait for password changes) against 4.1.1 over TLS.
    assert cluster.sasl_login(USER, PASSWORD, mechanism, "SASL_TLS").error == 0
    bad = cluster.sasl_login(USER, "nope", mechanism, "SASL_TLS")
    assert bad.error == 58 and "Authentication failed" in bad.message


# ----------------------------------------------------------------------------
# TLS and mTLS


def test_mtls_with_client_certificate(cluster, certs):
    conf = {"bootstrap.servers": cluster.secure_bootstrap_for("MTLS"), "security.protocol": "SSL",
            **tls_conf(certs), "ssl.certificate.location": str(certs.client_cert),
            "ssl.key.location": str(certs.client_key)}
    roundtrip(conf, "sec")


def test_mtls_without_client_certificate_fails(cluster, certs):
    conf = {"bootstrap.servers": cluster.secure_bootstrap_for("MTLS"), "security.protocol": "SSL", **tls_conf(certs)}
    # TLS 1.3: the broker's refusal comes as an alert after the client's handshake finished.
    assert_fails(conf, TLS_FAILURE)


def test_mtls_with_untrusted_client_certificate_fails(cluster, certs):
    conf = {"bootstrap.servers": cluster.secure_bootstrap_for("MTLS"), "security.protocol": "SSL",
            **tls_conf(certs), "ssl.certificate.location": str(certs.untrusted_client_cert),
            "ssl.key.location": str(certs.untrusted_client_key)}
    assert_fails(conf, TLS_FAILURE)


def test_client_trusting_other_ca_fails(cluster, certs):
    conf = {"bootstrap.servers": cluster.secure_bootstrap_for("TLS"), "security.protocol": "SSL",
            **tls_conf(certs, ca=certs.other_ca_cert)}
    assert_fails(conf, TLS_FAILURE, "certificate verify failed")


def test_server_certificate_swaps_and_recovery(cluster, certs):
    """expired, wrong-host and untrusted certificates each fail verification; swapping the
    good one back in (no restart) lets the same client configuration connect again."""
    conf = {"bootstrap.servers": cluster.secure_bootstrap_for("TLS"), "security.protocol": "SSL", **tls_conf(certs)}
    assert_connects(conf)
    try:
        cluster.replace_server_cert("expired", listener="TLS")
        assert cluster.presented_cert(0, "TLS") != cluster.presented_cert(0, "MTLS")
        assert_fails(conf, TLS_FAILURE, "certificate verify failed")

        cluster.replace_server_cert("wrong-host", listener="TLS")
        assert_fails(conf, TLS_FAILURE, "certificate verify failed")
        assert_connects({**conf, **tls_conf(certs, verify_host=False)})  # only the name is wrong

        cluster.replace_server_cert("untrusted", listener="TLS")
        assert_fails(conf, TLS_FAILURE, "certificate verify failed")
        assert_connects({**conf, **tls_conf(certs, ca=certs.other_ca_cert)})
    finally:
        cluster.replace_server_cert("good", listener="TLS")
    roundtrip(conf, "sec", n=5)


def test_plain_password_change_restarts_brokers(cluster, certs):
    # Last: restarts the cluster's broker.
    base = {"bootstrap.servers": cluster.secure_bootstrap_for("SASL_CLEAR"), "security.protocol": "SASL_PLAINTEXT"}
    cluster.set_plain_password(USER, "plain-rotated", listener="SASL_CLEAR")
    assert cluster.password(USER, "PLAIN", "SASL_CLEAR") == "plain-rotated"
    assert cluster.password(USER, "PLAIN", "SASL_TLS") == PASSWORD
    assert_fails({**base, **sasl_conf("PLAIN", PASSWORD)}, (AUTHENTICATION,))
    roundtrip({**base, **sasl_conf("PLAIN", "plain-rotated")}, "sec", n=5)
    # The swapped-back certificate survived the restart (a dynamic config in the metadata).
    assert_connects({"bootstrap.servers": cluster.secure_bootstrap_for("TLS"), "security.protocol": "SSL",
                     **tls_conf(certs)})
