"""The Kubernetes manifests (deploy/kubernetes): rendered, schema-checked, scanned, read.

Each kustomization (the base, the production overlay, the overlay with the monitoring
component) is rendered with kustomize, every document is validated against the
Kubernetes JSON schemas (deploy/kubernetes/check_schemas.py), checkov scans them and
must report no failed check, and the properties the deployment relies on are asserted
directly: probes, the shutdown timings, the security context, secrets, the migration
Job's order, what the autoscaler, the disruption budget and the Service select.

The tools live in their own environment, .venv-deploy (deploy/ci/prepare.sh installs it
from deploy/kubernetes/requirements-checks.lock; DEPLOY_CHECKS_VENV names another). A
kubectl on the PATH stands in when that environment has none. Without the tools these
tests are skipped, unless DEPLOY_TESTS=required (as in CI), where they fail.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
KUBERNETES = ROOT / "deploy" / "kubernetes"
CHECKS_ENV = Path(os.environ.get("DEPLOY_CHECKS_VENV", ROOT / ".venv-deploy"))
KUSTOMIZATIONS = {
    "base": KUBERNETES / "base",
    "production": KUBERNETES / "overlays" / "production",
    "production-monitoring": KUBERNETES / "overlays" / "production-monitoring",
}
SECRET_EXAMPLE = KUBERNETES / "overlays" / "production" / "secret.example.yaml"
PLACEHOLDER_TAG = "set-by-overlay"
UID = 10001
SECRET_NAME = "recommendation-engine-secrets"
SECRET_KEYS = {"DATABASE_URL", "API_KEY", "REDIS_URL", "METRICS_API_KEY"}
# Keys the service runs without.
OPTIONAL_SECRET_KEYS = {"REDIS_URL", "METRICS_API_KEY"}
# What the service needs after SIGTERM besides the drain and the in-flight timeout:
# background jobs, pools, log and trace flushing (see deployment.yaml).
SHUTDOWN_MARGIN_SECS = 10
# Checkov findings the manifests skip, each justified in an annotation there. Any other
# skip must be argued for here too.
ALLOWED_SKIPS = {"CKV_K8S_35", "CKV_K8S_43"}


@dataclass(frozen=True)
class Tools:
    kubectl: str
    python: Path
    checkov: Path


def _find_tools() -> Tools | str:
    """The tools, or why they cannot be used."""
    python = CHECKS_ENV / "bin" / "python"
    checkov = CHECKS_ENV / "bin" / "checkov"
    kubectl = CHECKS_ENV / "bin" / "kubectl"
    install = "run deploy/ci/prepare.sh (as root) or see deploy/kubernetes/README.md"
    if not python.exists():
        return f"no checks environment at {CHECKS_ENV}: {install}"
    probe = subprocess.run(
        [python, "-c", "import kubernetes_validate, jsonschema, yaml"],
        capture_output=True,
        text=True,
    )
    if probe.returncode != 0:
        return f"kubernetes-validate is not installed in {CHECKS_ENV}: {install}"
    if not checkov.exists():
        return f"checkov is not installed in {CHECKS_ENV}: {install}"
    found = str(kubectl) if kubectl.exists() else shutil.which("kubectl")
    if found is None:
        return f"no kubectl (with kustomize) in {CHECKS_ENV} or on PATH: {install}"
    return Tools(kubectl=found, python=python, checkov=checkov)


@pytest.fixture(scope="module")
def tools() -> Tools:
    found = _find_tools()
    if isinstance(found, str):
        if os.environ.get("DEPLOY_TESTS") == "required":
            pytest.fail(f"DEPLOY_TESTS=required but {found}")
        pytest.skip(found)
    return found


@pytest.fixture(scope="module")
def rendered(tools: Tools) -> dict[str, str]:
    """Each kustomization rendered to YAML (kustomize, no network)."""
    out = {}
    for name, path in KUSTOMIZATIONS.items():
        result = subprocess.run(
            [tools.kubectl, "kustomize", str(path)], capture_output=True, text=True, timeout=120
        )
        assert result.returncode == 0, f"kustomize {name}: {result.stderr}"
        out[name] = result.stdout
    return out


@pytest.fixture(scope="module")
def docs(rendered: dict[str, str]) -> dict[str, list[dict[str, Any]]]:
    return {name: [d for d in yaml.safe_load_all(text) if d] for name, text in rendered.items()}


def one(documents: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    found = [d for d in documents if d["kind"] == kind and name in (None, d["metadata"]["name"])]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def pod_specs(documents: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The pod templates of the Deployment and the Job, by kind."""
    return {kind: one(documents, kind)["spec"]["template"] for kind in ("Deployment", "Job")}


