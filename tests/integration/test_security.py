"""klink over TLS and SASL against real brokers: full mirror runs over SASL_SSL/SCRAM-SHA-512
(source) to SSL with a client certificate (destination) and over SASL_PLAINTEXT/PLAIN; a wrong
password, a wrong CA, an expired certificate and a host-name mismatch each put the link in
FAILED with a clear reason, and each recovers on its own, without a restart, once fixed
(password file rewritten, CA file rewritten, broker certificate replaced). No output of klink
contains a password."""

from __future__ import annotations

import json
import shutil
import uuid

import pytest

from admin_client import http, sample, scrape
from conftest import RUN_DIR
from harness.certs import generate_certs
from harness.kafka import KafkaCluster, SecureListener
from kafka_checks import compare_partitions, consume_all, produce_mixed, unique_topic, wait_until

SOURCE_PORT = 25610
DEST_PORT = 25710
USER = "klink"
# Distinctive, so that finding it in any output is unambiguous.
PASSWORD = f"pw-{uuid.uuid4().hex}"
WRONG_PASSWORD = f"wrong-{uuid.uuid4().hex}"
N = 2000


@pytest.fixture(scope="module")
def certs():
    return generate_certs(RUN_DIR / "security-certs")


@pytest.fixture(scope="module")
def secure_source(certs):
    c = KafkaCluster("pytest-secure-source", base_port=SOURCE_PORT, workdir=RUN_DIR / "pytest-secure-source",
                     secure_listeners=[
                         SecureListener("SASL_SSL", ["SCRAM-SHA-512", "PLAIN"], users={USER: PASSWORD},
                                        certs=certs, name="SASL_TLS"),
                         SecureListener("SASL_PLAINTEXT", ["PLAIN"], users={USER: PASSWORD}, name="SASL_CLEAR"),
                     ])
    c.start()
    yield c
    c.stop()


@pytest.fixture(scope="module")
def secure_dest(certs):
    c = KafkaCluster("pytest-secure-dest", base_port=DEST_PORT, workdir=RUN_DIR / "pytest-secure-dest",
                     secure_listeners=[
                         SecureListener("SSL", certs=certs, client_auth="required", name="MTLS"),
                         SecureListener("SSL", certs=certs, name="TLS"),
                     ])
    c.start()
    yield c
    c.stop()


def cluster_section(bootstrap: str, protocol: str = "PLAINTEXT", tls: dict | None = None,
                    sasl: dict | None = None) -> dict:
    out = {"bootstrap_servers": [bootstrap], "security_protocol": protocol}
    if tls is not None:
        out["tls"] = tls
    if sasl is not None:
        out["sasl"] = sasl
    return out


def start_link(klink_process, topic: str, source: dict, destination: dict):
    return klink_process(links=[{
        "name": "test",
        "source": source,
        "destination": destination,
        "topics": {"include": [topic.replace(".", "\\.")]},
        "mirror": {"start": "earliest"},
    }])


def link_status(proc) -> dict | None:
    status, body, _ = http(f"{proc.admin_url}/v1/links")
    return json.loads(body)["links"][0] if status == 200 else None


def wait_failed(proc, reason: str, text: str) -> dict:
    def failed():
        link = link_status(proc)
        return link if link and link["state"] == "FAILED" and link["reason"] == reason \
            and text in (link["error"] or "") else None

    return wait_until(failed, 60, f"link FAILED with {reason} ({text!r})")


def wait_mirrored(proc, source_bootstrap: str, dest_bootstrap: str, topic: str) -> None:
    wait_until(lambda: (link_status(proc) or {}).get("state") == "ACTIVE", 60, "link ACTIVE again")
    src = consume_all(source_bootstrap, topic)
    wait_until(lambda: sum(len(r) for r in consume_all(dest_bootstrap, topic, timeout=20).values())
               == sum(len(r) for r in src.values()), 90, "every record mirrored")
    compare_partitions(src, consume_all(dest_bootstrap, topic))


def assert_no_secret(proc) -> None:
    out = proc.stderr() + (proc.stdout_path.read_text() if proc.stdout_path.exists() else "")
    assert PASSWORD not in out and WRONG_PASSWORD not in out, "a password appears in klink's output"
    for path in ("/v1/links", "/v1/links/test/mirrors", "/metrics"):
        status, body, _ = http(f"{proc.admin_url}{path}")
        assert PASSWORD not in body and WRONG_PASSWORD not in body, f"a password appears in {path}"


# ----------------------------------------------------------------------------
# Tests


def test_mirror_over_sasl_ssl_scram_to_mtls(klink_process, secure_source, secure_dest, certs, tmp_path):
    topic = unique_topic("sec-scram")
    secure_source.create_topic(topic, partitions=3)
    produce_mixed(secure_source.bootstrap, topic, 3, N)
    password_file = tmp_path / "source.password"
    password_file.write_text(PASSWORD + "\n")
    proc = start_link(
        klink_process, topic,
        cluster_section(secure_source.secure_bootstrap_for("SASL_TLS"), "SASL_SSL", tls={"ca_file": str(certs.ca_cert)},
                        sasl={"mechanism": "SCRAM-SHA-512", "username": USER, "password_file": str(password_file)}),
        cluster_section(secure_dest.secure_bootstrap_for("MTLS"), "SSL",
                        tls={"ca_file": str(certs.ca_cert), "cert_file": str(certs.client_cert),
                             "key_file": str(certs.client_key)}))
    wait_mirrored(proc, secure_source.bootstrap, secure_dest.bootstrap, topic)
    assert link_status(proc)["reason"] is None
    assert_no_secret(proc)


