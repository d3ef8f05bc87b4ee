"""Phoenix API keys: where a command finds one, and how an authenticated local Phoenix mints one.

A key lives in one place only: a 0600 file (the state directory's `phoenix_api_key` for a
Phoenix the stack started with `up --phoenix-auth`, or `up --phoenix-api-key-file FILE`) or
the PHOENIX_API_KEY variable of the command's environment. stack.json records where the
file is, never the key; the key never goes on a command line, a span or a log line.
"""

from __future__ import annotations

import os
import secrets
import stat
import string
from collections.abc import Mapping
from pathlib import Path

from claude_session.phoenix.client import API_KEY_ENV, PhoenixClient
from claude_session.phoenix.errors import PhoenixError

DEFAULT_ADMIN_EMAIL = "admin@localhost"  # Phoenix's default admin (phoenix.auth.DEFAULT_ADMIN_EMAIL)


def read_key_file(path: Path, what: str = "Phoenix API key file") -> str:
    """The key in `path`: a regular file readable by its owner only (mode 0600 or 0400)."""
    try:
        info = path.stat()
    except OSError:
        raise PhoenixError(f"{what} {path} does not exist", exit_code=2) from None
    if not stat.S_ISREG(info.st_mode):
        raise PhoenixError(f"{what} {path} is not a regular file", exit_code=2)
    if info.st_mode & 0o077:
        raise PhoenixError(
            f"{what} {path} is readable by others (mode {stat.S_IMODE(info.st_mode):04o}); "
            f"run `chmod 600 {path}`",
            exit_code=2,
        )
    try:
        key = path.read_text().strip()
    except OSError as err:
        raise PhoenixError(f"cannot read {what} {path}: {err.strerror}", exit_code=2) from None
    if not key:
        raise PhoenixError(f"{what} {path} is empty", exit_code=2)
    return key


def resolve_api_key(environ: Mapping[str, str], key_file: str | None) -> str | None:
    """The recorded key file's key, else PHOENIX_API_KEY from `environ`, else None."""
    if key_file:
        return read_key_file(Path(key_file))
    return environ.get(API_KEY_ENV) or None


def new_secret() -> str:
    """A random secret Phoenix accepts (PHOENIX_SECRET: >= 32 characters, a digit, a lowercase letter)."""
    alphabet = string.ascii_letters + string.digits
    while True:
        value = "".join(secrets.choice(alphabet) for _ in range(48))
        if any(c.isdigit() for c in value) and any(c.islower() for c in value):
            return value


def secret_file(path: Path) -> str:
    """The secret in `path`, made (random, mode 0600) on first use."""
    if path.exists():
        return read_key_file(path, "secret file")
    write_secret(path, new_secret())
    return read_key_file(path, "secret file")


def write_secret(path: Path, value: str) -> None:
    """Write `value` to a new file created with mode 0600 (never readable by others, even briefly)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(value + "\n")


def create_system_api_key(base_url: str, admin_password: str, name: str, timeout: float = 30.0) -> str:
    """Log in as Phoenix's default admin (REST /auth/login) and create a system API key (GraphQL)."""
    cookie = PhoenixClient(base_url, timeout=timeout).login(DEFAULT_ADMIN_EMAIL, admin_password)
    mutation = "mutation($input: CreateApiKeyInput!) { createSystemApiKey(input: $input) { jwt } }"
    admin = PhoenixClient(base_url, timeout=timeout, headers={"cookie": cookie})
    try:
        data = admin.graphql(mutation, {"input": {"name": name}})
    except PhoenixError as err:
        raise PhoenixError(f"Phoenix did not create an API key: {err}") from None
    return str(data["createSystemApiKey"]["jwt"])
