"""`claude-session experiment report FILE` after a real run (real Claude Code CLI, real patched
proxy, real Phoenix; the fake upstream "solves" with a known probability): the verdict on known
truth, its figures against sums computed here from Phoenix's spans and the ledger, and the
results in Phoenix's own experiments, read back through its REST API.

Known truth without chance: p=1 against p=0 (every run passes, or none does), and p=1 against
p=1 (no difference). The statistics themselves are checked against independent computations on
synthetic data in tests/unit/test_experiment_stats.py.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from claude_session.experiment.ledger_reader import read_ledger
from tests.e2e.test_experiment import history, unique, write_experiment
from tests.support import Stack, wait_for_spans


def _report(stack: Stack, env: dict[str, str], path: Path, *extra: str) -> dict[str, Any]:
    done = stack.launcher("experiment", "report", str(path), "--format", "json", *extra, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    document, _, tail = done.stdout.partition("\nin Phoenix, side by side: ")
    data: dict[str, Any] = json.loads(document)
    data["compare_url"] = tail.strip()
    return data


def _comparison(data: dict[str, Any], metric: str) -> dict[str, Any]:
    return next(c for c in data["comparisons"] if c["metric"] == metric)


def test_a_variant_that_always_fixes_the_bug_is_better_and_phoenix_shows_the_runs(
    live_stack: Stack, claude_env: dict[str, str], tmp_path: Path
) -> None:
    name = unique("verdict")
    variants = {"v1": "Notes. [[solve p=0]]", "v2": "Notes. [[solve p=1]]"}
    path, _ = write_experiment(tmp_path, name, variants, repetitions=2, second_task=True)
    ran = live_stack.launcher("experiment", "run", str(path), "-j", "2", env=claude_env, timeout=600)
    assert ran.returncode == 0, ran.stderr
    ledger_path = live_stack.state.root / "experiments" / name / "ledger.jsonl"
    records = read_ledger(ledger_path).records
    assert len(records) == 8 and {r.status for r in records if r.variant == "v2"} == {"passed"}
    assert {r.status for r in records if r.variant == "v1"} == {"failed"}

    # Each run's cost is what its spans say: summed here from Phoenix, span by span.
    spans = wait_for_spans(live_stack, {"session.experiment": name}, sum(r.requests for r in records))
    for record in records:
        mine = [s for s in spans if s["attributes"]["session.id"] == record.session_id]
        assert len(mine) == record.requests
        assert math.isclose(
            sum(s["attributes"]["llm.cost.total"] for s in mine), record.cost_usd, rel_tol=1e-9
        )

    data = _report(live_stack, claude_env, path)
    success, cost = _comparison(data, "success"), _comparison(data, "cost")
    assert (success["variant"], success["baseline"], success["verdict"]) == ("v2", "v1", "better")
    assert success["estimate"] == 1.0 and (success["low"], success["high"]) == (1.0, 1.0)

    def mean_cost(variant: str) -> float:
        costs = [r.cost_usd for r in records if r.variant == variant]
        return sum(costs) / len(costs)

    assert math.isclose(cost["estimate"], mean_cost("v2") / mean_cost("v1"), rel_tol=1e-9)
    assert cost["low"] <= cost["estimate"] <= cost["high"]

    # Phoenix: the tasks as a dataset, one experiment per variant, one run per finished run.
    client = live_stack.phoenix
    datasets = client._request("GET", "/v1/datasets?limit=100")["data"]
    (dataset,) = [d for d in datasets if d["name"] == name]
    assert dataset["example_count"] == 2
    experiments = client._request("GET", f"/v1/datasets/{dataset['id']}/experiments")["data"]
    assert len(experiments) == 2
    assert data["compare_url"].startswith(f"{client.base_url}/datasets/{dataset['id']}/compare?")
    runs = [client._request("GET", f"/v1/experiments/{e['id']}/runs")["data"] for e in experiments]
    assert sorted(len(r) for r in runs) == [4, 4]
    assert {run["output"]["session_id"] for r in runs for run in r} == {r.session_id for r in records}

    # Reported twice: nothing duplicated in Phoenix.
    _report(live_stack, claude_env, path)
    again = [client._request("GET", f"/v1/experiments/{e['id']}/runs")["data"] for e in experiments]
    assert sorted(len(r) for r in again) == [4, 4]
    assert len(history(live_stack, name).records) == 8


def test_two_variants_that_solve_alike_get_no_difference_called(
    live_stack: Stack, claude_env: dict[str, str], tmp_path: Path
) -> None:
    name = unique("alike")
    variants = {"v1": "Notes. [[solve p=1]]", "v2": "Other notes. [[solve p=1]]"}
    path, _ = write_experiment(tmp_path, name, variants, repetitions=2, second_task=True)
    ran = live_stack.launcher("experiment", "run", str(path), "-j", "2", env=claude_env, timeout=600)
    assert ran.returncode == 0, ran.stderr
    success = _comparison(_report(live_stack, claude_env, path, "--no-phoenix"), "success")
    assert success["verdict"] not in ("better", "worse")
    assert success["estimate"] == 0.0
