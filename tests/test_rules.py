"""The rules and regions files: Hungarian defaults, and clear errors for broken files."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from broker.domain.rules import FacilityKind, RiskLevel, load_rules
from broker.errors import ConfigurationError
from broker.settings import PROJECT_ROOT

DATA = PROJECT_ROOT / "data"


def test_hungarian_defaults() -> None:
    rules = load_rules(DATA)
    weeks = {kind: rules.kind(kind).max_stay_days / 7 for kind in FacilityKind}
    assert weeks[FacilityKind.CRISIS_CENTRE] == 8
    assert rules.kind(FacilityKind.SECRET_SHELTER).max_stay_days in range(180, 185)
    for kind in (
        FacilityKind.TEMPORARY_HOME_MOTHERS,
        FacilityKind.TEMPORARY_HOME_FAMILIES,
        FacilityKind.HALFWAY_HOUSE,
    ):
        assert rules.kind(kind).max_stay_days in range(545, 550)
    assert not rules.kind(FacilityKind.CRISIS_CENTRE).may_admit_adult_men
    assert not rules.kind(FacilityKind.SECRET_SHELTER).may_admit_adult_men
    assert rules.kind(FacilityKind.TEMPORARY_HOME_FAMILIES).may_admit_adult_men
    assert RiskLevel.HIGH in rules.kind(FacilityKind.SECRET_SHELTER).risk_levels
    assert RiskLevel.HIGH not in rules.kind(FacilityKind.CRISIS_CENTRE).risk_levels
    assert len(rules.regions) == 20 and "Budapest" in rules.regions
    assert 150 < rules.region_distance_km("Budapest", "Baranya") < 220


@pytest.fixture
def data_copy(tmp_path: Path) -> Path:
    for name in ("rules.toml", "regions.toml"):
        shutil.copy(DATA / name, tmp_path / name)
    return tmp_path


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_syntax_error_names_file_and_line(data_copy: Path) -> None:
    lines = (data_copy / "rules.toml").read_text(encoding="utf-8").splitlines()
    line = lines.index("max_stay_days = 56") + 1
    _edit(data_copy / "rules.toml", "max_stay_days = 56", "max_stay_days = = 56")
    with pytest.raises(ConfigurationError, match=rf"rules.toml: .*line {line}\b"):
        load_rules(data_copy)


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            "max_stay_days = 56",
            "max_stay_days = -3",
            r"\[kinds.crisis_centre\] key 'max_stay_days' must be positive",
        ),
        (
            "max_stay_days = 56",
            'max_stay_days = "8 weeks"',
            r"\[kinds.crisis_centre\] key 'max_stay_days' must be int",
        ),
        (
            "max_stay_days = 56",
            "max_stay = 56",
            r"\[kinds.crisis_centre\] has unknown key 'max_stay'",
        ),
        ('adult_men = "excluded"', 'adult_men = "sometimes"', r"key 'adult_men' must be one of"),
        ('risk_levels = ["standard", "medium"]', 'risk_levels = ["extreme"]', r"key 'risk_levels'"),
        (
            "[kinds.halfway_house]",
            "[kinds.boarding_house]",
            r"\[kinds.boarding_house\] is not a known facility kind",
        ),
        (
            "requires_children = false",
            "requires_children = 0",
            r"key 'requires_children' must be bool",
        ),
    ],
)
def test_semantic_errors_name_the_kind_and_key(
    data_copy: Path, old: str, new: str, message: str
) -> None:
    _edit(data_copy / "rules.toml", old, new)
    with pytest.raises(ConfigurationError, match=message):
        load_rules(data_copy)


def test_missing_kind_is_named(data_copy: Path) -> None:
    text = (data_copy / "rules.toml").read_text(encoding="utf-8")
    start = text.index("[kinds.trafficking_home]")
    (data_copy / "rules.toml").write_text(text[:start], encoding="utf-8")
    with pytest.raises(ConfigurationError, match=r"missing \[kinds.trafficking_home\]"):
        load_rules(data_copy)


def test_broken_region_is_named(data_copy: Path) -> None:
    _edit(data_copy / "regions.toml", "lat = 46.073", "lat = 146.073")
    with pytest.raises(
        ConfigurationError, match=r"regions.toml: \[\[regions\]\] #2 \('Baranya'\) key 'lat'"
    ):
        load_rules(data_copy)


def test_app_refuses_to_start_with_a_broken_rules_file(data_copy: Path) -> None:
    from api.app import create_app
    from broker.settings import Settings

    _edit(data_copy / "rules.toml", "tier = 1", "tier = 7")
    with pytest.raises(ConfigurationError, match="tier"):
        create_app(Settings(data_dir=data_copy, database_url="sqlite:////tmp/never.db"))
