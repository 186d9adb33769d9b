"""A real Prometheus server for tests: scrapes given targets, evaluates the alert rules.

    with running_prometheus(["127.0.0.1:9675"]) as prom:
        prom.query("max(dockerswarm_managers)")   # the result list of /api/v1/query
        prom.alerts()                              # pending and firing alerts

Prometheus (/usr/bin/prometheus, Debian) runs as a subprocess on 127.0.0.1:<free port>
with its config, data and log in a temporary directory that ``stop()`` removes. It
scrapes and evaluates every second. ``for_override`` loads a derived copy of the rule
file with every ``for:`` replaced, so a fault walk-through does not wait minutes; the
promtool unit tests (tests/test_grafana_alerts.py) check the real durations.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from grafana.exprs import RULES_FILE
from tests.support.sentinel import free_port, wait_for

PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
JOB = "swarm-sentinel"
"""The job name the alert rules and dashboards select (up{job="swarm-sentinel"})."""


class PrometheusError(Exception):
    """Prometheus answered a request with status "error", or exited. Not retried by
    ``wait_for`` (a connection error, an OSError, is)."""


@dataclass(frozen=True)
class Alert:
    """One active alert of /api/v1/alerts."""

    name: str
    state: str
    """pending or firing"""
    labels: dict[str, str]
    value: str

    def __str__(self) -> str:
        extra = {k: v for k, v in sorted(self.labels.items()) if k not in ("alertname", "severity")}
        return f"{self.name}[{self.state}]{extra}"


def derive_rules(source: Path, dest: Path, for_override: str) -> Path:
    """Write a copy of the rule file ``source`` to ``dest`` with every ``for:`` set to
    ``for_override`` (rules without ``for:`` keep firing at once); returns ``dest``."""
    data = yaml.safe_load(source.read_text(encoding="utf-8"))
    for group in data["groups"]:
        for rule in group["rules"]:
            if "for" in rule:
                rule["for"] = for_override
    dest.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return dest


class Prometheus:
    """One Prometheus process; ``stop()`` ends it and removes its directory."""

    def __init__(
        self,
        targets: Sequence[str],
        rules: Path = RULES_FILE,
        *,
        for_override: str | None = None,
        interval: str = "1s",
        groups: Sequence[tuple[Sequence[str], Mapping[str, str]]] = (),
        jobs: Sequence[Mapping[str, Any]] = (),
        more_rules: Sequence[Path] = (),
    ) -> None:
        """``groups``: more targets, each group with its target labels (e.g. the
        ``cluster`` of the swarm it watches). ``jobs``: more scrape configs, as written
        (scraped every ``interval``); ``more_rules``: more rule files, loaded as they are."""
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="swarm-sentinel-prometheus-"))
        self.log_path = self.dir / "prometheus.log"
        if for_override is not None:
            rules = derive_rules(rules, self.dir / "rules.yml", for_override)
        self.rules_file = rules
        config = {
            "global": {"scrape_interval": interval, "evaluation_interval": interval},
            "rule_files": [str(rules), *map(str, more_rules)],
            "scrape_configs": [
                {
                    "job_name": JOB,
                    "scrape_interval": interval,
                    "scrape_timeout": interval,
                    "static_configs": [
                        *([{"targets": list(targets)}] if targets else []),
                        *({"targets": list(t), "labels": dict(lb)} for t, lb in groups),
                    ],
                },
                *({**job, "scrape_interval": interval, "scrape_timeout": interval} for job in jobs),
            ],
        }
        self.config_file = self.dir / "prometheus.yml"
        self.config_file.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # ---------------------------------------------------------------- process

    def start(self, timeout: float = 30) -> Prometheus:
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [
                    PROMETHEUS,
                    f"--config.file={self.config_file}",
                    f"--storage.tsdb.path={self.dir / 'data'}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                    "--log.level=warn",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        wait_for(self._ready, timeout, f"Prometheus {self.url}/-/ready")
        return self

    def _ready(self) -> bool:
        self._check_alive()
        try:
            with urllib.request.urlopen(self.url + "/-/ready", timeout=2) as resp:
                return bool(resp.status == 200)
        except urllib.error.HTTPError:
            return False  # 503 while starting up

    def _check_alive(self) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            raise PrometheusError(f"prometheus exited ({self.proc.returncode}):\n{self.logs()}")

    def logs(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def stop(self) -> None:
        """SIGTERM, wait, SIGKILL if need be; then remove the directory. Idempotent."""
        try:
            if self.proc is not None and self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(15)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(5)
            self.proc = None
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)

    # -------------------------------------------------------------------- API

    def api(self, path: str, params: dict[str, str] | None = None) -> Any:
        """POST to /api/v1/<path>; the ``data`` of a success, else PrometheusError with
        Prometheus's errorType and error text."""
        self._check_alive()
        body = urllib.parse.urlencode(params or {}).encode()
        req = urllib.request.Request(f"{self.url}/api/v1/{path}", data=body, method="POST")
        req.add_header("Content-Type", "application/x-www-form-urlencoded")
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                answer = json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            # 400 bad_data (parse errors), 422 execution errors, 503 timeouts...
            text = exc.read().decode(errors="replace")
            try:
                answer = json.loads(text)
            except ValueError:
                raise PrometheusError(f"HTTP {exc.code} from /api/v1/{path}: {text}") from None
        if not isinstance(answer, dict) or answer.get("status") != "success":
            error = answer.get("error") if isinstance(answer, dict) else answer
            kind = answer.get("errorType", "?") if isinstance(answer, dict) else "?"
            raise PrometheusError(f"{kind}: {error}")
        return answer.get("data")

    def query(self, expr: str) -> list[dict[str, Any]]:
        """Instant query: the result list (vector samples; a scalar becomes one sample
        without labels). Raises PrometheusError with Prometheus's error text."""
        data = self.api("query", {"query": expr})
        if data["resultType"] in ("scalar", "string"):
            return [{"metric": {}, "value": data["result"]}]
        result: list[dict[str, Any]] = data["result"]
        return result

    def values(self, expr: str) -> dict[frozenset[tuple[str, str]], float]:
        """Instant query as {label set: value}."""
        return {frozenset(s["metric"].items()): float(s["value"][1]) for s in self.query(expr)}

    def scalar(self, expr: str) -> float | None:
        """The value of a query expected to give at most one sample (None when empty)."""
        result = self.query(expr)
        if len(result) > 1:
            raise PrometheusError(f"{expr} gave {len(result)} samples: {result}")
        return float(result[0]["value"][1]) if result else None

    def alerts(self) -> list[Alert]:
        """Active (pending or firing) alerts."""
        return [
            Alert(
                name=a["labels"]["alertname"],
                state=a["state"],
                labels=dict(a["labels"]),
                value=str(a.get("value", "")),
            )
            for a in self.api_get("alerts")["alerts"]
        ]

    def rules(self) -> list[dict[str, Any]]:
        """Every loaded rule with its health and lastError (/api/v1/rules)."""
        return [rule for group in self.api_get("rules")["groups"] for rule in group["rules"]]

    def evaluated(self) -> list[dict[str, Any]] | None:
        """Every loaded rule once each has been evaluated (none of health "unknown"), or
        None before: a rule group's first evaluation comes up to its interval after the
        start (a minute for the pinned recording increments)."""
        rules = self.rules()
        return rules if rules and all(r["health"] != "unknown" for r in rules) else None

    def targets(self) -> list[dict[str, Any]]:
        """Active scrape targets with health and lastError (/api/v1/targets)."""
        active: list[dict[str, Any]] = self.api_get("targets")["activeTargets"]
        return active

    def api_get(self, path: str) -> Any:
        """GET /api/v1/<path> (the endpoints that take no parameters)."""
        self._check_alive()
        try:
            with urllib.request.urlopen(f"{self.url}/api/v1/{path}", timeout=10) as resp:
                answer = json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            raise PrometheusError(f"HTTP {exc.code} from /api/v1/{path}: {exc.read()!r}") from None
        if answer.get("status") != "success":
            raise PrometheusError(f"{answer.get('errorType')}: {answer.get('error')}")
        return answer["data"]


@contextmanager
def running_prometheus(
    targets: Sequence[str],
    rules: Path = RULES_FILE,
    *,
    for_override: str | None = None,
    groups: Sequence[tuple[Sequence[str], Mapping[str, str]]] = (),
    jobs: Sequence[Mapping[str, Any]] = (),
    more_rules: Sequence[Path] = (),
) -> Iterator[Prometheus]:
    """A started Prometheus, stopped and removed afterwards whatever happens."""
    prom = Prometheus(
        targets, rules, for_override=for_override, groups=groups, jobs=jobs, more_rules=more_rules
    )
    try:
        prom.start()
        yield prom
    finally:
        prom.stop()
