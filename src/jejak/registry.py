"""The registry: master data kept as dated snapshots, with every version of every row.

Each dataset is one DuckDB table ``rows_<name>`` holding row *versions*: ``_key`` (the value of
the key column), ``_valid_from``/``_valid_to`` (the version is valid on ``[from, to)``; an open
version has ``_valid_to`` NULL), ``_hash`` (a hash of all data columns, so a diff compares one
integer per row instead of every column) and the data columns as VARCHAR exactly as imported.

Importing a snapshot is a set-based diff inside one transaction: changed rows close their open
version and get a new one, vanished rows are closed, new rows are inserted, unchanged rows are
not touched. Either all of it commits or nothing does.

A plain UTF-8 CSV is read once by DuckDB straight into that diff, without staging it or numbering
its lines; whatever that read cannot explain (a malformed row, an undecodable byte, an empty or
duplicate key) rolls back and the file is read again with line numbers, so the error names its
line. Errors cost time only when there are errors. See docs/architecture.md.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import duckdb

from jejak import progress as query_progress
from jejak import resources, signals
from jejak.errors import InputError, RegistryError
from jejak.files import owned_tempdir, private_file, remove_owned_dir
from jejak.intake import delimited, detect_format, read_table
from jejak.roles import Role, RoleGuess, infer_roles
from jejak.sqltext import quote, unpivot
from jejak.unreleased import Prior, PriorSpec

log = logging.getLogger(__name__)
lock_log = logging.getLogger("jejak.registry.lock")  # the CLI shows these as plain lines
LOCK_TIMEOUT_ENV = "JEJAK_LOCK_TIMEOUT"
DEFAULT_LOCK_TIMEOUT = 60.0

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_META_DDL = """
CREATE TABLE IF NOT EXISTS jj_datasets (
    name VARCHAR PRIMARY KEY, key_column VARCHAR NOT NULL, columns VARCHAR NOT NULL,
    roles VARCHAR NOT NULL, created_at TIMESTAMP NOT NULL);
CREATE TABLE IF NOT EXISTS jj_snapshots (
    dataset VARCHAR NOT NULL, as_of DATE NOT NULL, source VARCHAR NOT NULL, sha256 VARCHAR NOT NULL,
    rows BIGINT NOT NULL, added BIGINT NOT NULL, changed BIGINT NOT NULL, closed BIGINT NOT NULL,
    imported_at TIMESTAMP NOT NULL, PRIMARY KEY (dataset, as_of));
CREATE TABLE IF NOT EXISTS jj_priors (
    dataset VARCHAR NOT NULL, channel VARCHAR NOT NULL, column_name VARCHAR NOT NULL, digest VARCHAR NOT NULL,
    counts VARCHAR NOT NULL, PRIMARY KEY (dataset, channel, column_name));
CREATE TABLE IF NOT EXISTS jj_open (dataset VARCHAR PRIMARY KEY, digest VARCHAR NOT NULL);
"""

Progress = Callable[[str], None]
#: The keys whose open version a snapshot's diff (``_jj_new``) closes: changed and removed people.
_CLOSED_KEYS = ("SELECT _key FROM _jj_new WHERE _old <> _hash "
                "UNION ALL SELECT _gone FROM _jj_new WHERE _gone IS NOT NULL")


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


def _has_table(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    return bool(con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = ? AND NOT temporary", [table]).fetchall()[0][0])


def open_table_name(dataset: str) -> str:
    """The table of the dataset's open versions reduced to numbers (``verify.open_numbers_sql``)."""
    return f"open_{dataset}"


def stored_open_numbers(con: duckdb.DuckDBPyConnection, dataset: str, digest: str) -> str | None:
    """The name of ``dataset``'s stored open-version numbers when they were made by the SQL whose
    SHA-256 is ``digest`` (see :meth:`Registry._store_open`), else None (other SQL, or a registry
    imported by an older jejak)."""
    if not _has_table(con, "jj_open"):
        return None
    row = con.execute("SELECT digest FROM jj_open WHERE dataset = ?", [dataset]).fetchall()
    return open_table_name(dataset) if row and row[0][0] == digest else None


