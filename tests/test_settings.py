"""Settings from the environment; production refuses demo or missing keys."""

from __future__ import annotations

import base64
import os

import pytest

from api.app import create_app
from broker.errors import ConfigurationError
from broker.settings import DEMO_ADDRESS_KEY, DEMO_HOTLINE_CONTACT, load_settings
from solver.plan_data import DEFAULT_GAP_TOLERANCE


def _key() -> str:
    return base64.urlsafe_b64encode(os.urandom(32)).decode()


def _production_env(**overrides: str) -> dict[str, str]:
    env = {
        "BROKER_MODE": "production",
        "BROKER_DATABASE_URL": "sqlite:////tmp/never-opened.db",
        "BROKER_ADDRESS_KEY": _key(),
        "BROKER_IDENTITY_KEY": _key(),
        "BROKER_TOKEN_SECRET": _key(),
        "BROKER_AUDIT_KEY": _key(),
        "BROKER_WEBHOOK_SECRET": _key(),
        "BROKER_HOTLINE_CONTACT": "OKIT duty desk, +36 80 000 000",
    }
    env.update(overrides)
    return env


def test_demo_defaults_load_without_any_variable() -> None:
    settings = load_settings({})
    assert settings.mode == "demo"
    assert settings.database_url.startswith("sqlite:///")
    assert settings.stale_after_minutes == 24 * 60


def test_production_with_real_keys_starts_and_forces_secure_cookies() -> None:
    settings = load_settings(_production_env())
    assert settings.is_production and settings.secure_cookies
    create_app(settings)  # builds without connecting anywhere


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"BROKER_ADDRESS_KEY": DEMO_ADDRESS_KEY}, "BROKER_ADDRESS_KEY is a published demo key"),
        ({"BROKER_TOKEN_SECRET": ""}, "BROKER_TOKEN_SECRET is not set"),
        ({"BROKER_IDENTITY_KEY": "c2hvcnQ="}, "BROKER_IDENTITY_KEY must decode to 32 bytes"),
        ({"BROKER_AUDIT_KEY": "***"}, "BROKER_AUDIT_KEY"),
        ({"BROKER_MODE": "prod"}, "BROKER_MODE"),
        ({"BROKER_STALE_AFTER_MINUTES": "soon"}, "BROKER_STALE_AFTER_MINUTES must be an integer"),
        ({"BROKER_STALE_AFTER_MINUTES": "0"}, "BROKER_STALE_AFTER_MINUTES must be a positive"),
        ({"BROKER_HOTLINE_CONTACT": DEMO_HOTLINE_CONTACT}, "BROKER_HOTLINE_CONTACT is the demo"),
        ({"BROKER_POLICE_INQUIRIES_PER_HOUR": "0"}, "BROKER_POLICE_INQUIRIES_PER_HOUR"),
        (
            {"BROKER_INQUIRY_RECENT_DAYS": "120", "BROKER_IDENTITY_RETENTION_DAYS": "90"},
            "BROKER_INQUIRY_RECENT_DAYS must not exceed",
        ),
    ],
)
def test_unsafe_settings_are_refused_with_the_variable_named(
    change: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message):
        load_settings(_production_env(**change))


def test_production_refuses_when_a_key_is_missing_entirely() -> None:
    env = _production_env()
    del env["BROKER_AUDIT_KEY"]
    with pytest.raises(ConfigurationError, match="BROKER_AUDIT_KEY is not set"):
        load_settings(env)


def test_keys_must_differ() -> None:
    key = _key()
    with pytest.raises(ConfigurationError, match="different"):
        load_settings(_production_env(BROKER_ADDRESS_KEY=key, BROKER_IDENTITY_KEY=key))


def test_the_plan_gap_tolerance_is_read_as_a_share() -> None:
    assert load_settings({}).plan_gap_tolerance == DEFAULT_GAP_TOLERANCE == 1e-4
    assert load_settings({"BROKER_PLAN_GAP_TOLERANCE": "0.005"}).plan_gap_tolerance == 0.005
    assert load_settings({"BROKER_PLAN_GAP_TOLERANCE": "0"}).plan_gap_tolerance == 0.0


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("-0.1", "BROKER_PLAN_GAP_TOLERANCE must be at least 0 and below 1 .*got -0.1"),
        ("1", "BROKER_PLAN_GAP_TOLERANCE must be at least 0 and below 1 .*got 1.0"),
        ("nan", "BROKER_PLAN_GAP_TOLERANCE must be at least 0 and below 1 .*got nan"),
        ("abc", "BROKER_PLAN_GAP_TOLERANCE must be a number, got 'abc'"),
    ],
)
def test_a_plan_gap_tolerance_outside_0_to_1_is_refused(value: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        load_settings({"BROKER_PLAN_GAP_TOLERANCE": value})
