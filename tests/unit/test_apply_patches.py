"""scripts/apply-patches: refuses a wrong LiteLLM, applies all or nothing, is idempotent; --check."""

from __future__ import annotations

import hashlib
import importlib.util
import shutil
import struct
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "apply-patches"
PINNED = "1.108.7"


def _series() -> list[str]:
    lines = (REPO / "patches" / "series").read_text().splitlines()
    return [line for line in lines if line.strip() and not line.startswith("#")]


def _patched_files() -> list[str]:
    files = []
    for name in _series():
        for line in (REPO / "patches" / name).read_text().splitlines():
            if line.startswith("+++ b/"):
                files.append(line[len("+++ b/") :])
    return files


def _installed_site() -> Path:
    spec = importlib.util.find_spec("litellm")
    assert spec is not None and spec.submodule_search_locations
    return Path(next(iter(spec.submodule_search_locations))).parent


@pytest.fixture
def pristine(tmp_path: Path) -> Path:
    """A site-packages holding the files the series touches, as LiteLLM ships them.

    Built from the installed (patched) LiteLLM by reversing the series, so no download.
    """
    site = _installed_site()
    target = tmp_path / "site"
    for rel in _patched_files():
        (target / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(site / rel, target / rel)
    dist = target / f"litellm-{PINNED}.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: litellm\nVersion: {PINNED}\n")
    for name in reversed(_series()):
        subprocess.run(
            ["patch", "-p1", "-R", "--silent", "-d", str(target)],
            input=(REPO / "patches" / name).read_bytes(),
            check=True,
        )
    return target


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SCRIPT), "--python", sys.executable, *args], capture_output=True, text=True, timeout=120
    )


def _digest(root: Path) -> str:
    hasher = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        hasher.update(str(path.relative_to(root)).encode() + path.read_bytes())
    return hasher.hexdigest()


def _fresh_bytecode(source: Path) -> bool:
    """What the import system checks: the cached bytecode records this source's mtime and size."""
    cached = Path(importlib.util.cache_from_source(str(source)))
    if not cached.exists():
        return False
    header = cached.read_bytes()[:16]
    mtime, size = struct.unpack("<II", header[8:16])
    stat = source.stat()
    return (int(stat.st_mtime) & 0xFFFFFFFF, stat.st_size & 0xFFFFFFFF) == (mtime, size)


def test_applies_every_patch_and_the_overlay_then_is_idempotent(pristine: Path) -> None:
    first = _run("--target", str(pristine))
    assert first.returncode == 0, first.stderr
    assert first.stdout.count(": applied") == len(_series())
    assert (pristine / "litellm/proxy/session_metadata_middleware.py").exists()
    assert (pristine / "litellm/.claude-session-overlay").read_text().split() == sorted(
        str(path.relative_to(REPO / "overlay")) for path in (REPO / "overlay/litellm").rglob("*.py")
    )
    assert "claude-session" in (pristine / "litellm/integrations/arize/_utils.py").read_text()
    stale = [
        str(path.relative_to(pristine))
        for path in (pristine / "litellm").rglob("*.py")
        if not _fresh_bytecode(path)
    ]
    assert stale == []  # else every proxy start compiles them again
    after_first = _digest(pristine)

    second = _run("--target", str(pristine))
    assert second.returncode == 0, second.stderr
    assert second.stdout.count("already applied") == len(_series())
    assert _digest(pristine) == after_first


def test_refuses_a_litellm_other_than_the_pin(pristine: Path) -> None:
    metadata = pristine / f"litellm-{PINNED}.dist-info" / "METADATA"
    metadata.write_text(metadata.read_text().replace(PINNED, "1.108.6"))
    before = _digest(pristine)
    result = _run("--target", str(pristine))
    assert result.returncode == 1
    assert "installed LiteLLM is 1.108.6 but the patches are for 1.108.7" in result.stderr
    assert _digest(pristine) == before


INCIDENT = "published from a hijacked maintainer account on 2026-03-24 (BerriAI/litellm#24518, #24521)"


