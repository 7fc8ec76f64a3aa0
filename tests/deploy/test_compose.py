"""The compose stack (docker-compose.yml) and its observability configuration.

Checked without Docker:
- docker-compose.yml (and docker-compose.local.yml) against the Compose Specification's
  JSON schema (check-jsonschema's copy, in .venv-compose/), resolved by a Compose CLI
  (the v2 plugin, or Debian's docker-compose 1.29), and its wiring: two replicas after a
  one-shot migration, healthchecks, ports on 127.0.0.1 only, a stop grace period covering
  the drain;
- Prometheus's configuration, alert rules and their unit tests (alerts.test.yml) with
  promtool;
- the Grafana dashboard: JSON, every query parses (promtool, through a rules file made of
  them) and names only metrics and labels that the service exports;
- the OpenTelemetry collector's configuration, by its structure only: the collector is
  not packaged by Debian, PyPI or npm, so no binary validates it here.

Run with Docker (the `stack` fixture): the services of docker-compose.yml that can be
built from Debian packages (docker-compose.local.yml): both replicas of the service
(from the image the Dockerfile builds), the migration, PostgreSQL with pgvector, Valkey,
nginx and Prometheus. Grafana, the collector and Jaeger come only from a registry, which
this machine cannot reach, so tracing is off in that run.

Where a tool is missing (promtool, a Compose CLI, .venv-compose, Docker) a test is
skipped, or fails with DEPLOY_TESTS=required; deploy/ci/prepare.sh installs them all.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
import yaml

from tests.deploy.conftest import unavailable
from tests.support import API_KEY, free_port

if TYPE_CHECKING:
    from tests.deploy.conftest import Docker

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
LOCAL_FILE = ROOT / "docker-compose.local.yml"
COMPOSE_DIR = ROOT / "deploy" / "compose"
PROMETHEUS_DIR = COMPOSE_DIR / "prometheus"
DASHBOARD_DIR = COMPOSE_DIR / "grafana" / "dashboards"
PROVISIONING_DIR = COMPOSE_DIR / "grafana" / "provisioning"
OTEL_CONFIG = COMPOSE_DIR / "otel-collector" / "config.yaml"
CHECK_JSONSCHEMA = ROOT / ".venv-compose" / "bin" / "check-jsonschema"
JOB = "recommendation-engine"
# The services docker-compose.local.yml can build here, and what they start with them.
LOCAL_SERVICES = ("lb", "postgres", "redis", "prometheus")
PREPARE = "deploy/ci/prepare.sh installs it"


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def compose() -> dict[str, Any]:
    return load_yaml(COMPOSE_FILE)


def default_of(value: str) -> str:
    """A compose value with every `${VAR:-default}` replaced by its default."""
    return re.sub(r"\$\{[A-Z0-9_]+:-([^}]*)\}", r"\1", value)


def seconds(duration: str) -> float:
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    total = 0.0
    for number, unit in re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h)", duration):
        total += float(number) * units[unit]
    return total


def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        unavailable(f"promtool is missing (Debian's prometheus package; {PREPARE})")
    return path


def run_promtool(*args: str, cwd: Path = ROOT) -> str:
    result = subprocess.run(
        [promtool(), *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"promtool {' '.join(args)}:\n{output}"
    return output


def compose_cli() -> list[str]:
    """The Compose v2 plugin if the docker client has it, else Debian's docker-compose."""
    docker = shutil.which("docker")
    if docker is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            version = subprocess.run(
                [docker, "compose", "version"], capture_output=True, timeout=30, check=False
            )
            if version.returncode == 0:
                return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    if legacy is None:
        unavailable(
            "no Compose CLI: neither `docker compose` (the v2 plugin) nor `docker-compose` "
            f"(Debian's package; {PREPARE})"
        )
    return [legacy]


# --- docker-compose.yml --------------------------------------------------------------


