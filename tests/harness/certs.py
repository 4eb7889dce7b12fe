"""Test certificates for TLS/mTLS against real brokers, made with the `openssl` CLI.

``generate_certs(directory)`` writes a CA, server and client certificates signed by it, and
the bad cases security tests need (an expired server certificate, one whose SAN names another
host, one signed by an unrelated CA, a client certificate from that CA). Every file is PEM;
keys are unencrypted PKCS#8 ("BEGIN PRIVATE KEY"), which Kafka's PEM keystores accept
without ``ssl.key.password``. See tests/harness/README.md for the file list.

Only the standard library and the `openssl` binary (OpenSSL 3) are used.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

# Server certificate kinds a secured listener can present.
#   good        signed by the CA, SAN DNS:localhost, IP:127.0.0.1, valid for 10 years
#   expired     like good but valid only during 2020
#   wrong-host  like good but SAN DNS:wrong.example only (fails hostname verification)
#   untrusted   like good but signed by the other CA (fails verification against ca.pem)
SERVER_KINDS = ("good", "expired", "wrong-host", "untrusted")

_STAMP = "klink test certs v1\n"
_SERVER_SUBJECT = "/O=klink tests/CN=localhost"
_GOOD_SAN = "DNS:localhost,IP:127.0.0.1"


class CertError(RuntimeError):
    """openssl failed while making test certificates."""


def _server_stem(kind: str) -> str:
    if kind not in SERVER_KINDS:
        raise ValueError(f"unknown server certificate kind {kind!r} (one of {', '.join(SERVER_KINDS)})")
    return "server" if kind == "good" else f"server-{kind}"


@dataclass(frozen=True)
class Certs:
    """Paths of the files `generate_certs` wrote into `directory`."""

    directory: Path

    def _p(self, name: str) -> Path:
        return self.directory / name

    # The CA every good certificate chains to: what clients and brokers trust.
    @property
    def ca_cert(self) -> Path:
        return self._p("ca.pem")

    @property
    def ca_key(self) -> Path:
        return self._p("ca.key")

    # An unrelated CA: trusting only it must fail against the brokers' good certificate.
    @property
    def other_ca_cert(self) -> Path:
        return self._p("other-ca.pem")

    @property
    def other_ca_key(self) -> Path:
        return self._p("other-ca.key")

    def server_cert(self, kind: str = "good") -> Path:
        return self._p(f"{_server_stem(kind)}.pem")

    def server_key(self, kind: str = "good") -> Path:
        return self._p(f"{_server_stem(kind)}.key")

    def server_keystore(self, kind: str = "good") -> Path:
        """Key + certificate + issuing CA in one PEM file (Kafka's `ssl.keystore.type=PEM`)."""
        return self._p(f"{_server_stem(kind)}-keystore.pem")

    # Client certificate for mTLS: CN=klink, signed by the CA.
    @property
    def client_cert(self) -> Path:
        return self._p("client.pem")

    @property
    def client_key(self) -> Path:
        return self._p("client.key")

    @property
    def client_keystore(self) -> Path:
        return self._p("client-keystore.pem")

    # Client certificate CN=klink signed by the other CA: a broker requiring client auth refuses it.
    @property
    def untrusted_client_cert(self) -> Path:
        return self._p("client-untrusted.pem")

    @property
    def untrusted_client_key(self) -> Path:
        return self._p("client-untrusted.key")

    def as_dict(self) -> dict[str, str]:
        """Every file by a short name (for logs and JSON state)."""
        out = {"ca_cert": self.ca_cert, "ca_key": self.ca_key, "other_ca_cert": self.other_ca_cert,
               "client_cert": self.client_cert, "client_key": self.client_key,
               "client_keystore": self.client_keystore, "untrusted_client_cert": self.untrusted_client_cert,
               "untrusted_client_key": self.untrusted_client_key}
        for kind in SERVER_KINDS:
            stem = _server_stem(kind).replace("-", "_")
            out[f"{stem}_cert"] = self.server_cert(kind)
            out[f"{stem}_key"] = self.server_key(kind)
            out[f"{stem}_keystore"] = self.server_keystore(kind)
        return {k: str(v) for k, v in out.items()}


def _openssl(args: list[str], cwd: Path):
    openssl = shutil.which("openssl")
    if not openssl:
        raise CertError("openssl not found on PATH")
    proc = subprocess.run([openssl, *args], cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise CertError(f"openssl {' '.join(args[:2])} failed (exit {proc.returncode}):\n{proc.stderr[-2000:]}")


def _new_key(d: Path, name: str):
    # genpkey writes PKCS#8, the only unencrypted key form Kafka's PEM keystore reads.
    _openssl(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", name], d)


def _new_ca(d: Path, stem: str, cn: str):
    _new_key(d, f"{stem}.key")
    _openssl(["req", "-x509", "-new", "-key", f"{stem}.key", "-sha256", "-days", "3650",
              "-subj", f"/O=klink tests/CN={cn}", "-out", f"{stem}.pem",
              "-addext", "basicConstraints=critical,CA:TRUE",
              "-addext", "keyUsage=critical,keyCertSign,cRLSign",
              "-addext", "subjectKeyIdentifier=hash"], d)


def _extfile(d: Path, name: str, san: str | None, client: bool) -> str:
    lines = ["[v3]", "basicConstraints=CA:FALSE", "keyUsage=critical,digitalSignature,keyEncipherment",
             f"extendedKeyUsage={'clientAuth' if client else 'serverAuth'}",
             "subjectKeyIdentifier=hash", "authorityKeyIdentifier=keyid"]
    if san:
        lines.append(f"subjectAltName={san}")
    (d / name).write_text("\n".join(lines) + "\n")
    return name


def _signed(d: Path, stem: str, subject: str, ca: str, san: str | None, client: bool = False,
            expired: bool = False):
    _new_key(d, f"{stem}.key")
    _openssl(["req", "-new", "-key", f"{stem}.key", "-subj", subject, "-out", f"{stem}.csr"], d)
    ext = _extfile(d, f"{stem}.ext", san, client)
    if not expired:
        _openssl(["x509", "-req", "-in", f"{stem}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key",
                  "-CAcreateserial", "-sha256", "-days", "3650", "-extfile", ext, "-extensions", "v3",
                  "-out", f"{stem}.pem"], d)
    else:
        # OpenSSL 3.0's `x509` has no -not_before/-not_after (3.4 added them); `ca` takes
        # explicit dates, which needs a throwaway database.
        db = d / "ca-db"
        db.mkdir(exist_ok=True)
        (db / "index.txt").write_text("")
        (db / "serial").write_text("1000\n")
        (d / "ca.cnf").write_text(
            "[ca]\ndefault_ca=test_ca\n[test_ca]\n"
            f"database={db / 'index.txt'}\nserial={db / 'serial'}\nnew_certs_dir={db}\n"
            "default_md=sha256\npolicy=any\nunique_subject=no\ncopy_extensions=none\n"
            "[any]\ncommonName=supplied\norganizationName=optional\n")
        _openssl(["ca", "-batch", "-notext", "-preserveDN", "-config", "ca.cnf", "-cert", f"{ca}.pem", "-keyfile", f"{ca}.key",
                  "-in", f"{stem}.csr", "-startdate", "20200101000000Z", "-enddate", "20201231235959Z",
                  "-extfile", ext, "-extensions", "v3", "-out", f"{stem}.pem"], d)
    issuer = (d / f"{ca}.pem").read_text()
    (d / f"{stem}-keystore.pem").write_text((d / f"{stem}.key").read_text() + (d / f"{stem}.pem").read_text() + issuer)
    for tmp in (f"{stem}.csr", ext):
        (d / tmp).unlink()


def generate_certs(directory: str | Path, reuse: bool = True) -> Certs:
    """Writes the test PKI into `directory` (created if needed) and returns its paths.

    With `reuse`, a directory that already holds a complete set is left as it is."""
    d = Path(directory).resolve()
    certs = Certs(d)
    stamp = d / ".complete"
    if reuse and stamp.is_file() and stamp.read_text() == _STAMP:
        return certs
    d.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileNotFoundError):
        stamp.unlink()
    _new_ca(d, "ca", "klink test CA")
    _new_ca(d, "other-ca", "klink other test CA")
    _signed(d, "server", _SERVER_SUBJECT, "ca", _GOOD_SAN)
    _signed(d, "server-expired", _SERVER_SUBJECT, "ca", _GOOD_SAN, expired=True)
    _signed(d, "server-wrong-host", _SERVER_SUBJECT, "ca", "DNS:wrong.example")
    _signed(d, "server-untrusted", _SERVER_SUBJECT, "other-ca", _GOOD_SAN)
    _signed(d, "client", "/O=klink tests/CN=klink", "ca", None, client=True)
    _signed(d, "client-untrusted", "/O=klink tests/CN=klink", "other-ca", None, client=True)
    for key in d.glob("*.key"):
        key.chmod(0o600)
    stamp.write_text(_STAMP)
    return certs


if __name__ == "__main__":
    import sys

    out = generate_certs(sys.argv[1] if len(sys.argv) > 1 else "certs", reuse=False)
    for name, path in out.as_dict().items():
        print(f"{name}\t{path}")
