"""The ``broker`` command line, run as a real subprocess against a fresh database."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import sqlalchemy as sa

from broker.db.engine import make_engine


def run(args: list[str], url: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "BROKER_DATABASE_URL": url}
    return subprocess.run(
        [sys.executable, "-m", "broker.cli", *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture
def fresh_sqlite(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    assert run(["db", "upgrade"], url).returncode == 0
    return url


def _rows(url: str, query: str) -> list[tuple]:
    engine = make_engine(url, pool_size=1)
    with engine.connect() as connection:
        rows = [tuple(row) for row in connection.execute(sa.text(query))]
    engine.dispose()
    return rows


def test_commands_refuse_an_unmigrated_database(tmp_path: Path) -> None:
    result = run(["demo"], f"sqlite:///{tmp_path / 'empty.db'}")
    assert result.returncode == 2
    assert "broker db upgrade" in result.stderr


def test_demo_network_matches_the_brief(fresh_sqlite: str) -> None:
    result = run(["demo"], fresh_sqlite)
    assert result.returncode == 0, result.stderr
    assert "house-staff" in result.stdout and "admin-demo-2026" in result.stdout
    kinds = Counter(kind for (kind,) in _rows(fresh_sqlite, "SELECT kind FROM facilities"))
    assert 18 <= kinds["crisis_centre"] <= 22 and kinds["secret_shelter"] == 8
    assert kinds["temporary_home_mothers"] > 0 and kinds["temporary_home_families"] > 0
    assert 18 <= kinds["halfway_house"] <= 22 and kinds["trafficking_home"] == 2
    ((beds,),) = _rows(fresh_sqlite, "SELECT SUM(total_beds) FROM facilities")
    assert beds < 300
    regions = {
        region for (region,) in _rows(fresh_sqlite, "SELECT DISTINCT region FROM facilities")
    }
    assert len(regions) == 20
    house = _rows(
        fresh_sqlite,
        "SELECT f.kind, f.total_beds FROM facilities f JOIN operators o ON o.id = f.operator_id"
        " JOIN user_facilities uf ON uf.facility_id = f.id JOIN users u ON u.id = uf.user_id"
        " WHERE u.username = 'house-staff' AND o.flexible_transfers ORDER BY f.kind",
    )
    assert house == [("crisis_centre", 15), ("secret_shelter", 19), ("temporary_home_mothers", 15)]
    varied = _rows(
        fresh_sqlite,
        "SELECT COUNT(DISTINCT boys_max_age), SUM(CASE WHEN accepts_pets THEN 1 ELSE 0 END),"
        " SUM(wheelchair_units), SUM(CASE WHEN night_admission THEN 0 ELSE 1 END),"
        " SUM(CASE WHEN accepts_reentry THEN 0 ELSE 1 END) FROM facilities",
    )[0]
    assert all(value and value > 0 for value in varied)
    again = run(["demo"], fresh_sqlite)
    assert again.returncode == 2 and "empty" in again.stderr
    assert run(["demo", "--if-empty"], fresh_sqlite).returncode == 0


def test_users_create_reads_password_from_stdin(fresh_sqlite: str) -> None:
    run(["demo"], fresh_sqlite)
    created = run(
        [
            "users",
            "create",
            "--username",
            "eva",
            "--role",
            "shelter_staff",
            "--facility",
            "1",
            "--facility",
            "2",
            "--password-stdin",
        ],
        fresh_sqlite,
        stdin="a-long-enough-secret\n",
    )
    assert created.returncode == 0, created.stderr
    assert "a-long-enough-secret" not in created.stdout + created.stderr
    ((stored,),) = _rows(fresh_sqlite, "SELECT password_hash FROM users WHERE username = 'eva'")
    assert stored.startswith("$argon2id$")
    assert _rows(
        fresh_sqlite,
        "SELECT facility_id FROM user_facilities uf JOIN users u ON u.id = uf.user_id WHERE u.username = 'eva' ORDER BY 1",
    ) == [(1,), (2,)]
    short = run(
        ["users", "create", "--username", "bob", "--role", "police", "--password-stdin"],
        fresh_sqlite,
        stdin="short\n",
    )
    assert short.returncode == 2 and "at least" in short.stderr
    unbound = run(
        ["users", "create", "--username", "bob", "--role", "shelter_staff", "--password-stdin"],
        fresh_sqlite,
        stdin="a-long-enough-secret\n",
    )
    assert unbound.returncode == 2 and "bound" in unbound.stderr
    key = run(["keys", "create", "--username", "eva"], fresh_sqlite)
    assert key.returncode == 0 and len(key.stdout.strip()) >= 40


def test_seed_synthetic_is_deterministic_per_seed(tmp_path: Path) -> None:
    def network(name: str, seed: int) -> list[tuple]:
        url = f"sqlite:///{tmp_path / name}"
        run(["db", "upgrade"], url)
        result = run(["seed-synthetic", "--facilities", "300", "--seed", str(seed)], url)
        assert result.returncode == 0, result.stderr
        return _rows(
            url,
            "SELECT name, kind, region, total_units, total_beds, boys_max_age, languages, reported_free_units FROM facilities ORDER BY id",
        )

    first, again, other = network("a.db", 7), network("b.db", 7), network("c.db", 8)
    assert len(first) == 300 and first == again and first != other
    assert len({row[1] for row in first}) == 6 and len({row[2] for row in first}) == 20


def test_seed_synthetic_at_benchmark_scale(fresh_sqlite: str) -> None:
    result = run(["seed-synthetic", "--facilities", "5000", "--seed", "1"], fresh_sqlite)
    assert result.returncode == 0, result.stderr
    assert _rows(fresh_sqlite, "SELECT COUNT(*) FROM facilities") == [(5000,)]
