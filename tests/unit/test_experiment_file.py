"""The experiment file: a bad one is one line naming the problem, exit 2, and nothing started;
`experiment init` writes the commented example and the repository whose commit it pins."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from claude_session.cli import main as cli
from claude_session.experiment import example, spec
from claude_session.experiment.example import make_example_repo

GOOD = """\
name = "exp"
repetitions = 2
budget_usd = 1.5
seed = 7

[[tasks]]
id = "fix-add"
repository = "repo"
commit = "{commit}"
prompt = "fix calc.py"
check = "python3 -m unittest -q test_calc"

[[variants]]
name = "v1"

[[variants]]
name = "v2"
claude_md = "be careful"
"""


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    where = tmp_path_factory.mktemp("exp") / "repo"
    return where, make_example_repo(where, os.environ)


Runner = Callable[[str], tuple[int, str, str]]


@pytest.fixture
def run_file(
    repo: tuple[Path, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> Callable[[str], tuple[int, str, str]]:
    """Write the text (GOOD changed by the test) beside the repository, `experiment run` it; the
    exit code, stdout and stderr. The state directory is the test's: nothing may appear in it."""
    state = tmp_path / "state"

    def run(text: str) -> tuple[int, str, str]:
        path = repo[0].parent / "experiment.toml"
        path.write_text(text.replace("{commit}", repo[1]))
        code = cli.main(
            ["experiment", "run", str(path)], {"CLAUDE_SESSION_STATE_DIR": str(state), "PATH": ""}
        )
        out, err = capsys.readouterr()
        assert not state.exists(), "a refused experiment file must start nothing"
        return code, out, err

    return run


def test_the_good_file_loads(repo: tuple[Path, str]) -> None:
    path = repo[0].parent / "good.toml"
    path.write_text(GOOD.replace("{commit}", repo[1][:10]))
    experiment = spec.load(path)
    assert experiment.tasks[0].commit == repo[1]  # a short sha is resolved to the full one
    assert experiment.baseline.name == "v1"  # no `baseline = true`: the first variant
    assert experiment.variants[1].claude_md == "be careful"
    assert (experiment.repetitions, experiment.concurrency, experiment.max_infra_retries) == (2, 1, 2)


BAD = [
    (GOOD.replace('repository = "repo"', 'repository = "nowhere"'), "repository", "does not exist"),
    (
        GOOD.replace('commit = "{commit}"', 'commit = "0123456789abcdef"'),
        "commit '0123456789abcdef'",
        "not in",
    ),
    (GOOD.replace('name = "v2"', 'name = "v1"'), "variants[2] (v1)", "duplicate variant name 'v1'"),
    (
        GOOD
        + '\n[[tasks]]\nid = "fix-add"\nrepository = "repo"\ncommit = "{commit}"\n'
        + 'prompt = "p"\ncheck = "c"\n',
        "tasks[2] (fix-add)",
        "duplicate task id 'fix-add'",
    ),
    (GOOD.replace("budget_usd = 1.5", "budget_usd = -1"), "budget_usd", "positive"),
    (GOOD.replace("seed = 7", "seed = 7\nbudjet = 3"), "unknown key 'budjet'", "allowed"),
    (
        GOOD.replace('prompt = "fix calc.py"', 'prompt = "p"\ntimout = 3'),
        "tasks[1] (fix-add)",
        "unknown key 'timout'",
    ),
    (
        GOOD.replace('claude_md = "be careful"', 'claude_mb = "x"'),
        "variants[2] (v2)",
        "unknown key 'claude_mb'",
    ),
    (GOOD.replace("repetitions = 2", 'repetitions = "2"'), "repetitions must be an integer", "str"),
    (GOOD.replace("repetitions = 2", "repetitions = 0"), "repetitions", "at least 1"),
    (GOOD.replace("seed = 7", "seed = 7\nconcurrency = true"), "concurrency must be an integer", "bool"),
    (GOOD.replace('name = "exp"', 'name = "my exp"'), "name:", "letters, digits"),
    (
        GOOD.replace('name = "v2"', 'name = "v2"\nextra_args = ["--fallback-model", "x"]'),
        "--fallback-model",
        "not allowed",
    ),
    (
        GOOD.replace('name = "v1"', 'name = "v1"\nbaseline = true').replace(
            'name = "v2"', 'name = "v2"\nbaseline = true'
        ),
        "more than one baseline",
        "v1, v2",
    ),
    (
        GOOD.replace('claude_md = "be careful"', 'claude_md = "a"\nclaude_md_file = "b.md"'),
        "claude_md or claude_md_file",
        "",
    ),
    (GOOD.replace('name = "v2"', 'name = "v2"\nsettings = "{oops"'), "settings is not valid JSON", ""),
    (GOOD.replace("repetitions = 2", "repetitions = 2\nrepetitions = 3"), "not valid TOML", ""),
    (GOOD.replace('check = "python3 -m unittest -q test_calc"', ""), "missing key 'check'", "tasks[1]"),
]


@pytest.mark.parametrize(("text", "names", "says"), BAD)
def test_a_bad_file_is_one_line_exit_2_nothing_started(
    run_file: Runner, text: str, names: str, says: str
) -> None:
    code, out, err = run_file(text)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("claude-session: ") and "experiment.toml: " in err
    assert names in err and says in err
    assert "Traceback" not in err


def test_a_missing_file_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["experiment", "status", str(tmp_path / "none.toml")], {"PATH": ""}) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot read the experiment file" in err


def test_init_writes_the_example_and_its_repository_and_never_overwrites(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "exp.toml"
    assert cli.main(["experiment", "init", str(target)], os.environ) == 0
    assert target.read_text() == example.EXAMPLE_FILE.read_text()
    experiment = spec.load(target)  # the pinned commit is the one the example repository gets
    assert {t.commit for t in experiment.tasks} == {
        subprocess.check_output(
            ["git", "-C", str(tmp_path / "example-repo"), "rev-parse", "HEAD"], text=True
        ).strip()
    }
    capsys.readouterr()
    target.write_text("mine")
    assert cli.main(["experiment", "init", str(target)], os.environ) == 2
    assert "already exists" in capsys.readouterr().err
    assert target.read_text() == "mine"


def test_the_example_repository_fails_its_checks_until_fixed(tmp_path: Path) -> None:
    repo = tmp_path / "r"
    make_example_repo(repo, os.environ)
    for module in ("test_calc", "test_words"):
        failing = subprocess.run(["python3", "-m", "unittest", "-q", module], cwd=repo, capture_output=True)
        assert failing.returncode == 1, module


def test_dry_run_prints_the_schedule_and_starts_nothing(
    repo: tuple[Path, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = repo[0].parent / "dry.toml"
    path.write_text(GOOD.replace("{commit}", repo[1]))
    state = tmp_path / "dry-state"
    assert (
        cli.main(["experiment", "run", str(path), "--dry-run"], {"CLAUDE_SESSION_STATE_DIR": str(state)}) == 0
    )
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "experiment exp: 4 runs"
    runs = [line.split()[-1] for line in lines[1:]]
    assert sorted(runs) == ["fix-add/v1/1", "fix-add/v1/2", "fix-add/v2/1", "fix-add/v2/2"]
    assert {r.split("/")[2] for r in runs[:2]} == {"1"}  # repetition 1's block first
    assert not state.exists()
