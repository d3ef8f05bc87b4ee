"""The proxy bench's derived figures (added latency, ratios) and its Markdown tables."""

from __future__ import annotations

from typing import Any

TIMING = ("latency_p50_ms", "latency_p95_ms", "latency_p99_ms", "ttfb_p50_ms")
COMPARED = (
    "added_latency_p50_ms",
    "added_latency_p95_ms",
    "added_latency_p99_ms",
    "added_ttfb_p50_ms",
    "rps",
    "proxy_cpu_s_per_1k",
    "peak_rss_mb",
    *TIMING,
)
RATIOS = {
    "patched/stock": ("patched", "stock"),
    "patched-untuned/stock": ("patched-untuned", "stock"),
    "patched/patched-untuned": ("patched", "patched-untuned"),
    "tagged/untagged": ("patched", "patched-untagged"),
}


def _ratio(a: object, b: object) -> float | None:
    if isinstance(a, int | float) and isinstance(b, int | float) and b:
        return round(a / b, 3)
    return None


def add_derived(results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Add each path's latency over direct to its rows; return the ratios between paths per level."""
    direct = results.get("direct", {}).get("levels", {})
    for name, result in results.items():
        for level, row in result.get("levels", {}).items():
            base = direct.get(level)
            if name == "direct" or not base:
                continue
            for key in (*TIMING, "ttfb_p95_ms"):
                if row.get(key) is not None and base.get(key) is not None:
                    row["added_" + key] = round(row[key] - base[key], 2)
    ratios: dict[str, Any] = {}
    for label, (num, den) in RATIOS.items():
        if num not in results or den not in results:
            continue
        ratios[label] = {
            level: {
                key: _ratio(row.get(key), results[den]["levels"].get(level, {}).get(key)) for key in COMPARED
            }
            for level, row in results[num]["levels"].items()
        }
    return ratios


def _fmt(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.1f}" if abs(value) >= 10 else f"{value:.2f}"
    return str(value)


def _row(cells: list[object]) -> str:
    return "| " + " | ".join(_fmt(cell) for cell in cells) + " |"


def table(results: dict[str, dict[str, Any]], ratios: dict[str, Any]) -> str:
    """The figures per path and level, the ratios, and what reached Phoenix, as Markdown."""
    lines = [
        "| path | conc | p50 ms | p95 ms | p99 ms | added p50 | added p95 | added p99 | ttfb p50 | "
        "req/s | proxy CPU s/1k req | peak RSS MB | errors |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    keys = (
        "latency_p50_ms",
        "latency_p95_ms",
        "latency_p99_ms",
        "added_latency_p50_ms",
        "added_latency_p95_ms",
        "added_latency_p99_ms",
        "ttfb_p50_ms",
        "rps",
        "proxy_cpu_s_per_1k",
        "peak_rss_mb",
        "errors",
    )
    for name, result in results.items():
        for level, row in result.get("levels", {}).items():
            lines.append(_row([name, level, *(row.get(key) for key in keys)]))
    for label, per_level in ratios.items():
        # Tagged and untagged run on one proxy: compare end-to-end figures, not the added part.
        prefix = "" if label == "tagged/untagged" else "added "
        lines += [
            "",
            f"| {label} | {prefix}p50 | {prefix}p95 | {prefix}p99 | {prefix}ttfb p50 "
            "| req/s | CPU/1k | peak RSS |",
            "|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        ratio_keys = [("added_" if prefix else "") + key for key in TIMING]
        ratio_keys += ["rps", "proxy_cpu_s_per_1k", "peak_rss_mb"]
        for level, values in per_level.items():
            lines.append(_row([f"c={level}", *(values.get(key) for key in ratio_keys)]))
    lines += [
        "",
        "| path | workers | startup s | spans/request | raw_gen_ai_request spans "
        "| LLM spans with session.type |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, result in results.items():
        if name == "direct":
            continue
        spans = result.get("spans") or {}
        seen = result.get("session_type_on_spans") or {}
        lines.append(
            f"| {name} | {_fmt(result.get('workers'))} | {_fmt(result.get('startup_s'))} | "
            f"{_fmt(result.get('spans_per_request'))} | {_fmt(spans.get('raw_gen_ai_request'))} | "
            f"{_fmt(seen.get('with_session_type'))}/{_fmt(seen.get('sampled'))} |"
        )
    lines += ["", *stack_table(results)]
    return "\n".join(lines)


def _steady_median(result: dict[str, Any]) -> object:
    level = result.get("levels", {}).get("1") or {}
    return level.get("latency_p50_ms")


def stack_table(results: dict[str, dict[str, Any]]) -> list[str]:
    """First request after a start against the steady median, Phoenix storage and ingest, stack RSS."""
    lines = [
        "| path | first request ms | c=1 p50 ms | first/p50 | Phoenix bytes/request | Phoenix CPU ms/request "
        "| stack RSS idle MB | stack peak RSS c=8 MB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, result in results.items():
        if name == "direct" or "first_request_ms" not in result:
            continue
        first, median = result.get("first_request_ms"), _steady_median(result)
        busy = result.get("levels", {}).get("8") or {}
        lines.append(
            _row(
                [
                    name,
                    first,
                    median,
                    _ratio(first, median),
                    result.get("phoenix_bytes_per_request"),
                    result.get("phoenix_cpu_ms_per_request"),
                    result.get("stack_idle_rss_mb"),
                    busy.get("stack_peak_rss_mb"),
                ]
            )
        )
    return lines


def cli_table(timings: dict[str, Any]) -> str:
    """`up` cold and warm, `--proxy-wide` set and `--reset`, in seconds (bench.stack_timings)."""
    keys = ("up_cold_s", "up_warm_s", "proxy_wide_set_s", "proxy_wide_reset_s")
    return "\n".join(
        [
            "| `up` cold s | `up` warm s | `--proxy-wide` s | `--reset` s |",
            "|---:|---:|---:|---:|",
            _row([timings.get(key) for key in keys]),
        ]
    )
