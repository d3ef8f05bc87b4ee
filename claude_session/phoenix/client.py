"""A small client for Phoenix's public REST and GraphQL APIs (never its database)."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping
from typing import Any

from claude_session.phoenix.errors import PhoenixError
from claude_session.phoenix.keys import KEY_HINT


class PhoenixClient:
    def __init__(self, base_url: str, timeout: float = 30.0, api_key: str | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.api_key = api_key

    def _request(self, method: str, path: str, body: object | None = None) -> Any:
        """A JSON request; None for 404, one-line PhoenixError for anything else that fails."""
        payload = self._fetch_bytes(method, path, body, accept="application/json")
        if payload is None:
            return None
        try:
            return json.loads(payload or b"null")
        except ValueError:
            raise PhoenixError(f"Phoenix at {self.base_url} sent a non-JSON answer to {path}") from None

    def healthy(self) -> bool:
        """Whether Phoenix answers its health check (plain text, not JSON)."""
        try:
            return self._fetch_bytes("GET", "/healthz", None, accept="text/plain") is not None
        except PhoenixError:
            return False

    def spans(
        self,
        project: str,
        attributes: Mapping[str, str] | None = None,
        page_size: int = 1000,
        start_time: str | None = None,
        end_time: str | None = None,
        span_names: list[str] | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Every span of `project` matching all `attributes` (exact, ASCII-without-space values only)."""
        params: list[tuple[str, str]] = [("limit", str(page_size))]
        for key, value in (attributes or {}).items():
            params.append(("attribute", f"{key}:{value}"))
        if start_time:
            params.append(("start_time", start_time))
        if end_time:
            params.append(("end_time", end_time))
        for name in span_names or ():
            params.append(("name", name))
        cursor: str | None = None
        quoted = urllib.parse.quote(project, safe="")
        while True:
            query = params + ([("cursor", cursor)] if cursor else [])
            page = self._request("GET", f"/v1/projects/{quoted}/spans?{urllib.parse.urlencode(query)}")
            if page is None:  # unknown project: no spans yet
                return
            yield from page.get("data", [])
            cursor = page.get("next_cursor")
            if not cursor:
                return

    def graphql(self, query: str, variables: Mapping[str, Any] | None = None) -> dict[str, Any]:
        answer = self._request("POST", "/graphql", {"query": query, "variables": dict(variables or {})})
        if not isinstance(answer, dict):
            raise PhoenixError(f"Phoenix at {self.base_url} gave no GraphQL answer")
        if answer.get("errors"):
            raise PhoenixError(
                f"Phoenix GraphQL error: {answer['errors'][0].get('message', answer['errors'])}"
            )
        data = answer.get("data")
        if not isinstance(data, dict):
            raise PhoenixError(f"Phoenix at {self.base_url} gave no GraphQL data")
        return data

    def project_id(self, name: str) -> str | None:
        data = self.graphql("query { projects(first: 1000) { edges { node { id name } } } }")
        for edge in data["projects"]["edges"]:
            if edge["node"]["name"] == name:
                return str(edge["node"]["id"])
        return None

    def query_spans(
        self,
        project: str,
        columns: Mapping[str, str],
        condition: str | None = None,
        start_time: str | None = None,
        end_time: str | None = None,
        limit: int = 1000,
    ) -> list[dict[str, Any]]:
        """Only the selected columns of the spans matching a span filter `condition`.

        Phoenix's span query DSL (`POST /v1/spans`, what arize-phoenix-client's
        `get_spans_dataframe(query=SpanQuery().select(...))` sends): `columns` maps an output
        name to a span field or attribute path (`latency_ms`, `llm.cost.total`). Phoenix
        extracts those in its database, so the spans' other attributes (Claude Code's prompts,
        ~33 KB a span) never cross the wire. At most `limit` rows, in no particular order;
        `start_time` <= span start < `end_time` (ISO 8601 with offset).
        """
        query: dict[str, Any] = {"select": {name: {"key": key} for name, key in columns.items()}}
        if condition:
            query["filter"] = {"condition": condition}
        body: dict[str, Any] = {"queries": [query], "limit": limit}
        if start_time:
            body["start_time"] = start_time
        if end_time:
            body["end_time"] = end_time
        path = "/v1/spans?" + urllib.parse.urlencode({"project_name": project})
        payload = self._fetch_bytes("POST", path, body, accept="application/json")
        if payload is None:
            return []
        return _table_rows(payload)

    def _fetch_bytes(self, method: str, path: str, body: object | None, accept: str) -> bytes | None:
        """The raw answer to one request: None for 404, a one-line PhoenixError for other failures."""
        headers = {"accept": accept}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["content-type"] = "application/json"
        if self.api_key:
            headers["authorization"] = f"Bearer {self.api_key}"
        request = urllib.request.Request(self.base_url + path, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as resp:
                return bytes(resp.read())
        except urllib.error.HTTPError as err:
            if err.code == 404:
                return None
            if err.code in (401, 403):
                query = str(body.get("query", "")) if isinstance(body, dict) else ""
                mutation = query.lstrip().startswith("mutation")
                writes = method != "GET" and not path.startswith("/v1/spans")
                what = "write" if writes and (path != "/graphql" or mutation) else "read"
                raise PhoenixError(
                    f"Phoenix at {self.base_url} refused the {what}: missing or wrong API key ({KEY_HINT})"
                ) from None
            detail = err.read()[:300].decode(errors="replace")
            raise PhoenixError(
                f"Phoenix at {self.base_url} answered {err.code} to {path}: {detail}"
            ) from None
        except (urllib.error.URLError, OSError) as err:
            raise PhoenixError(
                f"Phoenix is not reachable at {self.base_url} ({getattr(err, 'reason', err)}); "
                "start it with `claude-session up`"
            ) from None


def _table_rows(payload: bytes) -> list[dict[str, Any]]:
    """Rows of the first part of Phoenix's multipart answer: a pandas 'table' JSON document
    whose column names carry a position prefix (`3_cost`)."""
    text = payload.decode()
    start = text.find("\r\n\r\n")
    end = text.rfind("\r\n--")
    if start < 0 or end <= start:
        raise PhoenixError("Phoenix sent a span query answer this client does not understand")
    document = json.loads(text[start + 4 : end])
    rows: list[dict[str, Any]] = document.get("data", [])
    if not rows:
        return []
    names = {column: column.split("_", 1)[1] for column in rows[0]}
    return [{names[column]: value for column, value in row.items()} for row in rows]
