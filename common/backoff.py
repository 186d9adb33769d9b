"""How long to wait before trying again: doubling from ``initial`` up to ``maximum``,
and back to ``initial`` only once an attempt held for ``stable_after`` seconds (an
engine, or a proxy, that accepts and drops at once must get ever rarer attempts)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Backoff:
    initial: float
    maximum: float
    stable_after: float
    _next: float = field(default=0.0, init=False)

    def after(self, lasted: float) -> float:
        """The wait after an attempt that lasted ``lasted`` seconds before it failed."""
        if lasted >= self.stable_after or not self._next:
            self._next = self.initial
        wait = self._next
        self._next = min(self._next * 2, self.maximum)
        return wait
