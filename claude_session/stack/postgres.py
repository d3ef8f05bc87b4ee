"""A private PostgreSQL cluster for Phoenix, kept in the state directory (`up --postgres`).

Layout, under the state directory's postgres/ (mode 0700):

    data/       the cluster (initdb'd once; it survives `down` and the next `up`)
    run/        its unix socket directory
    password    the generated password of the `phoenix` role, mode 0600

The server is Debian's (/usr/lib/postgresql/*/bin), listens on 127.0.0.1 only, has a pid
file and a log like every other component, and is stopped by PID (`pg_ctl stop`). The
password reaches initdb through a file and Phoenix through its environment, never argv.

PostgreSQL refuses to run as root. Run by root, every server binary runs in a user
namespace as the unprivileged `postgres` user (`unshare --map-user`), mapped onto root
outside: the cluster's files stay root's, under a 0700 state directory, and no system
account or chown is needed.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

from claude_session.stack import procs
from claude_session.stack.errors import StackError
from claude_session.stack.state import StatePaths

ROLE = "phoenix"
DATABASE = "phoenix"
START_TIMEOUT = 60.0
DEBIAN_BIN_GLOB = "/usr/lib/postgresql/*/bin"


def url_file(state: StatePaths) -> Path:
    """The 0600 file holding Phoenix's database URL, password included (stack.json holds
    only its redacted form)."""
    return state.root / "database_url"


def write_secret(path: Path, text: str) -> None:
    """`text` into `path`, created with mode 0600 (never readable by others, even briefly)."""
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text + "\n")


def redact_url(url: str) -> str:
    """`url` with its password replaced by ***, for stack.json, logs and printed output."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def with_password(url: str, password: str | None) -> str:
    """`url`, with `password` (e.g. $PGPASSWORD) put in when the URL has none."""
    parts = urlsplit(url)
    if not password or parts.password is not None or not parts.username:
        return url
    netloc = f"{parts.username}:{quote(password, safe='')}@{parts.netloc.rsplit('@', 1)[1]}"
    return urlunsplit(parts._replace(netloc=netloc))


def check_url(url: str) -> None:
    if urlsplit(url).scheme not in ("postgresql", "postgres") or not urlsplit(url).hostname:
        raise StackError(
            f"--database wants postgresql://USER:PASSWORD@HOST:PORT/DB, not {redact_url(url)}",
            exit_code=2,
        )


