"""The table of the policy simulations started from the ``/simulations`` page.

A row is one simulation: who asked for it, its settings, where it stands (queued, running,
done or failed, with the runs done so far), and once done its three files as text. It holds
no family, no facility and no name: a simulation plays made-up calls on a network of its own.
The rows live in a module of their own so that ``broker.db.models`` stays readable; it is
imported wherever the tables are collected (``broker.db.migrations.env``, the services).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from broker.db.models import UTCDateTime
from broker.domain.states import sql_value


class SimulationStatus(StrEnum):
    """Where a simulation stands: waiting for the job, being run by one process, finished
    with its files, or stopped (with a short reason)."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


_STATUSES = ", ".join(sql_value(status) for status in SimulationStatus)


def _moment() -> Any:
    return Field(default=None, sa_column=sa.Column(UTCDateTime(), nullable=True))


class SimulationRun(SQLModel, table=True):
    __tablename__ = "simulation_runs"
    __table_args__ = (
        sa.Index("ix_simulation_runs_status_created", "status", "created_at"),
        sa.CheckConstraint(f"status IN ({_STATUSES})", name="ck_simulation_runs_status"),
        sa.CheckConstraint("done >= 0 AND done <= total", name="ck_simulation_runs_progress"),
    )

    id: int | None = Field(default=None, primary_key=True)
    requested_by_user_id: int = Field(foreign_key="users.id")
    status: str = Field(max_length=20)
    # the settings: "demo" or "synthetic:N", days, seeds, and the policies by name,
    # comma-separated, the first being the one the others are compared with
    network: str = Field(max_length=40)
    days: int
    seeds: int
    policies: str = Field(max_length=400)
    language: str = Field(max_length=8)  # the report's, the requester's at the time
    done: int = 0  # runs (a seed under a policy) finished so far, of total
    total: int
    created_at: datetime = Field(sa_column=sa.Column(UTCDateTime(), nullable=False))
    started_at: datetime | None = _moment()
    # written while a process runs it; a running row without one for long was left behind
    heartbeat_at: datetime | None = _moment()
    finished_at: datetime | None = _moment()
    summary_json: str | None = Field(default=None, sa_column=sa.Column(sa.Text, nullable=True))
    runs_csv: str | None = Field(default=None, sa_column=sa.Column(sa.Text, nullable=True))
    report_html: str | None = Field(default=None, sa_column=sa.Column(sa.Text, nullable=True))
    error: str | None = Field(default=None, max_length=300)  # a sentence, never a trace
