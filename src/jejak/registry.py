"""The registry: master data kept as dated snapshots, with every version of every row.

Each dataset is one DuckDB table ``rows_<name>`` holding row *versions*: ``_key`` (the value of
the key column), ``_valid_from``/``_valid_to`` (the version is valid on ``[from, to)``; an open
version has ``_valid_to`` NULL), ``_hash`` (a hash of all data columns, so a diff compares one
integer per row instead of every column) and the data columns as VARCHAR exactly as imported.

Importing a snapshot is a set-based diff inside one transaction: changed rows close their open
version and get a new one, vanished rows are closed, new rows are inserted, unchanged rows are
not touched. Either all of it commits or nothing does.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import duckdb

from jejak.errors import InputError, RegistryError
from jejak.intake import Table, read_table
from jejak.roles import Role, RoleGuess, infer_roles

log = logging.getLogger(__name__)

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_META_DDL = """
CREATE TABLE IF NOT EXISTS jj_datasets (
    name VARCHAR PRIMARY KEY, key_column VARCHAR NOT NULL, columns VARCHAR NOT NULL,
    roles VARCHAR NOT NULL, created_at TIMESTAMP NOT NULL);
CREATE TABLE IF NOT EXISTS jj_snapshots (
    dataset VARCHAR NOT NULL, as_of DATE NOT NULL, source VARCHAR NOT NULL, sha256 VARCHAR NOT NULL,
    rows BIGINT NOT NULL, added BIGINT NOT NULL, changed BIGINT NOT NULL, closed BIGINT NOT NULL,
    imported_at TIMESTAMP NOT NULL, PRIMARY KEY (dataset, as_of));
