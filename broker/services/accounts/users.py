"""Creating a user account: its name, role, facilities and (checked) password."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime

from sqlmodel import Session, select

from broker.crypto import Passwords
from broker.db.models import Facility, User, UserFacility
from broker.domain.access import Principal, Role
from broker.domain.audit_chain import AuditAction
from broker.errors import Conflict, InvalidInput, NotFound
from broker.i18n import gettext
from broker.services.accounts._common import _principal
from broker.services.accounts.passwords import common_passwords, password_problem
from broker.services.audit import audit_record

USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,79}$")


def user_create(
    *,
    session: Session,
    passwords: Passwords,
    username: str,
    role: str,
    password: str | None,
    facility_ids: Iterable[int] = (),
    now: datetime,
    actor: Principal | None = None,
    refused_passwords: frozenset[str] | None = None,
) -> Principal:
    username = username.strip().lower()
    if not USERNAME.match(username):
        raise InvalidInput(gettext("username: 2-80 characters of a-z, 0-9, '.', '_' or '-'"))
    try:
        role_value = Role(role)
    except ValueError as exc:
        raise InvalidInput(
            gettext("role must be one of: {roles}").format(roles=", ".join(r.value for r in Role))
        ) from exc
    facility_ids = sorted(set(facility_ids))
    if role_value is Role.SHELTER_STAFF and not facility_ids:
        raise InvalidInput(
            gettext("a shelter_staff account must be bound to at least one facility")
        )
    if role_value is not Role.SHELTER_STAFF and facility_ids:
        raise InvalidInput(gettext("only shelter_staff accounts are bound to facilities"))
    if password is not None:
        problem = password_problem(
            password,
            common=common_passwords() if refused_passwords is None else refused_passwords,
        )
        if problem is not None:
            raise InvalidInput(problem)
    if session.exec(select(User).where(User.username == username)).first() is not None:
        raise Conflict(gettext("username '{username}' is taken").format(username=username))
    for facility_id in facility_ids:
        if session.get(Facility, facility_id) is None:
            raise NotFound(gettext("no facility with id {id}").format(id=facility_id))
    user = User(
        username=username,
        role=role_value.value,
        password_hash=passwords.hash(password) if password is not None else None,
        created_at=now,
    )
    session.add(user)
    session.flush()
    assert user.id is not None
    for facility_id in facility_ids:
        session.add(UserFacility(user_id=user.id, facility_id=facility_id))
    audit_record(
        session=session,
        now=now,
        actor=actor,
        action=AuditAction.USER_CREATE,
        subject_type="user",
        subject_id=user.id,
        detail={"role": role_value.value, "facility_ids": facility_ids},
    )
    session.flush()
    return _principal(user, facility_ids)
