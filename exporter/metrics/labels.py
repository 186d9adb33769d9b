"""Which Docker labels become Prometheus labels, and under which names.

Docker labels are free text set by whoever deploys: exported whole, they would give
every service as many label names as its authors invented. Only the keys an
operator allowlists become ``label_<key>`` labels (as kube-state-metrics'
``--metric-labels-allowlist`` does).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fnmatch import fnmatchcase

from exporter.types import Labels

_LABEL_KEY = re.compile(r"[^a-zA-Z0-9_]")
_PATTERN = re.compile(r"^[A-Za-z0-9_.*?/\-\[\]!]+$")


def label_name(key: str) -> str:
    """A Docker label key as a label name: ``com.example/gpu`` -> ``label_com_example_gpu``."""
    return "label_" + _LABEL_KEY.sub("_", key)


@dataclass(frozen=True, slots=True)
class Allowlist:
    """Docker label keys to export: names or shell-style patterns (``team``,
    ``com.example.*``, ``*`` for all); empty: none."""

    patterns: tuple[str, ...] = ()

    @classmethod
    def parse(cls, text: str) -> Allowlist:
        """A comma-separated list; ``ValueError`` naming the first bad entry."""
        patterns = tuple(p.strip() for p in text.split(",") if p.strip())
        for p in patterns:
            if not _PATTERN.match(p):
                raise ValueError(
                    f"{p!r} is not a label key or pattern (letters, digits, . _ - / and * ? [ ])"
                )
        return cls(patterns)

    def __bool__(self) -> bool:
        return bool(self.patterns)

    def select(self, labels: Labels) -> Labels:
        """The allowlisted ``labels``, as Prometheus labels, sorted by name; of two keys
        that sanitise alike, the first (sorted) one wins."""
        if not self.patterns:
            return ()
        everything = "*" in self.patterns
        seen: dict[str, str] = {}
        for k, v in labels:
            if everything or any(fnmatchcase(k, p) for p in self.patterns):
                seen.setdefault(label_name(k), v)
        return tuple(sorted(seen.items()))


NO_LABELS = Allowlist()
