"""The deployment files: Dockerfile and compose/ checked offline, then the stack deployed
for real on the lab swarm.

Offline: `docker stack config` (the docker CLI needs no engine for it) accepts the stack
file and the socket-proxy override; every file they mount exists; Prometheus, its rules,
Alertmanager and Grafana's provisioning agree with the stack (names, ports, paths), and
promtool/amtool accept them.

On the lab: no registry is reachable, so the stack deploys only swarm-sentinel itself
(Prometheus, Alertmanager and Grafana images cannot be pulled). Its image is built from
this machine's Python (tests/image_build.py) and imported on every node; the service is
the stack file's own definition with three lab-only changes: the image tag, the socket
(each lab node has its own, found through the node-hostname template), and a 2 s
healthcheck interval. A busybox probe on the worker, on the stack's overlay network,
resolves the very DNS name compose/prometheus.yml scrapes and fetches every exporter
through it, as Prometheus would. A labelled service that fails for good shows that the
deployed healer writes to the API through the read-only socket mount.
"""

from __future__ import annotations

import fnmatch
import os
import re
import shutil
import subprocess
import time
import tomllib
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from healer.settings import LABEL_HEAL, LABEL_STATE, LABEL_THRESHOLD
from lab import IMAGE as BUSYBOX_IMAGE
from lab import Lab
from lab.daemon import CALL_ERRORS
from lab.dockerpy import docker_client
from swarm_sentinel.flags import DEFAULT_PORT
from tests.support import image_build
from tests.support.sentinel import wait_for
from tests.support.swarm_services import services

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "compose"
STACK_FILE = COMPOSE / "swarm-sentinel.yml"
PROXY_FILE = COMPOSE / "socket-proxy.yml"
GRAFANA_SECRET_FILE = COMPOSE / "grafana-secret.yml"
USAGE_FILE = COMPOSE / "usage.yml"
USAGE_SCRAPE_FILE = COMPOSE / "usage.prometheus.yml"
PROMETHEUS_FILE = COMPOSE / "prometheus.yml"
ALERTMANAGER_FILE = COMPOSE / "alertmanager.yml"
DISCOVERY_RULES_TEST = COMPOSE / "discovery.rules.test.yml"
RULES_FILE = ROOT / "grafana/alerts/swarm-sentinel.rules.yml"
USAGE_RULES_FILE = ROOT / "grafana/alerts/swarm-usage.rules.yml"
DASHBOARDS = ROOT / "grafana/dashboards"
USAGE_DASHBOARD = "swarm-usage.json"
"""Mounted by the usage override: its panels read the usage jobs' records."""

SERVICE = "swarm-sentinel"
SOCKET = "/var/run/docker.sock"
JOB = "swarm-sentinel"
"""The scrape job of compose/prometheus.yml. Not a contract: the alert rules and the
dashboards recognise swarm-sentinel's targets by the series they export (dockerswarm_up)."""

LAB_ENGINES = ("modern",)  # what operators run; the exporter's scenarios cover 20.10 too
TEST_STACK = "sstest"
PROBE = "probe"
BROKEN = "broken"
PROBE_PORT = 9676


# ------------------------------------------------------------------ helpers


def docker_cli(
    args: Sequence[str],
    *,
    host: str,
    env: Mapping[str, str] | None = None,
    config_dir: Path,
    timeout: float = 60,
) -> subprocess.CompletedProcess[str]:
    """Run the docker CLI against `host` only: no inherited DOCKER_* settings, contexts
    or credential helpers of whoever runs the tests."""
    exe = shutil.which("docker")
    if exe is None:
        pytest.skip("the docker CLI is not installed")
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DOCKER_", "COMPOSE_"))}
    clean.update({"DOCKER_HOST": host, "DOCKER_CONFIG": str(config_dir), **(env or {})})
    return subprocess.run(
        [exe, *args], capture_output=True, text=True, env=clean, timeout=timeout, check=False
    )


