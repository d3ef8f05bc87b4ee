"""The proxy bench's derived figures, against hand-computed ones: latency added over the direct
path, and the patched/stock and tagged/untagged ratios its table prints (the CI smoke run
measures no stock path, so these are checked here)."""

from __future__ import annotations

from typing import Any

from bench.report_table import add_derived, table


def _row(p50: float, rps: float, cpu: float, rss: float) -> dict[str, Any]:
    return {
        "latency_p50_ms": p50,
        "latency_p95_ms": p50 * 2,
        "latency_p99_ms": p50 * 3,
        "ttfb_p50_ms": p50 - 1,
        "rps": rps,
        "proxy_cpu_s_per_1k": cpu,
        "peak_rss_mb": rss,
        "errors": 0,
    }


def _results() -> dict[str, dict[str, Any]]:
    return {
        "direct": {"levels": {"1": _row(50.0, 20.0, 0.0, 0.0)}},
        "stock": {"levels": {"1": _row(90.0, 10.0, 40.0, 400.0)}},
        "patched": {"levels": {"1": _row(70.0, 15.0, 30.0, 380.0)}},
        "patched-untagged": {"levels": {"1": _row(68.0, 16.0, 25.0, 380.0)}},
    }


def test_added_latency_is_over_the_direct_path() -> None:
    results = _results()
    add_derived(results)
    stock = results["stock"]["levels"]["1"]
    assert stock["added_latency_p50_ms"] == 40.0  # 90 - 50
    assert stock["added_latency_p95_ms"] == 80.0  # 180 - 100
    assert stock["added_ttfb_p50_ms"] == 40.0  # 89 - 49
    assert "added_latency_p50_ms" not in results["direct"]["levels"]["1"]


def test_ratios_between_paths() -> None:
    results = _results()
    ratios = add_derived(results)
    assert set(ratios) == {"patched/stock", "tagged/untagged"}  # no patched-untuned path here
    patched = ratios["patched/stock"]["1"]
    assert patched["added_latency_p50_ms"] == 0.5  # (70 - 50) / (90 - 50)
    assert patched["rps"] == 1.5  # 15 / 10
    assert patched["proxy_cpu_s_per_1k"] == 0.75  # 30 / 40
    assert patched["peak_rss_mb"] == 0.95  # 380 / 400
    tagged = ratios["tagged/untagged"]["1"]
    assert tagged["proxy_cpu_s_per_1k"] == 1.2  # 30 / 25
    assert tagged["latency_p50_ms"] == round(70 / 68, 3)


def test_the_table_prints_the_ratios_per_level() -> None:
    results = _results()
    printed = table(results, add_derived(results)).splitlines()
    header = printed.index(
        "| patched/stock | added p50 | added p95 | added p99 | added ttfb p50 | req/s | CPU/1k | peak RSS |"
    )
    assert printed[header + 2] == "| c=1 | 0.50 | 0.50 | 0.50 | 0.50 | 1.50 | 0.75 | 0.95 |"
    tagged = printed.index("| tagged/untagged | p50 | p95 | p99 | ttfb p50 | req/s | CPU/1k | peak RSS |")
    assert printed[tagged + 2] == "| c=1 | 1.03 | 1.03 | 1.03 | 1.03 | 0.94 | 1.20 | 1.00 |"
