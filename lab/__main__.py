"""Command line: `python -m lab up|down|status` (as root, from the repo root).

    python -m lab up --managers 3 --workers 1
    python -m lab up --engine modern  # Engine 28.5 refusing API < 1.44, as Engine 29
    python -m lab status --json     # sockets, roles, hostnames, IPs (for `make run`)
    python -m lab status --url m1   # unix:///var/lib/swarm-sentinel-lab/default/m1/docker.sock
    python -m lab down

The lab outlives `up`; `status` and `down` find it through its state file
(<root-base>/<name>/lab.json), or by its names when that file is gone.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
from pathlib import Path
from types import FrameType

from lab.config import DEFAULT_ROOT_BASE, LabConfig
from lab.engines import ENGINES
from lab.errors import LabError
from lab.swarm import Lab


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m lab", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--name", default="default", help="lab name (default: %(default)s)")
    common.add_argument("--root-base", type=Path, default=DEFAULT_ROOT_BASE)
    net = argparse.ArgumentParser(add_help=False)
    net.add_argument("--bridge", default="sslab0", help="host bridge (default: %(default)s)")
    net.add_argument(
        "--subnet", default="10.123.0.0/24", help="node network (default: %(default)s)"
    )

    up = sub.add_parser("up", parents=[common, net], help="bring a lab up (replacing leftovers)")
    up.add_argument("--managers", type=int, default=3)
    up.add_argument("--workers", type=int, default=1)
    up.add_argument(
        "--heartbeat", type=float, default=1.0, help="dispatcher heartbeat seconds (0: default 5)"
    )
    up.add_argument(
        "--online",
        action="append",
        default=[],
        metavar="NODE",
        help="start NODE without DOCKER_SERVICE_PREFER_OFFLINE_IMAGE (repeatable)",
    )
    up.add_argument(
        "--engine",
        choices=ENGINES,
        default="debian",
        help="debian: the host's dockerd 20.10 (API 1.41); modern: Engine 28.5 from Debian "
        "unstable (fetched once), refusing API < 1.44 as Engine 29 does (default: %(default)s)",
    )
    up.add_argument("--json", action="store_true", help="print the status as JSON when up")

    down = sub.add_parser("down", parents=[common, net], help="remove the lab and all it left")
    del down
    status = sub.add_parser("status", parents=[common], help="show the lab")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.add_argument(
        "--url", metavar="NODE", help="print only NODE's Docker API URL (e.g. for DOCKER_HOST)"
    )
    return parser


def _interrupt(signum: int, frame: FrameType | None) -> None:
    # Turn SIGTERM/SIGHUP into the same path as Ctrl-C: `up` tears down what it built.
    raise KeyboardInterrupt(f"signal {signum}")


def _print_status(status: dict[str, object], as_json: bool) -> None:
    if as_json:
        print(json.dumps(status, indent=2))
        return
    print(
        f"lab {status['name']} ({status['engine']} engine) at {status['root']}, "
        f"leader: {status['leader']}"
    )
    nodes = status["nodes"]
    assert isinstance(nodes, list)
    for n in nodes:
        print(
            f"  {n['name']:<4} {n['role']:<8} {n['hostname']:<8} {n['ip']:<14} "
            f"pid={n['pid']} swarm={n['swarm_state']}{' LEADER' if n['leader'] else ''}"
            f"{' PARTITIONED' if n['partitioned'] else ''}  {n['url']}"
        )


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="lab: %(message)s", stream=sys.stderr)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _interrupt)
    try:
        if args.command == "up":
            lab = Lab(
                LabConfig(
                    name=args.name,
                    managers=args.managers,
                    workers=args.workers,
                    bridge=args.bridge,
                    subnet=args.subnet,
                    root_base=args.root_base,
                    heartbeat=args.heartbeat or None,
                    online_nodes=frozenset(args.online),
                    engine=args.engine,
                )
            )
            lab.up()
            _print_status(lab.status(), args.json)
        elif args.command == "down":
            if (args.root_base / args.name / "lab.json").exists():
                lab = Lab.load(args.name, args.root_base)
            else:
                # No state file: clean up by the names this config gives.
                lab = Lab(
                    LabConfig(
                        name=args.name,
                        bridge=args.bridge,
                        subnet=args.subnet,
                        root_base=args.root_base,
                    )
                )
            lab.down()
            print(f"lab {args.name} is down", file=sys.stderr)
        else:
            try:
                lab = Lab.load(args.name, args.root_base)
            except LabError as err:
                if args.json:
                    print(json.dumps({"name": args.name, "status": "absent", "error": str(err)}))
                else:
                    print(f"lab: {err}", file=sys.stderr)
                return 1
            if args.url:
                print(lab.node(args.url).url)
            else:
                _print_status(lab.status(), args.json)
    except LabError as err:
        print(f"lab: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("lab: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