def stack_config(
    files: Sequence[Path], tmp_path: Path, env: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """`docker stack config` of `files`, parsed; no engine behind DOCKER_HOST at all."""
    result = docker_cli(
        ["stack", "config", *(a for f in files for a in ("-c", str(f)))],
        host=f"unix://{tmp_path}/no-engine-here.sock",
        env=env,
        config_dir=tmp_path,
    )
    assert result.returncode == 0, f"docker stack config failed:\n{result.stderr}"
    config: dict[str, Any] = yaml.safe_load(result.stdout)
    return config


def load_yaml(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(path.read_text())
    return data


def tool(name: str, *args: str | Path) -> subprocess.CompletedProcess[str]:
    exe = shutil.which(name)
    if exe is None:
        pytest.skip(f"{name} is not installed")
    return subprocess.run(
        [exe, *map(str, args)], capture_output=True, text=True, timeout=60, check=False
    )


def project_meta() -> dict[str, Any]:
    meta: dict[str, Any] = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return meta


def stack_image() -> str:
    """The image the stack file names when no variable is set."""
    return f"swarm-sentinel:{project_meta()['version']}"


def swarm_sentinel_job() -> dict[str, Any]:
    jobs = [j for j in load_yaml(PROMETHEUS_FILE)["scrape_configs"] if j["job_name"] == JOB]
    assert len(jobs) == 1, f"compose/prometheus.yml needs exactly one job {JOB!r}"
    job: dict[str, Any] = jobs[0]
    return job


# ------------------------------------------------------------------ offline checks


def test_stack_file_passes_docker_stack_config(tmp_path: Path) -> None:
    config = stack_config([STACK_FILE], tmp_path)
    services = config["services"]
    assert set(services) == {SERVICE, "prometheus", "alertmanager", "grafana"}

    sentinel = services[SERVICE]
    assert sentinel["image"] == stack_image()
    assert sentinel["deploy"]["mode"] == "global"
    assert "placement" not in sentinel["deploy"], "one instance on every node, workers too"
    assert sentinel["user"] == "0:0", "root unless SWARM_SENTINEL_USER says otherwise"
    assert not config.get("secrets"), "a first deploy must need nothing created first"
    (socket,) = [v for v in sentinel["volumes"] if v["target"] == SOCKET]
    assert socket == {"type": "bind", "source": SOCKET, "target": SOCKET, "read_only": True}
    assert sentinel["ports"] == [
        {"mode": "host", "target": DEFAULT_PORT, "published": DEFAULT_PORT, "protocol": "tcp"}
    ]
    env = sentinel["environment"]
    assert env["SWARM_SENTINEL_DOCKER_HOST"] == f"unix://{SOCKET}"
    assert env["SWARM_SENTINEL_WEB_LISTEN_ADDRESS"] == f":{DEFAULT_PORT}"
    assert {"SWARM_SENTINEL_HEALER_ENABLED", "SWARM_SENTINEL_HEALER_DRY_RUN"} <= set(env)

    networks = config["networks"]
    for name, service in services.items():
        limits = service["deploy"]["resources"]["limits"]
        assert limits.get("cpus") and limits.get("memory"), f"{name} has no resource limits"
        for network in service["networks"]:
            assert networks[network]["driver"] == "overlay", f"{name}: {network} not overlay"
    # Prometheus, Alertmanager and Grafana share one network with the exporters.
    shared = set.intersection(*(set(s["networks"]) for s in services.values()))
    assert shared, "no network common to all services"


def test_hardening_is_one_variable_or_override_away(tmp_path: Path) -> None:
    hardened = stack_config([STACK_FILE], tmp_path, env={"SWARM_SENTINEL_USER": "10001:999"})
    assert hardened["services"][SERVICE]["user"] == "10001:999"
    secret = stack_config([STACK_FILE, GRAFANA_SECRET_FILE], tmp_path)
    grafana = secret["services"]["grafana"]
    assert grafana["environment"]["GF_SECURITY_ADMIN_PASSWORD__FILE"] == (
        "/run/secrets/grafana_admin_password"
    )
    assert [s["source"] for s in grafana["secrets"]] == ["grafana_admin_password"]
    assert secret["secrets"]["grafana_admin_password"]["external"] is True
    # The override changes nothing else of the base file's Grafana.
    base = stack_config([STACK_FILE], tmp_path)["services"]["grafana"]
    grafana["environment"].pop("GF_SECURITY_ADMIN_PASSWORD__FILE")
    grafana.pop("secrets")
    for service in (grafana, base):  # merging reorders the list
        service["configs"].sort(key=lambda c: c["source"])
    assert grafana == base


def test_socket_proxy_override_takes_the_socket_away(tmp_path: Path) -> None:
    config = stack_config([STACK_FILE, PROXY_FILE], tmp_path)
    sentinel = config["services"][SERVICE]
    proxy = config["services"]["socket-proxy"]

    assert not [v for v in sentinel["volumes"] if v["type"] == "bind"], "socket still mounted"
    env = sentinel["environment"]
    assert env["SWARM_SENTINEL_DOCKER_HOST"] == "tcp://socket-proxy:2375"
    assert sentinel["user"] == "10001:10001"
    # Behind a shared virtual IP no instance reaches its own node's engine: back to the
    # managers only, failures counted from the managers' histories, no container events.
    assert sentinel["deploy"]["placement"]["constraints"] == ["node.role == manager"]
    assert env["SWARM_SENTINEL_WATCH_CONTAINERS"] == "false"
    assert env["SWARM_SENTINEL_WATCH_TASK_HISTORY"] == "true"
    # The sentinel keeps everything else of the base file.
    assert sentinel["deploy"]["mode"] == "global" and sentinel["ports"]

    assert proxy["image"].startswith("tecnativa/docker-socket-proxy:")
    assert proxy["deploy"]["mode"] == "global"
    assert proxy["deploy"]["placement"]["constraints"] == ["node.role == manager"]
    granted = {k for k, v in proxy["environment"].items() if v == "1"}
    assert granted == {"INFO", "NODES", "SERVICES", "TASKS", "EVENTS", "POST"}
    (socket,) = proxy["volumes"]
    assert socket["source"] == SOCKET and socket["type"] == "bind"
    assert "ports" not in proxy, "the Engine API must not be published"
    assert set(proxy["networks"]) & set(sentinel["networks"])
    assert config["networks"]["docker-api"].get("internal") is True


def test_every_mounted_file_exists() -> None:
    for compose in (STACK_FILE, PROXY_FILE, GRAFANA_SECRET_FILE, USAGE_FILE):
        for name, entry in (load_yaml(compose).get("configs") or {}).items():
            path = (compose.parent / entry["file"]).resolve()
            assert path.is_file(), f"{compose.name}: config {name} names missing {path}"
    stack = load_yaml(STACK_FILE)
    used = {c["source"] for s in stack["services"].values() for c in s.get("configs", ())}
    assert used == set(stack["configs"]), "configs defined and configs used differ"
    mounted = {Path(stack["configs"][c]["file"]).name for c in used}
    usage = {Path(c["file"]).name for c in load_yaml(USAGE_FILE)["configs"].values()}
    dashboards = {p.name for p in DASHBOARDS.glob("*.json")}
    assert dashboards - {USAGE_DASHBOARD} <= mounted, "a dashboard is not mounted"
    assert USAGE_DASHBOARD in usage - mounted, "the usage dashboard comes with its jobs"


def test_grafana_provisioning_matches_the_stack() -> None:
    stack = load_yaml(STACK_FILE)
    grafana = stack["services"]["grafana"]
    targets = {
        Path(stack["configs"][c["source"]]["file"]).name: c["target"] for c in grafana["configs"]
    }
    usage = load_yaml(USAGE_FILE)
    for config in usage["services"]["grafana"]["configs"]:
        targets[Path(usage["configs"][config["source"]]["file"]).name] = config["target"]
    provider = load_yaml(ROOT / "grafana/provisioning/dashboards/swarm-sentinel.yml")
    dashboard_dir = provider["providers"][0]["options"]["path"]
    for dashboard in DASHBOARDS.glob("*.json"):
        assert targets[dashboard.name] == f"{dashboard_dir}/{dashboard.name}"
    assert targets["prometheus.yml"].startswith("/etc/grafana/provisioning/datasources/")
    assert targets["swarm-sentinel.yml"].startswith("/etc/grafana/provisioning/dashboards/")
    (source,) = load_yaml(ROOT / "grafana/provisioning/datasources/prometheus.yml")["datasources"]
    assert source["url"] == "http://prometheus:9090", "datasource must name the stack's service"
    assert "prometheus" in stack["services"]


def test_prometheus_config_matches_the_stack() -> None:
    stack = load_yaml(STACK_FILE)
    job = swarm_sentinel_job()
    (sd,) = job["dns_sd_configs"]
    assert sd["names"] == [f"tasks.{SERVICE}"] and sd["type"] == "A"
    assert sd["port"] == DEFAULT_PORT
    assert SERVICE in stack["services"]
    # The rules Prometheus loads are the ones the stack mounts, the shipped ones included.
    prom = load_yaml(PROMETHEUS_FILE)
    mounted = {
        Path(stack["configs"][c["source"]]["file"]).name: c["target"]
        for c in stack["services"]["prometheus"]["configs"]
    }
    rule_targets = [t for t in mounted.values() if t.endswith(".rules.yml")]
    assert RULES_FILE.name in mounted and "discovery.rules.yml" in mounted
    for target in rule_targets:
        assert any(fnmatch.fnmatch(target, g) for g in prom["rule_files"]), target
    assert mounted["prometheus.yml"] == "/etc/prometheus/prometheus.yml"
    for rules in (RULES_FILE, COMPOSE / "discovery.rules.yml"):
        assert not re.search(r"\bjob\s*[!=]~?", rules.read_text()), f"{rules.name} selects a job"
    ((am,),) = [c["targets"] for c in prom["alerting"]["alertmanagers"][0]["static_configs"]]
    assert am.split(":")[0] in stack["services"]


def inlined_prometheus_config(tmp_path: Path, scrape_files: Sequence[Path]) -> Path:
    """compose/prometheus.yml with the jobs of `scrape_files` in its scrape_configs, as
    Prometheus 2.43+ reads its scrape_config_files: Debian's promtool (2.42) predates them.
    Each file must be mounted where the base config's glob finds it."""
    config = load_yaml(PROMETHEUS_FILE)
    globs = config.pop("scrape_config_files")
    for path in scrape_files:
        config["scrape_configs"] += load_yaml(path)["scrape_configs"]
    out = tmp_path / "prometheus-inlined.yml"
    out.write_text(yaml.safe_dump(config, sort_keys=False))
    assert globs, "no scrape_config_files glob for the overrides' jobs"
    return out


def test_promtool_and_amtool_accept_the_configs(tmp_path: Path) -> None:
    for result in (
        tool("promtool", "check", "config", inlined_prometheus_config(tmp_path, [])),
        tool(
            "promtool",
            "check",
            "config",
            inlined_prometheus_config(tmp_path, [USAGE_SCRAPE_FILE]),
        ),
        tool("promtool", "check", "rules", USAGE_RULES_FILE),
        tool("promtool", "check", "rules", COMPOSE / "discovery.rules.yml"),
        tool("promtool", "test", "rules", DISCOVERY_RULES_TEST),
        tool("amtool", "check-config", ALERTMANAGER_FILE),
    ):
        assert result.returncode == 0, f"{result.args}:\n{result.stdout}{result.stderr}"


def test_usage_override_adds_the_usage_jobs(tmp_path: Path) -> None:
    """compose/usage.yml: cAdvisor and node-exporter on every node with pinned images, the
    usage jobs and rules mounted where compose/prometheus.yml's globs read them, the socket
    for their node discovery; nothing else of the base stack changed."""
    base = stack_config([STACK_FILE], tmp_path)
    config = stack_config([STACK_FILE, USAGE_FILE], tmp_path)
    services = config["services"]
    assert set(services) == set(base["services"]) | {"cadvisor", "node-exporter"}
    for name in ("cadvisor", "node-exporter"):
        service = services[name]
        assert service["deploy"]["mode"] == "global", name
        assert "placement" not in service["deploy"], f"{name}: one on every node"
        assert re.fullmatch(r"[\w./-]+:v\d+\.\d+\.\d+", service["image"]), service["image"]
        assert all(v["read_only"] for v in service["volumes"]), f"{name} writes to the host"
        limits = service["deploy"]["resources"]["limits"]
        assert limits.get("cpus") and limits.get("memory"), name

    prom = load_yaml(PROMETHEUS_FILE)
    prometheus = services["prometheus"]
    targets = {
        Path(config["configs"][c["source"]]["file"]).name: c["target"]
        for c in prometheus["configs"]
    }
    assert fnmatch.fnmatch(targets[USAGE_SCRAPE_FILE.name], prom["scrape_config_files"][0])
    assert any(fnmatch.fnmatch(targets[USAGE_RULES_FILE.name], g) for g in prom["rule_files"])
    (socket,) = [v for v in prometheus["volumes"] if v["target"] == SOCKET]
    assert socket["source"] == SOCKET and socket["read_only"] is True
    assert prometheus["user"] == "0:0", "root unless PROMETHEUS_USER says otherwise"
    assert "node.role == manager" in prometheus["deploy"]["placement"]["constraints"]
    grafana = {c["target"] for c in services["grafana"]["configs"]}
    assert f"/var/lib/grafana/dashboards/{USAGE_DASHBOARD}" in grafana

    # The jobs find what the override runs: cAdvisor by its tasks' DNS name on a network it
    # shares with Prometheus, node-exporter on each node's own address (the host network)
    # at the port the discovery asks.
    jobs = {j["job_name"]: j for j in load_yaml(USAGE_SCRAPE_FILE)["scrape_configs"]}
    (dns,) = jobs["cadvisor"]["dns_sd_configs"]
    assert dns["names"] == ["tasks.cadvisor"]
    assert set(services["cadvisor"]["networks"]) & set(prometheus["networks"])
    assert list(services["node-exporter"]["networks"]) == ["host"]
    assert config["networks"]["host"] == {"name": "host", "external": True}
    (nodes,) = jobs["node-exporter"]["dockerswarm_sd_configs"]
    assert nodes["host"] == f"unix://{SOCKET}" and nodes["role"] == "nodes"
    assert "--web.listen-address=:" + str(nodes["port"]) in services["node-exporter"]["command"]
    (engines,) = jobs["engine"]["dockerswarm_sd_configs"]
    assert engines["port"] == 9323, "the port docs/deploy.md gives metrics-addr"

    # Nothing else of the base: Prometheus and Grafana keep what they had.
    for name in ("prometheus", "grafana"):
        merged, original = dict(services[name]), dict(base["services"][name])
        merged["configs"] = [c for c in merged["configs"] if c in original["configs"]]
        if name == "prometheus":
            merged.pop("user")
            merged["volumes"] = [v for v in merged["volumes"] if v["target"] != SOCKET]
        for service in (merged, original):  # merging reorders the lists
            service["configs"] = sorted(service["configs"], key=lambda c: c["source"])
        assert merged == original, name
    for name in set(base["services"]) - {"prometheus", "grafana"}:
        assert services[name] == base["services"][name], name


def test_dockerfile_final_stage() -> None:
    stages = image_build.dockerfile_stages()
    assert "ARG PYTHON_IMAGE=python:3.11-slim" in {f"{i.keyword} {i.args}" for i in stages[0]}
    final = {i.keyword: i.args for i in image_build.final_stage()}
    assert final["FROM"] == "${PYTHON_IMAGE}"
    uid, gid = image_build.image_user()
    assert uid != 0 and gid != 0
    assert final["EXPOSE"] == str(DEFAULT_PORT)
    assert "/healthz" in final["HEALTHCHECK"] and f"':{DEFAULT_PORT}'" in final["HEALTHCHECK"]
    (script,) = project_meta()["scripts"]
    assert final["ENTRYPOINT"] == f'["{script}"]'
    version = project_meta()["version"]
    labels = " ".join(i.args for i in image_build.final_stage() if i.keyword == "LABEL")
    assert f'org.opencontainers.image.version="{version}"' in labels
    assert "org.opencontainers.image.revision=$REVISION" in labels  # docker build --build-arg
    # The build stage copies every package setuptools would find, and .dockerignore lets
    # each copied source through.
    sources = image_build.build_sources()
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    for pattern in patterns["packages"]["find"]["include"]:
        assert any(fnmatch.fnmatch(s, pattern) for s in sources), f"no COPY for {pattern}"
    ignore = (ROOT / ".dockerignore").read_text().split()
    for source in sources:
        assert f"!{source}" in ignore, f".dockerignore keeps {source} out of the context"


# ------------------------------------------------------------------ on the lab swarm


OUT_OF_SEQUENCE = "update out of sequence"
"""The engine's answer to a service update posted at a version no longer current."""


@dataclass
class Deployment:
    lab: Lab
    docker_gid: int
    dns_name: str
    scrape_port: int
    work: Path
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def sockets(self) -> Path:
        """One symlink per node hostname to that node's engine socket."""
        return self.work / "sockets"

    def deploy(self, env: Mapping[str, str] | None = None) -> None:
        """`docker stack deploy` of the stack file as `env` resolves it (lab_stack)."""
        config = stack_config([STACK_FILE], self.work, env=env)
        stack_file = self.work / "stack.yml"
        stack_file.write_text(yaml.safe_dump(lab_stack(config, self), sort_keys=False))
        for _ in range(3):
            result = docker_cli(
                [
                    *("stack", "deploy", "--detach=true", "--resolve-image", "never"),
                    *("-c", str(stack_file), TEST_STACK),
                ],
                host=self.lab.node("m1").url,
                config_dir=self.work,
                timeout=120,
            )
            # The deployed healer forces BROKEN whenever it is down: a force between
            # the CLI's read of it and its write turns the write away. As an operator
            # would, deploy again (the services already updated are left as they are).
            if OUT_OF_SEQUENCE not in result.stderr:
                break
        assert result.returncode == 0, f"docker stack deploy failed:\n{result.stderr}"

    @property
    def service(self) -> str:
        return f"{TEST_STACK}_{SERVICE}"

    @property
    def network(self) -> str:
        return f"{TEST_STACK}_monitoring"

    def tasks(self, service: str | None = None) -> list[dict[str, Any]]:
        with closing(self.lab.manager_client()) as api:
            found: list[dict[str, Any]] = api.tasks(
                filters={"service": service or self.service, "desired-state": "running"}
            )
            return found

    def node_name(self, swarm_id: str) -> str:
        return next(n.name for n in self.lab.nodes if self.lab.swarm_id(n) == swarm_id)

    def update_status(self) -> str:
        """The service's rolling update as the managers report it."""
        try:
            with closing(self.lab.manager_client()) as api:
                status = api.inspect_service(self.service).get("UpdateStatus") or {}
        except CALL_ERRORS as err:
            return f"(unreadable: {err})"
        return f"{status.get('State', 'none')} {status.get('Message', '')}".strip()

    def describe_tasks(self) -> str:
        try:
            return "; ".join(
                f"{self.node_name(t['NodeID'])}: {t['Status']['State']} "
                f"{t['Status'].get('Err') or t['Status'].get('Message', '')}"
                for t in self.tasks()
            )
        except CALL_ERRORS as err:
            return f"(tasks unreadable: {err})"


def escape_dollars(value: Any) -> Any:
    """Compose interpolates `$`: a literal one must be written `$$`."""
    if isinstance(value, str):
        return value.replace("$", "$$")
    if isinstance(value, list):
        return [escape_dollars(v) for v in value]
    if isinstance(value, dict):
        return {k: escape_dollars(v) for k, v in value.items()}
    return value


def probe_script(dns_name: str, port: int) -> str:
    """What Prometheus's dns_sd does, in busybox: resolve the name, scrape each address.
    Serves one line per address, `<ip> <lines matching dockerswarm_up 1>`."""
    return (
        "mkdir -p /tmp/www; echo starting > /tmp/www/index.html; "
        "while true; do "
        f"for ip in $(nslookup {dns_name} 2>/dev/null "
        "| sed -n 's/^Address:[[:space:]]*\\([0-9.]*\\)$/\\1/p'); do "
        f"echo $ip $(wget -q -O - http://$ip:{port}/metrics "
        "| grep -c '^dockerswarm_up 1'); "
        "done > /tmp/www/new; mv /tmp/www/new /tmp/www/index.html; sleep 1; "
        "done & "
        f"exec httpd -f -p {PROBE_PORT} -h /tmp/www"
    )


def lab_stack(config: dict[str, Any], deployment: Deployment) -> dict[str, Any]:
    """The stack file's swarm-sentinel (as `docker stack config` resolved it) plus the
    probe; Prometheus, Alertmanager and Grafana left out: their images cannot be pulled."""
    sentinel = config["services"][SERVICE]
    # Every lab node has its own engine socket; a template picks the node's own.
    for volume in sentinel["volumes"]:
        if volume["target"] == SOCKET:
            volume["source"] = str(deployment.sockets / "{{.Node.Hostname}}.sock")
    # Same healthcheck command (the image's), checked every 2 s instead of 30 s.
    sentinel["healthcheck"] = {"interval": "2s"}
    # Same rolling update, without the 10 s pause between nodes: a redeploy of the
    # global service (test_hardened_user_is_one_variable_away) is about the user it
    # runs as, not the pacing, and sat out that pause node after node.
    deploy = sentinel["deploy"]
    deploy["update_config"] = {**deploy["update_config"], "delay": "1s"}
    networks = list(sentinel["networks"])
    probe = {
        "image": BUSYBOX_IMAGE,
        "command": ["sh", "-c", probe_script(deployment.dns_name, deployment.scrape_port)],
        "networks": networks,
        "ports": [{"target": PROBE_PORT, "published": PROBE_PORT, "mode": "host"}],
        # httpd as PID 1 ignores SIGTERM: do not sit out the 10 s grace period at removal.
        "stop_signal": "SIGKILL",
        "deploy": {
            "replicas": 1,
            "placement": {"constraints": ["node.role == worker"]},
            "restart_policy": {"condition": "any", "delay": "1s"},
        },
    }
    # A labelled service that fails and stays down: the deployed healer must force it.
    broken = {
        "image": BUSYBOX_IMAGE,
        "command": ["sh", "-c", "exit 1"],
        "networks": networks,
        "stop_signal": "SIGKILL",
        "deploy": {
            "replicas": 1,
            "labels": {LABEL_HEAL: "true", LABEL_THRESHOLD: "2s"},
            "restart_policy": {"condition": "on-failure", "max_attempts": 1, "delay": "1s"},
        },
    }
    stack: dict[str, Any] = escape_dollars(
        {
            "version": config["version"],
            "services": {SERVICE: sentinel, PROBE: probe, BROKEN: broken},
            "networks": {n: config["networks"][n] for n in networks},
        }
    )
    return stack


def http_get(url: str, timeout: float = 3) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def metric(text: str, name: str) -> float | None:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and not sample.labels:
                return sample.value
    return None


def remove_stack(deployment: Deployment, config_dir: Path, problems: list[str]) -> None:
    """`docker stack rm`, then wait until its services, containers and network are gone
    and drop the image from every node. Problems are collected, not raised."""
    lab = deployment.lab
    label = f"com.docker.stack.namespace={TEST_STACK}"
    # Its answer is not the verdict: the CLI removes the network right after the services
    # and says "in use" while their tasks still shut down. The wait below removes it then.
    rm = docker_cli(["stack", "rm", TEST_STACK], host=lab.node("m1").url, config_dir=config_dir)

    def gone() -> bool:
        with closing(lab.manager_client()) as api:
            if api.services(filters={"label": label}):
                return False
            for node in lab.nodes:
                with closing(node.client()) as client:
                    if client.containers(all=True, filters={"label": label}):
                        return False
            networks = api.networks(names=[deployment.network])
            for network in networks:
                api.remove_network(network["Id"])
            return not networks

    try:
        wait_for(gone, 60, f"stack {TEST_STACK} removed (services, containers, network)")
    except AssertionError as err:
        problems.append(f"{err}; docker stack rm said: {rm.stdout.strip()} {rm.stderr.strip()}")
    for node in lab.nodes:
        try:
            with closing(node.client()) as client:
                client.remove_image(stack_image())
        except docker.errors.ImageNotFound:
            pass
        except CALL_ERRORS as err:
            problems.append(f"removing {stack_image()} on {node.name}: {err}")


@pytest.fixture(scope="module")
def deployment(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """The stack's swarm-sentinel deployed on the lab; removed (stack, containers,
    network, image on every node) at the end, whatever happened."""
    work = tmp_path_factory.mktemp("compose-lab")
    gid = lab.node("m1").socket.stat().st_gid
    (sd,) = swarm_sentinel_job()["dns_sd_configs"]
    dep = Deployment(lab, gid, sd["names"][0], int(sd["port"]), work)
    problems: list[str] = []
    try:
        started = time.monotonic()
        tar, built = image_build.build_image_tar(work / "image")
        dep.timings["build"] = time.monotonic() - started
        dep.timings["rootfs_mb"] = built.size() / 1e6
        shutil.rmtree(built.path)  # 50 MB that pytest would keep for three runs

        started = time.monotonic()
        image_build.import_everywhere(
            [n.url for n in lab.nodes], tar, stack_image(), image_build.image_changes()
        )
        dep.timings["import"] = time.monotonic() - started
        del tar

        dep.sockets.mkdir()
        for node in lab.nodes:
            (dep.sockets / f"{node.hostname}.sock").symlink_to(node.socket)
        started = time.monotonic()
        dep.deploy()  # as it is: no variable set
        dep.timings["deploy_cli"] = time.monotonic() - started
        yield dep
    finally:
        started = time.monotonic()
        remove_stack(dep, work, problems)
        dep.timings["remove"] = time.monotonic() - started
        print(f"\ncompose lab timings: {dep.timings}")
    assert not problems, "cleanup failed: " + "; ".join(problems)


def test_runs_on_every_node(deployment: Deployment) -> None:
    lab = deployment.lab
    everywhere = sorted(n.name for n in lab.nodes)
    started = time.monotonic()

    def running_on() -> list[str] | None:
        tasks = [t for t in deployment.tasks() if t["DesiredState"] == "running"]
        on = sorted(deployment.node_name(t["NodeID"]) for t in tasks)
        states = {t["Status"]["State"] for t in tasks}
        return on if on == everywhere and states == {"running"} else None

    try:
        wait_for(running_on, 90, f"{deployment.service} running on {everywhere}")
    except AssertionError as err:
        raise AssertionError(f"{err}; tasks: {deployment.describe_tasks()}") from None
    deployment.timings["converge"] = time.monotonic() - started


def test_each_node_serves_its_metrics(deployment: Deployment) -> None:
    """A manager's instance reports the cluster; a worker's is ready, says it is a
    worker, and reports its own node's task containers."""
    started = time.monotonic()
    for node in deployment.lab.managers:
        url = f"http://{node.ip}:{DEFAULT_PORT}"

        def managers(url: str = url) -> bool:
            status, text = http_get(f"{url}/metrics")
            return status == 200 and metric(text, "dockerswarm_managers") == 3

        try:
            wait_for(managers, 90, f"dockerswarm_managers 3 at {url}/metrics")
        except AssertionError as err:
            raise AssertionError(f"{err}; tasks: {deployment.describe_tasks()}") from None
        assert http_get(f"{url}/healthz") == (200, "ok\n")
    (worker,) = deployment.lab.workers
    url = f"http://{worker.ip}:{DEFAULT_PORT}"
    wait_for(lambda: http_get(f"{url}/ready")[0] == 200, 90, f"{url}/ready")
    # A task that dies on the worker once its instance follows the worker's engine (a
    # container that started before it is not news to it).
    oneshot = "compose-oneshot"
    with services(deployment.lab) as made:
        made.create(
            oneshot,
            ["sh", "-c", "exit 3"],
            restart_condition="none",
            constraints=["node.role == worker"],
        )

        def reports_its_containers() -> str | None:
            status, text = http_get(f"{url}/metrics")
            if status != 200:
                return None
            codes = [
                s.value
                for f in text_string_to_metric_families(text)
                for s in f.samples
                if s.name == "dockerswarm_container_last_exit_code"
                and s.labels.get("service_name") == oneshot
                and s.labels.get("hostname") == worker.hostname
            ]
            return text if codes == [3] else None

        try:
            text = wait_for(reports_its_containers, 60, f"{oneshot}'s exit code 3 at {url}")
        except AssertionError as err:
            raise AssertionError(f"{err}; tasks: {deployment.describe_tasks()}") from None
    assert 'dockerswarm_exporter_role{role="worker"} 1' in text
    assert metric(text, "dockerswarm_exporter_container_stream_up") == 1
    assert metric(text, "dockerswarm_managers") is None, "a worker reports no cluster"
    assert http_get(f"{url}/ready")[0] == 200
    deployment.timings["metrics"] = time.monotonic() - started


def wait_healthy_as(deployment: Deployment, uid: int, gid: int, within: float = 150) -> None:
    """On every node, a container of the service passes the image's HEALTHCHECK while
    running as ``uid:gid``: the read-only bind of the socket lets it talk to the engine.
    One deadline for all nodes: a rolling update reaches them in its own order, so the
    first node asked may be the last one updated."""
    label = f"com.docker.swarm.service.name={deployment.service}"
    deadline = time.monotonic() + within
    for node in deployment.lab.nodes:

        def healthy(node_url: str = node.url) -> dict[str, Any] | None:
            with closing(docker_client(node_url, timeout=10)) as client:
                for container in client.containers(filters={"label": label}):
                    info: dict[str, Any] = client.inspect_container(container["Id"])
                    if (
                        info["Config"]["User"] == f"{uid}:{gid}"
                        and info["State"].get("Health", {}).get("Status") == "healthy"
                    ):
                        return info
            return None

        try:
            info = wait_for(
                healthy,
                max(deadline - time.monotonic(), 1.0),
                f"a healthy container as {uid}:{gid} on {node.name}",
            )
        except AssertionError as err:
            raise AssertionError(
                f"{err}; tasks: {deployment.describe_tasks()}; update: {deployment.update_status()}"
            ) from None
        status = Path(f"/proc/{info['State']['Pid']}/status").read_text()
        ids = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        assert ids["Uid"].split()[:2] == [str(uid)] * 2, ids["Uid"]
        assert ids["Gid"].split()[:2] == [str(gid)] * 2, ids["Gid"]
        socket = next(m for m in info["Mounts"] if m["Destination"] == SOCKET)
        assert socket["RW"] is False


def test_containers_are_healthy_as_deployed(deployment: Deployment) -> None:
    """Deployed as it is, the stack runs swarm-sentinel as root."""
    started = time.monotonic()
    wait_healthy_as(deployment, 0, 0)
    deployment.timings["healthy"] = time.monotonic() - started


def test_prometheus_dns_name_finds_every_exporter(deployment: Deployment) -> None:
    """From the worker, over the overlay network: the name compose/prometheus.yml uses
    resolves to every node's task's address, and each serves the metrics."""
    started = time.monotonic()
    expected: set[str] = set()
    for task in [t for t in deployment.tasks() if t["DesiredState"] == "running"]:
        for attachment in task.get("NetworksAttachments") or ():
            if attachment["Network"]["Spec"]["Name"] == deployment.network:
                expected |= {a.split("/")[0] for a in attachment["Addresses"]}
    assert len(expected) == len(deployment.lab.nodes), expected
    (worker,) = deployment.lab.workers
    url = f"http://{worker.ip}:{PROBE_PORT}/"
    seen: list[str] = []

    def scraped() -> bool:
        status, text = http_get(url)
        seen.append(text.strip())
        lines = dict(line.split(" ", 1) for line in text.strip().splitlines() if " " in line)
        return status == 200 and set(lines) == expected and set(lines.values()) == {"1"}

    try:
        wait_for(scraped, 90, f"{deployment.dns_name} resolving to {sorted(expected)}")
    except AssertionError as err:
        probe = f"{TEST_STACK}_{PROBE}"
        raise AssertionError(
            f"{err}; probe last served {seen[-1:]!r}; probe tasks: "
            + "; ".join(
                f"{t['Status']['State']} {t['Status'].get('Err', '')}"
                for t in deployment.tasks(probe)
            )
        ) from None
    deployment.timings["dns_scrape"] = time.monotonic() - started
    assert re.fullmatch(r"tasks\.[a-z0-9-]+", deployment.dns_name)


def test_healer_writes_through_the_read_only_socket_mount(deployment: Deployment) -> None:
    """The read-only bind is no write protection: the deployed healer forces a broken
    labelled service (a POST /services/<id>/update) through it, as intended."""
    started = time.monotonic()
    name = f"{TEST_STACK}_{BROKEN}"

    def forced() -> dict[str, Any] | None:
        with closing(deployment.lab.manager_client()) as api:
            spec: dict[str, Any] = api.inspect_service(name)["Spec"]
        forces = spec["TaskTemplate"].get("ForceUpdate") or 0
        return spec if forces >= 1 else None

    spec = wait_for(forced, 60, f"the healer forcing {name}")
    assert LABEL_STATE in spec["Labels"], spec["Labels"]
    deployment.timings["healed"] = time.monotonic() - started


def test_hardened_user_is_one_variable_away(deployment: Deployment) -> None:
    """Redeployed with SWARM_SENTINEL_USER=10001:<the socket's GID>, the image's own user
    with the docker group, it still reaches the engine: healthy, and no root."""
    started = time.monotonic()
    uid, _ = image_build.image_user()
    user = f"{uid}:{deployment.docker_gid}"
    deployment.deploy({"SWARM_SENTINEL_USER": user})
    wait_healthy_as(deployment, uid, deployment.docker_gid)
    deployment.timings["hardened"] = time.monotonic() - started
