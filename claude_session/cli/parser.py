"""The command line's argument parser: a usage error is one line and exit 2."""

from __future__ import annotations

import argparse
from typing import NoReturn

from claude_session.core.errors import UsageError


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line and exit 2 (no usage dump)."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see `{self.prog} --help`)")
