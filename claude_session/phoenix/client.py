"""A small client for Phoenix's public REST and GraphQL APIs (never its database)."""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from email.message import Message
from typing import TYPE_CHECKING, Any

from claude_session.phoenix.errors import PhoenixError

if TYPE_CHECKING:
    import pyarrow as pa

API_KEY_ENV = "PHOENIX_API_KEY"
ARROW = "application/x-pandas-arrow"  # Phoenix's span query answer as an Arrow IPC stream
KEY_HINT = f"set {API_KEY_ENV} or `claude-session up --phoenix-api-key-file FILE`"


@dataclass(frozen=True)
class Answer:
    """Phoenix's answer to one request, whatever its status."""

    status: int
    headers: Message
    body: bytes


class PhoenixClient:
    """Every call the project makes to Phoenix goes through here: REST, GraphQL, OTLP/HTTP
    probes and the admin login, with the API key (or `headers`, e.g. a login cookie) on each
    request and one-line PhoenixErrors for what fails."""

    def __init__(
        self,
        base_url: str,
        timeout: float = 30.0,
        api_key: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.api_key = api_key
        self.headers = dict(headers or {})

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
        path, body = _span_query(project, columns, condition, start_time, end_time, limit)
        payload = self._fetch_bytes("POST", path, body, accept="application/json")
        if payload is None:
            return []
        return _table_rows(payload)

    def query_spans_arrow(
        self,
        project: str,
        columns: Mapping[str, str],
        condition: str | None = None,
        start_time: str | None = None,
        end_time: str | None = None,
        limit: int = 1000,
    ) -> pa.Table | None:
        """`query_spans`'s answer in Phoenix's other format: an Arrow table of its pandas frame (the
        span id is a column, `context.span_id`). Floats come exactly (the JSON form rounds them to
        10 decimals) and it costs Phoenix about half the work. None when Phoenix could not send
        these rows as Arrow (a column mixing types: Phoenix fails mid-answer); ask for JSON then."""
        import pyarrow as pa

        path, body = _span_query(project, columns, condition, start_time, end_time, limit)
        try:
            payload = self._fetch_bytes("POST", path, body, accept=ARROW)
        except http.client.HTTPException:  # the stream broke off: Phoenix failed to encode it
            return None
        if payload is None:
            return pa.table({})
        try:
            with pa.ipc.open_stream(payload) as reader:
                return reader.read_all()
        except (pa.ArrowInvalid, OSError):
            return None

    def send(
        self, method: str, path: str, data: bytes | None = None, headers: Mapping[str, str] | None = None
    ) -> Answer:
        """One request; any HTTP status is an answer. PhoenixError when Phoenix cannot be reached."""
        sent = {**self.headers, **(headers or {})}
        if self.api_key:
            sent["authorization"] = f"Bearer {self.api_key}"
        request = urllib.request.Request(self.base_url + path, data=data, headers=sent, method=method)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as resp:
                return Answer(int(resp.status), resp.headers, bytes(resp.read()))
        except urllib.error.HTTPError as err:
            return Answer(err.code, err.headers, err.read())
        except (urllib.error.URLError, OSError) as err:
            raise PhoenixError(
                f"Phoenix is not reachable at {self.base_url} ({getattr(err, 'reason', err)}); "
                "start it with `claude-session up`"
            ) from None

    def _fetch_bytes(self, method: str, path: str, body: object | None, accept: str) -> bytes | None:
        """The raw answer to one request: None for 404, a one-line PhoenixError for other failures."""
        headers = {"accept": accept}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["content-type"] = "application/json"
        answer = self.send(method, path, data, headers)
        if 200 <= answer.status < 300:
            return answer.body
        if answer.status == 404:
            return None
        if answer.status in (401, 403):
            query = str(body.get("query", "")) if isinstance(body, dict) else ""
            mutation = query.lstrip().startswith("mutation")
            writes = method != "GET" and not path.startswith("/v1/spans")
            what = "write" if writes and (path != "/graphql" or mutation) else "read"
            raise PhoenixError(
                f"Phoenix at {self.base_url} refused the {what}: missing or wrong API key ({KEY_HINT})"
            )
        detail = answer.body[:300].decode(errors="replace")
        raise PhoenixError(f"Phoenix at {self.base_url} answered {answer.status} to {path}: {detail}")

    def key_accepted(self) -> bool:
        """False only when Phoenix answers 401 to a request with this client's key."""
        try:
            return self.send("GET", "/v1/projects?limit=1").status != 401
        except PhoenixError:
            return True  # not reachable: nothing says the key is wrong

    def export_nothing(self) -> Answer:
        """An empty OTLP/HTTP export (valid protobuf): Phoenix answers 200 and stores nothing."""
        return self.send("POST", "/v1/traces", b"", {"content-type": "application/x-protobuf"})

    def login(self, email: str, password: str) -> str:
        """Log in (REST /auth/login); the access-token cookie for later requests' `cookie` header."""
        body = json.dumps({"email": email, "password": password}).encode()
        answer = self.send("POST", "/auth/login", body, {"content-type": "application/json"})
        if not 200 <= answer.status < 300:
            raise PhoenixError(
                f"Phoenix at {self.base_url} refused the admin login ({answer.status}); its database may "
                "predate this state directory's admin password"
            )
        cookies = [value.split(";", 1)[0] for value in answer.headers.get_all("set-cookie") or []]
        token = [c for c in cookies if c.startswith("phoenix-access-token=")]
        if not token:
            raise PhoenixError(f"Phoenix at {self.base_url} sent no access token on admin login")
        return token[0]


def _span_query(
    project: str,
    columns: Mapping[str, str],
    condition: str | None,
    start_time: str | None,
    end_time: str | None,
    limit: int,
) -> tuple[str, dict[str, Any]]:
    """The path and body of one span query (`query_spans`)."""
    query: dict[str, Any] = {"select": {name: {"key": key} for name, key in columns.items()}}
    if condition:
        query["filter"] = {"condition": condition}
    body: dict[str, Any] = {"queries": [query], "limit": limit}
    if start_time:
        body["start_time"] = start_time
    if end_time:
        body["end_time"] = end_time
    return "/v1/spans?" + urllib.parse.urlencode({"project_name": project}), body


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
