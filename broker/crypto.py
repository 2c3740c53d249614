"""Cryptography in one place: address encryption, credential hashing, passwords.

Addresses use AES-256-GCM. The associated data names the facility row, so a ciphertext
copied onto another facility's row fails to decrypt instead of revealing the wrong house.
The stored form is ``version || nonce || ciphertext+tag``; the version byte leaves room
for key rotation.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from broker.errors import BrokerError

_ADDRESS_FORMAT_V1 = b"\x01"
_NONCE_BYTES = 12


class DecryptionFailed(BrokerError):
    """Stored ciphertext does not open under this key for this row (tampered or moved)."""


class AddressCipher:
    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)

    @staticmethod
    def _associated_data(facility_id: int) -> bytes:
        return f"broker/facility-address/{facility_id}".encode()

    def encrypt(self, facility_id: int, address: str) -> bytes:
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, address.encode(), self._associated_data(facility_id))
        return _ADDRESS_FORMAT_V1 + nonce + sealed

    def decrypt(self, facility_id: int, blob: bytes) -> str:
        if not blob.startswith(_ADDRESS_FORMAT_V1):
            raise DecryptionFailed("stored address has an unknown format")
        nonce = blob[1 : 1 + _NONCE_BYTES]
        sealed = blob[1 + _NONCE_BYTES :]
        try:
            plain = self._aead.decrypt(nonce, sealed, self._associated_data(facility_id))
        except InvalidTag as exc:
            raise DecryptionFailed("stored address does not open for this facility") from exc
        return plain.decode()


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_digest(secret: bytes, token: str) -> str:
    """Keyed hash of a bearer token: a copied database alone cannot confirm a guessed token."""
    return hmac.new(secret, token.encode(), hashlib.sha256).hexdigest()


class Passwords:
    """argon2id hashing; verification never raises for a wrong or malformed hash."""

    def __init__(self) -> None:
        self._hasher = PasswordHasher()
        # Verified against when the user does not exist, so both paths cost the same.
        self._decoy = self._hasher.hash(secrets.token_urlsafe(16))

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, stored: str | None, password: str) -> bool:
        try:
            return self._hasher.verify(stored or self._decoy, password) and stored is not None
        except (VerificationError, InvalidHashError):
            return False
