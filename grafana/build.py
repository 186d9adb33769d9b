"""Generate the swarm-sentinel dashboards and Prometheus rules from one config (stdlib and
PyYAML only).

Usage (from the repository root)::

    python -m grafana.build                      # (re)write the dashboards and rule files
    python -m grafana.build --check              # exit 1 if a committed file is stale
    python -m grafana.build --set thresholds.max_managers=9 \\
        --set runbook_url=https://wiki.example.com/swarm/runbooks.md --out build/

Edit the Python (grafana/config.py for values, grafana/*_dashboard.py, grafana/alert_rules.py,
grafana/recording_rules.py), never the generated files. ``--out`` writes the whole set into
one directory (the repository's own places otherwise).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

from grafana.alert_rules import HEADER_DISCOVERY, HEADER_SHIPPED, discovery, shipped
from grafana.builder import render, stale_files, write_files
from grafana.config import DEFAULT, Config, ConfigError, override
from grafana.exprs import DASHBOARD_DIR, DISCOVERY_RULES_FILE, RULES_FILE, USAGE_RULES_FILE
from grafana.hazards_dashboard import hazards
from grafana.healer_dashboard import healer
from grafana.overview_dashboard import overview
from grafana.recording_rules import recording
from grafana.rules import render_rules
from grafana.services_dashboard import services
from grafana.usage_dashboard import usage_dashboard
from grafana.usage_rules import HEADER as HEADER_USAGE
from grafana.usage_rules import usage

DASHBOARDS = {
    "swarm-overview.json": overview,
    "swarm-services.json": services,
    "swarm-healer.json": healer,
    "swarm-hazards.json": hazards,
    "swarm-usage.json": usage_dashboard,
}
# Rule file -> its text. The recording rules ride in the shipped file: every deployment
# that loads the alerts (compose/swarm-sentinel.yml) then has what the dashboards read.
RULE_FILES: dict[Path, Callable[[Config], str]] = {
    RULES_FILE: lambda c: render_rules(HEADER_SHIPPED, [*recording(c), *shipped(c)], c),
    DISCOVERY_RULES_FILE: lambda c: render_rules(HEADER_DISCOVERY, discovery(c), c),
    # A file of its own: the usage override (compose/usage.yml) mounts it with its jobs.
    USAGE_RULES_FILE: lambda c: render_rules(HEADER_USAGE, usage(c), c),
}


def render_dashboards(config: Config = DEFAULT) -> dict[str, str]:
    """File name -> JSON text for every dashboard."""
    return {name: render(build(config), config) for name, build in DASHBOARDS.items()}


def render_all(config: Config = DEFAULT) -> dict[Path, str]:
    """Path in the repository -> text, for every generated file."""
    files = {DASHBOARD_DIR / name: text for name, text in render_dashboards(config).items()}
    files.update({path: text(config) for path, text in RULE_FILES.items()})
    return files


def _placed(files: Mapping[Path, str], out: Path | None) -> dict[Path, str]:
    """`files` where they go: their own paths, or all of them in `out`."""
    return dict(files) if out is None else {out / path.name: t for path, t in files.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--check", action="store_true", help="fail if a committed file is out of date"
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a value of grafana/config.py, e.g. thresholds.max_managers=9, "
        "alerts.SwarmNodeDown.for=5m, alerts.SwarmNodeDown.severity=critical, runbook_url=URL",
    )
    parser.add_argument("--out", type=Path, help="write every file into this directory")
    args = parser.parse_args(argv)
    config = DEFAULT
    try:
        for assignment in args.set:
            config = override(config, assignment)
    except ConfigError as error:
        parser.error(str(error))
    files = _placed(render_all(config), args.out)
    if args.check:
        stale = stale_files(files)
        if stale:
            print("out of date, run python -m grafana.build: " + ", ".join(str(p) for p in stale))
            return 1
        return 0
    for path in write_files(files):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
