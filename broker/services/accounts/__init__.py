"""Users, sign-ins, session tokens, API keys and the second factor.

The public entry points are named here; callers import them from this package. Which
module holds what:

- :mod:`.passwords`: the password policy (length, the list of common passwords).
- :mod:`.users`: creating a user account.
- :mod:`.policy`: :class:`SignInPolicy`, the settings a sign-in is checked against.
- :mod:`.throttle`: failed sign-in streaks per account and per address, refusing a
  sign-in while blocked, :func:`client_key`, :func:`wait_text` and :func:`unlock`.
- :mod:`.second_factor`: TOTP and recovery codes, :func:`mfa_enable` / :func:`mfa_disable`.
- :mod:`.sign_in`: :func:`sign_in` and :func:`sign_in_second_step`, which issue a token or
  page session.
- :mod:`.credentials`: API keys, logout, revoking every credential, and which principal
  a token stands for (:func:`authenticate`, :func:`touch_session`).
- :mod:`._common`: :class:`CredentialKind` and the helpers the modules share (a name with
  a leading underscore there is private to this package).
"""

from __future__ import annotations

from broker.services.accounts._common import CredentialKind
from broker.services.accounts.credentials import (
    Authenticated,
    api_key_create,
    authenticate,
    logout,
    principal_for_token,
    revoke_all,
    touch_session,
)
from broker.services.accounts.passwords import common_passwords, password_problem
from broker.services.accounts.policy import SignInPolicy
from broker.services.accounts.second_factor import Enrolment, mfa_disable, mfa_enable
from broker.services.accounts.sign_in import (
    PENDING_TTL,
    SecondFactorPending,
    SignedIn,
    sign_in,
    sign_in_second_step,
)
from broker.services.accounts.throttle import client_key, unlock, wait_text
from broker.services.accounts.users import user_create

__all__ = [
    "PENDING_TTL",
    "Authenticated",
    "CredentialKind",
    "Enrolment",
    "SecondFactorPending",
    "SignInPolicy",
    "SignedIn",
    "api_key_create",
    "authenticate",
    "client_key",
    "common_passwords",
    "logout",
    "mfa_disable",
    "mfa_enable",
    "password_problem",
    "principal_for_token",
    "revoke_all",
    "sign_in",
    "sign_in_second_step",
    "touch_session",
    "unlock",
    "user_create",
    "wait_text",
]
