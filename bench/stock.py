"""Stock LiteLLM at the pinned version: an unpatched copy under bench/.data/, fetched once.

`pip install --no-deps --target` (its dependencies come from the venv); put first on
PYTHONPATH it shadows the venv's patched LiteLLM. `stock_site` checks that it does and
that the copy carries none of the claude-session patches.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from bench import DATA_DIR, REPO

PINS = REPO / "requirements" / "pins.txt"
PATCH_MARKER = ".claude-session-patches"  # scripts/apply-patches writes it into litellm/

_PROBE = """
import pathlib, litellm
package = pathlib.Path(litellm.__file__).parent
print(package)
print("patched" if (package / "{marker}").exists() else "stock")
"""


def pinned_litellm() -> str:
    """The LiteLLM version requirements/pins.txt pins."""
    for line in PINS.read_text().splitlines():
        if line.startswith("litellm=="):
            return line.split("==", 1)[1].strip()
    raise SystemExit(f"{PINS} pins no litellm version")


def stock_site(version: str) -> Path:
    """The directory to put first on PYTHONPATH for stock LiteLLM `version` (installed once)."""
    target = DATA_DIR / f"litellm-stock-{version}"
    if not (target / f"litellm-{version}.dist-info").exists():
        print(f"installing stock litellm=={version} into {target} (once)...", file=sys.stderr, flush=True)
        shutil.rmtree(target, ignore_errors=True)
        pip = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target)]
        subprocess.run([*pip, f"litellm=={version}"], check=True)
    answer = subprocess.run(
        [sys.executable, "-c", _PROBE.format(marker=PATCH_MARKER)],
        env={**os.environ, "PYTHONPATH": str(target), "LITELLM_LOCAL_MODEL_COST_MAP": "True"},
        capture_output=True,
        text=True,
        check=False,
    )
    lines = answer.stdout.split()
    if answer.returncode != 0 or lines[-2:-1] != [str(target / "litellm")] or lines[-1:] != ["stock"]:
        raise SystemExit(f"{target} is not a stock LiteLLM: {answer.stdout[-300:]} {answer.stderr[-300:]}")
    return target
