"""Roles, the authenticated principal, and who may touch which facility (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from broker.errors import PermissionDenied
from broker.i18n import gettext


class Role(StrEnum):
    COUNSELLOR = "counsellor"
    SHELTER_STAFF = "shelter_staff"
    POLICE = "police"
    ADMIN = "admin"
    AUDITOR = "auditor"


ALL_ROLES = frozenset(Role)


@dataclass(frozen=True, slots=True)
class Principal:
    user_id: int
    username: str
    role: Role
    facility_ids: frozenset[int] = frozenset()

    def works_at(self, facility_id: int) -> bool:
        return self.role is Role.SHELTER_STAFF and facility_id in self.facility_ids


def ensure_own_facility_or_admin(actor: Principal, facility_id: int) -> None:
    """Shelter staff act only for facilities they are bound to; admins for any."""
    if actor.role is Role.ADMIN or actor.works_at(facility_id):
        return
    raise PermissionDenied(gettext("you may act only for the facilities your account is bound to"))


def ensure_own_facility(actor: Principal, facility_id: int) -> None:
    if not actor.works_at(facility_id):
        raise PermissionDenied(
            gettext("you may act only for the facilities your account is bound to")
        )
