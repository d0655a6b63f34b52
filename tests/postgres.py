"""A throwaway PostgreSQL server from Debian's binaries (``initdb`` and ``pg_ctl``) in a temporary folder, on a free
port of 127.0.0.1, run as the ``postgres`` user where the tests run as root (PostgreSQL refuses to run as root)."""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from generators.teachers.embedded import free_port


def postgres_bin() -> Path | None:
    """The folder of ``pg_ctl`` and ``initdb``: on the PATH, or Debian's ``/usr/lib/postgresql/<version>/bin``."""
    found = shutil.which("pg_ctl")
    if found:
        return Path(os.path.realpath(found)).parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return Path(versions[-1]).parent if versions else None


class LocalPostgres:
    """``with LocalPostgres() as pg:`` a server with an empty database ``dagster`` at ``pg.url``, gone afterwards."""

    def __init__(self) -> None:
        binaries = postgres_bin()
        if binaries is None:
            raise FileNotFoundError("no PostgreSQL binaries (initdb, pg_ctl): apt-get install postgresql-15")
        self.bin = binaries
        self.port = free_port()
        self.user = "postgres" if os.geteuid() == 0 else None
        self.root = Path(tempfile.mkdtemp(prefix="foundry-pg-"))
        self.url = f"postgresql+psycopg2://foundry@127.0.0.1:{self.port}/dagster"

    def _run(self, *args: str) -> None:
        done = subprocess.run([str(self.bin / args[0]), *args[1:]], user=self.user, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"{args[0]} failed: {done.stderr.strip() or done.stdout.strip()}")

    def __enter__(self) -> LocalPostgres:
        if self.user:
            shutil.chown(self.root, self.user)
        data = self.root / "data"
        self._run("initdb", "-D", str(data), "-U", "foundry", "-A", "trust", "-E", "UTF8", "--no-sync")
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
        self._run("pg_ctl", "-D", str(data), "-o", options, "-l", str(self.root / "log"), "-w", "start")
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "foundry", "dagster")
        return self

    def stop(self) -> None:
        """Stop the server at once (as a crash would), keeping its folder."""
        self._run("pg_ctl", "-D", str(self.root / "data"), "-m", "immediate", "-w", "stop")

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(RuntimeError):  # stopped already
            self.stop()
        shutil.rmtree(self.root, ignore_errors=True)
