"""Ratings, checks and outcomes, in-process: validation, the check runner, the last-session record,
annotation bodies and paging against a stand-in for Phoenix's REST API, outcome aggregation."""

from __future__ import annotations

import urllib.parse
from pathlib import Path
from typing import Any

import pytest

from claude_session.cli import main as cli
from claude_session.cli import rate
from claude_session.cli.context import Context
from claude_session.phoenix import annotations as anno
from claude_session.phoenix.client import PhoenixClient
from claude_session.phoenix.errors import PhoenixError
from claude_session.report.outcomes import summarize
from claude_session.session import launcher, outcomes
from claude_session.session.check import run_check
from claude_session.stack.settings import StackSettings
from claude_session.stack.state import StatePaths

PROJECT_ID = "UHJvamVjdDox"


class FakePhoenix(PhoenixClient):
    """Phoenix's session and annotation endpoints, in memory (upsert on name, session, identifier)."""

    def __init__(self, sessions: set[str], unreachable: bool = False, page_limit: int | None = None) -> None:
        super().__init__("http://phoenix.invalid")
        self.sessions = sessions
        self.unreachable = unreachable
        self.page_limit = page_limit
        self.stored: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.calls: list[tuple[str, str]] = []

    def _request(self, method: str, path: str, body: object | None = None) -> Any:
        self.calls.append((method, path))
        if self.unreachable:
            raise PhoenixError("Phoenix is not reachable at http://phoenix.invalid")
        url = urllib.parse.urlsplit(path)
        query = urllib.parse.parse_qs(url.query)
        if method == "GET" and url.path.startswith("/v1/sessions/"):
            sid = urllib.parse.unquote(url.path.rsplit("/", 1)[1])
            return {"data": {"session_id": sid, "project_id": PROJECT_ID}} if sid in self.sessions else None
        if method == "GET" and url.path == "/v1/projects/tests":
            return {"data": {"id": PROJECT_ID, "name": "tests"}}
        if method == "POST" and url.path == "/v1/session_annotations":
            assert query == {"sync": ["true"]}
            assert isinstance(body, dict)
            ids = []
            for item in body["data"]:
                assert item["name"] != "note"
                if item["session_id"] not in self.sessions:
                    return None
                key = (item["name"], item["session_id"], item["identifier"])
                self.stored[key] = {**item, "updated_at": f"2025-01-01T00:00:{len(self.calls):02d}"}
                ids.append({"id": f"anno-{len(self.stored)}"})
            return {"data": ids}
        if method == "GET" and url.path == "/v1/projects/tests/session_annotations":
            wanted = set(query["session_ids"])
            names = set(query.get("include_annotation_names", []))
            rows = [v for v in self.stored.values() if v["session_id"] in wanted and v["name"] in names]
            start = int(query.get("cursor", ["0"])[0])
            limit = self.page_limit or int(query["limit"][0])
            page = rows[start : start + limit]
            more = start + limit < len(rows)
            return {"data": page, "next_cursor": str(start + limit) if more else None}
        raise AssertionError(f"unexpected {method} {path}")


@pytest.fixture
def ctx(tmp_path: Path) -> Context:
    return Context.from_environ(
        {"CLAUDE_SESSION_STATE_DIR": str(tmp_path / "state"), "PATH": "/usr/bin:/bin"}
    )


def _one_line_exit(
    capsys: pytest.CaptureFixture[str], argv: list[str], environ: dict[str, str], code: int
) -> str:
    assert cli.main(argv, environ) == code
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("claude-session: "), err
    return err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["s-1", "--score", "abc"], "--score: 'abc' is not a number"),
        (["s-1", "--score", "11"], "--score: must be between 0 and 10"),
        (["s-1", "--score", "-1"], "--score: must be between 0 and 10"),
        (["s-1", "--score", "nan"], "--score: must be between 0 and 10"),
        (["s-1", "--label", "x" * 51], "--label: at most 50 characters"),
        (["s-1", "--label", "bad\nlabel"], "--label: no control characters"),
        (["s-1", "--score", "5", "--note", "n" * 1001], "--note: at most 1000 characters"),
        (["s-1"], "give --score N and/or --label LABEL"),
        (["bad id", "--score", "5"], "SESSION_ID: only letters"),
        (["--score", "5"], "no session to rate"),
    ],
)
def test_rate_bad_input_is_one_line_exit_2_before_any_request(
    capsys: pytest.CaptureFixture[str], ctx: Context, args: list[str], message: str
) -> None:
    # A closed port: reaching Phoenix would make it exit 1, not 2.
    err = _one_line_exit(capsys, ["rate", *args, "--phoenix-url", "http://127.0.0.1:9"], dict(ctx.environ), 2)
    assert message in err