def test_mirror_over_sasl_plaintext_plain(klink_process, secure_source, dest_cluster, monkeypatch):
    topic = unique_topic("sec-plain")
    secure_source.create_topic(topic, partitions=2)
    produce_mixed(secure_source.bootstrap, topic, 2, N)
    monkeypatch.setenv("KLINK_TEST_SOURCE_PASSWORD", PASSWORD)  # klink inherits the environment
    proc = start_link(
        klink_process, topic,
        cluster_section(secure_source.secure_bootstrap_for("SASL_CLEAR"), "SASL_PLAINTEXT",
                        sasl={"mechanism": "PLAIN", "username": USER, "password_env": "KLINK_TEST_SOURCE_PASSWORD"}),
        cluster_section(dest_cluster.bootstrap))
    wait_mirrored(proc, secure_source.bootstrap, dest_cluster.bootstrap, topic)
    assert_no_secret(proc)


def test_wrong_password_fails_then_recovers_when_the_file_is_fixed(klink_process, secure_source, dest_cluster,
                                                                   certs, tmp_path):
    topic = unique_topic("sec-wrongpw")
    secure_source.create_topic(topic, partitions=2)
    produce_mixed(secure_source.bootstrap, topic, 2, 500)
    password_file = tmp_path / "source.password"
    password_file.write_text(WRONG_PASSWORD + "\n")
    proc = start_link(
        klink_process, topic,
        cluster_section(secure_source.secure_bootstrap_for("SASL_TLS"), "SASL_SSL", tls={"ca_file": str(certs.ca_cert)},
                        sasl={"mechanism": "SCRAM-SHA-512", "username": USER, "password_file": str(password_file)}),
        cluster_section(dest_cluster.bootstrap))
    link = wait_failed(proc, "AUTHENTICATION_FAILED", "source cluster refuses klink")
    status, body, _ = http(f"{proc.admin_url}/readyz")
    assert status == 503 and "AUTHENTICATION_FAILED" in body, body
    # A retry later, still refused: counted, but logged once, not per attempt.
    wait_until(lambda: sample(scrape(proc.admin_url), "klink_authentication_failures_total", link="test",
                              cluster="source") >= 2, 60, "a second failed attempt (backoff, not a tight loop)")
    m = scrape(proc.admin_url)
    assert sample(m, "klink_link_state", link="test", state="FAILED") == 1
    assert proc.stderr().count("authentication to the cluster failed") == 1, proc.stderr_tail()
    assert "SASL" in link["error"] or "uthentication" in link["error"], link

    password_file.write_text(PASSWORD + "\n")
    wait_mirrored(proc, secure_source.bootstrap, dest_cluster.bootstrap, topic)
    assert proc.running()
    assert_no_secret(proc)


def test_wrong_ca_fails_then_recovers_when_the_file_is_fixed(klink_process, secure_source, dest_cluster, certs,
                                                             tmp_path):
    topic = unique_topic("sec-wrongca")
    secure_source.create_topic(topic, partitions=1)
    produce_mixed(secure_source.bootstrap, topic, 1, 300)
    ca_file = tmp_path / "ca.pem"
    shutil.copy(certs.other_ca_cert, ca_file)
    password_file = tmp_path / "source.password"
    password_file.write_text(PASSWORD)
    proc = start_link(
        klink_process, topic,
        cluster_section(secure_source.secure_bootstrap_for("SASL_TLS"), "SASL_SSL", tls={"ca_file": str(ca_file)},
                        sasl={"mechanism": "SCRAM-SHA-512", "username": USER, "password_file": str(password_file)}),
        cluster_section(dest_cluster.bootstrap))
    link = wait_failed(proc, "TLS_FAILED", "source cluster refuses klink")
    assert "certificate" in link["error"], link
    shutil.copy(certs.ca_cert, ca_file)
    wait_mirrored(proc, secure_source.bootstrap, dest_cluster.bootstrap, topic)


def test_expired_and_wrong_host_certificates_fail_then_recover(klink_process, secure_dest, dest_cluster,
                                                               source_cluster, certs):
    topic = unique_topic("sec-cert")
    source_cluster.create_topic(topic, partitions=1)
    produce_mixed(source_cluster.bootstrap, topic, 1, 300)
    secure_dest.replace_server_cert("expired", listener="TLS")
    try:
        proc = start_link(
            klink_process, topic, cluster_section(source_cluster.bootstrap),
            cluster_section(secure_dest.secure_bootstrap_for("TLS"), "SSL", tls={"ca_file": str(certs.ca_cert)}))
        link = wait_failed(proc, "TLS_FAILED", "destination cluster refuses klink")
        assert "expired" in link["error"], link
        secure_dest.replace_server_cert("wrong-host", listener="TLS")
        # klink connects to 127.0.0.1: OpenSSL names an IP address mismatch (a DNS name in
        # bootstrap_servers gives "hostname mismatch").
        wait_failed(proc, "TLS_FAILED", "certificate verify failed: IP address mismatch")
    finally:
        secure_dest.replace_server_cert("good", listener="TLS")
    wait_mirrored(proc, source_cluster.bootstrap, secure_dest.bootstrap, topic)
