"""Cryptography in one place: address and second-factor encryption, credential hashing,
passwords.

Addresses and TOTP secrets use AES-256-GCM. The associated data names the row (the
facility, the user), so a ciphertext copied onto another row fails to decrypt instead of
revealing the wrong house or letting one account sign in with another's authenticator.
The stored form is ``version || nonce || ciphertext+tag``; the version byte leaves room
for key rotation.

TOTP secrets and recovery codes are keyed from the token secret (HKDF with a label of
their own), not from the address key: they are sign-in material like the token hashes,
and a key derived for one purpose never serves another.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from broker.errors import BrokerError

_ADDRESS_FORMAT_V1 = b"\x01"
_NONCE_BYTES = 12


class DecryptionFailed(BrokerError):
    """Stored ciphertext does not open under this key for this row (tampered or moved)."""


class _SealedText:
    """AES-256-GCM for short texts bound to one row through the associated data."""

    def __init__(self, key: bytes, purpose: str) -> None:
        self._aead = AESGCM(key)
        self._purpose = purpose

    def _associated_data(self, row_id: int) -> bytes:
        return f"broker/{self._purpose}/{row_id}".encode()

    def seal(self, row_id: int, text: str) -> bytes:
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, text.encode(), self._associated_data(row_id))
        return _ADDRESS_FORMAT_V1 + nonce + sealed

    def open(self, row_id: int, blob: bytes) -> str:
        if not blob.startswith(_ADDRESS_FORMAT_V1):
            raise DecryptionFailed(f"stored {self._purpose} has an unknown format")
        nonce = blob[1 : 1 + _NONCE_BYTES]
        sealed = blob[1 + _NONCE_BYTES :]
        try:
            plain = self._aead.decrypt(nonce, sealed, self._associated_data(row_id))
        except InvalidTag as exc:
            raise DecryptionFailed(f"stored {self._purpose} does not open for this row") from exc
        return plain.decode()


class AddressCipher:
    def __init__(self, key: bytes) -> None:
        self._box = _SealedText(key, "facility-address")

    def encrypt(self, facility_id: int, address: str) -> bytes:
        return self._box.seal(facility_id, address)

    def decrypt(self, facility_id: int, blob: bytes) -> str:
        return self._box.open(facility_id, blob)


def derive_key(secret: bytes, label: str) -> bytes:
    """A 32-byte key for one purpose, derived from a configured secret (HKDF-SHA256)."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=label.encode()).derive(secret)


class SecondFactorKeys:
    """The keys of the second factor, all derived from the token secret.

    Rotating ``BROKER_TOKEN_SECRET`` therefore ends every session and every enrolment alike.
    """

    def __init__(self, token_secret: bytes) -> None:
        self._secrets = _SealedText(derive_key(token_secret, "broker/totp-secret/v1"), "totp")
        self._codes = derive_key(token_secret, "broker/recovery-code/v1")

    def seal_secret(self, user_id: int, secret: str) -> bytes:
        return self._secrets.seal(user_id, secret)

    def open_secret(self, user_id: int, blob: bytes) -> str:
        return self._secrets.open(user_id, blob)

    def recovery_digest(self, user_id: int, code: str) -> str:
        """Keyed hash of a recovery code, bound to its account."""
        return hmac.new(self._codes, f"{user_id}:{code}".encode(), hashlib.sha256).hexdigest()


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_digest(secret: bytes, token: str) -> str:
    """Keyed hash of a bearer token: a copied database alone cannot confirm a guessed token."""
    return hmac.new(secret, token.encode(), hashlib.sha256).hexdigest()


# argon2id with RFC 9106's second recommended profile (the "low memory" one), stated here
# so that a library upgrade cannot change the cost of a guess unnoticed.
ARGON2_TIME_COST = 3
ARGON2_MEMORY_KIB = 64 * 1024
ARGON2_PARALLELISM = 4
ARGON2_HASH_BYTES = 32
ARGON2_SALT_BYTES = 16


class Passwords:
    """argon2id hashing; verification never raises for a wrong or malformed hash."""

    def __init__(self) -> None:
        self._hasher = PasswordHasher(
            time_cost=ARGON2_TIME_COST,
            memory_cost=ARGON2_MEMORY_KIB,
            parallelism=ARGON2_PARALLELISM,
            hash_len=ARGON2_HASH_BYTES,
            salt_len=ARGON2_SALT_BYTES,
            type=Type.ID,
        )
        # Verified against when the user does not exist, so both paths cost the same.
        self._decoy = self._hasher.hash(secrets.token_urlsafe(16))

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, stored: str | None, password: str) -> bool:
        try:
            return self._hasher.verify(stored or self._decoy, password) and stored is not None
        except (VerificationError, InvalidHashError):
            return False
