"""The experiment report as a user reads it: the table (100 columns, verdict words), JSON that
round-trips, CSV, the chart, and `experiment report --ledger` with good and bad input."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from claude_session.cli.context import Context
from claude_session.cli.experiment_report import main
from claude_session.core.errors import ClaudeSessionError
from claude_session.experiment import render
from claude_session.experiment.report import ExperimentReport, build_experiment_report
from tests.unit.experiment_runs import run, synthetic

LONG_VARIANTS = ("baseline-" + "b" * 50, "v2-" + "x" * 60, "v3-" + "y" * 60, "v4", "v5-" + "z" * 40)
LONG_TASKS = [f"task-{i}-" + "t" * 70 for i in range(3)]
BAD_STATUS = json.dumps({**run("task-0", "v1", 9).to_dict(), "status": "ok"})


def _long_report(budget: bool = False) -> ExperimentReport:
    rates = dict(zip(LONG_VARIANTS, (0.3, 0.9, 0.35, 0.5, 0.3), strict=True))
    records = [
        run(LONG_TASKS[int(r.task.split("-")[1])], r.variant, r.repetition, r.status, r.cost_usd)
        for r in synthetic(rates, tasks=3, repetitions=4, seed=3)
    ]
    records.append(run(LONG_TASKS[0], "v4", 5, "infra", 1.0))
    return build_experiment_report(
        records, LONG_TASKS, LONG_VARIANTS, LONG_VARIANTS[0], budget, repetitions=4
    )


def test_the_table_fits_100_columns_with_long_names_and_says_each_verdict() -> None:
    report = _long_report()
    text = render.table(report)
    assert max(len(line) for line in text.splitlines()) <= 100
    for c in report.comparisons:
        assert (
            f"{c.variant} {render.METRIC_LABELS[c.metric]}: {render.verdict_word(c, report)}"
            in text.replace("\n    ", " ")
        )
    assert "1 run(s) left out: infrastructure failures" in text
    assert "pass@4" in text and "pass^4" in text


def test_a_budget_stop_prints_inconclusive_budget_reached_never_equivalent() -> None:
    text = render.table(_long_report(budget=True)).replace("\n    ", " ")
    assert text.count("inconclusive: budget reached") == 2 * (len(LONG_VARIANTS) - 1)
    assert "equivalent within" not in text.split("verdicts against", 1)[1]
    assert "no difference" not in text


def test_json_round_trips() -> None:
    report = _long_report()
    again = ExperimentReport.from_dict(json.loads(render.to_json(report)))
    assert again == report


def test_csv_has_a_row_per_variant_and_per_task_with_the_reports_numbers() -> None:
    report = _long_report()
    rows = list(csv.DictReader(io.StringIO(render.to_csv(report))))
    assert len(rows) == len(LONG_VARIANTS) * (1 + len(LONG_TASKS))
    overall = {r["variant"]: r for r in rows if r["task"] == ""}
    v2 = report.summary(LONG_VARIANTS[1]).overall
    assert float(overall[LONG_VARIANTS[1]]["cost_per_run"]) == pytest.approx(v2.cost_per_run)
    success = next(c for c in report.comparisons if c.metric == "success" and c.variant == LONG_VARIANTS[1])
    assert float(overall[LONG_VARIANTS[1]]["success_diff"]) == pytest.approx(success.estimate)
    assert overall[LONG_VARIANTS[1]]["success_verdict"] == success.verdict
    assert overall[LONG_VARIANTS[0]]["success_verdict"] == ""  # the baseline has no comparison


def test_the_svg_chart_has_a_bar_per_variant_and_metric(tmp_path: Path) -> None:
    from claude_session.experiment import plot

    path = tmp_path / "chart.svg"
    plot.write(_long_report(), path)
    svg = path.read_text()
    for variant in LONG_VARIANTS:
        assert f'id="bar:success:{variant}"' in svg
        assert f'id="bar:cost:{variant}"' in svg


def _ledger(tmp_path: Path, extra: list[str] | None = None) -> Path:
    path = tmp_path / "ledger.jsonl"
    lines = [json.dumps({"event": "run_started", "task": "task-0"})]
    lines += [
        json.dumps(r.to_dict()) for r in synthetic({"v1": 0.3, "v2": 0.9}, tasks=4, repetitions=4, seed=1)
    ]
    path.write_text("\n".join(lines + (extra or [])) + "\n")
    return path


def _context(tmp_path: Path) -> Context:
    return Context.from_environ({"CLAUDE_SESSION_STATE_DIR": str(tmp_path / "state")})


def test_report_from_a_ledger_prints_the_verdict(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--ledger", str(_ledger(tmp_path)), "--baseline", "v1"], _context(tmp_path)) == 0
    out = capsys.readouterr().out
    assert "v2 success rate: better: +" in out
    assert "32 runs" in out  # the event line is skipped


def test_the_budget_event_in_the_ledger_makes_every_verdict_inconclusive(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ledger = _ledger(tmp_path, [json.dumps({"event": "budget_reached", "spend_usd": 3.2})])
    assert main(["--ledger", str(ledger), "-b", "v1", "--format", "json"], _context(tmp_path)) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["budget_reached"] is True
    assert {c["verdict"] for c in data["comparisons"]} == {"budget_reached"}


def test_a_cut_off_last_line_is_skipped(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ledger = _ledger(tmp_path, ['{"experiment": "exp", "task": "ta'])
    assert main(["--ledger", str(ledger), "-b", "v1", "-f", "csv"], _context(tmp_path)) == 0
    assert len(capsys.readouterr().out.splitlines()) == 1 + 2 * 5


@pytest.mark.parametrize(
    ("argv", "extra", "message"),
    [
        (["-b", "v9"], None, "--baseline v9: not a variant of this experiment (v1, v2)"),
        ([], None, "--baseline: name the baseline, one of v1, v2"),
        (["-b", "v1", "--chart", "out.pdf"], None, "--chart out.pdf: the chart is a .png or .svg file"),
        (["-b", "v1"], ["not json", "{}"], "line 34 is not JSON"),
        (["-b", "v1"], ['{"session_id": "s", "status": "passed"}'], "line 34: a run without experiment"),
        (["-b", "v1"], [BAD_STATUS], "line 34: status 'ok' is not one of passed, failed, infra"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    tmp_path: Path, argv: list[str], extra: list[str] | None, message: str
) -> None:
    ledger = _ledger(tmp_path, extra)
    with pytest.raises(ClaudeSessionError) as caught:
        main(["--ledger", str(ledger), *argv], _context(tmp_path))
    assert caught.value.exit_code == 2
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_missing_ledger_is_exit_2(tmp_path: Path) -> None:
    with pytest.raises(ClaudeSessionError) as caught:
        main(["--ledger", str(tmp_path / "none.jsonl"), "-b", "v1"], _context(tmp_path))
    assert caught.value.exit_code == 2
    assert str(caught.value) == f"--ledger {tmp_path / 'none.jsonl'}: no such file"


def test_help_names_every_option(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["--help"], Context.from_environ({}))
    assert done.value.code == 0
    out = capsys.readouterr().out
    for option in ("--ledger", "--baseline", "--format", "--chart"):
        assert option in out


def test_the_report_is_pure_same_records_same_report() -> None:
    assert _long_report() == _long_report()
    assert render.to_json(_long_report()) == render.to_json(_long_report())


def _runner_ledger(tmp_path: Path, planned: int, budget_stop: bool) -> Path:
    """The runner's own form: events, each record inside a `record` event."""
    records = synthetic({"v1": 0.3, "v2": 0.9}, tasks=4, repetitions=4, seed=1)
    lines = [json.dumps({"event": "plan", "shard": "1/1", "planned": 40, "left": 40})]
    lines += [
        json.dumps({"event": "record", "at": "2026-12-04T10:00:00+00:00", "record": r.to_dict()})
        for r in records
    ]
    if budget_stop:
        lines.append(
            json.dumps({"event": "budget_stop", "shard": "1/1", "spent_usd": 3.0, "estimate_usd": 0.2})
        )
    lines.append(json.dumps({"event": "plan", "shard": "1/1", "planned": planned, "left": 0}))
    # A later record of a planned run that already has one: the first counts, as in the runner.
    late = {**records[0].to_dict(), "status": "passed" if records[0].status == "failed" else "failed"}
    lines.append(json.dumps({"event": "record", "record": late}))
    path = tmp_path / "runner-ledger.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize(
    ("planned", "budget_stop", "reached"), [(40, True, True), (32, True, False), (40, False, False)]
)
def test_the_runners_ledger_form_and_its_budget_stop(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], planned: int, budget_stop: bool, reached: bool
) -> None:
    """A budget stop counts while planned runs are missing; once every planned run has its
    record (the budget raised, the experiment run again), the verdicts are decided again."""
    ledger = _runner_ledger(tmp_path, planned, budget_stop)
    assert main(["--ledger", str(ledger), "-b", "v1", "-f", "json"], _context(tmp_path)) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["budget_reached"] is reached
    assert data["records"] == 32
    first = synthetic({"v1": 0.3, "v2": 0.9}, tasks=4, repetitions=4, seed=1)
    passed = sum(r.passed for r in first if r.variant == "v1")
    assert next(s for s in data["summaries"] if s["name"] == "v1")["overall"]["passed"] == passed
    verdicts = {c["verdict"] for c in data["comparisons"]}
    assert (verdicts == {"budget_reached"}) is reached


