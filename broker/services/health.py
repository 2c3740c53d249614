"""Liveness of the one dependency that matters: the database."""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import Session


def database_answers(*, session: Session) -> bool:
    try:
        return session.exec(sa.select(sa.literal(1))).first() is not None  # type: ignore[call-overload]
    except sa.exc.SQLAlchemyError:
        return False
