"""Benchmarks: the proxy's overhead (`proxy_bench.py`) and `claude-session report` (`report_bench.py`).

Small modules with one job each; the two entry scripts run from the repository root as
`python bench/proxy_bench.py` and `python bench/report_bench.py` (see bench/README.md).
"""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DATA_DIR = REPO / "bench" / ".data"  # git-ignored: the stock LiteLLM copy, report_bench's Phoenix
RESULTS_DIR = REPO / "bench" / "results"  # git-ignored: proxy_bench's JSON figures
