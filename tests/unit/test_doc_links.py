"""`scripts/check docs`: a link or a written path in the README, docs/ or a Dockerfile that names a
missing file fails the check, naming it; the real tree passes."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.support import REPO
from tools import doc_links

README = """\
# project

See [team set-up](docs/team.md), [Docker](docs/docker.md#up) and ![chart](docs/chart.png).
Run `scripts/install`, then `scripts/nope`; the suites are `tests/unit/test_*.py`.
[upstream](https://example.com/docs/missing.md), [top](#project), [ref][r].

Not repository paths: Phoenix's `phoenix/` and `spool/` in the state directory,
`@anthropic-ai/claude-code`, `$S/postgres/run`, `~/.config/claude-session/key`, `.tools/uv`.

```bash
scripts/install --dev
docker build -f docker/gone/Dockerfile .
```

[r]: docs/referenced.md
"""

DOCKER_PAGE = """\
# Docker

Back to [the README](../README.md) or [teams](team.md); [the compose file](/compose.yaml).
Also [a page that is not there](experiments.md).
"""

DOCKERFILE = """\
# The image (docs/docker.md); built by scripts/install from requirements/gone.txt.
FROM scratch
COPY scripts/ scripts/
"""


def _tree(root: Path) -> Path:
    files = {
        "README.md": README,
        "docs/docker.md": DOCKER_PAGE,
        "docs/chart.png": "",
        "docs/referenced.md": "# referenced\n",
        "scripts/install": "#!/bin/sh\n",
        "tests/unit/test_x.py": "",
        "requirements/pins.txt": "",
        "docker/entrypoint.sh": "",
        "compose.yaml": "",
        "Dockerfile": DOCKERFILE,
        ".gitignore": ".tools/\n*.egg-info/\n",
        ".tools/other": "",
    }
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def test_each_missing_file_is_named_with_its_page_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = _tree(tmp_path)
    assert sorted(str(m) for m in doc_links.missing_files(repo)) == [
        "Dockerfile:1: requirements/gone.txt: no such file",
        "README.md:12: docker/gone/Dockerfile: no such file",
        "README.md:3: docs/team.md: no such file",
        "README.md:4: scripts/nope: no such file",
        "docs/docker.md:3: team.md: no such file",
        "docs/docker.md:4: experiments.md: no such file",
    ]
    assert doc_links.main([str(repo)]) == 1
    err = capsys.readouterr().err
    assert "check: docs: README.md:3: docs/team.md: no such file" in err
    assert "6 missing" in err


def test_once_the_files_exist_the_check_passes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo = _tree(tmp_path)
    for name in ("docs/team.md", "docs/experiments.md", "scripts/nope", "requirements/gone.txt"):
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text("")
    (repo / "docker/gone/Dockerfile").parent.mkdir(parents=True)
    (repo / "docker/gone/Dockerfile").write_text("FROM scratch\n")
    assert doc_links.missing_files(repo) == []
    assert doc_links.main([str(repo)]) == 0
    assert "every linked or named file exists" in capsys.readouterr().err


def test_a_glob_passes_only_when_it_matches_a_file(tmp_path: Path) -> None:
    repo = _tree(tmp_path)
    (repo / "tests/unit/test_x.py").unlink()
    assert [m.target for m in doc_links.missing_files(repo) if "tests/" in m.target] == [
        "tests/unit/test_*.py"
    ]


def test_the_repositorys_own_docs_name_only_files_that_exist() -> None:
    assert [str(m) for m in doc_links.missing_files(REPO)] == []


@pytest.mark.slow  # runs scripts/check, a process
def test_scripts_check_docs_runs_it() -> None:
    result = subprocess.run([str(REPO / "scripts/check"), "docs"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "every linked or named file exists" in result.stderr
