"""The proxy benchmark's smoke run completes and writes its JSON (no timing is asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.support import REPO

BENCH = REPO / "bench" / "proxy_bench.py"


def test_proxy_bench_smoke_run_writes_its_json(tmp_path: Path) -> None:
    output = tmp_path / "proxy-smoke.json"
    done = subprocess.run(
        [sys.executable, str(BENCH), "--smoke", "--output", str(output)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=REPO,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(output.read_text())
    assert report["mode"] == "smoke"
    assert set(report) >= {"litellm", "machine", "workload", "shipped_defaults", "results", "ratios"}
    results = report["results"]
    assert set(results) == {"direct", "patched", "patched-untagged"}
    for name, result in results.items():
        assert set(result["levels"]) == {"1", "4"}, name
        for row in result["levels"].values():
            assert row["errors"] == 0, (name, row["first_errors"])
            assert {"latency_p50_ms", "latency_p99_ms", "ttfb_p50_ms", "rps"} <= set(row)
            if name != "direct":
                assert {"added_latency_p50_ms", "proxy_cpu_s_per_1k", "peak_rss_mb"} <= set(row)
    assert set(report["ratios"]) == {"tagged/untagged"}
    assert results["patched"]["session_type_on_spans"]["with_session_type"] > 0
    assert "| path | conc |" in done.stdout
