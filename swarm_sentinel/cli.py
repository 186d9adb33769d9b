"""``swarm-sentinel``: the console entry point."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Sequence

from common.logs import configure_logging
from exporter.web import WebConfigError, follow_web_config
from swarm_sentinel import status, wait
from swarm_sentinel.app import Runtime, serve
from swarm_sentinel.config import from_args
from swarm_sentinel.flags import parse_args


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # Three subcommands only, so no argparse subparsers: those would make every
    # exporter flag a flag of a "serve" subcommand and break existing command lines.
    if argv[:1] == ["status"]:
        return status.main(argv[1:])
    if argv[:1] == ["explain"]:
        return status.explain_main(argv[1:])
    if argv[:1] == ["wait"]:
        return wait.main(argv[1:])
    args = parse_args(argv)
    try:
        config = from_args(args)
        configure_logging(config.log.level, config.log.format)
        web_config = follow_web_config(config.web.config_file)
    except (ValueError, WebConfigError) as exc:
        print(f"swarm-sentinel: {exc}", file=sys.stderr)
        return 2
    runtime = Runtime(config, web_config)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(runtime))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