def test_the_ledgers_of_shards_run_apart_combine_into_one_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two machines each ran one shard (each its own ledger and plan): both ledgers together give
    the report of the whole, the same as one ledger holding every run."""
    records = synthetic({"v1": 0.3, "v2": 0.9}, tasks=4, repetitions=4, seed=1)
    halves = {"1/2": records[: len(records) // 2], "2/2": records[len(records) // 2 :]}
    paths = []
    for shard, part in halves.items():
        path = tmp_path / f"ledger-{shard.replace('/', '-of-')}.jsonl"
        lines = [json.dumps({"event": "plan", "shard": shard, "planned": len(part), "left": len(part)})]
        lines += [json.dumps({"event": "record", "record": r.to_dict()}) for r in part]
        path.write_text("\n".join(lines) + "\n")
        paths.append(path)
    whole = tmp_path / "whole.jsonl"
    whole.write_text("".join(json.dumps(r.to_dict()) + "\n" for r in records))
    argv = ["-b", "v1", "-f", "json"]
    assert main(["--ledger", str(paths[0]), "--ledger", str(paths[1]), *argv], _context(tmp_path)) == 0
    combined = json.loads(capsys.readouterr().out)
    assert main(["--ledger", str(whole), *argv], _context(tmp_path)) == 0
    assert combined == json.loads(capsys.readouterr().out)
    assert combined["records"] == len(records)
    assert main(["--ledger", str(paths[0]), *argv], _context(tmp_path)) == 0
    assert json.loads(capsys.readouterr().out)["records"] == len(halves["1/2"])
