"""Throwaway PostgreSQL and Redis servers on loopback, in temporary directories.

The store and fleet tests and ``bench/soak.py --fleet`` run against the real servers from Debian's
packages (``make test`` installs them). Each server gets a free port and its own directory, and is
stopped and removed afterwards. PostgreSQL refuses to run as root, so as root it runs as the
``postgres`` user. Starting fails loudly: a test that needs a server must never be skipped.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from bench import free_port

START_TIMEOUT_S = 30.0


class ServerError(RuntimeError):
    """A server could not be started; the message says what to install or check."""


def _postgres_bin(name: str) -> str:
    """initdb and pg_ctl live outside PATH on Debian (/usr/lib/postgresql/<version>/bin)."""
    installed = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), reverse=True)
    found = shutil.which(name) or (str(installed[0]) if installed else None)
    if found is None:
        raise ServerError(f"{name} not found: install PostgreSQL (apt-get install postgresql)")
    return found


def _as_postgres() -> list[str]:
    """The prefix that runs a command as the postgres user when we are root."""
    if os.geteuid() != 0:
        return []
    return ["runuser", "-u", "postgres", "--"]


def _run(command: list[str], what: str) -> None:
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    if done.returncode:
        raise ServerError(f"{what} failed ({done.returncode}): {done.stderr.strip()[-500:]}")


@dataclass
class Postgres:
    """A running PostgreSQL cluster; ``url(name)`` connects to one of its databases."""

    directory: Path
    port: int

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str | None = None) -> str:
        """A new, empty database; returns its URL."""
        import psycopg

        name = name or f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url(), autocommit=True) as db:
            db.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


@contextlib.contextmanager
def postgres(fsync: bool = False) -> Iterator[Postgres]:
    """Start a cluster (trust authentication, loopback only); ``fsync=False`` for tests, where a
    lost power supply is not what is being tested, ``True`` for benchmarks."""
    directory = Path(tempfile.mkdtemp(prefix="article-qa-pg-"))
    data = directory / "data"
    prefix = _as_postgres()
    if prefix:
        shutil.chown(directory, "postgres", "postgres")
    port = free_port()
    try:
        _run([*prefix, _postgres_bin("initdb"), "-D", str(data), "-U", "postgres",
              "--auth=trust", "--no-instructions", "-E", "UTF8"], "initdb")  # fmt: skip
        options = (
            f"-c listen_addresses=127.0.0.1 -p {port} -k {directory} "
            f"-c fsync={'on' if fsync else 'off'} -c max_connections=200"
        )
        _run([*prefix, _postgres_bin("pg_ctl"), "-D", str(data), "-o", options,
              "-l", str(directory / "log"), "-w", "-t", str(int(START_TIMEOUT_S)), "start"],
             "pg_ctl start")  # fmt: skip
        yield Postgres(directory, port)
    finally:
        if (data / "postmaster.pid").exists():
            subprocess.run(
                [*prefix, _postgres_bin("pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                capture_output=True,
                timeout=60,
                check=False,
            )
        shutil.rmtree(directory, ignore_errors=True)


@dataclass
class Redis:
    port: int
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"


@contextlib.contextmanager
def redis() -> Iterator[Redis]:
    """Start redis-server without persistence; waits until it answers PING."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise ServerError("redis-server not found: install it (apt-get install redis-server)")
    directory = Path(tempfile.mkdtemp(prefix="article-qa-redis-"))
    port = free_port()
    command = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
               "--appendonly", "no", "--dir", str(directory)]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not _answers_ping(port):
            if process.poll() is not None or time.monotonic() > deadline:
                error = process.stderr.read().decode() if process.stderr else ""
                raise ServerError(f"redis-server did not start: {error.strip()[-500:]}")
            time.sleep(0.05)
        yield Redis(port, process)
    finally:
        process.kill()
        process.wait(timeout=30)
        if process.stderr:
            process.stderr.close()
        shutil.rmtree(directory, ignore_errors=True)


def _answers_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as connection:
            connection.sendall(b"PING\r\n")
            return connection.recv(16).startswith(b"+PONG")
    except OSError:
        return False