@pytest.mark.parametrize("version", ["1.82.7", "1.82.8"])
def test_refuses_the_compromised_releases(pristine: Path, version: str) -> None:
    metadata = pristine / f"litellm-{PINNED}.dist-info" / "METADATA"
    metadata.write_text(metadata.read_text().replace(PINNED, version))
    before = _digest(pristine)
    result = _run("--target", str(pristine))
    assert result.returncode == 1
    assert (
        f"LiteLLM {version} is a compromised release, withdrawn: {INCIDENT}: uninstall it now"
        in result.stderr
    )
    assert _digest(pristine) == before
    check = _run("--check", version)  # refused before any download
    assert check.returncode == 1
    assert (
        f"LiteLLM {version} is a compromised release, withdrawn: {INCIDENT}: not downloading it"
        in check.stderr
    )


def test_a_patch_that_does_not_apply_changes_nothing(pristine: Path) -> None:
    auth = pristine / "litellm/proxy/auth/user_api_key_auth.py"
    auth.write_text(auth.read_text().replace('raise Exception("No api key passed in.")', "pass"))
    before = _digest(pristine)
    result = _run("--target", str(pristine))
    assert result.returncode == 1
    assert "patch 0005-auth-401-without-key-database.patch does not apply" in result.stderr
    assert _digest(pristine) == before


def test_check_reports_which_patches_apply(pristine: Path) -> None:
    clean = _run("--check", str(pristine))
    assert clean.returncode == 0, clean.stderr
    assert clean.stdout.count("  ok ") == len(_series())

    utils = pristine / "litellm/proxy/utils.py"
    utils.write_text(utils.read_text().replace("        if data is None:\n            return None\n", "", 1))
    drifted = _run("--check", str(pristine))
    assert drifted.returncode == 1
    assert "FAILS    0004-pre-call-hook-tag-request.patch" in drifted.stdout
    assert drifted.stdout.count("  ok ") == len(_series()) - 1


def test_removes_overlay_files_no_longer_in_overlay(pristine: Path) -> None:
    retired = pristine / "litellm/proxy/extra_model_prices.py"  # installed before the manifest existed
    retired.parent.mkdir(parents=True, exist_ok=True)
    retired.write_text("stale = True\n")
    assert _run("--target", str(pristine)).returncode == 0
    assert not retired.exists()

    dropped = pristine / "litellm/proxy/dropped_overlay_module.py"  # listed by an earlier run's manifest
    dropped.write_text("stale = True\n")
    manifest = pristine / "litellm/.claude-session-overlay"
    manifest.write_text(manifest.read_text() + "litellm/proxy/dropped_overlay_module.py\n")
    rerun = _run("--target", str(pristine))
    assert rerun.returncode == 0, rerun.stderr
    assert "litellm/proxy/dropped_overlay_module.py: removed" in rerun.stdout
    assert not dropped.exists()
    assert "dropped_overlay_module" not in manifest.read_text()


def test_finishes_a_partly_applied_series(pristine: Path) -> None:
    first = _series()[0]
    subprocess.run(
        ["patch", "-p1", "-F0", "--silent", "-d", str(pristine)],
        input=(REPO / "patches" / first).read_bytes(),
        check=True,
    )
    result = _run("--target", str(pristine))
    assert result.returncode == 0, result.stderr
    assert f"{first}: already applied" in result.stdout
    assert result.stdout.count(": applied") == len(_series()) - 1
    assert _run("--target", str(pristine)).stdout.count("already applied") == len(_series())


def test_patch_headers_follow_dep3() -> None:
    for name in _series():
        header = (REPO / "patches" / name).read_text().split("\n---\n", 1)[0].splitlines()
        fields = {
            line.split(":", 1)[0]: line.split(":", 1)[1].strip()
            for line in header
            if not line.startswith(" ")
        }
        assert fields.get("Description"), name
        assert fields.get("Author"), name
        assert fields.get("Forwarded") in {"no", "not-needed"}, name
        assert date.fromisoformat(fields.get("Last-Update", "")) <= date.today(), name
        if "auth-401" in name or "redact" in name:  # bugs worth reporting upstream
            assert fields["Forwarded"] == "no", name
