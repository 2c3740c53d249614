"""The simulator's edges: policies as written, the figures file, `broker simulate` as a
person runs it, and the shortcut the engine takes before the ranking."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import tomllib
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from broker.errors import ConfigurationError, InvalidInput
from broker.simulation.config import load_simulation_config
from broker.simulation.engine import Run, RunSpec
from broker.simulation.networks import load_sim_network
from broker.simulation.policies import Policy, parse_policies
from broker.simulation.population import Population
from solver.ranking import rank
from tests.simulation_support import DATA, START, rules

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def test_policies_as_written() -> None:
    assert Policy.parse("flexible") == Policy("flexible", "ranked", "excluded")
    assert Policy.parse("assessed/optimised") == Policy("strict", "optimised", "assessed")
    assert len(parse_policies("all")) == 6
    assert [p.name for p in parse_policies("strict/first_fit, all")][:2] == [
        "strict/first_fit/excluded",
        "strict/ranked/excluded",
    ]
    for bad in ("bogus", "strict/flexible", "", "all," * 0 + " , "):
        with pytest.raises(InvalidInput):
            parse_policies(bad)


def _figures(tmp_path: Path, change: str, replacement: str) -> Path:
    text = (DATA / "simulation.toml").read_text(encoding="utf-8")
    assert change in text
    (tmp_path / "simulation.toml").write_text(text.replace(change, replacement), encoding="utf-8")
    return tmp_path


@pytest.mark.parametrize(
    ("change", "replacement", "named"),
    [
        ("cases_per_year = 684", "", "missing key 'cases_per_year'"),
        ("may_wait_share = 0.4", "may_wait_share = 1.4", "waiting.may_wait_share"),
        ("wait_days = 7", 'wait_days = "a week"', "wait_days: expected a number"),
        ("high = 0.10", "high = 0.5", "risk shares must add up to 1"),
        ("[transfers]", "[transfers]\nsurprise = 1", "unknown key 'surprise'"),
    ],
)
def test_a_bad_figure_is_named(tmp_path: Path, change: str, replacement: str, named: str) -> None:
    with pytest.raises(ConfigurationError, match=named.replace("(", r"\(")):
        load_simulation_config(_figures(tmp_path, change, replacement))


def test_every_kind_has_stay_figures_and_every_figure_a_source() -> None:
    config = load_simulation_config(DATA)
    assert set(config.stays) == set(tomllib.loads((DATA / "rules.toml").read_text())["kinds"])
    # every figure says where it comes from: a comment on its line, or one just before or
    # after its table's header (for the figures of that table)
    lines = (DATA / "simulation.toml").read_text(encoding="utf-8").splitlines()
    explained = explained_stays = False
    for number, line in enumerate(lines):
        if line.startswith("[stays.") and explained_stays:
            explained = True  # the comment before the first kind's table covers them all
        elif line.startswith("["):
            explained = lines[number - 1].startswith("#") or lines[number + 1].startswith("#")
            explained_stays = explained and line.startswith("[stays.")
        elif "=" in line and not line.startswith("#") and not line.startswith(" "):
            assert explained or "#" in line, line


def _broker(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BROKER_")}
    return subprocess.run(
        [sys.executable, "-m", "broker.cli", *args],
        cwd=cwd,
        env={**env, "BROKER_DATA_DIR": str(DATA)},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_broker_simulate_writes_the_same_files_for_the_same_seeds(tmp_path: Path) -> None:
    args = ["simulate", "--days", "20", "--seeds", "2", "--workers", "2"]
    args += ["--policies", "strict/ranked,flexible/optimised/assessed"]
    first = _broker(*args, "--out", "one", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "simulating: 4/4 runs" in first.stderr
    again = _broker(*args, "--out", "two", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    for name in ("summary.json", "report.html"):
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes()
    # runs.csv is the same but for each run's seconds, its last column
    one, two = ((tmp_path / d / "runs.csv").read_text().splitlines() for d in ("one", "two"))
    assert one[0].endswith(",seconds")
    assert [row.rsplit(",", 1)[0] for row in one] == [row.rsplit(",", 1)[0] for row in two]
    summary = json.loads((tmp_path / "one" / "summary.json").read_text())
    assert summary["settings"]["policies"] == [
        "strict/ranked/excluded",
        "flexible/optimised/assessed",
    ]
    rows = (tmp_path / "one" / "runs.csv").read_text().splitlines()
    assert len(rows) == 1 + 2 * 2
    report = (tmp_path / "one" / "report.html").read_text()
    assert 'lang="hu"' in report and "<script" not in report


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--days", "0"], "days must be between 1 and"),
        (["--policies", "bogus"], "unknown policy part 'bogus'"),
        (["--network", "synthetic:0"], "synthetic network has 1 to"),
        (["--network", "atlantis"], "unknown network 'atlantis'"),
    ],
)
def test_broker_simulate_refuses_bad_input_in_a_sentence(
    tmp_path: Path, args: list[str], message: str
) -> None:
    done = _broker("simulate", "--seeds", "1", "--days", "5", *args, cwd=tmp_path)
    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "simulation").exists()


def test_the_engines_shortcut_picks_what_the_ranking_picks_from_every_facility() -> None:
    """The engine hands the ranking one facility per kind and region, plus the secret
    shelters it counts; on random occupancies that must pick exactly the facility the
    ranking picks from the whole network."""
    sim = load_sim_network("demo", rules=rules(), data_dir=DATA, start=START)
    config = load_simulation_config(DATA)
    population = Population(config, seed=5, regions=sorted({f.region for f in sim.facilities}))
    callers = population.arrivals(days=300, beds=sim.beds, first_weekday=0)
    rng = random.Random(11)
    compared = picked = 0
    for round_number in range(40):
        run = Run(RunSpec(1, Policy(), 30, START), config, sim)
        for index, state in enumerate(run.states):
            units = rng.choice([0, 0, rng.randint(0, sim.total_units[index])])
            beds = 0 if units == 0 else rng.randint(units, sim.total_beds[index])
            run.states[index] = replace(state, free_units=units, free_beds=beds)
        run.free = np.array([s.free_units > 0 for s in run.states])
        run.free_beds = np.array([s.free_beds for s in run.states])
        for caller in callers[round_number * 10 : round_number * 10 + 10]:
            expected = rank(caller.request, run.states, sim.network, now=START, limit=1)
            best = expected.options[0].facility_id - 1 if expected.options else None
            assert run.choose(caller, 0.0) == best
            compared += 1
            picked += best is not None
    assert compared == 400 and picked > 100
