"""An experiment's results in Phoenix, natively: the tasks as a dataset, each variant as a
Phoenix experiment with `repetitions`, one experiment run per finished run, and experiment
evaluations, so that Phoenix's own comparison view shows the variants side by side.

Phoenix 20.26.1's REST API (checked in its /openapi.json):
- `GET /v1/datasets?name=` finds the dataset; `POST /v1/datasets/upload?sync=true` creates it
  (`action: create`) or adds examples (`append`): one example per task, input {prompt}, metadata
  {task, repository, commit}; `GET /v1/datasets/{id}/examples` lists them.
- `GET|POST /v1/datasets/{id}/experiments`: one experiment per variant (name = the variant,
  metadata {experiment, variant, baseline}); experiment names are not unique in Phoenix, so the
  metadata identifies ours.
- `GET|POST /v1/experiments/{id}/runs`: one run per (example, repetition_number); Phoenix answers
  409 to a second run there unless the first ended in error. The output carries Claude Code's
  result text, cost, turns and the session ids; an infrastructure failure is a run with `error`.
- `POST /v1/experiment_evaluations` upserts on (run, name): `check` (label pass/fail, score 1/0,
  the project's `check` vocabulary), `cost_usd`, `turns`, `duration_s` (scores), annotator CODE.
  `GET /v1/experiments/{id}/json` shows each run's evaluations.

Idempotent by looking up what Phoenix has (no local state): uploading the same records again
creates no dataset, experiment, run or evaluation twice; a run Phoenix holds as an error is
replaced when the ledger has its real outcome. Two uploaders racing on a new experiment could
both create it: upload from one process at a time.

The UI's comparison page is `/datasets/{dataset}/compare?experimentId=A&experimentId=B` (the
first is the base), the route Phoenix's own frontend links to.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from claude_session.experiment.errors import ExperimentError
from claude_session.experiment.records import RunRecord, TaskInfo
from claude_session.phoenix.annotations import CHECK, CODE, FAILED, PASSED
from claude_session.phoenix.client import PhoenixClient
from claude_session.phoenix.errors import PhoenixError

EVALUATIONS = (CHECK, "cost_usd", "turns", "duration_s")
TOOL = "claude-session"


@dataclass(frozen=True)
class VariantUpload:
    variant: str
    experiment_id: str
    url: str  # Phoenix's page of this experiment
    runs_created: int
    runs_present: int  # already in Phoenix, left alone
    evaluations: int  # posted this time


@dataclass(frozen=True)
class Upload:
    dataset_id: str
    compare_url: str  # every variant side by side, the baseline first
    variants: tuple[VariantUpload, ...]
    skipped: int  # records of a task or variant not in the experiment


def upload_experiment(
    client: PhoenixClient,
    experiment: str,
    tasks: Sequence[TaskInfo],
    variants: Sequence[str],
    baseline: str,
    repetitions: int,
    records: Sequence[RunRecord],
) -> Upload:
    """Bring Phoenix up to date with `records` (any subset of the experiment's finished runs)."""
    if baseline not in variants:
        raise ExperimentError(f"baseline {baseline!r} is not one of the variants", exit_code=2)
    if not tasks:
        raise ExperimentError("an experiment needs at least one task to upload", exit_code=2)
    dataset_id, examples = _dataset(client, experiment, tasks)
    found = _our_experiments(client, dataset_id, experiment)
    wanted = {v: [r for r in records if r.variant == v and r.task in examples] for v in variants}
    done = []
    for variant in [baseline, *(v for v in variants if v != baseline)]:
        experiment_id = found.get(variant) or _create_experiment(
            client, dataset_id, experiment, variant, baseline, repetitions
        )
        done.append(_runs(client, dataset_id, experiment_id, variant, wanted[variant], examples))
    query = urllib.parse.urlencode([("experimentId", d.experiment_id) for d in done])
    return Upload(
        dataset_id=dataset_id,
        compare_url=f"{client.base_url}/datasets/{dataset_id}/compare?{query}",
        variants=tuple(done),
        skipped=len(records) - sum(len(w) for w in wanted.values()),
    )


def _call(client: PhoenixClient, method: str, path: str, body: object | None = None) -> Any:
    answer = client._request(method, path, body)
    if answer is None:
        raise PhoenixError(f"Phoenix at {client.base_url} has no {path.split('?')[0]}")
    return answer


def _pages(client: PhoenixClient, path: str) -> Iterator[dict[str, Any]]:
    """Every item of a paginated list (`data`, `next_cursor`)."""
    cursor: str | None = None
    while True:
        joiner = "&" if "?" in path else "?"
        page = _call(client, "GET", path + (f"{joiner}cursor={urllib.parse.quote(cursor)}" if cursor else ""))
        yield from page["data"]
        cursor = page.get("next_cursor")
        if not cursor:
            return


def _dataset(client: PhoenixClient, name: str, tasks: Sequence[TaskInfo]) -> tuple[str, dict[str, str]]:
    """The dataset's id and its example id per task, created or completed as needed."""
    quoted = urllib.parse.quote(name)
    dataset_id = next(
        (d["id"] for d in _pages(client, f"/v1/datasets?name={quoted}&limit=100") if d["name"] == name), None
    )
    examples = _examples(client, dataset_id) if dataset_id else {}
    missing = [t for t in tasks if t.id not in examples]
    if missing:
        body: dict[str, Any] = {
            "action": "append" if dataset_id else "create",
            "name": name,
            "description": f"{TOOL} experiment {name}: one example per task",
            "inputs": [{"prompt": t.prompt} for t in missing],
            "outputs": [{} for _ in missing],
            "metadata": [{"task": t.id, "repository": t.repository, "commit": t.commit} for t in missing],
        }
        dataset_id = str(_call(client, "POST", "/v1/datasets/upload?sync=true", body)["data"]["dataset_id"])
        examples = _examples(client, dataset_id)
    if dataset_id is None:  # not found and nothing to create: cannot happen with tasks
        raise ExperimentError("an experiment needs at least one task to upload", exit_code=2)
    return dataset_id, examples


def _examples(client: PhoenixClient, dataset_id: str) -> dict[str, str]:
    answer = _call(client, "GET", f"/v1/datasets/{urllib.parse.quote(dataset_id)}/examples")
    return {
        str(e["metadata"]["task"]): str(e["id"])
        for e in answer["data"]["examples"]
        if "task" in e.get("metadata", {})
    }


def _our_experiments(client: PhoenixClient, dataset_id: str, experiment: str) -> dict[str, str]:
    """The Phoenix experiment id per variant that this tool made for this experiment (the oldest)."""
    found: dict[str, str] = {}
    items = list(_pages(client, f"/v1/datasets/{urllib.parse.quote(dataset_id)}/experiments?limit=100"))
    for item in sorted(items, key=lambda e: str(e["created_at"])):
        metadata = item.get("metadata") or {}
        if metadata.get("tool") == TOOL and metadata.get("experiment") == experiment:
            found.setdefault(str(metadata.get("variant")), str(item["id"]))
    return found


def _create_experiment(
    client: PhoenixClient, dataset_id: str, experiment: str, variant: str, baseline: str, repetitions: int
) -> str:
    body = {
        "name": variant,
        "description": f"{TOOL} experiment {experiment}: variant {variant}"
        + (" (baseline)" if variant == baseline else ""),
        "metadata": {
            "tool": TOOL,
            "experiment": experiment,
            "variant": variant,
            "baseline": variant == baseline,
        },
        "repetitions": max(repetitions, 1),
    }
    answer = _call(client, "POST", f"/v1/datasets/{urllib.parse.quote(dataset_id)}/experiments", body)
    return str(answer["data"]["id"])


def _runs(
    client: PhoenixClient,
    dataset_id: str,
    experiment_id: str,
    variant: str,
    records: Sequence[RunRecord],
    examples: Mapping[str, str],
) -> VariantUpload:
    quoted = urllib.parse.quote(experiment_id)
    present = {
        (str(r["dataset_example_id"]), int(r["repetition_number"])): r
        for r in _call(client, "GET", f"/v1/experiments/{quoted}/runs")["data"]
    }
    graded = _evaluated(client, experiment_id) if present else {}
    created = kept = posted = 0
    # A planned run's infrastructure attempts before its outcome: an error run is replaced, never
    # the other way round (Phoenix refuses to overwrite a run that has a result).
    for record in sorted(records, key=lambda r: (r.task, r.repetition, r.counted, r.attempt)):
        key = (examples[record.task], record.repetition)
        existing = present.get(key)
        if existing is not None and (existing.get("error") is None or not record.counted):
            kept += 1
            run_id = str(existing["id"])
            missing = (
                [] if not record.counted else [n for n in EVALUATIONS if n not in graded.get(key, set())]
            )
        else:
            answer = _call(client, "POST", f"/v1/experiments/{quoted}/runs", _run_body(record, key[0]))
            run_id = str(answer["data"]["id"])
            present[key] = {"id": run_id, "error": None if record.counted else "infrastructure"}
            created += 1
            missing = list(EVALUATIONS) if record.counted else []
        for evaluation in _evaluations(record, run_id, missing):
            _call(client, "POST", "/v1/experiment_evaluations", evaluation)
            posted += 1
    url = f"{client.base_url}/datasets/{dataset_id}/compare?experimentId={urllib.parse.quote(experiment_id)}"
    return VariantUpload(variant, experiment_id, url, created, kept, posted)


def _evaluated(client: PhoenixClient, experiment_id: str) -> dict[tuple[str, int], set[str]]:
    """The evaluation names each run of the experiment has, keyed like the runs."""
    rows = _call(client, "GET", f"/v1/experiments/{urllib.parse.quote(experiment_id)}/json")
    return {
        (str(row["example_id"]), int(row["repetition_number"])): {
            a["name"] for a in row.get("annotations", [])
        }
        for row in rows
    }


def _run_body(record: RunRecord, example_id: str) -> dict[str, Any]:
    return {
        "dataset_example_id": example_id,
        "repetition_number": record.repetition,
        "start_time": record.started_at,
        "end_time": record.ended_at,
        "output": {
            "result": record.result_text,
            "status": record.status,
            "cost_usd": record.cost_usd,
            "turns": record.turns,
            "session_id": record.session_id,
            "claude_session_id": record.claude_session_id,
        },
        "error": None if record.counted else f"infrastructure failure after {record.attempt} attempt(s)",
    }


def _evaluations(record: RunRecord, run_id: str, names: Sequence[str]) -> Iterator[dict[str, Any]]:
    passed = record.passed
    results: dict[str, dict[str, Any]] = {
        CHECK: {
            "label": PASSED if passed else FAILED,
            "score": 1.0 if passed else 0.0,
            "explanation": f"check exit code {record.check_exit_code}"
            if record.check_exit_code is not None
            else None,
        },
        "cost_usd": {"score": record.cost_usd},
        "turns": {"score": float(record.turns)},
        "duration_s": {"score": record.duration_s},
    }
    for name in names:
        yield {
            "experiment_run_id": run_id,
            "name": name,
            "annotator_kind": CODE,
            "start_time": record.ended_at,
            "end_time": record.ended_at,
            "result": results[name],
            "metadata": {"session_id": record.session_id},
        }
