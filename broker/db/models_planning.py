"""The table of the planner's proposals: batch placements, transfer plans and evacuations.

A row is one plan as the planner made it: its status and the numbers that say how good it
is, the places it proposes (facility ids, with the family's request or the stay it moves),
and the families it leaves unplaced with the reason. It is kept after it is applied, with
who applied it and when. The rows live in a module of their own so that
``broker.db.models`` stays readable; it is imported wherever the tables are collected
(``broker.db.migrations.env``, the planning service).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from broker.db.models import UTCDateTime


class PlanRecord(SQLModel, table=True):
    """A proposed plan (batch placement, transfers or evacuation), kept until applied."""

    __tablename__ = "plans"

    id: str = Field(primary_key=True, max_length=32)
    kind: str = Field(max_length=20)  # batch, transfers, evacuation
    status: str = Field(max_length=20)  # optimal, feasible, infeasible
    state: str = Field(max_length=20)  # proposed, applied
    objective: float
    bound: float
    gap: float
    solve_seconds: float
    # the risk-weighted placements the plan makes and the proven upper bound on those of
    # any plan (null in plans stored before they were kept)
    placements: int | None = None
    placements_bound: int | None = None
    facility_id: int | None = Field(default=None, foreign_key="facilities.id")  # evacuated
    # items: {"key", "facility_id", "request"?, "placement_id"?}; unplaced: {"key": reason}
    items: list[dict[str, Any]] = Field(sa_column=sa.Column(sa.JSON, nullable=False))
    unplaced: dict[str, str] = Field(sa_column=sa.Column(sa.JSON, nullable=False))
    # {"key": code}: places_taken, no_place_fits or not_examined (null in plans stored
    # before codes)
    unplaced_codes: dict[str, str] | None = Field(
        default=None, sa_column=sa.Column(sa.JSON, nullable=True)
    )
    created_at: datetime = Field(sa_column=sa.Column(UTCDateTime(), nullable=False))
    created_by_user_id: int | None = Field(default=None, foreign_key="users.id")
    applied_at: datetime | None = Field(
        default=None, sa_column=sa.Column(UTCDateTime(), nullable=True)
    )
    applied_by_user_id: int | None = Field(default=None, foreign_key="users.id")
