"""The Helm chart (helm/klink): `helm lint` and `helm template` pass with the
default values and every example in helm/examples, the rendered klink.toml
passes `klink validate` with the secret files where the Deployment mounts
them, the pod is non-root with a read-only root filesystem, the probes hit
/healthz and /readyz, a config change changes the checksum annotation, and
values.schema.json refuses bad values. Needs no Kafka and no Kubernetes;
takes a few seconds.

    scripts/setup    # builds helm once (go install) into the klink cache
    KLINK_BIN=build/klink /usr/bin/python3 -m pytest tests/integration/test_helm_chart.py -q

The helm binary: $KLINK_HELM, else the one scripts/setup builds, else helm on PATH.
"""

from __future__ import annotations

import base64
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

try:
    import yaml
except ImportError:
    pytest.fail("PyYAML missing for /usr/bin/python3: run scripts/setup (installs python3-yaml)", pytrace=False)

REPO_ROOT = Path(__file__).resolve().parents[2]
CHART = REPO_ROOT / "helm" / "klink"
EXAMPLES = sorted((REPO_ROOT / "helm" / "examples").glob("*.yaml"))
VALUE_SETS = [None, *EXAMPLES]
IDS = ["default", *(p.stem for p in EXAMPLES)]


def _helm_version() -> str:
    m = re.search(r'^helm_version="([^"]+)"', (REPO_ROOT / "scripts" / "setup").read_text(), re.M)
    assert m, "scripts/setup no longer pins helm_version"
    return m.group(1)


@pytest.fixture(scope="session")
def helm() -> str:
    env = os.environ.get("KLINK_HELM")
    if env:
        assert os.access(env, os.X_OK), f"KLINK_HELM={env} is not an executable"
        return env
    cache = Path(os.environ.get("KLINK_CACHE_DIR", Path.home() / ".cache" / "klink"))
    built = cache / "helm" / _helm_version() / "helm"
    if os.access(built, os.X_OK):
        return str(built)
    on_path = shutil.which("helm")
    if on_path:
        return on_path
    pytest.fail(f"helm not found at {built} nor on PATH: run scripts/setup (it builds helm "
                f"{_helm_version()} with go install), or set KLINK_HELM")


@pytest.fixture(scope="session")
def klink_validate_bin() -> Path:
    path = Path(os.environ.get("KLINK_BIN", REPO_ROOT / "build" / "klink"))
    if not os.access(path, os.X_OK):
        pytest.fail(f"klink binary not found at {path}: run scripts/build or set KLINK_BIN")
    return path


