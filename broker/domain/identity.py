"""A resident's identity as the broker keeps it: a keyed hash, never the name.

At confirmation the receiving staff may record the resident's full name and birth date,
with or without her consent to confirm her placement to the police. The broker keeps only
an HMAC of the normalised name and the birth date, under a key that lives outside the
database, so a copy of the database alone cannot test guesses. Normalising makes the same
person hash the same however the name is typed: case, accents, hyphens and spacing do not
count ("Kovács-Nagy  Éva" and "kovacs nagy eva" are one name).

Retention: a hash is kept while the stay lasts and for the retention period after it ends,
then deleted; an inquiry can only find placements whose hash is still kept.
"""

from __future__ import annotations

import hashlib
import hmac
import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from broker.i18n import gettext

MAX_NAME_LENGTH = 200


@dataclass(frozen=True, slots=True)
class Identity:
    """As staff enter it at confirmation; hashed at once and never stored as such."""

    full_name: str = field(repr=False)
    birth_date: date = field(repr=False)
    police_confirmation_consent: bool = False


def normalise_name(full_name: str) -> str:
    """Lower case, accents removed, anything but letters and digits (hyphens, apostrophes,
    dots) as a space, single spaces."""
    decomposed = unicodedata.normalize("NFKD", full_name.casefold())
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join("".join(ch if ch.isalnum() else " " for ch in bare).split())


def identity_digest(key: bytes, *, full_name: str, birth_date: date) -> str:
    """The keyed hash of one person's identity, as hex."""
    message = f"{normalise_name(full_name)}\x1f{birth_date.isoformat()}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def check_identity(*, full_name: str, birth_date: date, today: date) -> list[dict[str, str]]:
    """What is wrong with an identity as entered (empty when it can be hashed)."""
    problems = []
    if not normalise_name(full_name):
        problems.append(
            {"field": "full_name", "message": gettext("a name with at least one letter")}
        )
    elif len(full_name) > MAX_NAME_LENGTH:
        problems.append(
            {
                "field": "full_name",
                "message": gettext("at most {max} characters").format(max=MAX_NAME_LENGTH),
            }
        )
    if birth_date > today:
        problems.append({"field": "birth_date", "message": gettext("a birth date in the past")})
    elif birth_date.year < today.year - 120:
        problems.append(
            {"field": "birth_date", "message": gettext("a birth date within 120 years")}
        )
    return problems


@dataclass(frozen=True, slots=True)
class IdentityRetention:
    """How long a hash may be kept, and how recent a stay must be for police to hear of it."""

    keep_days_after_stay: int
    recent_days: int

    def purge_before(self, now: datetime) -> datetime:
        """Hashes of stays that ended before this moment must be deleted."""
        return now - timedelta(days=self.keep_days_after_stay)

    def confirmable(self, *, ended_at: datetime | None, now: datetime) -> bool:
        """Is a stay current, or recent enough that the police may learn of it?"""
        return ended_at is None or ended_at >= now - timedelta(days=self.recent_days)
