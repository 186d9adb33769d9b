"""``basic_auth_users``: user names and their bcrypt hashes, checked at load time."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final

from exporter.web.values import ConfigProblem, _kind

# $2a$ / $2b$ / $2y$ (htpasswd writes 2y), two-digit cost, 22 chars salt + 31 chars hash.
# Checked at load time so a typo in a hash fails the start, not every scrape.
_BCRYPT_RE: Final = re.compile(rb"\$2[aby]\$(\d\d)\$[./A-Za-z0-9]{53}")


def read_users(value: object) -> dict[str, bytes]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigProblem(
            f"basic_auth_users: expected a mapping of user to hash, got {_kind(value)}"
        )
    users: dict[str, bytes] = {}
    for name, hashed in value.items():
        # YAML turns bare `yes:` or `123:` into bool/int; refuse rather than guess a name.
        if not isinstance(name, str) or not name:
            raise ConfigProblem(f"basic_auth_users: user name {name!r} must be a non-empty string")
        # The hash itself stays out of the message: it is a secret in the toolkit's eyes.
        if not isinstance(hashed, str):
            raise ConfigProblem(f"basic_auth_users.{name}: expected a bcrypt hash string")
        raw = hashed.strip().encode("ascii", "replace")
        match = _BCRYPT_RE.fullmatch(raw)
        if match is None:
            raise ConfigProblem(
                f"basic_auth_users.{name}: not a valid bcrypt hash "
                "(expected $2a$/$2b$/$2y$, e.g. from `htpasswd -nBC 10 \"\" | tr -d ':\\n'`)"
            )
        if not 4 <= int(match.group(1)) <= 31:
            raise ConfigProblem(f"basic_auth_users.{name}: bcrypt cost must be between 4 and 31")
        users[name] = raw
    return users