def run_helm(helm: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([helm, *args], capture_output=True, text=True, timeout=60)


def values_args(values: Path | None, sets: dict[str, str] | None = None) -> list[str]:
    args = ["-f", str(values)] if values else []
    for k, v in (sets or {}).items():
        args += ["--set", f"{k}={v}"]
    return args


def render(helm: str, values: Path | None = None, sets: dict[str, str] | None = None,
           extra_values: Path | None = None) -> dict[str, dict]:
    """helm template -> {kind: manifest} (one of each kind is all the chart makes)."""
    args = values_args(values, sets)
    if extra_values:
        args += ["-f", str(extra_values)]
    r = run_helm(helm, "template", "klink-test", str(CHART), "--namespace", "mirrors", *args)
    assert r.returncode == 0, f"helm template {' '.join(args)} failed:\n{r.stderr}"
    out: dict[str, dict] = {}
    for doc in yaml.safe_load_all(r.stdout):
        if not doc:
            continue
        assert doc["kind"] not in out, f"two {doc['kind']} manifests"
        out[doc["kind"]] = doc
    return out


def pod_spec(manifests: dict[str, dict]) -> dict:
    return manifests["Deployment"]["spec"]["template"]["spec"]


def klink_container(manifests: dict[str, dict]) -> dict:
    (c,) = pod_spec(manifests)["containers"]
    return c


def validate_rendered(manifests: dict[str, dict], tmp_path: Path, klink_bin: Path) -> str:
    """Lays out the files the pod would see under tmp_path (secretsMountPath
    must point there) and runs `klink validate` on the rendered klink.toml.
    Every *_file in the config must lie inside a Secret the Deployment mounts."""
    toml = manifests["ConfigMap"]["data"]["klink.toml"]
    spec = pod_spec(manifests)
    volumes = {v["name"]: v for v in spec["volumes"]}
    mounts = {m["mountPath"]: volumes[m["name"]] for m in klink_container(manifests)["volumeMounts"]}
    inline = manifests.get("Secret", {}).get("data", {})
    for key, path in re.findall(r'^(\w+_file) = "([^"]+)"$', toml, re.M):
        p = Path(path)
        assert str(p).startswith(str(tmp_path)), f"{key} = {path} is outside secretsMountPath"
        volume = mounts.get(str(p.parent))
        assert volume and "secret" in volume, f"{key} = {path}: no Secret is mounted at {p.parent}"
        secret = volume["secret"]["secretName"]
        assert p.parent.name == secret
        if manifests.get("Secret") and secret == manifests["Secret"]["metadata"]["name"]:
            assert p.name in inline, f"{key}: the chart's Secret has no key {p.name}"
        p.parent.mkdir(parents=True, exist_ok=True)
        # Contents klink's validation accepts: a token line, a password, a "PEM".
        p.write_text("token-or-secret-1\n")
    config = tmp_path / "klink.toml"
    config.write_text(toml)
    r = subprocess.run([str(klink_bin), "validate", "--config", str(config)],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, f"klink validate refused the rendered config:\n{r.stdout}{r.stderr}\n{toml}"
    return toml


# ---------------------------------------------------------------------------


@pytest.mark.parametrize("values", VALUE_SETS, ids=IDS)
def test_lint_and_template(helm, values):
    r = run_helm(helm, "lint", "--strict", str(CHART), *values_args(values))
    assert r.returncode == 0, f"helm lint failed:\n{r.stdout}{r.stderr}"
    m = render(helm, values)
    assert {"Deployment", "ConfigMap", "Service", "PodDisruptionBudget", "ServiceAccount"} <= m.keys()


def test_at_least_the_three_documented_examples():
    assert {"single-link", "sasl-ssl", "scale-out"} <= {p.stem for p in EXAMPLES}


@pytest.mark.parametrize("values", VALUE_SETS, ids=IDS)
def test_rendered_config_passes_klink_validate(helm, klink_validate_bin, tmp_path, values):
    m = render(helm, values, {"secretsMountPath": str(tmp_path)})
    toml = validate_rendered(m, tmp_path, klink_validate_bin)
    port = klink_container(m)["ports"][0]["containerPort"]
    assert f'listen = "0.0.0.0:{port}"' in toml, "the admin endpoint must listen on all interfaces in the pod"
    assert 'format = "json"' in toml


def test_inline_secrets_make_a_chart_secret_that_validates(helm, klink_validate_bin, tmp_path):
    values = tmp_path / "inline.yaml"
    values.write_text(yaml.safe_dump({
        "admin": {"tokens": {"tokens": ["t0ken-a", "t0ken-b"]}},
        "links": [{
            "name": "inline",
            "source": {"bootstrap_servers": ["src:9093"], "security_protocol": "SASL_SSL",
                       "tls": {"ca": "-----BEGIN CERTIFICATE-----\n"},
                       "sasl": {"mechanism": "PLAIN", "username": "u", "password": "s3cret"}},
            "destination": {"bootstrap_servers": ["dst:9092"]},
            "topics": {"include": ["t"]},
        }],
    }))
    mounts = tmp_path / "mnt"
    m = render(helm, values, {"secretsMountPath": str(mounts)})
    secret = m["Secret"]
    data = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
    assert data["link0-source-password"] == "s3cret"
    assert data["admin-tokens"] == "t0ken-a\nt0ken-b\n"
    assert "s3cret" not in m["ConfigMap"]["data"]["klink.toml"]
    validate_rendered(m, mounts, klink_validate_bin)


def test_pod_is_non_root_with_read_only_root(helm):
    m = render(helm)
    pod = pod_spec(m)["securityContext"]
    assert pod["runAsNonRoot"] is True and pod["runAsUser"] != 0
    assert pod["seccompProfile"]["type"] == "RuntimeDefault"
    c = klink_container(m)["securityContext"]
    assert c["runAsNonRoot"] is True
    assert c["readOnlyRootFilesystem"] is True
    assert c["allowPrivilegeEscalation"] is False
    assert c["capabilities"]["drop"] == ["ALL"]
    assert c["seccompProfile"]["type"] == "RuntimeDefault"
    assert pod_spec(m)["automountServiceAccountToken"] is False


def test_probes_and_service_use_the_admin_port(helm):
    m = render(helm, sets={"admin.port": "9100"})
    c = klink_container(m)
    assert c["ports"] == [{"name": "admin", "containerPort": 9100, "protocol": "TCP"}]
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "admin", "scheme": "HTTP"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "admin", "scheme": "HTTP"}
    assert m["Service"]["spec"]["ports"][0]["targetPort"] == "admin"
    # Failover needs the admin endpoint precisely while a cluster is down (pod not ready).
    assert m["Service"]["spec"]["publishNotReadyAddresses"] is True
    assert 'listen = "0.0.0.0:9100"' in m["ConfigMap"]["data"]["klink.toml"]
    assert c["command"] == ["klink", "run", "--config", "/etc/klink/klink.toml"]
    assert {"mountPath": "/etc/klink", "name": "config", "readOnly": True} in c["volumeMounts"]


def test_admin_tls_switches_probe_scheme(helm):
    m = render(helm, sets={"admin.tls.enabled": "true", "admin.tls.existingSecret": "klink-admin-tls"})
    assert klink_container(m)["readinessProbe"]["httpGet"]["scheme"] == "HTTPS"
    assert 'cert_file = "/etc/klink-secrets/klink-admin-tls/tls.crt"' in m["ConfigMap"]["data"]["klink.toml"]
    # klink asks for client certificates, which the kubelet cannot present.
    m = render(helm, sets={"admin.tls.enabled": "true", "admin.tls.existingSecret": "klink-admin-tls",
                           "admin.tls.clientCaKey": "ca.crt"})
    assert klink_container(m)["readinessProbe"]["tcpSocket"] == {"port": "admin"}


def test_scale_out_example_runs_three_replicas(helm):
    m = render(helm, REPO_ROOT / "helm" / "examples" / "scale-out.yaml")
    assert m["Deployment"]["spec"]["replicas"] == 3
    assert m["PodDisruptionBudget"]["spec"]["minAvailable"] == 2


def test_unshared_link_never_runs_twice_during_a_rollout(helm):
    assert render(helm)["Deployment"]["spec"]["strategy"] == {"type": "Recreate"}


def test_scale_out_example_enables_scale_out_and_validates(helm, klink_validate_bin, tmp_path):
    example = REPO_ROOT / "helm" / "examples" / "scale-out.yaml"
    m = render(helm, example, {"secretsMountPath": str(tmp_path)})
    toml = m["ConfigMap"]["data"]["klink.toml"]
    assert "\n[links.scale_out]\nenabled = true\nsession_timeout_ms = 10000\n" in toml, toml
    assert "group_id" not in toml, "the example relies on the default group id"
    assert m["Deployment"]["spec"]["strategy"] == {
        "type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}
    validate_rendered(m, tmp_path, klink_validate_bin)
    assert "DO NOT INSTALL" not in example.read_text()


def test_scale_out_keys_are_rendered_and_validate(helm, klink_validate_bin, tmp_path):
    extra = tmp_path / "links.yaml"
    extra.write_text(yaml.safe_dump({"links": [
        a_link(name="a", scale_out={"enabled": True, "group_id": "mirrors.a",
                                    "session_timeout_ms": 300000}),
        a_link(name="b", scale_out={"enabled": True}),
    ]}))
    m = render(helm, sets={"secretsMountPath": str(tmp_path)}, extra_values=extra)
    toml = m["ConfigMap"]["data"]["klink.toml"]
    assert ('\n[links.scale_out]\nenabled = true\ngroup_id = "mirrors.a"\n'
            'session_timeout_ms = 300000\n') in toml, toml
    assert toml.count("[links.scale_out]") == 2
    assert m["Deployment"]["spec"]["strategy"]["type"] == "RollingUpdate"
    validate_rendered(m, tmp_path, klink_validate_bin)


def test_disabled_scale_out_is_not_rendered_and_keeps_recreate(helm, klink_validate_bin, tmp_path):
    extra = tmp_path / "links.yaml"
    extra.write_text(yaml.safe_dump({"links": [
        a_link(name="a", scale_out={"enabled": False, "group_id": "g", "session_timeout_ms": 6000}),
        a_link(name="b", scale_out={"enabled": True}),
    ]}))
    m = render(helm, sets={"secretsMountPath": str(tmp_path)}, extra_values=extra)
    toml = m["ConfigMap"]["data"]["klink.toml"]
    assert toml.count("[links.scale_out]") == 1 and '"g"' not in toml, toml
    # One link does not share its partitions: two pods must never run it at once.
    assert m["Deployment"]["spec"]["strategy"] == {"type": "Recreate"}
    validate_rendered(m, tmp_path, klink_validate_bin)


def test_klink_refuses_two_scale_out_links_in_one_group(helm, klink_validate_bin, tmp_path):
    """The chart passes group ids through; klink itself refuses a shared one."""
    extra = tmp_path / "links.yaml"
    extra.write_text(yaml.safe_dump({"links": [
        a_link(name="a", scale_out={"enabled": True, "group_id": "shared"}),
        a_link(name="b", scale_out={"enabled": True, "group_id": "shared"}),
    ]}))
    m = render(helm, sets={"secretsMountPath": str(tmp_path)}, extra_values=extra)
    with pytest.raises(AssertionError, match=r'links\[1\]\.scale_out\.group_id: links "a" .* and "b"'):
        validate_rendered(m, tmp_path, klink_validate_bin)


def test_checksum_annotation_follows_the_config(helm, tmp_path):
    def checksum(sets=None, links=None):
        extra = None
        if links:
            extra = tmp_path / "links.yaml"
            extra.write_text(yaml.safe_dump({"links": links}))
        m = render(helm, sets=sets, extra_values=extra)
        return m["Deployment"]["spec"]["template"]["metadata"]["annotations"]["checksum/config"]

    base = checksum(links=[a_link()])
    assert re.fullmatch(r"[0-9a-f]{64}", base)
    assert checksum(links=[a_link()]) == base
    assert checksum(links=[a_link(**{"topics.include": ["other"]})]) != base
    assert checksum(links=[a_link(**{"mirror.start": "latest"})]) != base
    assert checksum({"log.level": "debug"}, links=[a_link()]) != base
    assert checksum({"replicaCount": "2", "resources.limits.memory": "1Gi"}, links=[a_link()]) == base, \
        "a change outside the config must not roll the pods"


def test_existing_secret_names_are_mounted(helm):
    m = render(helm, REPO_ROOT / "helm" / "examples" / "sasl-ssl.yaml")
    assert "Secret" not in m, "existing secrets only: the chart must not create one"
    names = {v["secret"]["secretName"] for v in pod_spec(m)["volumes"] if "secret" in v}
    assert names == {"klink-source-scram", "kafka-eu-west-ca", "klink-dest-client", "klink-admin-tokens"}
    toml = m["ConfigMap"]["data"]["klink.toml"]
    assert 'password_file = "/etc/klink-secrets/klink-source-scram/password"' in toml
    assert 'tokens_file = "/etc/klink-secrets/klink-admin-tokens/tokens"' in toml
    assert 'key_file = "/etc/klink-secrets/klink-dest-client/tls.key"' in toml
    assert m["ServiceMonitor"]["spec"]["endpoints"][0]["path"] == "/metrics"


def test_service_monitor_is_off_by_default(helm):
    assert "ServiceMonitor" not in render(helm)


def a_link(**changes) -> dict:
    """A valid link as values; --set on links[0].x would replace the whole list."""
    link = {"name": "l", "source": {"bootstrap_servers": ["src:9092"]},
            "destination": {"bootstrap_servers": ["dst:9092"]}, "topics": {"include": ["t"]}}
    for path, value in changes.items():
        node = link
        *parents, leaf = path.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return link


def render_values(helm: str, tmp_path: Path, values: dict) -> subprocess.CompletedProcess:
    f = tmp_path / "values.yaml"
    f.write_text(yaml.safe_dump(values))
    return run_helm(helm, "template", "klink-test", str(CHART), "-f", str(f))


@pytest.mark.parametrize("values,phrase", [
    ({"log": {"format": "xml"}}, "/log/format"),
    ({"links": [a_link(**{"mirror.max_in_flight": 9})]}, "/links/0/mirror/max_in_flight"),
    ({"links": [a_link(**{"topics.prefix": "dr."})]}, "prefix"),
    ({"admin": {"port": 70000}}, "/admin/port"),
    ({"links": [a_link(name="has space")]}, "/links/0/name"),
    ({"links": [a_link(**{"source.security_protocol": "SASL_SSL"})]}, "sasl"),
    ({"links": [a_link(**{"source.bootstrap_servers": ["no-port"]})]}, "/links/0/source/bootstrap_servers/0"),
    ({"links": [a_link(**{"destination.replication_factor": 0})]}, "replication_factor"),
    ({"links": []}, "/links"),
    ({"replicas": 3}, "replicas"),
    ({"links": [a_link(scale_out={"enabled": True, "session_timeout_ms": 5999})]},
     "/links/0/scale_out/session_timeout_ms"),
    ({"links": [a_link(scale_out={"enabled": True, "group_id": "has space"})]},
     "/links/0/scale_out/group_id"),
    ({"links": [a_link(scale_out={"enabled": True, "session_timeout": 10000})]}, "session_timeout"),
], ids=["bad_enum", "out_of_range", "unknown_key", "bad_port", "bad_link_name",
        "sasl_protocol_without_sasl", "server_without_port", "bad_replication_factor",
        "no_link", "misspelt_top_level", "scale_out_session_too_short", "scale_out_bad_group_id",
        "scale_out_unknown_key"])
def test_schema_rejects_invalid_values(helm, tmp_path, values, phrase):
    r = render_values(helm, tmp_path, values)
    assert r.returncode != 0, f"helm template accepted {values}"
    assert "schema" in r.stderr and phrase in r.stderr, r.stderr


def test_a_valid_link_passes_the_schema(helm, tmp_path):
    r = render_values(helm, tmp_path, {"links": [a_link()]})
    assert r.returncode == 0, r.stderr


def test_sasl_without_a_password_source_is_refused(helm, tmp_path):
    r = render_values(helm, tmp_path, {"links": [a_link(**{
        "source.security_protocol": "SASL_SSL",
        "source.sasl": {"mechanism": "PLAIN", "username": "u"}})]})
    assert r.returncode != 0
    assert "existingSecret" in r.stderr or "password" in r.stderr, r.stderr
