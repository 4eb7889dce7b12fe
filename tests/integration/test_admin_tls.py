"""The admin endpoint over HTTPS ([admin.tls]) against a running klink: served with the
configured certificate, refused in plain HTTP, and with client_ca_file set refused without a
client certificate (and one from another CA) but answered with a good one; bearer tokens
still guard /v1 over TLS. Certificates come from tests/harness/certs.py (openssl)."""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request

import pytest

from conftest import RUN_DIR
from harness.certs import generate_certs
from kafka_checks import wait_until


@pytest.fixture(scope="module")
def certs():
    return generate_certs(RUN_DIR / "admin-tls-certs")


def https(url: str, certs, client: tuple | None = None, token: str | None = None) -> tuple[int, str]:
    ctx = ssl.create_default_context(cafile=str(certs.ca_cert))
    if client:
        ctx.load_cert_chain(str(client[0]), str(client[1]))
    req = urllib.request.Request(url)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def start(klink_process, topic_name, certs, tmp_path, client_ca: bool):
    tls = {"cert_file": str(certs.server_cert()), "key_file": str(certs.server_key())}
    if client_ca:
        tls["client_ca_file"] = str(certs.ca_cert)
    tokens = tmp_path / "tokens"
    tokens.write_text("admin-token-1\n")
    proc = klink_process(topics=[topic_name], extra={"admin": {"tls": tls, "tokens_file": str(tokens)}})
    base = proc.admin_url.replace("http://", "https://")
    return proc, base


def test_https_with_the_configured_certificate(klink_process, topic_name, certs, tmp_path):
    proc, base = start(klink_process, topic_name, certs, tmp_path, client_ca=False)
    status, body = wait_until(lambda: https(f"{base}/healthz", certs), 15, "healthz over https")
    assert status == 200 and json.loads(body)["status"] == "ok"
    assert "scheme=https" in proc.stderr() or '"scheme":"https"' in proc.stderr()
    # /v1 still needs the token over TLS.
    assert https(f"{base}/v1/links", certs)[0] == 401
    status, body = https(f"{base}/v1/links", certs, token="admin-token-1")
    assert status == 200 and json.loads(body)["links"][0]["name"] == "test"
    # Plain HTTP on the TLS port gets no HTTP answer.
    with pytest.raises((urllib.error.URLError, ConnectionError, http_client_errors())):
        urllib.request.urlopen(f"{proc.admin_url}/healthz", timeout=5).read()
    # A client that trusts another CA refuses the server.
    ctx = ssl.create_default_context(cafile=str(certs.other_ca_cert))
    with pytest.raises(urllib.error.URLError) as refused:
        urllib.request.urlopen(f"{base}/healthz", context=ctx, timeout=5)
    assert "CERTIFICATE_VERIFY_FAILED" in str(refused.value)
    assert proc.running()


def test_client_certificates_required_with_client_ca_file(klink_process, topic_name, certs, tmp_path):
    proc, base = start(klink_process, topic_name, certs, tmp_path, client_ca=True)
    good = (certs.client_cert, certs.client_key)
    status, _ = wait_until(lambda: https(f"{base}/healthz", certs, client=good), 15, "healthz with a client cert")
    assert status == 200
    status, body = https(f"{base}/v1/links", certs, client=good, token="admin-token-1")
    assert status == 200, body
    for client in (None, (certs.untrusted_client_cert, certs.untrusted_client_key)):
        with pytest.raises((urllib.error.URLError, ssl.SSLError, ConnectionError)):
            https(f"{base}/healthz", certs, client=client)
    assert proc.running()


def http_client_errors():
    import http.client
    return http.client.HTTPException


def test_unusable_certificate_fails_start_up(klink_bin, tmp_path, certs):
    import subprocess
    config = tmp_path / "k.toml"
    config.write_text(f"""[admin]
listen = "127.0.0.1:0"
[admin.tls]
cert_file = "{certs.server_cert()}"
key_file = "{certs.client_key}"
[[links]]
name = "x"
[links.source]
bootstrap_servers = ["127.0.0.1:1"]
[links.destination]
bootstrap_servers = ["127.0.0.1:2"]
[links.topics]
include = ["t"]
""")
    r = subprocess.run([str(klink_bin), "run", "--config", str(config)], capture_output=True, text=True, timeout=30)
    assert r.returncode != 0
    assert "admin.tls.key_file" in r.stderr and "it must be the PEM private key of" in r.stderr, r.stderr


