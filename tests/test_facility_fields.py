"""Every layer that handles a facility knows every registry field of ``FacilitySpec``.

``FacilitySpec`` (broker/domain/facility.py) is the one declaration. Layers that derive
their field list from it cannot miss one; the layers that declare their own (the table
model, the API structs, the facility view, matching's state, the demo loader's defaults,
the generators) are checked here, each failure naming the layer and the field it lacks,
so that a field added in one place and forgotten in another fails before it silently does
nothing.
"""

from __future__ import annotations

import dataclasses
import tomllib
from collections.abc import Iterable

import msgspec
import pytest

from api import schemas
from broker.db.models import Facility
from broker.domain.facility import MATCHING_FIELDS, STORED_FIELDS, FacilitySpec
from broker.domain.rules import load_rules
from broker.network import _SPEC_DEFAULTS, read_demo_network, synthetic_entries
from broker.services.facilities import FacilityView
from broker.settings import Settings
from solver.instance import FacilityState

SPEC_FIELDS = tuple(f.name for f in dataclasses.fields(FacilitySpec))
# What every demo entry must say itself: the rest has a default meaning "no restriction".
REQUIRED_IN_ENTRIES = {
    "name",
    "kind",
    "operator",
    "region",
    "total_units",
    "total_beds",
    "meeting_point",
}
# Matching's own fields, not registry fields: who it is and what is free now.
LIVE_STATE_FIELDS = {"id", "operator_id", "free_units", "free_beds", "reported_at"}


def _struct_fields(struct: type[msgspec.Struct]) -> set[str]:
    return set(struct.__struct_fields__)


def _lacking(layer: str, has: Iterable[str], needed: Iterable[str]) -> None:
    missing = sorted(set(needed) - set(has))
    assert not missing, f"{layer} lacks {', '.join(missing)}"


LAYERS = {
    "the table model (broker/db/models.py Facility)": (
        lambda: set(Facility.model_fields),
        STORED_FIELDS,
    ),
    "the registry view (broker/services/facilities.py FacilityView)": (
        lambda: {f.name for f in dataclasses.fields(FacilityView)},
        SPEC_FIELDS,
    ),
    "the create body (api/schemas.py FacilityIn)": (
        lambda: _struct_fields(schemas.FacilityIn),
        SPEC_FIELDS,
    ),
    "the change body (api/schemas.py FacilityPatch)": (
        lambda: _struct_fields(schemas.FacilityPatch),
        SPEC_FIELDS,
    ),
    "the answer (api/schemas.py FacilityOut)": (
        lambda: _struct_fields(schemas.FacilityOut),
        SPEC_FIELDS,
    ),
    "the demo loader's defaults (broker/network.py _SPEC_DEFAULTS)": (
        lambda: set(_SPEC_DEFAULTS) | REQUIRED_IN_ENTRIES,
        SPEC_FIELDS,
    ),
}


@pytest.mark.parametrize("layer", sorted(LAYERS))
def test_every_layer_knows_every_registry_field(layer: str) -> None:
    has, needed = LAYERS[layer]
    _lacking(layer, has(), needed)


def test_matching_state_fields_are_registry_fields_without_defaults() -> None:
    state_fields = dataclasses.fields(FacilityState)
    _lacking(
        "the registry (broker/domain/facility.py FacilitySpec), for matching's state,",
        set(SPEC_FIELDS) | LIVE_STATE_FIELDS,
        {f.name for f in state_fields},
    )
    defaulted = [
        f.name
        for f in state_fields
        if f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
    ]
    assert not defaulted, (
        "matching's state (solver/instance.py FacilityState) gives a default to "
        f"{', '.join(defaulted)}: a layer that forgets to fill it would go unnoticed"
    )
    assert set(MATCHING_FIELDS) == {f.name for f in state_fields} - LIVE_STATE_FIELDS


def test_demo_network_sets_every_optional_field_somewhere() -> None:
    """The demo shows every rule at work: each optional field differs from its default in
    at least one demo facility."""
    network = read_demo_network(Settings().data_dir / "demo_network.toml")
    unused = [
        name
        for name, default in _SPEC_DEFAULTS.items()
        if all(getattr(entry.spec, name) == default for entry in network.entries)
    ]
    assert not unused, f"data/demo_network.toml never sets {', '.join(unused)}"


def test_demo_file_names_only_known_fields() -> None:
    raw = tomllib.loads((Settings().data_dir / "demo_network.toml").read_text())
    extra = {"address", "free_units", "free_beds", "reported_hours_ago"}
    for entry in raw["facilities"]:
        unknown = set(entry) - set(SPEC_FIELDS) - extra
        assert not unknown, f"{entry['name']}: unknown fields {sorted(unknown)}"


def test_synthetic_generator_varies_every_field() -> None:
    """The synthetic network (benchmarks, load tests) exercises every field: none of them
    is the same in all of 300 generated facilities."""
    entries = synthetic_entries(rules=load_rules(Settings().data_dir), count=300, seed=7)
    constant = [
        name
        for name in SPEC_FIELDS
        if len({repr(getattr(entry.spec, name)) for entry in entries}) < 2
    ]
    assert not constant, f"the synthetic generator (broker/network.py) never varies {constant}"