def test_rate_phoenix_unreachable_is_one_line_exit_1(
    capsys: pytest.CaptureFixture[str], ctx: Context
) -> None:
    argv = ["rate", "s-1", "--score", "5", "--phoenix-url", "http://127.0.0.1:9"]
    err = _one_line_exit(capsys, argv, dict(ctx.environ), 1)
    assert "Phoenix is not reachable at http://127.0.0.1:9" in err


def test_rate_round_trip_updates_one_rating(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], ctx: Context
) -> None:
    fake = FakePhoenix({"s-1"})
    monkeypatch.setattr(rate, "PhoenixClient", lambda *a, **k: fake)
    base = ["--phoenix-url", "http://x", "--project", "tests"]
    assert rate.main(["s-1", "--score", "7.5", "--label", "good", "--note", "fine", *base], ctx) == 0
    assert "rated session s-1: score 7.5, label 'good' (with a note)" in capsys.readouterr().out
    assert rate.main(["s-1", "--score", "9", *base], ctx) == 0
    (stored,) = fake.stored.values()
    assert stored["annotator_kind"] == "HUMAN" and stored["identifier"] == ""
    assert stored["result"] == {"score": 9.0, "label": None, "explanation": None}
    with pytest.raises(rate.UsageError, match="has no session 'nope' in project 'tests'"):
        rate.main(["nope", "--score", "1", *base], ctx)
    assert len(fake.stored) == 1


def test_last_session_record_and_resolution_order(ctx: Context) -> None:
    assert launcher.last_session_id(ctx.state) is None
    launcher.record_last_session(ctx.state, launcher.Session.new("debugging", "v2", None, "dbg-1"))
    assert launcher.last_session_id(ctx.state) == "dbg-1"
    assert rate.resolve_session(None, ctx) == "dbg-1"
    inside = Context({**ctx.environ, "CLAUDE_SESSION_ID": "shell-7"}, ctx.state)
    assert rate.resolve_session(None, inside) == "shell-7"
    assert rate.resolve_session("given-3", inside) == "given-3"