class Registry:
    """A DuckDB file of datasets, each a table of row versions."""

    def __init__(self, path: Path, *, read_only: bool = False, lock_timeout: float | None = None) -> None:
        """Open the registry file; ``read_only`` for commands that only look (many may do so at once).

        DuckDB lets one process write a file, or several read it. A process that finds the file
        locked waits up to ``lock_timeout`` seconds (default ``$JEJAK_LOCK_TIMEOUT``, else 60),
        saying so once on the ``jejak.registry.lock`` logger, then names the holder's process."""
        self.path = path
        self.read_only = read_only
        self.con = _connect(path, read_only, lock_timeout)
        self._spill = _spill_dir(path)
        self._watch: query_progress.Watch | None = None
        try:
            self.con.execute("SET enable_progress_bar = false")
            resources.configure(self.con)
            self._watch = query_progress.watch(self.con)
            if self._spill is not None:
                # DuckDB's default is a folder beside the file that a killed run leaves behind; this
                # one records its owner so the next command sweeps it (Workspace.sweep_stale).
                self.con.execute(f"SET temp_directory = '{str(self._spill / 'spill').replace(chr(39), chr(39) * 2)}'")
            if not read_only:
                self.con.execute(_META_DDL)
                _owner_only(path)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        if self._watch is not None:
            self._watch.stop()
            self._watch = None
        self.con.close()
        if not self.read_only:
            _owner_only(self.path)
        if self._spill is not None:
            remove_owned_dir(self._spill)
            self._spill = None

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

    def priors(self, name: str, specs: list[PriorSpec]) -> dict[tuple[str, str], Prior]:
        """The newest snapshot's residue priors of ``specs`` (``jejak.unreleased``), by channel and column.

        Counted at import, in the import's transaction, so a stored count is never older than the
        rows it counts; a count stored by other SQL (the channel changed since) or not stored (a
        registry imported by an older jejak) is counted now. Counting means parsing every
        timestamp and amount of the registry: about 0.6 s per million people, which at national
        scale was most of investigating a small sample.
        """
        stored: dict[tuple[str, str], tuple[str, str]] = {}
        if _has_table(self.con, "jj_priors"):
            stored = {(ch, col): (digest, counts) for ch, col, digest, counts in self.con.execute(
                "SELECT channel, column_name, digest, counts FROM jj_priors WHERE dataset = ?", [name]).fetchall()}
        out = {}
        missing = []
        for spec in specs:
            digest, counts = stored.get((spec.channel, spec.column), ("", "[]"))
            if digest == spec.digest:
                out[(spec.channel, spec.column)] = Prior(spec.modulus, tuple(json.loads(counts)))
            else:
                missing.append(spec)
        out.update({(sp.channel, sp.column): prior for sp, prior in self._count_priors(name, missing)})
        return out

    def _count_priors(self, name: str, specs: list[PriorSpec]) -> list[tuple[PriorSpec, Prior]]:
        """Count ``specs`` in one scan of the newest snapshot."""
        if not specs:
            return []
        counted = ", ".join(sp.sql for sp in specs)
        row = self.con.execute(f"SELECT {counted} FROM ({self.as_of_sql(name)})").fetchall()[0]
        return [(sp, sp.prior(hist)) for sp, hist in zip(specs, row, strict=True)]

    def _store_priors(self, info: DatasetInfo) -> None:
        """Count and store every prior the dataset's columns may be asked for (see :meth:`priors`)."""
        from jejak.unreleased import prior_specs

        name = info.name
        self.con.execute("DELETE FROM jj_priors WHERE dataset = ?", [name])
        counted = self._count_priors(name, prior_specs(info.roles, info.columns))
        if counted:  # one statement whatever the number of columns (tests/test_wide.py)
            self.con.execute(
                "INSERT INTO jj_priors SELECT $dataset, unnest($channel), unnest($column), unnest($digest), "
                "unnest($counts)",
                {"dataset": name, "channel": [sp.channel for sp, _ in counted],
                 "column": [sp.column for sp, _ in counted], "digest": [sp.digest for sp, _ in counted],
                 "counts": [json.dumps(list(p.counts)) for _, p in counted]})

    def _store_open(self, info: DatasetInfo, *, changed_only: bool) -> None:
        """Keep ``open_<name>``, the open versions reduced to what an investigation's key join reads
        and settling a marked leak's row compares (``verify.open_numbers_sql``), so an investigation
        does not recompute it from every open version's text (about a second per million people).

        With ``changed_only`` (a later snapshot, whose diff is in ``_jj_new``) and numbers made by
        the same SQL, only the keys the snapshot added, changed or closed are replaced; otherwise
        (a first import, changed roles, changed SQL) the table is made again from every open
        version. Runs in the import's transaction, so the numbers always describe the rows.
        """
        from jejak.normalise import install_carrier_macros
        from jejak.verify import every_column_plan, open_numbers_digest, open_numbers_sql, status_column

        name = info.name
        t, o = table_name(name), open_table_name(name)
        plan = every_column_plan(info)
        if plan is None:
            self.con.execute("DELETE FROM jj_open WHERE dataset = ?", [name])
            self.con.execute(f"DROP TABLE IF EXISTS {o}")
            return
        # Chosen as an investigation will choose it: from the first rows in table order (the
        # import runs with insertion order let go). A different choice there only means the
        # stored table is not used (its digest names the column).
        self.con.execute("SET preserve_insertion_order = true")
        try:
            status = status_column(self.con, info, t)
        finally:
            self.con.execute("SET preserve_insertion_order = false")
        digest = open_numbers_digest(plan, status)
        install_carrier_macros(self.con)
        if changed_only and stored_open_numbers(self.con, name, digest) == o:
            self.con.execute(
                f"DELETE FROM {o} WHERE _key IN ({_CLOSED_KEYS})")
            self.con.execute(f"INSERT INTO {o} {open_numbers_sql(plan, t, status)} "
                             "AND v._key IN (SELECT _key FROM _jj_new WHERE _row IS NOT NULL)")
            return
        self.con.execute(f"CREATE OR REPLACE TABLE {o} AS {open_numbers_sql(plan, t, status)}")
        self.con.execute("INSERT OR REPLACE INTO jj_open VALUES (?, ?)", [name, digest])

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
        screen: Screen | None = None,
    ) -> ImportResult:
        """Import ``path`` as the snapshot of ``dataset`` at ``as_of``, atomically.

        ``screen(con, changed, columns)`` is called inside the import's transaction with a relation
        of (a sample of) the rows that would change, ``_key`` and the data columns; raising refuses
        the import and leaves the registry as it was (``jejak.feedback`` refuses a released file
        fed back into the registry).
        """
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
        job = _Job(path, dataset, key, as_of, roles or {}, existing, _FileHasher(path), say, screen)

        say("hashing and reading the file")
        job.hasher.start()
        try:
            # Fast path: DuckDB reads a plain UTF-8 CSV straight into the diff, without staging it.
            fast = delimited.scan(path) if encoding is None and detect_format(path) == "csv" else None
            if fast is not None:
                try:
                    return self._import(job, _Source(fast.sql, fast.columns, str(path), located=False))
                except _Declined:
                    log.info("%s needs a located read; staging it with line numbers", path)
            # Located path: stage with line numbers, so any error names its line.
            table = read_table(self.con, path, name="_jj_stage", strict=True, encoding=encoding,
                               scratch_dir=self._spill)
            try:
                self._check_columns(job, table.columns)
                self._check_keys(table.name, path, key)
                return self._import(job, _Source(table.name, table.columns, table.source or str(path), located=True))
            finally:
                self.con.execute("DROP TABLE IF EXISTS _jj_stage")
        finally:
            job.hasher.join()

    @staticmethod
    def _check_order(existing: DatasetInfo | None, as_of: date) -> None:
        if existing and existing.snapshots and as_of < existing.snapshots[-1]:
            raise RegistryError(
                f"snapshot date {as_of} is older than the newest snapshot of {existing.name!r} "
                f"({existing.snapshots[-1]}); snapshots must be imported in date order"
            )

    @staticmethod
    def _check_columns(job: _Job, columns: list[str]) -> None:
        """Errors that the header alone decides (no line numbers needed)."""
        path, key, existing = job.path, job.key, job.existing
        if key not in columns:
            near = [c for c in columns if c.lower() == key.lower()]
            hint = f"; did you mean {near[0]!r}?" if near else _columns_hint(columns)
            raise InputError(f"key column {key!r} not found{hint}", path=path)
        if existing is not None:
            if key != existing.key:
                raise RegistryError(f"dataset {existing.name!r} is keyed by {existing.key!r}, not {key!r}")
            missing = [c for c in existing.columns if c not in columns]
            extra = [c for c in columns if c not in existing.columns]
            if missing and len(missing) == len(existing.columns):
                raise InputError("none of the file's columns is a column of earlier snapshots of this dataset "
                                 "(does its first line name the columns?)", path=path)
            if missing or extra:
                raise InputError(
                    "the columns differ from earlier snapshots of this dataset"
                    + (f"; missing: {', '.join(missing)}" if missing else "")
                    + (f"; new: {', '.join(extra)}" if extra else ""),
                    path=path,
                )
        for col in job.overrides:
            if col not in columns:
                raise RegistryError(f"--role names column {col!r}, which the file does not have")

    def _check_keys(self, stage: str, path: Path, key: str) -> None:
        """Empty and duplicate keys, located by the staged ``_line`` (the error path)."""
        k = quote(key)
        first_null = self.con.execute(
            f"SELECT min(_line), count(*) FROM {stage} WHERE {k} IS NULL OR trim({k}) = ''"
        ).fetchall()[0]
        if first_null and first_null[1]:
            raise InputError(
                f"{first_null[1]} row(s) have an empty key", path=path, line=first_null[0], column=key
            )
        dup = self.con.execute(
            f"SELECT count(*), sum(n) FROM (SELECT count(*) AS n FROM {stage} GROUP BY {k} HAVING n > 1)"
        ).fetchall()[0]
        if dup and dup[0]:
            lines = [
                r[0]
                for r in self.con.execute(
                    f"""SELECT _line FROM {stage} WHERE {k} IN
                        (SELECT {k} FROM {stage} GROUP BY {k} HAVING count(*) > 1)
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

    def _import(self, job: _Job, src: _Source) -> ImportResult:
        """Read ``src`` once and apply it in one transaction; raises _Declined (nothing changed)."""
        self._check_columns(job, src.columns)
        existing = job.existing
        guesses: dict[str, RoleGuess] = {}
        if existing is None:
            job.say("inferring column roles")
            guesses, distinct = self._survey(src)
            final_roles = {c: g.role for c, g in guesses.items()}
        else:
            final_roles, distinct = dict(existing.roles), set()
        final_roles.update(job.overrides)
        columns = existing.columns if existing else src.columns
        job.say("comparing with the registry")
        con = self.con
        con.execute(_BULK_SETTINGS)  # settings are not transactional: set before, reset after
        committed = False
        con.execute("BEGIN TRANSACTION")
        try:
            if existing is None:
                counts = self._load_first(job, src, columns, final_roles, distinct)
            else:
                con.execute(
                    "UPDATE jj_datasets SET roles = ? WHERE name = ?",
                    [_roles_json(final_roles, columns), job.dataset],
                )
                counts = self._load_next(job, src, columns, existing)
            if not counts.already_imported:
                con.execute(
                    "INSERT INTO jj_snapshots VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [job.dataset, job.as_of, src.name, job.hasher.result(), counts.rows, counts.added,
                     counts.changed, counts.closed, _now()],
                )
                info = self.dataset(job.dataset)
                job.say("counting the residue priors")
                self._store_priors(info)
                job.say("reducing the open versions to numbers")
                self._store_open(info, changed_only=existing is not None)
            with signals.committing(f"the snapshot of {job.dataset!r}"):
                con.execute("COMMIT")
                committed = True
        except BaseException:
            if not committed:
                con.execute("ROLLBACK")
            raise
        finally:
            con.execute("RESET preserve_insertion_order; RESET disabled_optimizers")
            con.execute("DROP TABLE IF EXISTS _jj_new")
        log.info(
            "imported snapshot %s of %s: +%d ~%d -%d", job.as_of, job.dataset, counts.added, counts.changed,
            counts.closed,
        )
        return ImportResult(
            dataset=job.dataset,
            as_of=job.as_of,
            rows=counts.rows,
            added=counts.added,
            changed=counts.changed,
            closed=counts.closed,
            unchanged=counts.rows - counts.added - counts.changed,
            roles={c: final_roles[c] for c in columns if c in final_roles},
            role_guesses=guesses,
            already_imported=counts.already_imported,
        )

    def _survey(self, src: _Source) -> tuple[dict[str, RoleGuess], set[str]]:
        """Roles, and the mostly distinct columns, of a new dataset from its first rows.

        Both paths sample the first ROLE_SAMPLE rows in file order: same file, same roles.
        """
        self._read(src, f"CREATE OR REPLACE TEMP TABLE _jj_sample AS SELECT * FROM {src.sql} LIMIT {ROLE_SAMPLE}")
        try:
            guesses = infer_roles(self.con, "_jj_sample", src.columns, sample=ROLE_SAMPLE)
            # One UNPIVOT grouped by column: a count(DISTINCT) per column in one SELECT ran out of
            # memory at 1,000 columns (a hash table per column, all alive at once).
            shares = self.con.execute(
                f"SELECT col, count(DISTINCT raw) / count(raw) FROM {unpivot('_jj_sample', src.columns)} GROUP BY col"
            ).fetchall()
        finally:
            self.con.execute("DROP TABLE IF EXISTS _jj_sample")
        return guesses, {c for c, share in shares if share > DISTINCT_SHARE}

    def _read(self, src: _Source, sql: str) -> list[tuple[Any, ...]]:
        """Run a statement that reads ``src``; a bare scan's read error declines the fast path."""
        try:
            return self.con.execute(sql).fetchall()
        except duckdb.Error:
            if src.located:
                raise
            raise _Declined from None

    def _load_first(
        self, job: _Job, src: _Source, columns: list[str], roles: dict[str, Role], distinct: set[str]
    ) -> _Counts:
        """A new dataset: every row is added, straight from the source into the versions table.

        Mostly distinct columns (identifiers, names, phones, timestamps) are stored uncompressed:
        DuckDB's dictionary+FSST compression gains about 2x on them but costs most of the first
        import's time; repetitive columns (codes, categories, places) keep it, almost for free.
        """
        t, cols, d = table_name(job.dataset), _cols(columns), _date(job.as_of)

        def ddl(name: str, column: str) -> str:
            plain = " USING COMPRESSION uncompressed" if column in distinct else ""
            return f"{name} VARCHAR{plain}"

        col_ddl = ", ".join(ddl(quote(c), c) for c in columns)
        self.con.execute(
            f"CREATE TABLE {t} ({ddl('_key', job.key)} NOT NULL, _valid_from DATE NOT NULL, "
            f"_valid_to DATE, _hash UBIGINT NOT NULL, {col_ddl})"
        )
        self.con.execute(
            "INSERT INTO jj_datasets VALUES (?, ?, ?, ?, ?)",
            [job.dataset, job.key, json.dumps(columns), _roles_json(roles, columns), _now()],
        )
        self._read(src, f"INSERT INTO {t} SELECT {quote(job.key)}, {d}, NULL, hash({cols}), {cols} FROM {src.sql}")
        rows, distinct, empty = self.con.execute(
            f"SELECT count(*), count(DISTINCT _key), count(*) FILTER (WHERE _key IS NULL OR trim(_key) = '') FROM {t}"
        ).fetchall()[0]
        if rows == 0 or empty or distinct != rows:
            raise _Declined  # only the located read can name the lines
        return _Counts(rows=rows, added=rows, changed=0, closed=0)

    def _load_next(self, job: _Job, src: _Source, columns: list[str], existing: DatasetInfo) -> _Counts:
        """A later snapshot: one pass over the source, fully joined to the open versions by key.

        ``_jj_new`` keeps every new key and hash, but the full row only where it differs from the
        open version (a new or changed row), so a re-import with few changes holds little in
        memory; an open version no new row matched (a person removed) leaves its key in ``_gone``.
        The versions table is then updated once, for the changed and removed keys: a join whose
        build side is those few keys, where an anti-join with every key of the snapshot ran before.
        """
        t, cols, d = table_name(job.dataset), _cols(columns), _date(job.as_of)
        # The open versions' keys and hashes are the join's build side (see _BULK_SETTINGS).
        self._read(
            src,
            f"""CREATE OR REPLACE TEMP TABLE _jj_new AS
                SELECT n._key, n._hash, o._hash AS _old, CASE WHEN n._hash IS NULL THEN o._key END AS _gone,
                       CASE WHEN o._hash IS DISTINCT FROM n._hash AND n._hash IS NOT NULL THEN [{cols}] END AS _row
                FROM (SELECT {quote(job.key)} AS _key, hash({cols}) AS _hash, {cols} FROM {src.sql}) n
                FULL JOIN (SELECT _key, _hash FROM {t} WHERE _valid_to IS NULL) o ON n._key = o._key""",
        )
        rows, distinct, empty, added, changed, closed = self.con.execute(
            """SELECT count(_hash), count(DISTINCT _key) FILTER (WHERE _hash IS NOT NULL),
                       count(*) FILTER (WHERE _hash IS NOT NULL AND (_key IS NULL OR trim(_key) = '')),
                       count(*) FILTER (WHERE _hash IS NOT NULL AND _old IS NULL),
                       count(*) FILTER (WHERE _old <> _hash), count(_gone)
                FROM _jj_new"""
        ).fetchall()[0]
        if rows == 0 or empty or distinct != rows:
            raise _Declined
        counts = _Counts(rows=rows, added=added, changed=changed, closed=closed)
        if existing.snapshots and existing.snapshots[-1] == job.as_of:
            if added or changed or closed:
                raise RegistryError(
                    f"a snapshot of {job.dataset!r} for {job.as_of} was already imported with different content; "
                    "a corrected snapshot needs a later date"
                )
            return _Counts(rows=rows, added=0, changed=0, closed=0, already_imported=True)
        if changed and job.screen is not None:
            self._screen(job, columns)
        if changed or closed:
            self.con.execute(
                f"UPDATE {t} SET _valid_to = {d} WHERE _valid_to IS NULL AND _key IN ({_CLOSED_KEYS})"
            )
        if added or changed:
            unpack = ", ".join(f"_row[{i + 1}]" for i in range(len(columns)))
            self.con.execute(
                f"INSERT INTO {t} (_key, _valid_from, _valid_to, _hash, {cols}) "
                f"SELECT _key, {d}, NULL, _hash, {unpack} FROM _jj_new WHERE _row IS NOT NULL"
            )
        return counts

    def _screen(self, job: _Job, columns: list[str]) -> None:
        """Hand up to SCREEN_ROWS changed rows (an order fixed by their keys' hashes) to ``job.screen``."""
        assert job.screen is not None
        unpack = ", ".join(f"_row[{i + 1}] AS {quote(c)}" for i, c in enumerate(columns))
        self.con.execute(
            f"""CREATE OR REPLACE TEMP TABLE _jj_changed AS SELECT _key, {unpack} FROM _jj_new
                WHERE _old <> _hash ORDER BY hash(_key), _key LIMIT {SCREEN_ROWS}""")
        try:
            job.say("checking the changed rows for a release's marks")
            job.screen(self.con, "_jj_changed", columns)
        finally:
            self.con.execute("DROP TABLE IF EXISTS _jj_changed")


#: ``screen(con, relation, columns)``: inspects the rows an import would change; raises to refuse it.
Screen = Callable[[duckdb.DuckDBPyConnection, str, list[str]], None]
SCREEN_ROWS = 2_000  # changed rows a screen sees: a released file's marks show in far fewer

#: Session settings while an import's transaction runs. Row order in the versions table means
#: nothing (readers sort by key), so DuckDB may write row groups from both threads instead of
#: serialising them in file order. And DuckDB cannot estimate a CSV's row count (it guesses a
#: few dozen), so it would build the diff's hash table on the file, every column of every row;
#: without the build/probe swap the open versions' keys and hashes are the build side.
_BULK_SETTINGS = "SET preserve_insertion_order = false; SET disabled_optimizers = 'build_side_probe_side'"

ROLE_SAMPLE = 5_000  # rows, in file order, that column roles are inferred from
DISTINCT_SHARE = 0.5  # a column with more distinct values in that sample is stored uncompressed


class _Declined(Exception):  # noqa: N818 - a signal between two paths, never shown to a user
    """The fast path met something only a located read can report (a read error, empty or
    duplicate keys, no rows); its transaction was rolled back and nothing changed."""


@dataclass(frozen=True)
class _Source:
    sql: str  # a FROM item: a staged table, or a table function reading the file
    columns: list[str]
    name: str  # recorded in jj_snapshots.source
    located: bool  # has ``_line``: errors found here can name their line


@dataclass(frozen=True)
class _Counts:
    rows: int
    added: int
    changed: int
    closed: int
    already_imported: bool = False


@dataclass
class _Job:
    path: Path
    dataset: str
    key: str
    as_of: date
    overrides: dict[str, Role]
    existing: DatasetInfo | None
    hasher: _FileHasher
    say: Progress
    screen: Screen | None = None


def _cols(columns: list[str]) -> str:
    return ", ".join(quote(c) for c in columns)


def _date(d: date) -> str:
    return f"DATE '{d.isoformat()}'"


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


# -- opening the file ------------------------------------------------------------------------------

_LOCK_HOLDER = re.compile(r"PID (\d+)")


def _connect(path: Path, read_only: bool, lock_timeout: float | None) -> duckdb.DuckDBPyConnection:
    if read_only and not path.exists():
        # Nothing imported yet: an empty in-memory registry answers every question the same way,
        # and a reader never creates the file.
        con = duckdb.connect()
        con.execute(_META_DDL)
        return con
    timeout = lock_timeout if lock_timeout is not None else _env_timeout()
    deadline = time.monotonic() + timeout
    told = False
    while True:
        try:
            return duckdb.connect(str(path), read_only=read_only)
        except duckdb.IOException as exc:
            holder = _lock_holder(str(exc))
            if holder is None:
                raise RegistryError(f"cannot open the registry {path}: {exc}") from None
            if time.monotonic() >= deadline:
                raise RegistryError(
                    f"the registry {path} is in use by process {holder}; waited {timeout:g} s. Try again when "
                    f"it has finished (or set {LOCK_TIMEOUT_ENV} to wait longer)"
                ) from None
            if not told:
                lock_log.warning("waiting for process %s, which is using the registry (up to %g s)", holder, timeout)
                told = True
            time.sleep(0.2)


def _lock_holder(message: str) -> str | None:
    """The process holding DuckDB's file lock, from its error text; None when it is no lock error."""
    if "lock" not in message.lower():
        return None
    m = _LOCK_HOLDER.search(message)
    return m.group(1) if m else "unknown"


def _env_timeout() -> float:
    try:
        return max(0.0, float(os.environ.get(LOCK_TIMEOUT_ENV, DEFAULT_LOCK_TIMEOUT)))
    except ValueError:
        raise RegistryError(f"{LOCK_TIMEOUT_ENV} must be a number of seconds") from None


_HEADER_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")


def _columns_hint(columns: list[str]) -> str:
    """The header's names, for a message, only if they all look like names: a file without a header
    row has a person's values in its first line, and no message may quote them."""
    if columns and all(_HEADER_NAME.fullmatch(c) for c in columns):
        return f"; columns are: {', '.join(columns)}"
    return f"; the file's {len(columns)} columns are not named like a header (does its first line name them?)"


def _spill_dir(path: Path) -> Path | None:
    """A private folder for DuckDB's spill files in the workspace's ``tmp``, marked with our PID."""
    if not path.parent.is_dir():
        return None
    return owned_tempdir(path.parent / "tmp", "duckdb-")


def _owner_only(path: Path) -> None:
    # DuckDB creates the file and its write-ahead log with the process's umask.
    for p in (path, path.with_name(path.name + ".wal")):
        if p.exists():
            private_file(p)
