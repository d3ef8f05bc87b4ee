"""The cache file: one DuckDB database of span summaries per Phoenix URL and project.

Owner-only (directory 0700, files 0600). It records what it mirrors (the schema version, the
Phoenix version, the project's id and creation time, the oldest start it holds); a file that
is not a DuckDB database, or holds another schema, is replaced, never read.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import secrets
import shutil
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from claude_session.phoenix.annotations import Outcome
from claude_session.report.cache.columns import SCHEMA
from claude_session.report.cache.errors import CacheBusy, CacheError

SCHEMA_VERSION = "3"  # bump when SCHEMA or the meaning of a column changes: old files are rebuilt
SUFFIX = ".duckdb"
MEMO_SUFFIX = ".memo"  # the directory of recent results beside a cache file (memo.py)


def cache_file(directory: Path, phoenix_url: str, project: str) -> Path:
    """One file per Phoenix and project; the name hashes both (a URL is no file name)."""
    digest = hashlib.sha256(f"{phoenix_url.rstrip('/')}\0{project}".encode()).hexdigest()[:20]
    return directory / f"spans-{digest}{SUFFIX}"


def _owner_only(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.chmod(0o600)


class SpanStore:
    """An open cache file. Use as a context manager; `open_store` makes or repairs the file."""

    def __init__(self, path: Path, connection: duckdb.DuckDBPyConnection) -> None:
        self.path = path
        self.db = connection
        self.written = False  # spans written or deleted since opened (memo.py's generation)

    def __enter__(self) -> SpanStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def reopen(self) -> None:
        """Close and connect again: after a first fill, DuckDB's buffers hold the rows just written
        (up to MEMORY_LIMIT); the aggregation that follows then starts from an empty pool."""
        self.db.close()
        self.db = _connect(self.path)

    def close(self) -> None:
        self.db.close()
        for path in (self.path, self.path.with_name(self.path.name + ".wal")):
            _owner_only(path)

    # ----------------------------------------------------------------- what it mirrors

    def _run(self, sql: str, params: list[Any] | None = None) -> None:
        """A statement whose result is read to its end: DuckDB refuses the next call while one is pending."""
        self.db.execute(sql, params or []).fetchall()

    def meta(self) -> dict[str, str]:
        return dict(self.db.execute("SELECT key, value FROM meta").fetchall())

    def set_meta(self, values: Mapping[str, str | None]) -> None:
        for key, value in values.items():
            self._run("DELETE FROM meta WHERE key = ?", [key])
            if value is not None:
                self._run("INSERT INTO meta VALUES (?, ?)", [key, value])

    def clear(self) -> None:
        """Forget every span and what they mirrored (the schema version stays)."""
        self._run("DELETE FROM spans")
        self.written = True
        self.forget_outcomes()
        self._run("DELETE FROM meta WHERE key <> 'schema_version'")

    # ----------------------------------------------------------------- spans

    def replace_range(self, start: datetime | None, end: datetime | None, tables: Iterable[pa.Table]) -> int:
        """Make [start, end) hold exactly the spans in `tables` (pages, as they arrive), in one
        transaction: what Phoenix no longer has goes, the rest is upserted by span id (a span
        sent twice is one row). Returns the number of rows written."""
        where, params = _range(start, end)
        written = 0
        self.written = True
        self._run("BEGIN TRANSACTION")
        try:
            self._run(f"DELETE FROM spans WHERE {where}", params)  # noqa: S608 (fixed text)
            for table in tables:
                written += self._upsert(table)
            self._run("COMMIT")
        except BaseException:
            self._run("ROLLBACK")
            raise
        return written

    def _upsert(self, table: pa.Table) -> int:
        if not table.num_rows:
            return 0
        self.written = True
        self.db.register("incoming", table)
        try:
            self._run("DELETE FROM spans WHERE span_id IN (SELECT span_id FROM incoming)")
            self._run("INSERT INTO spans SELECT * FROM incoming")
        finally:
            self.db.unregister("incoming")
        return int(table.num_rows)

    def fill(self, tables: Iterable[pa.Table]) -> int:
        """Add `tables` (a first fill's pages: disjoint time windows, so no span comes twice) to an
        empty cache, one committed page at a time, so that DuckDB never holds a million uncommitted
        rows in memory; a fill cut short is completed by the next sync's counts."""
        if self.count():
            return sum(self._upsert(table) for table in tables)
        written = 0
        self.db.execute(f"SET memory_limit = '{FILL_MEMORY_LIMIT}'")  # until reopen(); see there
        for table in tables:  # no upsert: its delete would scan every row already written, per page
            if table.num_rows:
                self.written = True
                self.db.register("incoming", table)
                try:
                    self._run("INSERT INTO spans SELECT * FROM incoming")
                finally:
                    self.db.unregister("incoming")
                written += int(table.num_rows)
        return written

    def delete_before(self, moment: datetime) -> int:
        found = _first(self.db.execute("SELECT count(*) FROM spans WHERE start_time < ?", [moment]))
        deleted = int(found[0]) if found else 0
        if deleted:
            self._run("DELETE FROM spans WHERE start_time < ?", [moment])
            self.written = True
        return deleted

    def count(self, start: datetime | None = None, end: datetime | None = None) -> int:
        where, params = _range(start, end)
        found = _first(self.db.execute(f"SELECT count(*) FROM spans WHERE {where}", params))  # noqa: S608
        return int(found[0]) if found else 0

    def counts(self, bounds: list[datetime]) -> list[int]:
        """Spans in each [bounds[i], bounds[i+1])."""
        return [self.count(low, high) for low, high in itertools.pairwise(bounds)]

    def newest_start(self) -> datetime | None:
        found = _first(self.db.execute("SELECT max(start_time) FROM spans"))
        return found[0] if found else None

    def generation(self) -> str:
        """A name for the spans table's present content, new after each sync that wrote to it
        (random: a file removed and made anew never repeats an old name)."""
        found = self.meta().get("generation")
        if found is None:
            found = secrets.token_hex(8)
            self.set_meta({"generation": found})
        return found

    def close_generation(self) -> None:
        """After a sync: a new generation if the spans table was written."""
        if self.written:
            self.set_meta({"generation": secrets.token_hex(8)})
            self.written = False

    # ----------------------------------------------------------------- outcomes (outcomes.py)

    def forget_outcomes(self) -> None:
        self._run("DELETE FROM outcomes")
        self._run("DELETE FROM outcome_sessions")

    # Lists go in as parameters, not registered Arrow tables: DuckDB's `register` imports pandas
    # (~0.2 s, a fifth of a warm report).

    def unread_sessions(self, session_ids: list[str]) -> list[str]:
        """Those of `session_ids` whose annotations the cache has not read."""
        rows = self.db.execute(
            "SELECT s FROM (SELECT unnest(?::VARCHAR[]) AS s) "
            "WHERE s NOT IN (SELECT session_id FROM outcome_sessions) ORDER BY 1",
            [session_ids],
        ).fetchall()
        return [str(row[0]) for row in rows]

    def add_outcomes(self, read: list[str], found: Mapping[str, Outcome]) -> None:
        """Record that `read` sessions were read, and the outcomes found for some of them."""
        ids = sorted(found)
        columns = [
            ids,
            [found[s].rating_score for s in ids],
            [found[s].rating_label for s in ids],
            [found[s].check_passed for s in ids],
        ]
        self._run("BEGIN TRANSACTION")
        try:
            self._run(
                "INSERT INTO outcomes SELECT unnest(?::VARCHAR[]), unnest(?::DOUBLE[]), "
                "unnest(?::VARCHAR[]), unnest(?::BOOLEAN[])",
                columns,
            )
            self._run("INSERT INTO outcome_sessions SELECT unnest(?::VARCHAR[])", [read])
            self._run("COMMIT")
        except BaseException:
            self._run("ROLLBACK")
            raise

    def outcomes(self, session_ids: list[str]) -> dict[str, Outcome]:
        rows = self.db.execute(
            "SELECT session_id, rating_score, rating_label, check_passed FROM outcomes "
            "WHERE session_id IN (SELECT unnest(?::VARCHAR[]))",
            [session_ids],
        ).fetchall()
        return {str(sid): Outcome(score, label, passed) for sid, score, label, passed in rows}

    def size_bytes(self) -> int:
        return sum(
            p.stat().st_size for p in (self.path, self.path.with_name(self.path.name + ".wal")) if p.exists()
        )


def _first(result: duckdb.DuckDBPyConnection) -> tuple[Any, ...] | None:
    """The first row, the result read to its end (DuckDB refuses other work while one is pending)."""
    rows = result.fetchall()
    return rows[0] if rows else None


def _range(start: datetime | None, end: datetime | None) -> tuple[str, list[Any]]:
    parts, params = ["TRUE"], []
    if start is not None:
        parts.append("start_time >= ?")
        params.append(start)
    if end is not None:
        parts.append("start_time < ?")
        params.append(end)
    return " AND ".join(parts), params


def _create(connection: duckdb.DuckDBPyConnection) -> None:
    columns = ", ".join(f"{name} {kind}" for name, kind in SCHEMA.items())
    connection.execute(f"CREATE TABLE spans ({columns})").fetchall()
    connection.execute("CREATE TABLE meta (key VARCHAR PRIMARY KEY, value VARCHAR)").fetchall()
    connection.execute(
        "CREATE TABLE outcomes "
        "(session_id VARCHAR, rating_score DOUBLE, rating_label VARCHAR, check_passed BOOLEAN)"
    ).fetchall()
    connection.execute("CREATE TABLE outcome_sessions (session_id VARCHAR)").fetchall()
    connection.execute("INSERT INTO meta VALUES ('schema_version', ?)", [SCHEMA_VERSION]).fetchall()


# DuckDB's own memory (its default is 80% of the machine's): a report stays within ~500 MB of
# RSS; beyond this DuckDB spills to a temporary directory beside the file.
MEMORY_LIMIT = "256MB"
# A first fill's pages pass through DuckDB's buffers on their way to the file: a smaller pool
# then lowers the report's peak memory (~40 MB here), costing no time.
FILL_MEMORY_LIMIT = "128MB"


def _connect(path: Path) -> duckdb.DuckDBPyConnection:
    try:
        return duckdb.connect(str(path), config={"memory_limit": MEMORY_LIMIT})
    except duckdb.IOException as err:
        if "lock" in str(err).lower():
            raise CacheBusy(f"the report cache {path} is in use by another report") from None
        raise CacheError(f"the report cache {path} is not a readable DuckDB file") from None
    except duckdb.Error:
        raise CacheError(f"the report cache {path} is not a readable DuckDB file") from None


def _schema_version(connection: duckdb.DuckDBPyConnection) -> str | None:
    try:
        found = _first(connection.execute("SELECT value FROM meta WHERE key = 'schema_version'"))
        names = [row[0] for row in connection.execute("DESCRIBE spans").fetchall()]
    except duckdb.Error:
        return None
    if names != list(SCHEMA):
        return None
    return str(found[0]) if found else None


def _remove(path: Path) -> None:
    for stale in (path, path.with_name(path.name + ".wal")):
        stale.unlink(missing_ok=True)
    shutil.rmtree(path.with_name(path.name + MEMO_SUFFIX), ignore_errors=True)


def open_store(path: Path, notices: list[str]) -> SpanStore:
    """The cache file at `path`, created (0600, in a 0700 directory) when missing; a file that is
    no DuckDB database or holds another schema is rebuilt, with a line in `notices`.
    CacheBusy when another report holds it."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.parent.chmod(0o700)
    existed = path.exists()
    try:
        connection = _connect(path)
    except CacheBusy:
        raise
    except CacheError:
        notices.append(f"report cache {path} was unreadable (corrupted?): rebuilding it from Phoenix")
        _remove(path)
        connection = _connect(path)
        existed = False
    _owner_only(path)
    if existed:
        version = _schema_version(connection)
        if version == SCHEMA_VERSION:
            return SpanStore(path, connection)
        connection.close()
        notices.append(
            f"report cache {path} was written by another cache schema ({version or 'unknown'}, "
            f"this is {SCHEMA_VERSION}): rebuilding it from Phoenix"
        )
        _remove(path)
        connection = _connect(path)
        _owner_only(path)
    _create(connection)
    return SpanStore(path, connection)


def cache_files(directory: Path) -> Iterator[Path]:
    if directory.is_dir():
        yield from sorted(directory.glob(f"*{SUFFIX}"))


def total_size(directory: Path) -> tuple[int, int]:
    """(files, bytes) of every cache file in `directory`."""
    files = list(cache_files(directory))
    size = sum(p.stat().st_size for p in directory.rglob("*") if p.is_file()) if directory.is_dir() else 0
    return len(files), size
