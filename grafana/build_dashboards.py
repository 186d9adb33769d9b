"""Generate the swarm-sentinel Grafana dashboards (stdlib only).

Usage (from the repository root)::

    python -m grafana.build_dashboards          # (re)write grafana/dashboards/*.json
    python -m grafana.build_dashboards --check  # exit 1 if the committed JSON is stale

Both the dashboard modules (grafana/*_dashboard.py, built with grafana/builder.py) and the
generated JSON are committed; edit the modules, not the JSON.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from grafana.builder import render, stale_files, write_files
from grafana.hazards_dashboard import hazards
from grafana.healer_dashboard import healer
from grafana.overview_dashboard import overview
from grafana.services_dashboard import services

DASHBOARD_DIR = Path(__file__).resolve().parent / "dashboards"

DASHBOARDS = {
    "swarm-overview.json": overview,
    "swarm-services.json": services,
    "swarm-healer.json": healer,
    "swarm-hazards.json": hazards,
}


def render_all() -> dict[str, str]:
    """File name -> JSON text for every dashboard."""
    return {name: render(build()) for name, build in DASHBOARDS.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--check", action="store_true", help="fail if the committed JSON is out of date"
    )
    parser.add_argument("--out", type=Path, default=DASHBOARD_DIR, help="output directory")
    args = parser.parse_args(argv)
    out: Path = args.out
    rendered = render_all()
    if args.check:
        stale = stale_files(rendered, out)
        if stale:
            print(
                "out of date, run python -m grafana.build_dashboards: "
                + ", ".join(str(path) for path in stale)
            )
            return 1
        return 0
    for path in write_files(rendered, out):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
