"""A throwaway PostgreSQL server for the test session, and a `database_url` fixture over SQLite and PostgreSQL.

`postgres_url` (session scope) runs `initdb` into a temporary directory, starts that cluster with `pg_ctl` on a free
port on 127.0.0.1 (its unix socket stays in the same directory, so nothing touches /var/run/postgresql or a server
the machine may already run), creates a database and yields its `postgresql+asyncpg://` URL. At the end of the
session the server is stopped and the directory deleted.

PostgreSQL refuses to run as root, so as root every server program runs as the `postgres` system user (Debian's
package creates it) through `runuser`, in a directory that user owns; otherwise they run as the current user.

Without the server programs the PostgreSQL tests skip, saying how to install them, except on CI (`CI` set), where a
missing server is a broken build and fails: `make test` installs Debian's package first (see `make postgres`).

`database_url` gives each test an empty database: a fresh SQLite file, or the session's PostgreSQL database with its
`public` schema dropped and made anew.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import asyncpg
import pytest

DEBIAN_BIN_DIRS = "/usr/lib/postgresql"
SERVER_USER = "postgres"  # the system user Debian's package creates; used only when the tests run as root
ROLE = "lumen"
DATABASE = "lumen_test"
START_TIMEOUT_S = 120  # pg_ctl waits this long for the server: a hang guard, generous for a loaded machine
PORT_TRIES = 5
# Durability is worth nothing in a throwaway cluster; skipping fsync makes initdb and CREATE DATABASE fast.
SERVER_OPTIONS = ("-F", "-c", "synchronous_commit=off", "-c", "full_page_writes=off")


def find_bin_dir() -> Path | None:
    """Where initdb and pg_ctl are: on PATH, else Debian's versioned directory (not on PATH), newest first."""
    on_path = shutil.which("initdb")
    if on_path and shutil.which("pg_ctl"):
        return Path(on_path).resolve().parent
    versions = sorted(Path(DEBIAN_BIN_DIRS).glob("*/bin/initdb"), key=lambda p: _version(p.parent.parent.name))
    return versions[-1].parent if versions else None


def _version(name: str) -> int:
    return int(name) if name.isdigit() else -1


def _free_port() -> int:
    # The kernel picks an unused port; a race with another process is possible, so starting retries on failure.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Cluster:
    bin_dir: Path
    root: Path
    as_user: str | None  # run the server programs as this user (set when we are root)
    port: int = 0

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def log(self) -> Path:
        return self.root / "server.log"

    def run(self, program: str, *args: str) -> None:
        command = [str(self.bin_dir / program), *args]
        if self.as_user:
            command = ["runuser", "-u", self.as_user, "--", *command]
        # In the cluster's directory: the postgres user may not be allowed into ours (a clone under /root, say).
        result = subprocess.run(command, cwd=self.root, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"{program} failed ({result.returncode}): {result.stderr.strip()}{self._log_tail()}")

    def _log_tail(self) -> str:
        return "\n" + self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""

    def init(self) -> None:
        self.run(
            "initdb",
            *("-D", str(self.data), "-U", ROLE, "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync"),
            "--no-instructions",
        )

    def start(self) -> None:
        """Start on a free port; if another process took that port in between, try another."""
        for attempt in range(PORT_TRIES):
            self.port = _free_port()
            options = [*SERVER_OPTIONS, "-p", str(self.port), "-c", "listen_addresses=127.0.0.1", "-k", str(self.root)]
            try:
                self.run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", str(START_TIMEOUT_S),
                         "-o", " ".join(options), "start")  # fmt: skip
            except RuntimeError:
                if attempt == PORT_TRIES - 1:
                    raise
                continue
            return

    def stop(self) -> None:
        # Immediate: nothing in a throwaway cluster needs a clean shutdown checkpoint.
        self.run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def url(self, database: str) -> str:
        return f"postgresql+asyncpg://{ROLE}@127.0.0.1:{self.port}/{database}"


def _make_root(as_user: str | None) -> Path:
    root = Path(tempfile.mkdtemp(prefix="lumen-pg-"))
    if as_user:
        account = pwd.getpwnam(as_user)
        os.chown(root, account.pw_uid, account.pw_gid)
    return root


def _server_user() -> str | None:
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(SERVER_USER)
    except KeyError:
        pytest.fail(f"running as root, PostgreSQL needs the '{SERVER_USER}' system user (Debian's package makes it)")
    return SERVER_USER


def missing_server() -> NoReturn:
    reason = "PostgreSQL server programs (initdb, pg_ctl) not found: `make postgres` installs Debian's package"
    if os.environ.get("CI"):
        pytest.fail(reason + " (on CI a missing server is an error, not a skip)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[Cluster]:
    bin_dir = find_bin_dir()
    if bin_dir is None:
        missing_server()
    as_user = _server_user()
    cluster = Cluster(bin_dir=bin_dir, root=_make_root(as_user), as_user=as_user)
    try:
        cluster.init()
        cluster.start()
        cluster.run("createdb", "-h", "127.0.0.1", "-p", str(cluster.port), "-U", ROLE, DATABASE)
        yield cluster
    finally:
        try:
            if (cluster.data / "postmaster.pid").exists():
                cluster.stop()
        finally:
            shutil.rmtree(cluster.root, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_url(postgres_server: Cluster) -> str:
    """`postgresql+asyncpg://lumen@127.0.0.1:PORT/lumen_test` on the session's throwaway server."""
    return postgres_server.url(DATABASE)


@pytest.fixture(params=["sqlite", "postgresql"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """An empty database on each backend: a new SQLite file, or the session's PostgreSQL database emptied."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'lumen.db'}"
        return
    url: str = request.getfixturevalue("postgres_url")
    # Emptied before the test, not after, so a failed test's tables are there to look at until the next one.
    # Dropping the schema takes milliseconds; a fresh CREATE DATABASE per test took ~0.25 s.
    admin = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://", 1))
    try:
        await admin.execute(f"DROP SCHEMA public CASCADE; CREATE SCHEMA public AUTHORIZATION {ROLE}")
    finally:
        await admin.close()
    yield url