"""

Progress = Callable[[str], None]


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    key: str
    columns: list[str]
    roles: dict[str, Role]
    snapshots: list[date]
    rows: int  # rows current at the newest snapshot
    versions: int  # all row versions ever stored

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "key": self.key,
            "columns": self.columns,
            "roles": {c: str(r) for c, r in self.roles.items()},
            "snapshots": [d.isoformat() for d in self.snapshots],
            "rows": self.rows,
            "versions": self.versions,
        }


@dataclass(frozen=True)
class ImportResult:
    dataset: str
    as_of: date
    rows: int
    added: int
    changed: int
    closed: int
    unchanged: int
    roles: dict[str, Role]
    role_guesses: dict[str, RoleGuess] = field(default_factory=dict)
    already_imported: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "as_of": self.as_of.isoformat(),
            "rows": self.rows,
            "added": self.added,
            "changed": self.changed,
            "closed": self.closed,
            "unchanged": self.unchanged,
            "already_imported": self.already_imported,
            "roles": {c: str(r) for c, r in self.roles.items()},
        }


def table_name(dataset: str) -> str:
    return f"rows_{dataset}"


def quote(identifier: str) -> str:
    """Quote a column name for DuckDB; leaked and imported headers can contain anything."""
    return '"' + identifier.replace('"', '""') + '"'


class Registry:
    """A DuckDB file of datasets, each a table of row versions."""

    def __init__(self, path: Path, *, read_only: bool = False) -> None:
        self.path = path
        try:
            self.con = duckdb.connect(str(path), read_only=read_only)
        except duckdb.IOException as exc:
            raise RegistryError(f"cannot open the registry {path}: {exc}") from None
        self.con.execute("SET enable_progress_bar = false")
        if not read_only:
            self.con.execute(_META_DDL)

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> Registry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- reading -----------------------------------------------------------------------------

    def datasets(self) -> list[DatasetInfo]:
        names = [r[0] for r in self.con.execute("SELECT name FROM jj_datasets ORDER BY name").fetchall()]
        return [self.dataset(n) for n in names]

    def has_dataset(self, name: str) -> bool:
        return bool(self.con.execute("SELECT count(*) FROM jj_datasets WHERE name = ?", [name]).fetchall()[0][0])

    def dataset(self, name: str) -> DatasetInfo:
        row = self.con.execute(
            "SELECT key_column, columns, roles FROM jj_datasets WHERE name = ?", [name]
        ).fetchall()
        if not row:
            known = ", ".join(r[0] for r in self.con.execute("SELECT name FROM jj_datasets").fetchall())
            raise RegistryError(f"unknown dataset {name!r}; known: {known or 'none'}")
        snaps = [
            r[0]
            for r in self.con.execute(
                "SELECT as_of FROM jj_snapshots WHERE dataset = ? ORDER BY as_of", [name]
            ).fetchall()
        ]
        t = table_name(name)
        rows, versions = self.con.execute(
            f"SELECT count(*) FILTER (WHERE _valid_to IS NULL), count(*) FROM {t}"
        ).fetchall()[0]
        return DatasetInfo(
            name=name,
            key=row[0][0],
            columns=json.loads(row[0][1]),
            roles={c: Role(r) for c, r in json.loads(row[0][2]).items()},
            snapshots=snaps,
            rows=rows,
            versions=versions,
        )

    def as_of_sql(self, name: str, when: date | None = None) -> str:
        """SQL selecting ``_key`` and the data columns of every row valid on ``when``.

        Without a date, the rows open at the newest snapshot. Versions are half-open intervals,
        so a row changed on ``when`` shows its new value.
        """
        info = self.dataset(name)
        cols = ", ".join(quote(c) for c in info.columns)
        if when is None:
            cond = "_valid_to IS NULL"
        else:
            d = when.isoformat()
            cond = f"_valid_from <= DATE '{d}' AND (_valid_to IS NULL OR _valid_to > DATE '{d}')"
        return f"SELECT _key, {cols} FROM {table_name(name)} WHERE {cond}"

    def history(self, name: str, key: str) -> list[dict[str, Any]]:
        """Every version of one row, oldest first."""
        info = self.dataset(name)
        cols = ", ".join(quote(c) for c in info.columns)
        cur = self.con.execute(
            f"SELECT _valid_from, _valid_to, {cols} FROM {table_name(name)} "
            "WHERE _key = ? ORDER BY _valid_from",
            [key],
        )
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]

    # -- importing -----------------------------------------------------------------------------

    def import_snapshot(
        self,
        path: Path,
        dataset: str,
        key: str,
        as_of: date,
        *,
        roles: dict[str, Role] | None = None,
        encoding: str | None = None,
        progress: Progress | None = None,
    ) -> ImportResult:
        say = progress or (lambda _msg: None)
        if not _NAME.match(dataset):
            raise RegistryError(
                f"dataset name {dataset!r} must be lower-case letters, digits and _ and start with a letter"
            )
        path = Path(path)
        if not path.is_file():
            raise InputError("no such file", path=path)
        existing = self.dataset(dataset) if self.has_dataset(dataset) else None
        self._check_order(existing, as_of)

        say("hashing and reading the file")
        hasher = _FileHasher(path)
        hasher.start()
        try:
            table = read_table(self.con, path, name="_jj_stage", strict=True, encoding=encoding)
        finally:
            sha256 = hasher.result()
        try:
            self._check_stage(table, path, key, existing)
            say("inferring column roles")
            guesses: dict[str, RoleGuess] = {}
            if existing is None:
                guesses = infer_roles(self.con, table.name, table.columns)
                final_roles = {c: g.role for c, g in guesses.items()}
            else:
                final_roles = dict(existing.roles)
            for col, role in (roles or {}).items():
                if col not in table.columns:
                    raise RegistryError(f"--role names column {col!r}, which the file does not have")
                final_roles[col] = role
            say("comparing with the registry")
            result = self._apply(table, dataset, key, as_of, final_roles, existing, path, sha256)
        finally:
            self.con.execute("DROP TABLE IF EXISTS _jj_stage")
        return ImportResult(**{**result.__dict__, "role_guesses": guesses})

    @staticmethod
    def _check_order(existing: DatasetInfo | None, as_of: date) -> None:
        if existing and existing.snapshots and as_of < existing.snapshots[-1]:
            raise RegistryError(
                f"snapshot date {as_of} is older than the newest snapshot of {existing.name!r} "
                f"({existing.snapshots[-1]}); snapshots must be imported in date order"
            )

    def _check_stage(self, table: Table, path: Path, key: str, existing: DatasetInfo | None) -> None:
        if table.rows == 0:
            raise InputError("the file has no data rows", path=path)
        if key not in table.columns:
            near = [c for c in table.columns if c.lower() == key.lower()]
            hint = f"; did you mean {near[0]!r}?" if near else f"; columns are: {', '.join(table.columns)}"
            raise InputError(f"key column {key!r} not found{hint}", path=path)
        if existing is not None:
            if key != existing.key:
                raise RegistryError(f"dataset {existing.name!r} is keyed by {existing.key!r}, not {key!r}")
            missing = [c for c in existing.columns if c not in table.columns]
            extra = [c for c in table.columns if c not in existing.columns]
            if missing or extra:
                raise InputError(
                    "the columns differ from earlier snapshots of this dataset"
                    + (f"; missing: {', '.join(missing)}" if missing else "")
                    + (f"; new: {', '.join(extra)}" if extra else ""),
                    path=path,
                )
        k = quote(key)
        first_null = self.con.execute(
            f"SELECT min(_line), count(*) FROM {table.name} WHERE {k} IS NULL OR trim({k}) = ''"
        ).fetchall()[0]
        if first_null and first_null[1]:
            raise InputError(
                f"{first_null[1]} row(s) have an empty key", path=path, line=first_null[0], column=key
            )
        dup = self.con.execute(
            f"SELECT count(*), sum(n) FROM (SELECT count(*) AS n FROM {table.name} GROUP BY {k} HAVING n > 1)"
        ).fetchall()[0]
        if dup and dup[0]:
            lines = [
                r[0]
                for r in self.con.execute(
                    f"""SELECT _line FROM {table.name} WHERE {k} IN
                        (SELECT {k} FROM {table.name} GROUP BY {k} HAVING count(*) > 1)
                        ORDER BY _line LIMIT 6"""
                ).fetchall()
            ]
            raise InputError(
                f"{dup[0]} key value(s) occur more than once ({dup[1]} rows); "
                f"first lines involved: {', '.join(map(str, lines))}",
                path=path,
                line=lines[0],
                column=key,
            )

    def _apply(
        self,
        table: Table,
        dataset: str,
        key: str,
        as_of: date,
        roles: dict[str, Role],
        existing: DatasetInfo | None,
        path: Path,
        sha256: str,
    ) -> ImportResult:
        columns = existing.columns if existing else table.columns
        t = table_name(dataset)
        cols = ", ".join(quote(c) for c in columns)
        d = f"DATE '{as_of.isoformat()}'"
        con = self.con
        con.execute("BEGIN TRANSACTION")
        try:
            if existing is None:
                col_ddl = ", ".join(f"{quote(c)} VARCHAR" for c in columns)
                con.execute(
                    f"CREATE TABLE {t} (_key VARCHAR NOT NULL, _valid_from DATE NOT NULL, "
                    f"_valid_to DATE, _hash UBIGINT NOT NULL, {col_ddl})"
                )
                con.execute(
                    "INSERT INTO jj_datasets VALUES (?, ?, ?, ?, ?)",
                    [dataset, key, json.dumps(columns), _roles_json(roles, columns), _now()],
                )
            else:
                con.execute(
                    "UPDATE jj_datasets SET roles = ? WHERE name = ?", [_roles_json(roles, columns), dataset]
                )
            con.execute(
                f"CREATE OR REPLACE TEMP TABLE _jj_new AS SELECT {quote(key)} AS _key, "
                f"hash({cols}) AS _hash, {cols} FROM {table.name}"
            )
            # A new dataset has nothing to compare with: every row is added (and the join is skipped).
            current = (
                f"SELECT _key, _hash FROM {t} WHERE _valid_to IS NULL"
                if existing
                else "SELECT NULL::VARCHAR AS _key, NULL::UBIGINT AS _hash WHERE false"
            )
            con.execute(
                f"""CREATE OR REPLACE TEMP TABLE _jj_diff AS
                    SELECT coalesce(n._key, o._key) AS _key,
                           CASE WHEN o._key IS NULL THEN 'added' WHEN n._key IS NULL THEN 'closed'
                                WHEN o._hash <> n._hash THEN 'changed' ELSE 'same' END AS kind
                    FROM ({current}) o
                    FULL OUTER JOIN (SELECT _key, _hash FROM _jj_new) n ON o._key = n._key"""
            )
            counts = dict(con.execute("SELECT kind, count(*) FROM _jj_diff GROUP BY kind").fetchall())
            added, changed, closed = (counts.get(k, 0) for k in ("added", "changed", "closed"))
            same_day = bool(existing and existing.snapshots and existing.snapshots[-1] == as_of)
            if same_day and (added or changed or closed):
                raise RegistryError(
                    f"a snapshot of {dataset!r} for {as_of} was already imported with different content; "
                    "a corrected snapshot needs a later date"
                )
            if not same_day:
                con.execute(
                    f"""UPDATE {t} SET _valid_to = {d} WHERE _valid_to IS NULL AND _key IN
                        (SELECT _key FROM _jj_diff WHERE kind IN ('changed', 'closed'))"""
                )
                only_new = "" if existing is None else (
                    "WHERE _key IN (SELECT _key FROM _jj_diff WHERE kind IN ('changed', 'added'))"
                )
                con.execute(f"INSERT INTO {t} SELECT _key, {d}, NULL, _hash, {cols} FROM _jj_new {only_new}")
                con.execute(
                    "INSERT INTO jj_snapshots VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [dataset, as_of, table.source or str(path), sha256, table.rows, added, changed, closed, _now()],
                )
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        finally:
            con.execute("DROP TABLE IF EXISTS _jj_new")
            con.execute("DROP TABLE IF EXISTS _jj_diff")
        log.info("imported snapshot %s of %s: +%d ~%d -%d", as_of, dataset, added, changed, closed)
        return ImportResult(
            dataset=dataset,
            as_of=as_of,
            rows=table.rows,
            added=added,
            changed=changed,
            closed=closed,
            unchanged=counts.get("same", 0),
            roles={c: roles[c] for c in columns if c in roles},
            already_imported=same_day,
        )


def _roles_json(roles: dict[str, Role], columns: list[str]) -> str:
    return json.dumps({c: str(roles[c]) for c in columns if c in roles})


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class _FileHasher(threading.Thread):
    """SHA-256 of the source file, computed while DuckDB parses it (hashlib releases the GIL)."""

    def __init__(self, path: Path) -> None:
        super().__init__(daemon=True)
        self.path = path
        self._digest = ""
        self._error: BaseException | None = None

    def run(self) -> None:
        try:
            h = hashlib.sha256()
            with self.path.open("rb") as f:
                while chunk := f.read(1 << 22):
                    h.update(chunk)
            self._digest = h.hexdigest()
        except BaseException as exc:  # re-raised in the caller's thread
            self._error = exc

    def result(self) -> str:
        self.join()
        if self._error is not None:
            raise self._error
        return self._digest
