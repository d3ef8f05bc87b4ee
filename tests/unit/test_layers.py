"""The package's layers and the absence of import cycles are checked by a tool (import-linter,
run by scripts/check python): a new cycle or an import against the layers fails it."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LINT = REPO / ".venv" / "bin" / "lint-imports"


ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _lint(tree: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    done = subprocess.run([str(LINT), "--no-cache"], cwd=tree, env=env, capture_output=True, text=True)
    return subprocess.CompletedProcess(done.args, done.returncode, ANSI.sub("", done.stdout), done.stderr)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A copy of the package and its contracts, to break on purpose."""
    shutil.copytree(
        REPO / "claude_session", tmp_path / "claude_session", ignore=shutil.ignore_patterns("*.pyc")
    )
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def _add_import(tree: Path, module: str, imported: str) -> None:
    path = tree / (module.replace(".", "/") + ".py")
    path.write_text(path.read_text() + f"\n\ndef _late() -> None:\n    import {imported}  # noqa\n")


@pytest.mark.slow  # runs import-linter, a process
def test_the_tree_keeps_its_contracts_and_a_new_cycle_breaks_them(tree: Path) -> None:
    kept = _lint(tree)
    assert kept.returncode == 0, kept.stdout + kept.stderr
    assert re.search(r"layers\s+KEPT", kept.stdout) and re.search(r"no cycles[^\n]*KEPT", kept.stdout)
    # A function-level import that closes a cycle inside a package: render already imports units.
    _add_import(tree, "claude_session.report.units", "claude_session.report.render")
    broken = _lint(tree)
    assert broken.returncode != 0
    assert ".units -> .render" in broken.stdout


@pytest.mark.slow  # runs import-linter, a process
def test_the_shared_vocabulary_may_not_import_a_layer_above_it(tree: Path) -> None:
    _add_import(tree, "claude_session.core.fields", "claude_session.stack.settings")
    broken = _lint(tree)
    assert broken.returncode != 0
    assert re.search(r"layers\s+BROKEN", broken.stdout)
    assert "claude_session.core.fields -> claude_session.stack.settings" in broken.stdout