def all_containers(pod: dict[str, Any]) -> list[dict[str, Any]]:
    return [*pod["spec"].get("initContainers", []), *pod["spec"]["containers"]]


def matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in selector.items())


def config(documents: list[dict[str, Any]]) -> dict[str, str]:
    return one(documents, "ConfigMap")["data"]


def wave(document: dict[str, Any]) -> int:
    annotations = document["metadata"].get("annotations", {})
    return int(annotations.get("argocd.argoproj.io/sync-wave", "0"))


# Rendering, schemas, scanner.


def test_every_kustomization_renders(docs: dict[str, list[dict[str, Any]]]) -> None:
    kinds = {name: sorted(d["kind"] for d in documents) for name, documents in docs.items()}
    expected = [
        "ConfigMap",
        "Deployment",
        "HorizontalPodAutoscaler",
        "Job",
        "NetworkPolicy",
        "PodDisruptionBudget",
        "Service",
        "ServiceAccount",
    ]
    assert kinds["base"] == expected
    assert kinds["production"] == expected
    assert kinds["production-monitoring"] == sorted([*expected, "ServiceMonitor"])


def test_manifests_match_the_kubernetes_schemas(
    tools: Tools, rendered: dict[str, str], tmp_path: Path
) -> None:
    files = []
    for name, text in rendered.items():
        files.append(tmp_path / f"{name}.yaml")
        files[-1].write_text(text, encoding="utf-8")
    files.append(SECRET_EXAMPLE)
    result = subprocess.run(
        [tools.python, KUBERNETES / "check_schemas.py", *map(str, files)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode in (0, 1), result.stderr
    report = json.loads(result.stdout)
    assert report["errors"] == []
    assert report["documents"] == 8 + 8 + 9 + 1
    assert result.returncode == 0


def test_checkov_finds_nothing_unjustified(
    tools: Tools, rendered: dict[str, str], tmp_path: Path
) -> None:
    for name, text in rendered.items():
        (tmp_path / f"{name}.yaml").write_text(text, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BC_", "PRISMA_"))}
    result = subprocess.run(
        [
            str(tools.checkov),
            "--directory",
            str(tmp_path),
            "--framework",
            "kubernetes",
            # Offline: no policy metadata from the vendor's platform.
            "--skip-download",
            "--output",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert result.returncode in (0, 1), result.stderr
    reports = json.loads(result.stdout)
    report = reports[0] if isinstance(reports, list) else reports
    summary = report["summary"]
    assert summary["parsing_errors"] == 0
    assert summary["resource_count"] >= 25, summary
    failed = [
        f"{check['check_id']} {check['check_name']}: {check['resource']}"
        for check in report["results"]["failed_checks"]
    ]
    assert failed == []
    for check in report["results"]["skipped_checks"]:
        assert check["check_id"] in ALLOWED_SKIPS, check["check_id"]
        reason = check["check_result"].get("suppress_comment", "")
        assert len(reason) > 40 and reason != "No comment provided", check
    assert result.returncode == 0


# What the deployment relies on, read from the rendered manifests.


@pytest.mark.parametrize("name", list(KUSTOMIZATIONS))
def test_probes(docs: dict[str, list[dict[str, Any]]], name: str) -> None:
    deployment = one(docs[name], "Deployment")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["args"] == ["serve"]
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    assert ports == {"http": 8080}
    assert config(docs[name])["PORT"] == "8080"
    assert container["livenessProbe"]["httpGet"] == {"path": "/health", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/ready", "port": "http"}
    startup = container["startupProbe"]
    assert startup["httpGet"] == {"path": "/health", "port": "http"}
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 60


@pytest.mark.parametrize("name", list(KUSTOMIZATIONS))
def test_grace_period_covers_prestop_drain_and_requests(
    docs: dict[str, list[dict[str, Any]]], name: str
) -> None:
    pod = one(docs[name], "Deployment")["spec"]["template"]["spec"]
    settings = config(docs[name])
    drain = float(settings["SHUTDOWN_DRAIN_SECS"])
    in_flight = float(settings["SHUTDOWN_TIMEOUT_SECS"])
    (container,) = pod["containers"]
    pre_stop = container["lifecycle"]["preStop"]["sleep"]["seconds"]
    assert drain >= 1 and pre_stop >= 1
    needed = pre_stop + drain + in_flight + SHUTDOWN_MARGIN_SECS
    assert pod["terminationGracePeriodSeconds"] >= needed


@pytest.mark.parametrize("name", list(KUSTOMIZATIONS))
def test_pods_run_unprivileged_on_a_read_only_root(
    docs: dict[str, list[dict[str, Any]]], name: str
) -> None:
    account = one(docs[name], "ServiceAccount")
    assert account["automountServiceAccountToken"] is False
    for kind, pod in pod_specs(docs[name]).items():
        spec = pod["spec"]
        assert spec["serviceAccountName"] == account["metadata"]["name"], kind
        assert spec["automountServiceAccountToken"] is False, kind
        security = spec["securityContext"]
        assert security["runAsNonRoot"] is True, kind
        assert security["runAsUser"] == UID, kind
        assert security["seccompProfile"] == {"type": "RuntimeDefault"}, kind
        writable = {v["name"] for v in spec["volumes"] if "emptyDir" in v}
        for container in all_containers(pod):
            where = f"{kind}/{container['name']}"
            context = container["securityContext"]
            assert context["runAsNonRoot"] is True, where
            assert context.get("runAsUser", UID) == UID, where
            assert context["readOnlyRootFilesystem"] is True, where
            assert context["allowPrivilegeEscalation"] is False, where
            assert context["capabilities"] == {"drop": ["ALL"]}, where
            assert context.get("privileged", False) is False, where
            mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
            assert mounts.get("/tmp") in writable, where
            resources = container["resources"]
            for what in ("cpu", "memory"):
                assert resources["requests"][what] and resources["limits"][what], where


@pytest.mark.parametrize("name", list(KUSTOMIZATIONS))
def test_secrets_are_referenced_never_inlined(
    docs: dict[str, list[dict[str, Any]]], name: str
) -> None:
    assert [d for d in docs[name] if d["kind"] == "Secret"] == []
    assert not SECRET_KEYS & set(config(docs[name]))
    for kind, pod in pod_specs(docs[name]).items():
        for container in all_containers(pod):
            where = f"{kind}/{container['name']}"
            env = {e["name"]: e for e in container.get("env", [])}
            for key in ("DATABASE_URL", "API_KEY"):
                assert env[key]["valueFrom"]["secretKeyRef"] == {"name": SECRET_NAME, "key": key}
            for entry in env.values():
                if entry["name"] in SECRET_KEYS:
                    assert "value" not in entry, where
                    ref = entry["valueFrom"]["secretKeyRef"]
                    assert (ref["name"], ref["key"]) == (SECRET_NAME, entry["name"]), where
            sources = [s["configMapRef"]["name"] for s in container["envFrom"]]
            assert sources == [one(docs[name], "ConfigMap")["metadata"]["name"]], where
    serve = one(docs[name], "Deployment")["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in serve["env"]}
    assert set(env) == SECRET_KEYS
    assert {key for key, ref in env.items() if ref.get("optional")} == OPTIONAL_SECRET_KEYS


def test_the_example_secret_holds_placeholders_only() -> None:
    secret = yaml.safe_load(SECRET_EXAMPLE.read_text(encoding="utf-8"))
    assert secret["metadata"]["name"] == SECRET_NAME
    assert set(secret["stringData"]) == SECRET_KEYS
    assert "REPLACE_ME" in secret["stringData"]["API_KEY"]
    assert "REPLACE_ME" in secret["stringData"]["DATABASE_URL"]


@pytest.mark.parametrize("name", list(KUSTOMIZATIONS))
def test_migration_runs_before_the_new_pods_serve(
    docs: dict[str, list[dict[str, Any]]], name: str
) -> None:
    documents = docs[name]
    job = one(documents, "Job")
    deployment = one(documents, "Deployment")
    (migrate,) = job["spec"]["template"]["spec"]["containers"]
    assert migrate["args"] == ["migrate"]
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
    assert job["spec"]["backoffLimit"] >= 1
    # The API pods wait for the schema in an initContainer running the same command.
    (init,) = deployment["spec"]["template"]["spec"]["initContainers"]
    assert init["args"] == ["migrate"]
    images = {
        c["image"] for c in [migrate, init, *deployment["spec"]["template"]["spec"]["containers"]]
    }
    assert len(images) == 1
    # Argo CD: configuration, then the Job (a Sync hook it waits for), then the rest.
    annotations = job["metadata"]["annotations"]
    assert annotations["argocd.argoproj.io/hook"] == "Sync"
    assert "BeforeHookCreation" in annotations["argocd.argoproj.io/hook-delete-policy"]
    first = [d for d in documents if d["kind"] in ("ConfigMap", "ServiceAccount")]
    assert all(wave(d) < wave(job) for d in first)
    later = [d for d in documents if d["kind"] not in ("ConfigMap", "ServiceAccount", "Job")]
    assert all(wave(job) < wave(d) for d in later)
    # By hand: the README's first step selects exactly what the Job needs.
    step = {"config", "migration"}
    selected = {
        d["kind"]
        for d in documents
        if d["metadata"].get("labels", {}).get("app.kubernetes.io/component") in step
    }
    assert selected == {"ConfigMap", "ServiceAccount", "Job"}


@pytest.mark.parametrize("name", list(KUSTOMIZATIONS))
def test_autoscaler_budget_service_and_spread_select_the_api_pods(
    docs: dict[str, list[dict[str, Any]]], name: str
) -> None:
    documents = docs[name]
    deployment = one(documents, "Deployment")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    job_labels = one(documents, "Job")["spec"]["template"]["metadata"]["labels"]
    assert matches(deployment["spec"]["selector"]["matchLabels"], pod_labels)
    # The autoscaler owns the replica count.
    assert "replicas" not in deployment["spec"]
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0

    hpa = one(documents, "HorizontalPodAutoscaler")
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": deployment["metadata"]["name"],
    }
    assert hpa["spec"]["minReplicas"] >= 2
    assert hpa["spec"]["maxReplicas"] >= hpa["spec"]["minReplicas"]
    (metric,) = hpa["spec"]["metrics"]
    assert metric["resource"]["name"] == "cpu"

    pdb = one(documents, "PodDisruptionBudget")
    selector = pdb["spec"]["selector"]["matchLabels"]
    assert matches(selector, pod_labels) and not matches(selector, job_labels)
    assert pdb["spec"]["maxUnavailable"] < hpa["spec"]["minReplicas"]

    service = one(documents, "Service")
    assert matches(service["spec"]["selector"], pod_labels)
    assert not matches(service["spec"]["selector"], job_labels)
    assert [p["targetPort"] for p in service["spec"]["ports"]] == ["http"]

    spread = deployment["spec"]["template"]["spec"]["topologySpreadConstraints"]
    by_node = [c for c in spread if c["topologyKey"] == "kubernetes.io/hostname"]
    assert by_node and all(matches(c["labelSelector"]["matchLabels"], pod_labels) for c in spread)

    policy = one(documents, "NetworkPolicy")
    assert matches(policy["spec"]["podSelector"]["matchLabels"], pod_labels)
    assert matches(policy["spec"]["podSelector"]["matchLabels"], job_labels)
    (rule,) = policy["spec"]["ingress"]
    assert rule["ports"] == [{"protocol": "TCP", "port": "http"}]


@pytest.mark.parametrize("name", list(KUSTOMIZATIONS))
def test_image_tag_is_set_by_the_overlay(docs: dict[str, list[dict[str, Any]]], name: str) -> None:
    images = {
        container["image"]
        for pod in pod_specs(docs[name]).values()
        for container in all_containers(pod)
    }
    (image,) = images
    repository, _, tag = image.rpartition(":")
    if name == "base":
        assert tag == PLACEHOLDER_TAG
    else:
        assert repository and tag not in ("", "latest", PLACEHOLDER_TAG), image


def test_service_monitor_only_with_the_monitoring_component(
    docs: dict[str, list[dict[str, Any]]],
) -> None:
    for name in ("base", "production"):
        assert not [d for d in docs[name] if d["apiVersion"].startswith("monitoring.coreos.com")]
    documents = docs["production-monitoring"]
    monitor = one(documents, "ServiceMonitor")
    service = one(documents, "Service")
    assert monitor["metadata"]["namespace"] == service["metadata"]["namespace"]
    assert matches(monitor["spec"]["selector"]["matchLabels"], service["metadata"]["labels"])
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] in {p["name"] for p in service["spec"]["ports"]}
    assert endpoint["path"] == "/metrics"
    assert config(documents)["METRICS_ENABLED"] == "true"
    # It presents the key the pods require on /metrics, from the same Secret.
    assert endpoint["authorization"]["credentials"] == {
        "name": SECRET_NAME,
        "key": "METRICS_API_KEY",
    }
