"""requester_metadata merge order and the proxy-wide session defaults (PHOENIX_SESSION_*)."""

from __future__ import annotations

import re
from collections.abc import Mapping

import pytest

from claude_session.proxy.metadata import merge_requester_metadata
from claude_session.proxy.settings import ProxySettings

GENERATED_ID = re.compile(r"(?P<type>.+)-\d{8}-\d{6}-[0-9a-f]{6}")


def defaults_from(environ: Mapping[str, str]) -> Mapping[str, str]:
    return ProxySettings.from_environ(environ).session_defaults


def test_merge_keeps_body_metadata_and_lets_the_request_session_win() -> None:
    merged = merge_requester_metadata(
        {"session_type": "from-header"}, {"user_id": "u-1", "session_type": "from-body"}, defaults={}
    )
    assert merged == {"user_id": "u-1", "session_type": "from-header"}


@pytest.mark.parametrize("tagged, from_body", [(None, None), ("not-a-mapping", ["nor", "this"]), ({}, {})])
def test_nothing_to_merge_gives_none(tagged: object, from_body: object) -> None:
    assert merge_requester_metadata(tagged, from_body, defaults={}) is None


def test_proxy_defaults_fill_only_missing_fields() -> None:
    defaults = defaults_from({"PHOENIX_PROMPT_VERSION": "v9", "PHOENIX_SESSION_NAME": "nightly"})
    merged = merge_requester_metadata({"session_name": "mine"}, {"user_id": "u-1"}, defaults=defaults)
    assert merged is not None
    assert merged["session_name"] == "mine"
    assert merged["user_id"] == "u-1"
    assert merged["prompt_version"] == "v9"
    assert merged["session_type"] == "general"
    assert merged["session_id"] == defaults["session_id"]


def test_proxy_defaults_never_override_the_request_session() -> None:
    defaults = defaults_from({"PHOENIX_SESSION_ID": "proxy-wide", "PHOENIX_SESSION_TYPE": "batch"})
    tagged = {"session_id": "mine", "session_type": "code-review"}
    assert merge_requester_metadata(tagged, None, defaults=defaults) == tagged


def test_a_type_without_an_id_gets_one_generated_id() -> None:
    defaults = defaults_from({"PHOENIX_SESSION_TYPE": "code-review"})
    assert defaults["session_type"] == "code-review"
    match = GENERATED_ID.fullmatch(defaults["session_id"])
    assert match is not None, defaults["session_id"]
    assert match["type"] == "code-review"
    # Read once per process: every request of that process lands in the same session.
    first = merge_requester_metadata(None, None, defaults=defaults)
    second = merge_requester_metadata(None, {"user_id": "u-2"}, defaults=defaults)
    assert first is not None and second is not None
    assert first["session_id"] == second["session_id"] == defaults["session_id"]


def test_a_version_alone_gets_the_default_type_and_an_id() -> None:
    defaults = defaults_from({"PHOENIX_PROMPT_VERSION": "v3"})
    assert defaults["session_type"] == "general"
    match = GENERATED_ID.fullmatch(defaults["session_id"])
    assert match is not None and match["type"] == "general"


def test_an_explicit_id_is_kept_as_is() -> None:
    defaults = defaults_from({"PHOENIX_SESSION_ID": "nightly-42"})
    assert dict(defaults) == {"session_id": "nightly-42"}


def test_no_proxy_wide_session_means_no_defaults() -> None:
    assert dict(defaults_from({})) == {}
    assert dict(defaults_from({"PHOENIX_SESSION_TYPE": ""})) == {}  # empty counts as unset


@pytest.mark.parametrize(
    "environ",
    [
        {"PHOENIX_SESSION_TYPE": "bad type"},
        {"PHOENIX_SESSION_ID": "x" * 200},
        {"PHOENIX_SESSION_NAME": "evil\nname", "PHOENIX_PROMPT_VERSION": "v1"},
    ],
)
def test_bad_proxy_defaults_are_ignored_not_raised(environ: dict[str, str]) -> None:
    defaults = defaults_from(environ)
    assert dict(defaults) == {}
    assert merge_requester_metadata(None, None, defaults=defaults) is None
    assert merge_requester_metadata({"session_type": "ok"}, None, defaults=defaults) == {"session_type": "ok"}


def test_without_defaults_the_process_settings_are_used(monkeypatch: pytest.MonkeyPatch) -> None:
    from claude_session.proxy import metadata

    monkeypatch.setattr(metadata, "proxy_defaults", lambda: {"session_type": "from-process"})
    assert merge_requester_metadata(None, None) == {"session_type": "from-process"}
    assert merge_requester_metadata(None, None, defaults={}) is None
