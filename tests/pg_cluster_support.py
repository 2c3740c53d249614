"""A private PostgreSQL cluster that a test may stop and start at will.

The machine's shared server serves other tests at the same time, so a test that takes the
database away runs its own cluster: initialised in a temporary directory, listening on
127.0.0.1 on a free port with its socket in that directory, and owned by the ``postgres``
operating-system user because PostgreSQL refuses to run as root.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

import psycopg

from tests.server_support import free_port

SYSTEM_USER = "postgres"


def postgres_bin_dir() -> Path | None:
    """The newest installed server version's binaries, or None when there are none."""
    found = [
        path.parent
        for path in Path("/usr/lib/postgresql").glob("*/bin/pg_ctl")
        if (path.parent / "initdb").exists()
    ]
    if not found:
        return None
    return max(found, key=lambda directory: int(directory.parent.name.split(".")[0]))


def unavailable_reason() -> str | None:
    """Why a private cluster cannot be started on this machine, or None when it can."""
    if postgres_bin_dir() is None:
        return "no PostgreSQL server binaries under /usr/lib/postgresql/*/bin"
    try:
        pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        return f"no {SYSTEM_USER!r} operating-system user to run the server as"
    if os.geteuid() != 0 and pwd.getpwuid(os.geteuid()).pw_name != SYSTEM_USER:
        return f"neither root nor {SYSTEM_USER!r}: cannot run the server as {SYSTEM_USER!r}"
    if shutil.which("runuser") is None and os.geteuid() == 0:
        return "no runuser to drop from root to the postgres user"
    return None


class PrivateCluster:
    """``initdb`` + ``pg_ctl`` in a temporary directory; :meth:`destroy` always cleans up."""

    def __init__(self) -> None:
        bin_dir = postgres_bin_dir()
        if bin_dir is None:
            raise RuntimeError("no PostgreSQL server binaries")
        self.bin_dir = bin_dir
        # not under pytest's tmp_path: that is private to root, and the server runs as postgres
        self.root = Path(tempfile.mkdtemp(prefix="broker-pg-"))
        account = pwd.getpwnam(SYSTEM_USER)
        os.chown(self.root, account.pw_uid, account.pw_gid)
        self.data_dir = self.root / "data"
        self.log_path = self.root / "server.log"
        self.port = free_port()

    def _run(self, *args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
        command = [str(self.bin_dir / args[0]), *args[1:]]
        if os.geteuid() == 0:
            command = ["runuser", "-u", SYSTEM_USER, "--", *command]
        return subprocess.run(
            command, capture_output=True, text=True, timeout=timeout, cwd=self.root, check=False
        )

    def _checked(self, *args: str, timeout: float = 60.0) -> None:
        result = self._run(*args, timeout=timeout)
        if result.returncode != 0:
            raise RuntimeError(
                f"{' '.join(args[:2])} failed ({result.returncode}):\n{result.stdout}"
                f"{result.stderr}\n{self.server_log()}"
            )

    def init(self) -> None:
        self._checked(
            "initdb", "-D", str(self.data_dir), "-A", "trust", "-U", "postgres", "--no-sync"
        )

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1"
        data, log = str(self.data_dir), str(self.log_path)
        self._checked("pg_ctl", "-D", data, "-o", options, "-l", log, "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        self._checked("pg_ctl", "-D", str(self.data_dir), "-m", mode, "-w", "stop")

    def running(self) -> bool:
        return self._run("pg_ctl", "-D", str(self.data_dir), "status").returncode == 0

    def server_log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        conninfo = f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres"
        with psycopg.connect(conninfo, autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def destroy(self) -> None:
        """Stop the server if it runs (immediately: nothing in it is kept) and remove it all."""
        try:
            if self.data_dir.exists() and self.running():
                self._run("pg_ctl", "-D", str(self.data_dir), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