def test_compose_files_match_the_compose_specification() -> None:
    if not CHECK_JSONSCHEMA.exists():
        unavailable(f"{CHECK_JSONSCHEMA.relative_to(ROOT)} is missing ({PREPARE})")
    result = subprocess.run(
        [
            str(CHECK_JSONSCHEMA),
            "--builtin-schema",
            "vendor.compose-spec",
            str(COMPOSE_FILE),
            str(LOCAL_FILE),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_cli_resolves_the_files(tmp_path: Path) -> None:
    cli = compose_cli()
    env_file = tmp_path / "empty.env"
    env_file.write_text("")
    for files in ([COMPOSE_FILE], [COMPOSE_FILE, LOCAL_FILE]):
        options = [arg for path in files for arg in ("-f", str(path))]
        result = subprocess.run(
            [*cli, "--env-file", str(env_file), *options, "config"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        resolved = yaml.safe_load(result.stdout)
        assert resolved["services"]["app"]["deploy"]["replicas"] == 2
        for service in resolved["services"].values():
            for port in service.get("ports", []):
                host_ip = port.get("host_ip") if isinstance(port, dict) else port.split(":")[0]
                assert host_ip == "127.0.0.1", port


def test_replicas_start_after_the_migration_with_healthchecks_and_a_drain() -> None:
    services = compose()["services"]
    assert {
        "app",
        "migrate",
        "lb",
        "postgres",
        "redis",
        "prometheus",
        "grafana",
        "otel-collector",
        "jaeger",
    } <= set(services)
    app, migrate = services["app"], services["migrate"]
    assert app["deploy"]["replicas"] == 2
    assert app["command"] == ["serve"] and migrate["command"] == ["migrate"]
    assert app["image"] == migrate["image"]
    assert app["build"]["args"]["BASE_IMAGE"] == "${BASE_IMAGE:-python:3.11-slim-bookworm}"
    assert app["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
    assert migrate["depends_on"]["postgres"] == {"condition": "service_healthy"}
    assert migrate.get("restart") == "no"
    assert services["lb"]["depends_on"]["app"] == {"condition": "service_healthy"}
    for name in ("app", "lb", "postgres", "redis", "prometheus", "grafana"):
        assert services[name]["healthcheck"]["test"], name
    assert "/ready" in " ".join(app["healthcheck"]["test"])

    # Docker's SIGKILL comes only after the drain and the requests in flight.
    environment = app["environment"]
    drain = float(environment["SHUTDOWN_DRAIN_SECS"])
    in_flight = float(environment["SHUTDOWN_TIMEOUT_SECS"])
    assert seconds(app["stop_grace_period"]) >= drain + in_flight + 2

    # Every setting given to the service is one the README documents.
    readme = (ROOT / "README.md").read_text()
    env_file = COMPOSE_DIR / "app.env"
    assert app["env_file"] == [str(env_file.relative_to(ROOT))]
    keys = [
        line.split("=", 1)[0]
        for line in env_file.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for key in [*keys, *environment]:
        assert f"`{key}`" in readme, f"{key} is not a documented setting"
    assert environment["TRACING_ENDPOINT"] == "http://otel-collector:4317"
    assert environment["REDIS_URL"].startswith("redis://redis:")
    assert "@postgres:5432/" in environment["DATABASE_URL"]


def test_published_ports_listen_on_loopback_and_state_is_in_named_volumes() -> None:
    document = compose()
    published = {}
    for name, service in document["services"].items():
        for port in service.get("ports", []):
            assert port.startswith("${BIND_ADDRESS:-127.0.0.1}:"), (name, port)
            published[name] = int(default_of(port).split(":")[1])
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (ROOT / source).exists(), (name, volume)
            else:
                assert source in document["volumes"], (name, volume)
    assert published == {"lb": 8080, "prometheus": 9090, "grafana": 3000, "jaeger": 16686}
    assert any(
        volume.startswith("postgres-data:")
        for volume in document["services"]["postgres"]["volumes"]
    )


def test_load_balancer_reaches_the_replicas_by_service_name() -> None:
    config = (COMPOSE_DIR / "nginx" / "nginx.conf").read_text()
    assert re.search(r"^\s*listen 8080;", config, re.M)
    assert "resolver 127.0.0.11" in config  # Docker's DNS, answering with every replica
    assert re.search(r"set \$replicas app;", config)
    assert "proxy_pass http://$replicas:8080;" in config
    lb = compose()["services"]["lb"]
    assert lb["ports"] == ["${BIND_ADDRESS:-127.0.0.1}:${HTTP_PORT:-8080}:8080"]


# --- Prometheus -----------------------------------------------------------------------


def test_prometheus_scrapes_every_replica_by_dns() -> None:
    config = load_yaml(PROMETHEUS_DIR / "prometheus.yml")
    (job,) = [job for job in config["scrape_configs"] if job["job_name"] == JOB]
    (discovery,) = job["dns_sd_configs"]
    assert discovery["names"] == ["app"]
    assert discovery["type"] == "A"
    assert discovery["port"] == int(compose()["services"]["app"]["environment"]["PORT"])
    assert job.get("metrics_path", "/metrics") == "/metrics"
    assert config["rule_files"] == ["alerts.yml"]


def test_promtool_accepts_the_configuration_and_the_rules() -> None:
    run_promtool("check", "config", "prometheus.yml", cwd=PROMETHEUS_DIR)
    output = run_promtool("check", "rules", "alerts.yml", cwd=PROMETHEUS_DIR)
    assert f"{len(alert_names())} rules found" in output


def test_every_alert_fires_in_its_unit_test() -> None:
    run_promtool("test", "rules", "alerts.test.yml", cwd=PROMETHEUS_DIR)
    tests = load_yaml(PROMETHEUS_DIR / "alerts.test.yml")["tests"]
    fired = {
        case["alertname"]
        for test in tests
        for case in test.get("alert_rule_test", [])
        if case.get("exp_alerts")
    }
    assert fired == set(alert_names())


def alert_rules() -> list[dict[str, Any]]:
    groups = load_yaml(PROMETHEUS_DIR / "alerts.yml")["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


def alert_names() -> list[str]:
    return [rule["alert"] for rule in alert_rules()]


def test_alerts_cover_errors_latency_model_age_webhooks_and_replicas() -> None:
    rules = {rule["alert"]: rule for rule in alert_rules()}
    wanted = {
        "RecommendationEngineHighErrorRate": "http_requests_errors_total",
        "RecommendationEngineHighLatency": "http_request_duration_seconds_bucket",
        "RecommendationEngineModelStale": "model_age_seconds",
        "RecommendationEngineWebhookDeliveriesFailing": "webhook_deliveries_total",
        "RecommendationEngineReplicaDown": "up",
        "RecommendationEngineRedisErrors": "redis_cache_errors_total",
        "RecommendationEngineInteractionsIgnored": "interactions_ignored_total",
    }
    for name, metric in wanted.items():
        assert metric in metric_names(rules[name]["expr"]), name
    runbook = (COMPOSE_DIR / "README.md").read_text()
    for name, rule in rules.items():
        assert rule["labels"]["severity"] in {"critical", "warning", "info"}, name
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], name
        assert f"`{name}`" in runbook, f"{name} is not explained in deploy/compose/README.md"


# --- PromQL against the service's metrics -------------------------------------------

_KEYWORDS = {
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "bool",
    "and",
    "or",
    "unless",
    "offset",
    "inf",
    "nan",
}
_GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")
_SELECTOR = re.compile(r"(?<![\w:.])([A-Za-z_:][\w:]*)?\s*\{([^}]*)\}")


def _strip(expr: str) -> str:
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    text = re.sub(r"\{[^}]*\}", " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    return _GROUPING.sub(" ", text)


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads (functions and keywords aside)."""
    text = _strip(expr)
    names = set()
    for match in re.finditer(r"(?<![\w:.])[A-Za-z_:][\w:]*", text):
        word = match.group()
        if text[match.end() :].lstrip().startswith("(") or word.lower() in _KEYWORDS:
            continue
        names.add(word)
    return names


def label_names(expr: str) -> set[str]:
    """The label names an expression matches on or groups by."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    labels = set()
    for _, matchers in _SELECTOR.findall(text):
        labels |= {m.group(1) for m in re.finditer(r"([A-Za-z_]\w*)\s*(?:=~|!~|!=|=)", matchers)}
    for _, grouped in _GROUPING.findall(text):
        labels |= {label.strip() for label in grouped.split(",") if label.strip()}
    return labels


def exported_metrics() -> dict[str, set[str]]:
    """Every sample name the service exports, with its label names, from the metric
    definitions in recommendation_engine.metrics."""
    from prometheus_client.metrics import MetricWrapperBase

    from recommendation_engine import metrics

    exported: dict[str, set[str]] = {"up": set()}
    for value in vars(metrics).values():
        if not isinstance(value, MetricWrapperBase):
            continue
        name, kind, labels = value._name, value._type, set(value._labelnames)
        if kind == "counter":
            exported[f"{name}_total"] = labels
        elif kind == "histogram":
            exported[f"{name}_bucket"] = labels | {"le"}
            exported[f"{name}_sum"] = labels
            exported[f"{name}_count"] = labels
        else:
            exported[name] = labels
    return exported


def check_against_exports(expr: str, exported: dict[str, set[str]], where: str) -> None:
    names = metric_names(expr)
    assert names, f"{where}: no metric in {expr!r}"
    unknown = names - set(exported)
    assert not unknown, f"{where}: {sorted(unknown)} are not exported by the service"
    allowed = {"job", "instance"}.union(*(exported[name] for name in names))
    stray = label_names(expr) - allowed
    assert not stray, f"{where}: labels {sorted(stray)} are not on {sorted(names)}"


def test_promql_helpers_find_metrics_and_labels() -> None:
    expr = (
        "histogram_quantile(0.95, sum by (le, route) (rate(http_request_duration_seconds_bucket"
        '{job="x", route!~"/a|/b"}[5m] offset 15m))) > 36 * 3600 or vector(0)'
    )
    assert metric_names(expr) == {"http_request_duration_seconds_bucket"}
    assert label_names(expr) == {"le", "route", "job"}


def test_alert_rules_read_exported_metrics_only() -> None:
    exported = exported_metrics()
    for rule in alert_rules():
        check_against_exports(rule["expr"], exported, rule["alert"])


# --- Grafana -----------------------------------------------------------------------

GRAFANA_VARIABLES = {
    "$__rate_interval": "1m",
    "$__interval": "1m",
    "$__range": "1h",
    "${instance}": ".*",
    "$instance": ".*",
}


def dashboards() -> dict[str, dict[str, Any]]:
    found = {path.name: json.loads(path.read_text()) for path in DASHBOARD_DIR.glob("*.json")}
    assert found, f"no dashboard in {DASHBOARD_DIR}"
    return found


def panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])


def dashboard_queries() -> list[tuple[str, str]]:
    """(where, PromQL with Grafana's variables replaced) for every query of every
    dashboard, the template variables' label_values() selectors included."""
    queries = []
    for file, dashboard in dashboards().items():
        for panel in panels(dashboard):
            for target in panel.get("targets", []):
                queries.append((f"{file}: {panel['title']}", target["expr"]))
        for variable in dashboard.get("templating", {}).get("list", []):
            query = variable.get("query")
            query = query.get("query", "") if isinstance(query, dict) else query or ""
            match = re.fullmatch(r"label_values\((.*),\s*\w+\)", query)
            if match:
                queries.append((f"{file}: variable {variable['name']}", match.group(1)))
    resolved = []
    for where, expr in queries:
        for variable, value in GRAFANA_VARIABLES.items():
            expr = expr.replace(variable, value)
        assert "$" not in expr, f"{where}: unknown variable in {expr!r}"
        resolved.append((where, expr))
    return resolved


def test_dashboard_shows_what_operators_need() -> None:
    (dashboard,) = dashboards().values()
    assert dashboard["uid"] and dashboard["title"]
    graphs = [panel for panel in panels(dashboard) if panel["type"] != "row"]
    datasources = load_yaml(PROVISIONING_DIR / "datasources" / "datasources.yml")["datasources"]
    uids = {source["uid"]: source for source in datasources}
    for panel in graphs:
        assert panel.get("targets"), f"{panel['title']} has no query"
        assert panel["datasource"]["uid"] in uids, panel["title"]
        assert uids[panel["datasource"]["uid"]]["type"] == "prometheus", panel["title"]
    queries = " ".join(expr for _, expr in dashboard_queries())
    for needed in (
        "rate(http_requests_total",
        "http_requests_errors_total",
        "histogram_quantile(0.5,",
        "histogram_quantile(0.95,",
        "histogram_quantile(0.99,",
        "redis_cache_hits_total",
        "redis_cache_misses_total",
        "database_pool_connections",
        "database_pool_idle_connections",
        "database_pool_max_connections",
        "model_build_duration_seconds",
        "model_age_seconds",
        "sum by (route, algorithm) (rate(recommendations_served_total",
        "sum by (outcome) (rate(webhook_deliveries_total",
    ):
        assert needed in queries, f"no panel shows {needed}"


def test_dashboard_queries_parse_and_read_exported_metrics(tmp_path: Path) -> None:
    exported = exported_metrics()
    queries = dashboard_queries()
    for where, expr in queries:
        check_against_exports(expr, exported, where)
    # promtool has no offline parser of single queries: each becomes a recording rule.
    rules = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [
                    {"record": f"dashboard:query_{n}", "expr": expr}
                    for n, (_, expr) in enumerate(queries)
                ],
            }
        ]
    }
    path = tmp_path / "dashboard-queries.yml"
    path.write_text(yaml.safe_dump(rules, sort_keys=False))
    output = run_promtool("check", "rules", str(path))
    assert f"{len(queries)} rules found" in output


def test_grafana_provisions_prometheus_and_the_dashboards_directory() -> None:
    grafana = compose()["services"]["grafana"]
    mounts = dict(volume.split(":")[:2] for volume in grafana["volumes"])
    assert mounts["./deploy/compose/grafana/provisioning"] == "/etc/grafana/provisioning"
    (provider,) = load_yaml(PROVISIONING_DIR / "dashboards" / "dashboards.yml")["providers"]
    assert mounts["./deploy/compose/grafana/dashboards"] == provider["options"]["path"]
    home = grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home.startswith(provider["options"]["path"] + "/")
    assert (DASHBOARD_DIR / home.rsplit("/", 1)[1]).exists()
    datasources = load_yaml(PROVISIONING_DIR / "datasources" / "datasources.yml")["datasources"]
    urls = {source["type"]: source["url"] for source in datasources}
    assert urls["prometheus"] == "http://prometheus:9090"
    assert urls["jaeger"] == "http://jaeger:16686"
    assert sum(bool(source.get("isDefault")) for source in datasources) == 1


# --- OpenTelemetry collector ------------------------------------------------------------

# Components of the core distribution (otel/opentelemetry-collector), by type.
CORE_COMPONENTS = {
    "receivers": {"otlp", "hostmetrics", "jaeger", "kafka", "opencensus", "prometheus", "zipkin"},
    "processors": {"batch", "memory_limiter", "attributes", "resource", "span", "filter"},
    "exporters": {"otlp", "otlphttp", "debug", "file", "kafka", "prometheus", "zipkin"},
    "extensions": {"health_check", "pprof", "zpages"},
}


def test_collector_configuration_is_complete_and_wired_to_the_stack() -> None:
    """Structure only: the collector binary is in no package source this machine reaches
    (not Debian, PyPI or npm), so `otelcol validate` cannot run here."""
    config = load_yaml(OTEL_CONFIG)
    for kind, known in CORE_COMPONENTS.items():
        for component in config.get(kind, {}):
            assert component.split("/")[0] in known, f"{kind}: {component} is not in the core"
    service = config["service"]
    for extension in service.get("extensions", []):
        assert extension in config["extensions"], extension
    traces = service["pipelines"]["traces"]
    for kind in ("receivers", "processors", "exporters"):
        assert traces[kind], kind
        for component in traces[kind]:
            assert component in config[kind], f"{component} is used but not defined"
    # The memory limiter goes first, so that it refuses data before anything holds it.
    assert traces["processors"][0] == "memory_limiter"
    # The replicas send to the OTLP receiver, the exporter to Jaeger's OTLP port.
    services = compose()["services"]
    endpoint = services["app"]["environment"]["TRACING_ENDPOINT"]
    host, port = endpoint.removeprefix("http://").split(":")
    assert host in services
    assert config["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"].endswith(f":{port}")
    assert services[host]["volumes"] == [
        "./deploy/compose/otel-collector/config.yaml:/etc/otelcol/config.yaml:ro"
    ]
    (exporter,) = [config["exporters"][name] for name in traces["exporters"]]
    target, target_port = exporter["endpoint"].split(":")
    assert target == "jaeger" and target_port in services["jaeger"]["expose"]
    assert services["jaeger"]["environment"]["COLLECTOR_OTLP_ENABLED"] == "true"


# --- The stack, running -----------------------------------------------------------------


@dataclass
class Stack:
    cli: list[str]
    project: str
    env: dict[str, str]
    env_file: str
    url: str
    prometheus: str
    docker: Docker

    def compose(self, *args: str, timeout: float = 300, check: bool = True) -> str:
        result = subprocess.run(
            [
                *self.cli,
                "--env-file",
                self.env_file,
                "-p",
                self.project,
                "-f",
                str(COMPOSE_FILE),
                "-f",
                str(LOCAL_FILE),
                *args,
            ],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        output = result.stdout + result.stderr
        if check:
            assert result.returncode == 0, f"compose {' '.join(args)}:\n{output[-4000:]}"
        return output

    def containers(self, service: str) -> list[str]:
        ids = self.docker.run(
            "ps",
            "-aq",
            "--filter",
            f"label=com.docker.compose.project={self.project}",
            "--filter",
            f"label=com.docker.compose.service={service}",
        ).stdout.split()
        return sorted(ids)

    def logs(self) -> str:
        return self.compose("logs", "--no-color", "--tail", "40", check=False)[-8000:]


PROJECT_PREFIX = "re-compose-test-"


def remove_leftovers(docker: Docker) -> None:
    """Remove what an earlier run left behind when it was killed before its teardown."""
    listed = docker.run(
        "ps", "-a", "--format", '{{.Label "com.docker.compose.project"}}', check=False
    ).stdout.split()
    for project in {name for name in listed if name.startswith(PROJECT_PREFIX)}:
        remove_project(docker, project)


def remove_project(docker: Docker, project: str) -> None:
    label = f"label=com.docker.compose.project={project}"
    ids = docker.run("ps", "-aq", "--filter", label, check=False).stdout.split()
    if ids:
        docker.run("rm", "--force", "--volumes", *ids, check=False)
    for kind in ("network", "volume"):
        names = docker.run(kind, "ls", "-q", "--filter", label, check=False).stdout.split()
        if names:
            docker.run(kind, "rm", *names, check=False)


def wait_for(what: str, check: Any, stack: Stack, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.TransportError, AssertionError, KeyError, ValueError):
            last = check()
            if last:
                return last
        time.sleep(1)
    raise AssertionError(f"{what} not within {timeout} s (last: {last!r})\n{stack.logs()}")


@pytest.fixture(scope="module")
def stack(docker: Docker, service_image: str) -> Iterator[Stack]:
    cli = compose_cli()
    remove_leftovers(docker)
    project = f"{PROJECT_PREFIX}{uuid.uuid4().hex[:8]}"
    http_port, prometheus_port = free_port(), free_port()
    with tempfile.NamedTemporaryFile("w", suffix=".env", delete=False) as env_file:
        env_file.write("")  # no developer's .env in the way
    env = {
        **os.environ,
        "APP_IMAGE": service_image,
        "BASE_IMAGE": docker.base_image,
        "LOCAL_IMAGE_PREFIX": "recommendation-engine-test-local",
        "BIND_ADDRESS": "127.0.0.1",
        "HTTP_PORT": str(http_port),
        "PROMETHEUS_PORT": str(prometheus_port),
        "API_KEY": API_KEY,
        # No collector runs here (its image comes from a registry only).
        "TRACING_ENABLED": "false",
    }
    handle = Stack(
        cli,
        project,
        env,
        env_file.name,
        f"http://127.0.0.1:{http_port}",
        f"http://127.0.0.1:{prometheus_port}",
        docker,
    )
    try:
        handle.compose("build", *LOCAL_SERVICES, timeout=1200)
        handle.compose("up", "-d", "--no-build", "lb", "prometheus", timeout=600)
        wait_for(
            "the load balancer answering /ready",
            lambda: httpx.get(f"{handle.url}/ready", timeout=3).status_code == 200,
            handle,
            timeout=90,
        )
        yield handle
    finally:
        try:
            handle.compose("down", "--volumes", "--remove-orphans", "-t", "5", check=False)
        finally:
            remove_project(docker, project)
            os.unlink(env_file.name)


def test_both_replicas_answer_through_the_load_balancer(stack: Stack) -> None:
    replicas = stack.containers("app")
    assert len(replicas) == 2, stack.logs()
    for replica in replicas:
        health = stack.docker.run("inspect", "-f", "{{.State.Health.Status}}", replica).stdout
        assert health.strip() == "healthy", stack.logs()
    (migration,) = stack.containers("migrate")
    state = stack.docker.run("inspect", "-f", "{{.State.ExitCode}}", migration).stdout
    assert state.strip() == "0"

    tag = uuid.uuid4().hex[:8]
    for n in range(12):
        response = httpx.get(
            f"{stack.url}/ready", headers={"X-Request-ID": f"lb-{tag}-{n}"}, timeout=5
        )
        assert response.status_code == 200, response.text

    # Each replica logs the requests it answered, with the request id nginx passed on.
    def answered() -> bool:
        logs = [stack.docker.run("logs", replica, check=False) for replica in replicas]
        return all(f"lb-{tag}-" in log.stdout + log.stderr for log in logs)

    wait_for("a /ready through nginx in each replica's log", answered, stack, timeout=15)


def test_round_trip_through_the_load_balancer(stack: Stack) -> None:
    headers = {"X-API-Key": API_KEY}
    with httpx.Client(base_url=stack.url, headers=headers, timeout=10) as client:
        for n in range(4):
            response = client.post(
                "/api/v1/entities",
                json={
                    "entity_id": f"song-{n}",
                    "entity_type": "song",
                    "attributes": {"genre": "jazz", "tags": ["live"]},
                },
            )
            assert response.status_code == 201, response.text
        for user, songs in {"ann": [0, 1], "bob": [0, 1, 2], "cid": [1, 2, 3]}.items():
            for song in songs:
                response = client.post(
                    "/api/v1/interactions",
                    json={
                        "user_id": user,
                        "entity_id": f"song-{song}",
                        "entity_type": "song",
                        "interaction_type": "like",
                    },
                )
                assert response.status_code == 201, response.text
        # Several reads, spread over both replicas, see the same database.
        for _ in range(4):
            assert client.get("/api/v1/entities/song-3?entity_type=song").status_code == 200
            history = client.get("/api/v1/interactions/user/bob").json()
            assert len(history) == 3
        answer = client.get("/api/v1/recommendations/user/ann?count=5")
        assert answer.status_code == 200, answer.text
        recommended = {item["entity_id"] for item in answer.json()["recommendations"]}
        assert recommended and recommended <= {"song-2", "song-3"}, answer.json()
        similar = client.get("/api/v1/recommendations/entity/song-0?entity_type=song&count=5")
        assert similar.status_code == 200, similar.text
        assert {item["entity_id"] for item in similar.json()["recommendations"]} == {
            "song-1",
            "song-2",
            "song-3",
        }


def prometheus_query(stack: Stack, query: str) -> list[dict[str, Any]]:
    response = httpx.get(f"{stack.prometheus}/api/v1/query", params={"query": query}, timeout=5)
    assert response.status_code == 200, response.text
    return response.json()["data"]["result"]


def test_prometheus_scrapes_both_replicas(stack: Stack) -> None:
    addresses = set()
    for replica in stack.containers("app"):
        ips = stack.docker.run(
            "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}", replica
        ).stdout.split()
        addresses |= {f"{ip}:8080" for ip in ips}

    def targets_up() -> bool:
        response = httpx.get(f"{stack.prometheus}/api/v1/targets", timeout=5).json()
        up = {
            target["labels"]["instance"]
            for target in response["data"]["activeTargets"]
            if target["labels"]["job"] == JOB and target["health"] == "up"
        }
        return up == addresses

    wait_for(f"both replicas {sorted(addresses)} scraped and up", targets_up, stack, timeout=60)

    def requests_scraped() -> bool:
        result = prometheus_query(stack, f'sum by (instance) (http_requests_total{{job="{JOB}"}})')
        return {sample["metric"]["instance"] for sample in result} == addresses

    wait_for("http_requests_total of both replicas", requests_scraped, stack, timeout=60)


def test_alert_rules_are_loaded_and_evaluated(stack: Stack) -> None:
    def evaluated() -> list[dict[str, Any]]:
        response = httpx.get(f"{stack.prometheus}/api/v1/rules", timeout=5).json()
        rules = [rule for group in response["data"]["groups"] for rule in group["rules"]]
        return rules if all(rule["health"] == "ok" for rule in rules) else []

    rules = wait_for("every alert rule evaluated", evaluated, stack, timeout=60)
    assert sorted(rule["name"] for rule in rules) == sorted(alert_names())
    firing = [rule["name"] for rule in rules if rule["state"] == "firing"]
    assert not firing, firing


def test_the_replicas_export_every_metric_the_dashboard_and_alerts_read(stack: Stack) -> None:
    text = httpx.get(f"{stack.url}/metrics", timeout=5).text
    families = dict(re.findall(r"^# TYPE (\S+) (\S+)$", text, re.M))
    samples = {"up"}
    for name, kind in families.items():
        suffixes = ("_bucket", "_sum", "_count") if kind == "histogram" else ("",)
        samples |= {name + suffix for suffix in suffixes}
    used = set().union(*(metric_names(expr) for _, expr in dashboard_queries()))
    used |= set().union(*(metric_names(rule["expr"]) for rule in alert_rules()))
    assert used <= samples, sorted(used - samples)


def test_replicas_stop_within_their_grace_period(stack: Stack) -> None:
    replicas = stack.containers("app")
    started = time.monotonic()
    stack.compose("stop", "app", timeout=120)
    elapsed = time.monotonic() - started
    grace = seconds(compose()["services"]["app"]["stop_grace_period"])
    assert elapsed < grace, f"stopping took {elapsed:.1f} s\n{stack.logs()}"
    for replica in replicas:
        code = stack.docker.run("inspect", "-f", "{{.State.ExitCode}}", replica).stdout.strip()
        assert code == "0", stack.logs()
