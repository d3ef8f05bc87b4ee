"""Session annotations in Phoenix: ratings (`rating`, by a person) and outcomes (`check`, by code).

Phoenix 20.26's REST API: `POST /v1/session_annotations?sync=true` upserts on (name, session,
identifier), so rating a session twice with the same identifier ("") updates the one rating;
it answers 404 when a session has no spans yet. `GET /v1/projects/{p}/session_annotations`
takes `session_ids` (at most 1000 a request), `include_annotation_names`, `limit` (at most
10000) and `cursor`, newest first; it answers 404 when the project or every session is unknown.
The name `note` is reserved by Phoenix for session notes.
"""

from __future__ import annotations

import time
import urllib.parse
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from claude_session.phoenix.client import PhoenixClient
from claude_session.phoenix.errors import PhoenixError

RATING = "rating"  # a person's score (0-10) and/or label, with an optional note
CHECK = "check"  # `--check CMD`: label pass/fail, score 1/0
HUMAN = "HUMAN"
CODE = "CODE"
PASSED = "pass"
FAILED = "fail"
MAX_SESSION_IDS = 1000  # Phoenix refuses more session_ids in one GET
PAGE_SIZE = 1000


@dataclass(frozen=True)
class SessionAnnotation:
    session_id: str
    name: str
    annotator_kind: str
    score: float | None = None
    label: str | None = None
    explanation: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)
    identifier: str = ""
    updated_at: str = ""  # as Phoenix sends it (ISO 8601); empty for one not stored yet

    def as_json(self) -> dict[str, Any]:
        """The body item `POST /v1/session_annotations` takes."""
        return {
            "session_id": self.session_id,
            "name": self.name,
            "annotator_kind": self.annotator_kind,
            "result": {"score": self.score, "label": self.label, "explanation": self.explanation},
            "metadata": dict(self.metadata),
            "identifier": self.identifier,
        }

    @classmethod
    def from_json(cls, item: Mapping[str, Any]) -> SessionAnnotation:
        result = item.get("result") or {}
        score = result.get("score")
        return cls(
            session_id=str(item.get("session_id", "")),
            name=str(item.get("name", "")),
            annotator_kind=str(item.get("annotator_kind", "")),
            score=float(score) if isinstance(score, (int, float)) else None,
            label=result.get("label"),
            explanation=result.get("explanation"),
            metadata=item.get("metadata") or {},
            identifier=str(item.get("identifier") or ""),
            updated_at=str(item.get("updated_at") or ""),
        )


@dataclass(frozen=True)
class Outcome:
    """What the annotations say about one session: its rating and whether its check passed."""

    rating_score: float | None = None
    rating_label: str | None = None
    check_passed: bool | None = None  # None: no check recorded


def _quote(text: str) -> str:
    return urllib.parse.quote(text, safe="")


def session_in_project(client: PhoenixClient, session_id: str, project: str) -> bool:
    """Whether Phoenix holds spans of `session_id` in `project` (session ids are unique in Phoenix)."""
    found = client._request("GET", f"/v1/sessions/{_quote(session_id)}")
    if not isinstance(found, dict) or not isinstance(found.get("data"), dict):
        return False
    wanted = client._request("GET", f"/v1/projects/{_quote(project)}")
    if not isinstance(wanted, dict) or not isinstance(wanted.get("data"), dict):
        return False
    return bool(found["data"].get("project_id") == wanted["data"].get("id"))


def wait_for_session(
    client: PhoenixClient,
    session_id: str,
    project: str,
    timeout: float,
    on_wait: Callable[[], None] | None = None,
    quiet: float = 3.0,
    interval: float = 1.0,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> bool:
    """Poll until the session's spans reached Phoenix (they are exported in batches, ~1 s after
    each request); `on_wait` runs once when that takes more than `quiet` seconds. False after
    `timeout` seconds."""
    started = clock()
    announced = False
    while True:
        if session_in_project(client, session_id, project):
            return True
        elapsed = clock() - started
        if elapsed >= timeout:
            return False
        if not announced and elapsed >= quiet and on_wait is not None:
            on_wait()
            announced = True
        sleep(interval)


def annotate_session(client: PhoenixClient, annotation: SessionAnnotation) -> str:
    """Store (or update: same name, session and identifier) one annotation; its Phoenix id."""
    answer = client._request("POST", "/v1/session_annotations?sync=true", {"data": [annotation.as_json()]})
    if answer is None:
        raise PhoenixError(f"Phoenix has no session {annotation.session_id!r} (no spans of it yet)")
    try:
        return str(answer["data"][0]["id"])
    except (KeyError, IndexError, TypeError):
        raise PhoenixError("Phoenix did not confirm the session annotation") from None


def session_annotations(
    client: PhoenixClient,
    project: str,
    session_ids: Iterable[str],
    names: Iterable[str] = (RATING, CHECK),
    page_size: int = PAGE_SIZE,
) -> Iterator[SessionAnnotation]:
    """The annotations called `names` of these sessions of `project`, newest first per request."""
    ids = sorted(set(session_ids))
    wanted = list(names)
    path = f"/v1/projects/{_quote(project)}/session_annotations"
    for start in range(0, len(ids), MAX_SESSION_IDS):
        params: list[tuple[str, str]] = [("session_ids", sid) for sid in ids[start : start + MAX_SESSION_IDS]]
        params += [("include_annotation_names", name) for name in wanted]
        params.append(("limit", str(page_size)))
        cursor: str | None = None
        while True:
            query = params + ([("cursor", cursor)] if cursor else [])
            page = client._request("GET", f"{path}?{urllib.parse.urlencode(query)}")
            if page is None:  # unknown project, or none of these sessions exists
                break
            for item in page.get("data", []):
                yield SessionAnnotation.from_json(item)
            cursor = page.get("next_cursor")
            if not cursor:
                break


def outcomes(annotations: Iterable[SessionAnnotation]) -> dict[str, Outcome]:
    """Per session: the latest `rating` and `check` (by updated_at; the first seen on a tie)."""
    latest: dict[tuple[str, str], SessionAnnotation] = {}
    for annotation in annotations:
        if annotation.name not in (RATING, CHECK):
            continue
        key = (annotation.session_id, annotation.name)
        seen = latest.get(key)
        if seen is None or annotation.updated_at > seen.updated_at:
            latest[key] = annotation
    result: dict[str, Outcome] = {}
    for (session_id, name), annotation in sorted(latest.items()):
        current = result.get(session_id, Outcome())
        if name == RATING:
            current = Outcome(annotation.score, annotation.label, current.check_passed)
        else:
            current = Outcome(current.rating_score, current.rating_label, check_passed(annotation))
        result[session_id] = current
    return result


def check_passed(annotation: SessionAnnotation) -> bool | None:
    """pass/fail from the label, else from the score (1 passed, 0 failed)."""
    if annotation.label in (PASSED, FAILED):
        return annotation.label == PASSED
    if annotation.score is not None:
        return annotation.score >= 1
    return None


def fetch_outcomes(client: PhoenixClient, project: str, session_ids: Iterable[str]) -> dict[str, Outcome]:
    """Rating and check of each of `session_ids` that has either (sessions without are absent)."""
    return outcomes(session_annotations(client, project, session_ids))
