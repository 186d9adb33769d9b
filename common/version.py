"""swarm-sentinel's version: pyproject.toml's, as the installed package says it."""

from __future__ import annotations

from importlib import metadata

try:
    VERSION = metadata.version("swarm-sentinel")
except metadata.PackageNotFoundError:  # run from a source tree that was never installed
    VERSION = "0+unknown"
