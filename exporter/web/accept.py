"""Header lists weighted by q-values (RFC 9110, 12.4.2): Accept, Accept-Encoding."""

from __future__ import annotations


def weighted(header: str) -> list[tuple[str, float]]:
    """The header's items in order, each as (its value lower-cased, its q-value). A
    q-value that is not a number from 0 to 1 counts as 0: not acceptable."""
    out: list[tuple[str, float]] = []
    for item in header.split(","):
        value, *params = (p.strip() for p in item.split(";"))
        q = 1.0
        for param in params:
            name, _, text = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(text)
                except ValueError:
                    q = 0.0
        if not 0.0 <= q <= 1.0:  # also NaN
            q = 0.0
        if value:
            out.append((value.lower(), q))
    return out
