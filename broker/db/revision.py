"""A registry revision that moves with every change to a facility row.

Every flush that writes a facility takes the next revision number (an ``UPDATE ...
RETURNING`` on one row) and stamps it on the changed rows as ``row_version``. A process
that keeps the facilities in memory reads the revision (one row) per request and, when it
moved, re-reads only the rows stamped since. The update holds that row's lock until commit,
so revisions are committed in order and no change can slip in below a revision already seen.

It is done by a session event rather than in each service so that no write path can forget it.
"""

from __future__ import annotations

from itertools import chain
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlmodel import col

from broker.db.models import Facility, RegistryRevision


@sa.event.listens_for(Session, "before_flush")
def _stamp_facility_changes(session: Session, _context: Any, _instances: Any) -> None:
    changed = [obj for obj in chain(session.new, session.dirty) if isinstance(obj, Facility)]
    if not changed:
        return
    revision = session.execute(
        sa.update(RegistryRevision)
        .where(col(RegistryRevision.id) == 1)
        .values(value=col(RegistryRevision.value) + 1)
        .returning(col(RegistryRevision.value))
    ).scalar_one()
    for facility in changed:
        facility.row_version = revision


def current_revision(session: Session) -> int:
    value = session.execute(
        sa.select(col(RegistryRevision.value)).where(col(RegistryRevision.id) == 1)
    ).scalar_one_or_none()
    return int(value or 0)
