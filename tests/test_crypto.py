"""Address encryption is authenticated and bound to its facility row."""

from __future__ import annotations

import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from broker.crypto import AddressCipher, DecryptionFailed, Passwords, token_digest


@given(address=st.text(min_size=1, max_size=200), facility_id=st.integers(1, 10**6))
def test_round_trip_and_no_plaintext(address: str, facility_id: int) -> None:
    cipher = AddressCipher(b"k" * 32)
    blob = cipher.encrypt(facility_id, address)
    assert cipher.decrypt(facility_id, blob) == address
    if len(address) >= 4:
        assert address.encode() not in blob


def test_ciphertext_moved_to_another_row_does_not_open() -> None:
    cipher = AddressCipher(os.urandom(32))
    blob = cipher.encrypt(7, "Rejtett utca 1.")
    with pytest.raises(DecryptionFailed):
        cipher.decrypt(8, blob)


def test_tampered_ciphertext_or_other_key_does_not_open() -> None:
    cipher = AddressCipher(os.urandom(32))
    blob = bytearray(cipher.encrypt(3, "Rejtett utca 1."))
    blob[-1] ^= 0x01
    with pytest.raises(DecryptionFailed):
        cipher.decrypt(3, bytes(blob))
    with pytest.raises(DecryptionFailed):
        AddressCipher(os.urandom(32)).decrypt(3, cipher.encrypt(3, "x"))


def test_same_address_encrypts_differently_each_time() -> None:
    cipher = AddressCipher(os.urandom(32))
    assert cipher.encrypt(1, "Rejtett utca 1.") != cipher.encrypt(1, "Rejtett utca 1.")


def test_passwords_and_token_digests() -> None:
    passwords = Passwords()
    stored = passwords.hash("correct-horse-battery")
    assert stored.startswith("$argon2id$")
    assert passwords.verify(stored, "correct-horse-battery")
    assert not passwords.verify(stored, "wrong-horse-battery")
    assert not passwords.verify(None, "anything")
    assert not passwords.verify("not-a-hash", "anything")
    assert token_digest(b"a" * 32, "t") != token_digest(b"b" * 32, "t")
