"""``swarm-sentinel``: the console entry point."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Sequence

from common.logs import configure_logging
from exporter.webconfig import WebConfigError, load_web_config
from swarm_sentinel import status
from swarm_sentinel.app import Runtime, serve, split_listen_address
from swarm_sentinel.flags import parse_args


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # One subcommand only, so no argparse subparsers: those would make every
    # exporter flag a flag of a "serve" subcommand and break existing command lines.
    if argv[:1] == ["status"]:
        return status.main(argv[1:])
    args = parse_args(argv)
    configure_logging(getattr(args, "log.level"), getattr(args, "log.format"))
    try:
        split_listen_address(getattr(args, "web.listen_address"))
        web_config = load_web_config(getattr(args, "web.config.file") or None)
    except (ValueError, WebConfigError) as exc:
        print(f"swarm-sentinel: {exc}", file=sys.stderr)
        return 2
    runtime = Runtime(args, web_config)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(runtime))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