def server_bin() -> Path:
    """The newest Debian PostgreSQL server binaries (scripts/install installs them)."""
    found = sorted(
        (p for p in Path("/").glob(DEBIAN_BIN_GLOB.lstrip("/")) if (p / "initdb").exists()),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    if not found:
        raise StackError(
            f"no PostgreSQL server under {DEBIAN_BIN_GLOB}; install it with scripts/install "
            "(Debian's postgresql package) or give an existing server with --database URL"
        )
    return found[-1]


class PrivatePostgres:
    """The cluster in `state`, served on 127.0.0.1:`port`."""

    def __init__(self, state: StatePaths, port: int, environ: Mapping[str, str]) -> None:
        self.state = state
        self.port = port
        self.root = state.root / "postgres"
        self.data = self.root / "data"
        self.sockets = self.root / "run"
        self.password_file = self.root / "password"
        self.environ = {k: v for k, v in environ.items() if not k.startswith("PG")}

    def url(self) -> str:
        password = self.password_file.read_text().strip()
        return f"postgresql://{ROLE}:{password}@127.0.0.1:{self.port}/{DATABASE}"

    def start(self) -> int:
        """Create the cluster on first use, then start its server; return the server's pid."""
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.root.chmod(0o700)
        self.sockets.mkdir(mode=0o700, exist_ok=True)
        if not (self.data / "PG_VERSION").exists():
            self._initdb()
        argv = [
            *self._as_server_user(),
            str(server_bin() / "postgres"),
            "-D",
            str(self.data),
            "-p",
            str(self.port),
            "-k",
            str(self.sockets),
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            "unix_socket_permissions=0700",
        ]
        return procs.start("postgres", argv, self.environ, self.state.pid_file("postgres"), self._log)

    def wait(self, pid: int) -> None:
        """Wait until the server accepts connections; create Phoenix's database on first use."""
        print(
            f"waiting for PostgreSQL (private cluster in {self.data}) on 127.0.0.1:{self.port} "
            f"(up to {int(START_TIMEOUT)} s)...",
            file=sys.stderr,
            flush=True,
        )
        deadline = time.monotonic() + START_TIMEOUT
        while not self._ready():
            if not procs.is_running(pid):
                raise StackError(
                    f"PostgreSQL exited during start-up; last log lines:\n{procs.tail(self._log)}"
                )
            if time.monotonic() > deadline:
                raise StackError(
                    f"PostgreSQL did not accept connections within {int(START_TIMEOUT)} s; see {self._log}"
                )
            time.sleep(0.25)
        if not self._has_database():  # a new cluster (or one whose first start was cut short)
            self._run("createdb", [str(server_bin() / "createdb"), *self._local(), DATABASE])

    def stop(self) -> bool:
        """`pg_ctl stop` (fast: Phoenix is stopped first), checked by PID; True if it was running."""
        pid_file = self.state.pid_file("postgres")
        pid = procs.read_pid(pid_file)
        if pid is None:
            pid_file.unlink(missing_ok=True)
            return False
        pg_ctl = [*self._as_server_user(), str(server_bin() / "pg_ctl"), "stop", "-D", str(self.data)]
        subprocess.run(
            [*pg_ctl, "-m", "fast", "-w", "-t", "30"],
            env=self.environ,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            check=False,
        )
        deadline = time.monotonic() + 30
        while procs.is_running(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if procs.is_running(pid):
            return procs.stop(pid_file)
        pid_file.unlink(missing_ok=True)
        return True

    # --- helpers ---

    @property
    def _log(self) -> Path:
        return self.state.log_file("postgres")

    def _initdb(self) -> None:
        print(f"creating a PostgreSQL cluster in {self.data}...", file=sys.stderr, flush=True)
        write_secret(self.password_file, secrets.token_hex(24))
        argv = [
            *self._as_server_user(),
            str(server_bin() / "initdb"),
            "-D",
            str(self.data),
            "-U",
            ROLE,
            f"--pwfile={self.password_file}",
            "--auth-host=scram-sha-256",
            # The socket directory is 0700 inside the 0700 state directory: only its owner connects.
            "--auth-local=trust",
            "-E",
            "UTF8",
            "--no-locale",
        ]
        self._run("initdb", argv)

    def _local(self) -> list[str]:
        return ["-h", str(self.sockets), "-p", str(self.port), "-U", ROLE]

    def _has_database(self) -> bool:
        query = "SELECT 1 FROM pg_database WHERE datname = 'phoenix'"  # DATABASE
        done = subprocess.run(
            [str(server_bin() / "psql"), *self._local(), "-d", "postgres", "-tAc", query],
            env=self.environ,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise StackError(f"PostgreSQL does not answer psql: {done.stderr.strip()}")
        return done.stdout.strip() == "1"

    def _ready(self) -> bool:
        done = subprocess.run(
            [str(server_bin() / "pg_isready"), "-q", *self._local()],
            env=self.environ,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            check=False,
        )
        return done.returncode == 0

    def _run(self, what: str, argv: list[str]) -> None:
        self._log.parent.mkdir(parents=True, exist_ok=True)
        with open(self._log, "ab") as log:
            done = subprocess.run(
                argv,
                env=self.environ,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                check=False,
            )
        if done.returncode != 0:
            raise StackError(f"PostgreSQL {what} failed; last log lines:\n{procs.tail(self._log)}")

    def _as_server_user(self) -> list[str]:
        """Nothing for a normal user; for root, a user namespace as the `postgres` user."""
        if os.geteuid() != 0:
            return []
        unshare = shutil.which("unshare")
        if unshare is None:
            raise StackError("PostgreSQL cannot run as root and `unshare` (util-linux) is missing")
        try:
            account = pwd.getpwnam("postgres")
        except KeyError:
            account = pwd.getpwnam("nobody")
        return [unshare, "--user", f"--map-user={account.pw_uid}", f"--map-group={account.pw_gid}", "--"]
