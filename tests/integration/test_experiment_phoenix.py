"""An experiment's results in a real Phoenix (the test run's live stack: each test its own
dataset and experiments): the dataset, one experiment per variant, the runs and evaluations
read back through Phoenix's REST API; uploading again duplicates nothing."""

from __future__ import annotations

import urllib.parse
import uuid
from typing import Any

import pytest

from claude_session.experiment.phoenix_experiments import EVALUATIONS, upload_experiment
from claude_session.experiment.records import RunRecord, TaskInfo
from claude_session.phoenix.client import PhoenixClient
from tests import support
from tests.unit.experiment_runs import run, synthetic

TASKS = [
    TaskInfo("fix-parser", "Fix the failing parser test", "/repos/example", "1f2e3d4c"),
    TaskInfo("add-flag", "Add a --verbose flag", "/repos/example", "1f2e3d4c"),
]
VARIANTS = ["v1", "v2"]
REPETITIONS = 3
TAG = uuid.uuid4().hex[:6]  # the live stack's Phoenix is shared with other modules


@pytest.fixture(scope="module")
def phoenix(live_stack: support.Stack) -> PhoenixClient:
    return live_stack.phoenix


def _records(experiment: str) -> list[RunRecord]:
    rates = {"v1": 0.4, "v2": 0.8}
    records = [
        run(
            TASKS[int(r.task.split("-")[1])].id,
            r.variant,
            r.repetition,
            r.status,
            r.cost_usd,
            experiment=experiment,
        )
        for r in synthetic(rates, tasks=2, repetitions=REPETITIONS, seed=4)
    ]
    # The last planned run of v2 on add-flag ended as an infrastructure failure.
    records[-1] = run("add-flag", "v2", REPETITIONS, "infra", 0.02, experiment=experiment)
    return records


def _get(client: PhoenixClient, path: str) -> Any:
    answer = client._request("GET", path)
    assert answer is not None, path
    return answer


def _phoenix_view(client: PhoenixClient, name: str) -> dict[str, Any]:
    """What Phoenix holds for the experiment, read through its REST API only."""
    datasets = [
        d for d in _get(client, f"/v1/datasets?name={urllib.parse.quote(name)}")["data"] if d["name"] == name
    ]
    assert len(datasets) == 1
    dataset = datasets[0]
    examples = _get(client, f"/v1/datasets/{dataset['id']}/examples")["data"]["examples"]
    task_of = {e["id"]: e["metadata"]["task"] for e in examples}
    experiments = _get(client, f"/v1/datasets/{dataset['id']}/experiments")["data"]
    view: dict[str, Any] = {"dataset": dataset, "examples": examples, "experiments": experiments, "runs": {}}
    for experiment in experiments:
        rows = _get(client, f"/v1/experiments/{experiment['id']}/json")
        runs = _get(client, f"/v1/experiments/{experiment['id']}/runs")["data"]
        view["runs"][experiment["name"]] = {
            (task_of[row["example_id"]], row["repetition_number"]): row for row in rows
        }
        assert len(runs) == len(rows)
    return view


