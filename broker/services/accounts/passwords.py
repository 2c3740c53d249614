"""The password policy: how long a new password must be and the list of common passwords
it must not be on.
"""

from __future__ import annotations

import functools
from pathlib import Path

from broker.errors import ConfigurationError
from broker.i18n import gettext
from broker.settings import PROJECT_ROOT

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 200
COMMON_PASSWORDS_FILE = "common_passwords.txt"


@functools.lru_cache(maxsize=4)
def _read_common_passwords(path: Path) -> frozenset[str]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ConfigurationError(f"the list of common passwords is missing: {path}") from exc
    return frozenset(
        line.strip().casefold() for line in lines if line.strip() and not line.startswith("#")
    )


def common_passwords(data_dir: Path | None = None) -> frozenset[str]:
    """The refused passwords: ``data_dir``'s list if it has one, else the shipped one."""
    if data_dir is not None and (data_dir / COMMON_PASSWORDS_FILE).exists():
        return _read_common_passwords(data_dir / COMMON_PASSWORDS_FILE)
    return _read_common_passwords(PROJECT_ROOT / "data" / COMMON_PASSWORDS_FILE)


def password_problem(password: str, *, common: frozenset[str]) -> str | None:
    """Why a new password is refused, or None."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return gettext("password must have at least {min} characters").format(
            min=MIN_PASSWORD_LENGTH
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        return gettext("password must have at most {max} characters").format(
            max=MAX_PASSWORD_LENGTH
        )
    if password.casefold() in common or password.strip().casefold() in common:
        return gettext("password is on the list of common passwords; choose a less guessable one")
    return None