@pytest.mark.slow  # runs sh
def test_check_runner_true_false_missing(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin"}
    ok = run_check("true", env)
    assert ok.passed and not ok.missing and ok.duration_s >= 0
    failed = run_check("exit 3", env)
    assert (failed.passed, failed.exit_code) == (False, 3)
    assert run_check("no-such-command-xyz 2>/dev/null", env).missing
    run_check("pwd > where.txt", env, cwd=tmp_path)
    assert (tmp_path / "where.txt").read_text().strip() == str(tmp_path)
    assert run_check('test "$MARK" = yes', {**env, "MARK": "yes"}).passed


@pytest.mark.slow  # runs sh
def test_record_check_pass_fail_missing_and_unreachable(capsys: pytest.CaptureFixture[str]) -> None:
    fake = FakePhoenix({"s-1"})
    env = {"PATH": "/usr/bin:/bin"}
    assert outcomes.record_check(run_check("true", env), "s-1", fake, "tests", wait=0)
    assert "check passed (exit 0," in capsys.readouterr().err
    assert outcomes.record_check(run_check("false", env), "s-1", fake, "tests", wait=0)
    (stored,) = fake.stored.values()  # the second check replaced the first
    assert stored["annotator_kind"] == "CODE" and stored["name"] == "check"
    assert stored["result"]["label"] == "fail" and stored["result"]["score"] == 0.0
    assert stored["metadata"]["exit_code"] == 1 and stored["metadata"]["command"] == "false"
    capsys.readouterr()
    fake.stored.clear()
    assert not outcomes.record_check(run_check("no-such-command-xyz", env), "s-1", fake, "tests", wait=0)
    assert "check command not found" in capsys.readouterr().err.splitlines()[-1]
    assert not fake.stored
    down = FakePhoenix(set(), unreachable=True)
    assert not outcomes.record_check(run_check("true", env), "s-1", down, "tests", wait=0)
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "check passed" in err and "not recorded: Phoenix is not reachable" in err


def test_empty_check_is_refused_before_anything_runs(
    capsys: pytest.CaptureFixture[str], ctx: Context
) -> None:
    err = _one_line_exit(capsys, ["--check", " ", "hi"], dict(ctx.environ), 2)
    assert "--check: give a command" in err


def test_rating_prompt(capsys: pytest.CaptureFixture[str]) -> None:
    fake = FakePhoenix({"s-1"})
    assert outcomes.prompt_rating("s-1", fake, "tests", ask=lambda q: "", wait=0) is None
    assert outcomes.prompt_rating("s-1", fake, "tests", ask=lambda q: "twelve", wait=0) is None
    assert "not rated" in capsys.readouterr().err
    assert not fake.stored

    def interrupted(question: str) -> str:
        raise EOFError

    assert outcomes.prompt_rating("s-1", fake, "tests", ask=interrupted, wait=0) is None
    assert outcomes.prompt_rating("s-1", fake, "tests", ask=lambda q: " 8 ", wait=0) == 8.0
    assert [v["result"]["score"] for v in fake.stored.values()] == [8.0]
    assert outcomes.rate_prompt_enabled({})
    assert outcomes.rate_prompt_enabled({"CLAUDE_SESSION_RATE_PROMPT": "1"})
    assert not outcomes.rate_prompt_enabled({"CLAUDE_SESSION_RATE_PROMPT": "0"})


def test_wait_for_session_polls_until_the_spans_arrive() -> None:
    fake = FakePhoenix(set())
    now = [0.0]
    waited: list[str] = []

    def sleep(seconds: float) -> None:
        now[0] += seconds
        if now[0] >= 5:
            fake.sessions.add("s-1")

    found = anno.wait_for_session(
        fake, "s-1", "tests", 20, on_wait=lambda: waited.append("x"), sleep=sleep, clock=lambda: now[0]
    )
    assert found and now[0] == 5 and waited == ["x"]
    assert not anno.wait_for_session(fake, "s-2", "tests", 3, sleep=sleep, clock=lambda: now[0])


def test_fetch_outcomes_pages_and_keeps_the_latest() -> None:
    fake = FakePhoenix({"a", "b", "c"}, page_limit=1)
    anno.annotate_session(fake, outcomes.rating("a", 6, "ok", None))
    anno.annotate_session(fake, outcomes.rating("a", 9, None, None))
    anno.annotate_session(fake, anno.SessionAnnotation("b", "check", "CODE", 1.0, "pass"))
    anno.annotate_session(fake, anno.SessionAnnotation("c", "check", "CODE", 0.0, "fail"))
    anno.annotate_session(fake, anno.SessionAnnotation("c", "other", "LLM", 3.0))
    found = anno.fetch_outcomes(fake, "tests", ["a", "b", "c", "d"])
    assert found == {
        "a": anno.Outcome(9.0, None, None),
        "b": anno.Outcome(None, None, True),
        "c": anno.Outcome(None, None, False),
    }
    pages = [p for m, p in fake.calls if m == "GET" and "session_annotations" in p]
    assert len(pages) == 3 and "cursor=1" in pages[1]
    older = anno.SessionAnnotation("x", "rating", "HUMAN", 2.0, updated_at="2025-01-01T00:00:01")
    newer = anno.SessionAnnotation("x", "rating", "HUMAN", 4.0, updated_at="2025-01-02T00:00:00")
    assert anno.outcomes([newer, older])["x"].rating_score == 4.0


def test_summarize_group_outcomes() -> None:
    outcomes = {
        "a": anno.Outcome(8.0, None, True),
        "b": anno.Outcome(6.0, "meh", False),
        "c": anno.Outcome(None, None, True),
        "d": anno.Outcome(None, "good", None),
    }
    costs = {"a": 1.0, "b": 2.0, "c": 3.0, "d": 10.0, "e": 5.0}
    group = summarize(["a", "b", "c", "d", "e", "a"], outcomes, costs)
    assert (group.sessions, group.rated, group.mean_score) == (5, 2, 7.0)
    assert (group.checked, group.passed) == (3, 2)
    assert group.success_rate == pytest.approx(2 / 3)
    assert group.cost_per_success == pytest.approx(3.0)  # (1 + 2 + 3) / 2: failures are paid for too
    assert group.as_json()["success_rate"] == pytest.approx(2 / 3)
    empty = summarize(["e"], outcomes, costs)
    assert (empty.rated, empty.mean_score, empty.success_rate, empty.cost_per_success) == (
        0,
        None,
        None,
        None,
    )
    none_passed = summarize(["b"], outcomes, costs)
    assert none_passed.success_rate == 0.0 and none_passed.cost_per_success is None


def test_after_session_never_asks_without_a_terminal(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    asked: list[str] = []
    monkeypatch.setattr(outcomes, "prompt_rating", lambda *a, **k: asked.append("asked"))
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    outcomes.after_session("s-1", StackSettings(project="tests"), {}, None, ask_rating=True)
    assert not asked
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    off = {"CLAUDE_SESSION_RATE_PROMPT": "0"}
    outcomes.after_session("s-1", StackSettings(project="tests"), off, None, ask_rating=True)
    assert not asked
    outcomes.after_session("s-1", StackSettings(project="tests"), {}, None, ask_rating=False)
    assert not asked
    outcomes.after_session("s-1", StackSettings(project="tests"), {}, None, ask_rating=True)
    assert asked == ["asked"]


def test_state_paths_name_the_last_session(tmp_path: Path) -> None:
    assert StatePaths(tmp_path).last_session == tmp_path / "last_session.json"