def test_the_tasks_variants_runs_and_evaluations_are_in_phoenix(phoenix: PhoenixClient) -> None:
    name = f"exp-upload-{TAG}"
    records = _records(name)
    upload = upload_experiment(phoenix, name, TASKS, VARIANTS, "v1", REPETITIONS, records)
    view = _phoenix_view(phoenix, name)

    assert view["dataset"]["example_count"] == len(TASKS)
    assert sorted(
        (e["metadata"]["task"], e["input"]["prompt"], e["metadata"]["commit"]) for e in view["examples"]
    ) == sorted((t.id, t.prompt, t.commit) for t in TASKS)
    assert sorted(e["name"] for e in view["experiments"]) == VARIANTS
    assert {e["repetitions"] for e in view["experiments"]} == {REPETITIONS}
    for variant in VARIANTS:
        mine = [r for r in records if r.variant == variant]
        runs = view["runs"][variant]
        assert len(runs) == len(mine) == len(TASKS) * REPETITIONS
        for record in mine:
            row = runs[(record.task, record.repetition)]
            assert row["output"]["session_id"] == record.session_id
            assert row["output"]["cost_usd"] == pytest.approx(record.cost_usd)
            evaluations = {a["name"]: a for a in row["annotations"]}
            if record.status == "infra":
                assert row["error"] and not evaluations
                continue
            assert row["error"] is None
            assert sorted(evaluations) == sorted(EVALUATIONS)
            assert evaluations["check"]["score"] == (1.0 if record.passed else 0.0)
            assert evaluations["check"]["label"] == ("pass" if record.passed else "fail")
            assert evaluations["cost_usd"]["score"] == pytest.approx(record.cost_usd)
            assert evaluations["turns"]["score"] == record.turns
            assert evaluations["duration_s"]["score"] == pytest.approx(record.duration_s)
    ids = {e["name"]: e["id"] for e in view["experiments"]}
    dataset_id = view["dataset"]["id"]
    assert upload.compare_url == (
        f"{phoenix.base_url}/datasets/{dataset_id}/compare?"
        + urllib.parse.urlencode([("experimentId", ids["v1"]), ("experimentId", ids["v2"])])
    )
    counted = sum(r.counted for r in records)
    assert sum(v.evaluations for v in upload.variants) == counted * len(EVALUATIONS)


def test_uploading_again_and_in_parts_creates_no_duplicate(phoenix: PhoenixClient) -> None:
    name = f"exp-twice-{TAG}"
    records = _records(name)
    first = upload_experiment(phoenix, name, TASKS, VARIANTS, "v1", REPETITIONS, records[: len(records) // 2])
    upload_experiment(phoenix, name, TASKS, VARIANTS, "v1", REPETITIONS, records)
    again = upload_experiment(phoenix, name, TASKS, VARIANTS, "v1", REPETITIONS, records)
    assert [v.runs_created for v in again.variants] == [0, 0]
    assert sum(v.evaluations for v in again.variants) == 0
    assert again.compare_url == first.compare_url
    view = _phoenix_view(phoenix, name)
    assert len(view["experiments"]) == len(VARIANTS)
    assert view["dataset"]["example_count"] == len(TASKS)
    for variant in VARIANTS:
        runs = view["runs"][variant]
        assert len(runs) == len(TASKS) * REPETITIONS
        assert all(
            len(row["annotations"]) == (0 if row["error"] else len(EVALUATIONS)) for row in runs.values()
        )


def test_a_retried_infrastructure_failure_replaces_its_error_run(phoenix: PhoenixClient) -> None:
    name = f"exp-retried-{TAG}"
    records = _records(name)
    upload_experiment(phoenix, name, TASKS, VARIANTS, "v1", REPETITIONS, records)
    retried = [*records[:-1], run("add-flag", "v2", REPETITIONS, "passed", 0.05, experiment=name)]
    upload_experiment(phoenix, name, TASKS, VARIANTS, "v1", REPETITIONS, retried)
    row = _phoenix_view(phoenix, name)["runs"]["v2"][("add-flag", REPETITIONS)]
    assert row["error"] is None
    assert row["output"]["status"] == "passed"
    assert {a["name"]: a["score"] for a in row["annotations"]}["check"] == 1.0
    assert len(_phoenix_view(phoenix, name)["runs"]["v2"]) == len(TASKS) * REPETITIONS


def test_attempts_and_outcome_in_one_upload_leave_the_outcome(phoenix: PhoenixClient) -> None:
    """A ledger holding a planned run's infrastructure attempt and its outcome (in any order):
    Phoenix keeps one run, the outcome."""
    name = f"exp-attempts-{TAG}"
    records = _records(name)[:-1]
    outcome = run("add-flag", "v2", REPETITIONS, "failed", 0.05, experiment=name)
    attempt = run("add-flag", "v2", REPETITIONS, "infra", 0.01, experiment=name)
    upload_experiment(phoenix, name, TASKS, VARIANTS, "v1", REPETITIONS, [*records, outcome, attempt])
    runs = _phoenix_view(phoenix, name)["runs"]["v2"]
    assert len(runs) == len(TASKS) * REPETITIONS
    row = runs[("add-flag", REPETITIONS)]
    assert (row["error"], row["output"]["status"]) == (None, "failed")
    assert {a["name"]: a["label"] for a in row["annotations"]}["check"] == "fail"
