"""The ``jejak`` command: a thin shell over the library.

Only this module knows about typer and rich. Every command builds library objects, calls them,
and renders the result; errors meant for users (:class:`JejakError`) are printed without a
traceback and exit with status 2.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table as RichTable

from jejak import signals
from jejak.errors import JejakError
from jejak.files import remove_owned
from jejak.workspace import Workspace, resolve_home

app = typer.Typer(
    help="jejak — custody and leak-tracing for personal data.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
registry_app = typer.Typer(help="Import dated snapshots and look at what the registry holds.", no_args_is_help=True)
app.add_typer(registry_app, name="registry")
recipient_app = typer.Typer(help="Recipients of releases: branch offices, vendors, hospitals ...", no_args_is_help=True)
app.add_typer(recipient_app, name="recipient")
release_app = typer.Typer(help="Make, list, reproduce and register traceable releases.", no_args_is_help=True)
app.add_typer(release_app, name="release")
audit_app = typer.Typer(help="The audit log: what was done, by whom, hash-chained and signed.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")
user_app = typer.Typer(help="Accounts of the service (jejak serve).", no_args_is_help=True)
app.add_typer(user_app, name="user")

out = Console()
err = Console(stderr=True)
T = TypeVar("T")


class _State:
    home: Path | None = None


state = _State()

HomeOpt = Annotated[
    Path | None,
    typer.Option("--home", help="Workspace directory (default: $JEJAK_HOME).", show_default=False),
]
JsonFlag = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON instead of tables.")]
MemoryOpt = Annotated[str | None, typer.Option(
    "--memory-limit", help="Memory DuckDB may use, e.g. 8GB (default: $JEJAK_MEMORY_LIMIT, else 3 GiB or half the "
    "machine if less); beyond it, work spills to the workspace.")]


@app.callback()
def _main(
    home: HomeOpt = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log progress details to stderr.")] = False,
) -> None:
    state.home = home
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # "waiting for process N, which is using the registry" is for the user, not a log record.
    lock = logging.getLogger("jejak.registry.lock")
    if not lock.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        lock.addHandler(handler)
        lock.propagate = False


def _workspace() -> Workspace:
    ws = Workspace.open(resolve_home(state.home))
    ws.sweep_stale()  # folders of runs that were killed before they could clean up
    return ws


def _parse_date(text: str, option: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise JejakError(f"{option} must be a date like 2025-06-30, not {text!r}") from None


@contextmanager
def _steps(enabled: bool = True) -> Iterator[Callable[[str], None]]:
    """A spinner whose text follows the library's progress messages, and a bar for the statement
    DuckDB is running."""
    if not enabled or not err.is_terminal:
        yield lambda msg: logging.getLogger("jejak").info(msg)
        return
    with Progress(
        SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[count]}"),
        TimeElapsedColumn(), console=err, transient=True,
    ) as bar:
        task = bar.add_task("starting", total=None, count="")
        with _statements(bar):
            yield lambda msg: bar.update(task, description=msg)


@contextmanager
def _bar(total: int, label: str) -> Iterator[Callable[[str, int, int], None]]:
    """A progress bar driven by ``(label, done, total)`` callbacks, and one for the running statement."""
    with Progress(
        TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[count]}"),
        TimeElapsedColumn(), console=err, transient=True, disable=not err.is_terminal,
    ) as bar:
        task = bar.add_task(label, total=total, count=f"0/{total}")

        def update(what: str, done: int, of: int) -> None:
            bar.update(task, description=what, completed=done, total=of, count=f"{done}/{of}")

        if not err.is_terminal:
            yield update
            return
        with _statements(bar):
            yield update


@contextmanager
def _statements(bar: Progress) -> Iterator[None]:
    """A second line of ``bar``: how far DuckDB's running statement has got, in rows when the stage
    says how many it handles (jejak.progress)."""
    from jejak import progress

    task = bar.add_task("  current step", total=100, count="", visible=False)

    def on(pct: float, rows: int | None) -> None:
        count = f"~{round(rows * pct / 100):,} of {rows:,} rows" if rows else f"{pct:.0f}%"
        bar.update(task, completed=pct, count=count, visible=True)

    progress.listen(on)
    try:
        yield
    finally:
        progress.listen(None)


def _print_json(data: Any) -> None:
    out.print_json(json.dumps(data, default=str))


# -- workspace -------------------------------------------------------------------------------------


@app.command()
def init() -> None:
    """Create a new workspace (registry, ledger and a fresh master secret)."""
    from jejak import audit
    from jejak.workspace import FORMAT_VERSION

    ws = Workspace.init(resolve_home(state.home))
    audit.record(ws, "init", None, {"format": FORMAT_VERSION})
    out.print(f"Created workspace [bold]{ws.home}[/]")
    if ws.secret_path.exists():
        out.print(
            f"Master secret: {ws.secret_path} (owner-only). [bold]Back it up offline[/]: "
            "without it no release can be attributed."
        )


# -- registry --------------------------------------------------------------------------------------


@registry_app.command("import")
def registry_import(
    file: Annotated[Path, typer.Argument(help="CSV/TSV, JSON lines, Parquet or XLSX snapshot.")],
    dataset: Annotated[str, typer.Option(help="Dataset name (lower-case, e.g. peserta).")],
    key: Annotated[str, typer.Option(help="Column that identifies a row across snapshots.")],
    as_of: Annotated[str, typer.Option("--as-of", help="Date of the snapshot, YYYY-MM-DD.")],
    role: Annotated[
        list[str] | None, typer.Option("--role", help="Override an inferred role: COL=ROLE (repeatable).")
    ] = None,
    encoding: Annotated[str | None, typer.Option(help="Force the text encoding (default: detect).")] = None,
    memory_limit: MemoryOpt = None,
    as_json: JsonFlag = False,
) -> None:
    """Import a dated snapshot; changed rows get new versions, vanished rows are closed."""
    from jejak import resources
    from jejak.files import check_input
    from jejak.registry import Registry
    from jejak.roles import parse_role_overrides

    resources.use_memory_limit(memory_limit)

    ws = _workspace()
    check_input(file)
    when = _parse_date(as_of, "--as-of")
    overrides = parse_role_overrides(role or [])
    from jejak.feedback import screen

    with Registry(ws.registry_path) as reg, _steps(not as_json) as say:
        result = reg.import_snapshot(file, dataset, key, when, roles=overrides, encoding=encoding, progress=say,
                                     screen=screen(ws, reg, dataset))
    if not result.already_imported:
        from jejak import audit

        audit.record(ws, "registry.import", dataset, {
            "as_of": when.isoformat(), "file": file.name, "rows": result.rows, "added": result.added,
            "changed": result.changed, "closed": result.closed, "unchanged": result.unchanged})
    if as_json:
        _print_json(result.to_json())
        return
    if result.already_imported:
        out.print(f"Snapshot {when} of [bold]{dataset}[/] was already imported; nothing changed.")
        return
    out.print(
        f"Imported [bold]{dataset}[/] as of {when}: {result.rows:,} rows — "
        f"{result.added:,} added, {result.changed:,} changed, {result.closed:,} closed, "
        f"{result.unchanged:,} unchanged."
    )
    if result.role_guesses:
        t = RichTable("column", "role", "confidence", "why", title="Column roles (override with --role COL=ROLE)")
        for col, g in result.role_guesses.items():
            shown = result.roles.get(col, g.role)
            t.add_row(col, str(shown), f"{g.confidence:.0%}", g.reason if shown == g.role else "set by --role")
        out.print(t)


@registry_app.command("list")
def registry_list(as_json: JsonFlag = False) -> None:
    """Datasets in the registry with their snapshots and row counts."""
    from jejak.registry import Registry

    with Registry(_workspace().registry_path, read_only=True) as reg:
        infos = reg.datasets()
    if as_json:
        _print_json([i.to_json() for i in infos])
        return
    if not infos:
        out.print("The registry is empty. Import a snapshot with 'jejak registry import'.")
        return
    t = RichTable("dataset", "key", "rows", "versions", "snapshots", "newest")
    for i in infos:
        t.add_row(i.name, i.key, f"{i.rows:,}", f"{i.versions:,}", str(len(i.snapshots)), str(i.snapshots[-1]))
    out.print(t)


@registry_app.command("show")
def registry_show(name: str, as_json: JsonFlag = False) -> None:
    """One dataset: snapshots, row and version counts, column roles."""
    from jejak.registry import Registry

    with Registry(_workspace().registry_path, read_only=True) as reg:
        info = reg.dataset(name)
    if as_json:
        _print_json(info.to_json())
        return
    out.print(
        f"[bold]{info.name}[/] keyed by {info.key}: {info.rows:,} current rows, {info.versions:,} versions "
        f"in {len(info.snapshots)} snapshot(s): {', '.join(map(str, info.snapshots))}"
    )
    t = RichTable("column", "role")
    for c in info.columns:
        t.add_row(c, str(info.roles.get(c, "")))
    out.print(t)


@registry_app.command("history")
def registry_history(
    name: str,
    key: Annotated[str, typer.Argument(help="The row's key value.")],
    as_json: JsonFlag = False,
) -> None:
    """Every stored version of one row (prints personal data: the operator asked for it)."""
    from jejak.registry import Registry

    with Registry(_workspace().registry_path, read_only=True) as reg:
        versions = reg.history(name, key)
    if as_json:
        _print_json(versions)
        if not versions:
            raise typer.Exit(1)
        return
    if not versions:
        err.print(f"No row of {name} has that key.", highlight=False)
        raise typer.Exit(1)
    # One block per version, "column: value" lines: a table of 30 columns is unreadable in 80.
    for i, v in enumerate(versions, 1):
        valid = f"{v.get('_valid_from')} to {v.get('_valid_to') or 'now'}"
        out.print(f"[bold]version {i} of {len(versions)}[/]: valid {valid}", highlight=False)
        width = max(len(k) for k in v)
        for k, x in v.items():
            if k not in ("_valid_from", "_valid_to"):
                out.print(f"  {k:<{width}}  {'' if x is None else x}", highlight=False, soft_wrap=True)
        out.print()


# -- recipients ------------------------------------------------------------------------------------


@recipient_app.command("add")
def recipient_add(
    name: str,
    kind: Annotated[str, typer.Option(help="branch, vendor, hospital, ministry, researcher or other.")],
    contact: Annotated[str | None, typer.Option(help="Who to contact there (free text).")] = None,
    note: Annotated[str | None, typer.Option(help="A note for the ledger.")] = None,
) -> None:
    """Add a recipient to the ledger."""
    from jejak import audit
    from jejak.ledger import Ledger

    ws = _workspace()
    with Ledger.open(ws.ledger_url) as ledger:
        r = ledger.add_recipient(name, kind, contact=contact, note=note)
    # The contact and note may name a person: the audit keeps the organisation and its kind only.
    audit.record(ws, "recipient.add", r.name, {"kind": r.kind})
    out.print(f"Added recipient [bold]{r.name}[/] ({r.kind}).")


@recipient_app.command("list")
def recipient_list(as_json: JsonFlag = False) -> None:
    """Recipients in the ledger."""
    from jejak.ledger import Ledger

    with Ledger.open(_workspace().ledger_url) as ledger:
        items = ledger.recipients()
    if as_json:
        _print_json([r.__dict__ for r in items])
        return
    t = RichTable("name", "kind", "contact", "added")
    for r in items:
        t.add_row(r.name, r.kind, r.contact or "", r.created_at.strftime("%Y-%m-%d %H:%M"))
    out.print(t)


# -- releases --------------------------------------------------------------------------------------


def _release_json(rec: Any) -> dict[str, Any]:
    data = {k: v for k, v in rec.__dict__.items()}
    data["recipient"] = rec.recipient
    return data


@release_app.command("create")
def release_create(
    dataset: Annotated[str, typer.Option(help="Dataset to release from.")],
    recipient: Annotated[str, typer.Option(help="Recipient (see 'jejak recipient list').")],
    out_file: Annotated[Path, typer.Option("--out", help="File to write; never overwritten.")],
    columns: Annotated[str | None, typer.Option(help="Comma-separated columns (default: all).")] = None,
    where: Annotated[str | None, typer.Option(help="Row filter, e.g. \"KDKANTOR = '0901'\".")] = None,
    as_of: Annotated[str | None, typer.Option("--as-of", help="Registry date (default: newest snapshot).")] = None,
    purpose: Annotated[str, typer.Option(help="Why the recipient receives this data (required: the ledger "
                                         "records it).")] = "",
    fmt: Annotated[str | None, typer.Option("--format", help="csv, jsonl, parquet, xlsx (default: by --out).")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Release every row and column (needed when neither "
                                       "--columns nor --where is given).")] = False,
    memory_limit: MemoryOpt = None,
    as_json: JsonFlag = False,
) -> None:
    """Make a marked extract for a recipient and record it in the ledger."""
    from jejak import resources
    from jejak.release import ReleaseRequest, create_release

    resources.use_memory_limit(memory_limit)

    if not purpose.strip():
        raise JejakError("--purpose is required: the ledger records why the recipient receives the data")
    if not (columns or where or all_):
        # The whole registry is the costliest release to lose: it must be asked for, not defaulted to.
        raise JejakError("give --columns and/or --where, or --all to release every row and column")

    req = ReleaseRequest(
        dataset=dataset, recipient=recipient, out=out_file,
        columns=[c for c in columns.split(",") if c.strip()] if columns else None, where=where,
        as_of=_parse_date(as_of, "--as-of") if as_of else None, purpose=purpose, fmt=fmt,
    )
    ws = _workspace()
    with _steps(not as_json) as say:
        rec = create_release(ws, req, say)  # recorded in the ledger and the audit log together
    if as_json:
        _print_json(_release_json(rec))
        return
    marks = ", ".join(f"{k} {v:,}" for k, v in rec.channels.items()) or "none"
    out.print(
        f"Release [bold]{rec.release_id}[/] for {rec.recipient}: {rec.rows:,} rows "
        f"({rec.canaries} canaries) as of {rec.as_of} -> {out_file}\nMarks: {marks}"
    )


@release_app.command("list")
def release_list(
    dataset: Annotated[str | None, typer.Option(help="Only this dataset.")] = None,
    recipient: Annotated[str | None, typer.Option(help="Only this recipient.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Releases in the ledger, oldest first."""
    from jejak.ledger import Ledger

    with Ledger.open(_workspace().ledger_url) as ledger:
        items = ledger.releases(dataset=dataset, recipient=recipient)
    if as_json:
        _print_json([_release_json(r) for r in items])
        return
    if not items:
        out.print("No releases.")
        return
    # Plain lines, never a table: a table narrows columns to the terminal and cuts the release id,
    # which is what users copy.
    for r in items:
        out.print(f"{r.release_id}  {r.created_at:%Y-%m-%d %H:%M}  {r.kind:<10}  {r.dataset} as of {r.as_of}  "
                  f"{r.rows:,} rows  -> {r.recipient}", highlight=False, soft_wrap=True)


@release_app.command("show")
def release_show(release_id: str, as_json: JsonFlag = False) -> None:
    """One release: what was selected, how it was marked, and the file's hash."""
    from jejak.ledger import Ledger

    with Ledger.open(_workspace().ledger_url) as ledger:
        rec = ledger.release(release_id)
    if as_json:
        _print_json(_release_json(rec))
        return
    fields = ("release_id", "recipient", "dataset", "as_of", "registry_version", "rows", "canaries", "kind",
              "filter", "purpose", "operator", "created_at", "file_name", "file_format", "file_sha256")
    for k in fields:  # plain lines so no hash or id is ever cut to the terminal's width
        out.print(f"{k + ':':<17} {'' if getattr(rec, k) is None else getattr(rec, k)}", highlight=False,
                  soft_wrap=True)
    out.print(f"{'columns:':<17} {', '.join(rec.columns)}", highlight=False, soft_wrap=True)
    for k, v in (rec.channels or {}).items():
        out.print(f"{'marks ' + k + ':':<17} {v:,} cells", highlight=False, soft_wrap=True)


@release_app.command("reproduce")
def release_reproduce(
    release_id: str,
    out_file: Annotated[Path, typer.Option("--out", help="Where to write the regenerated file.")],
    as_json: JsonFlag = False,
) -> None:
    """Regenerate a release byte-for-byte from registry, ledger and master secret."""
    from jejak import audit
    from jejak.release import reproduce_release

    ws = _workspace()
    with _steps(not as_json) as say:
        rep = reproduce_release(ws, release_id, out_file, say)
    # A reproduction is a second copy of released data on disk: the audit says who made it.
    audit.record(ws, "release.reproduce", release_id,
                 {"file": rep.path.name, "sha256": rep.sha256, "identical": rep.identical})
    if as_json:
        _print_json(rep.__dict__)
    elif rep.identical:
        out.print(f"Reproduced {release_id} -> {rep.path}: identical to the original (sha256 {rep.sha256}).")
    else:
        out.print(f"[bold red]Reproduced {release_id} -> {rep.path}, but the hash differs from the ledger's.[/]")
    if not rep.identical:
        raise typer.Exit(1)


@release_app.command("register")
def release_register(
    dataset: Annotated[str, typer.Option(help="Dataset the extract came from.")],
    recipient: Annotated[str, typer.Option(help="Who received it.")],
    as_of: Annotated[str, typer.Option("--as-of", help="Registry date of the extract.")],
    columns: Annotated[str | None, typer.Option(help="Comma-separated columns it held (default: all).")] = None,
    where: Annotated[str | None, typer.Option(help="Row filter it used.")] = None,
    purpose: Annotated[str | None, typer.Option(help="Why it was given.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Record an extract made before jejak (no file, no marks) so attribution can still rank it."""
    from jejak.release import register_release

    ws = _workspace()
    rec = register_release(
        ws, dataset=dataset, recipient=recipient, as_of=_parse_date(as_of, "--as-of"),
        columns=[c for c in columns.split(",") if c.strip()] if columns else None, where=where, purpose=purpose,
    )
    if as_json:
        _print_json(_release_json(rec))
        return
    out.print(f"Registered {rec.release_id}: {rec.rows:,} rows of {rec.dataset} as of {rec.as_of} for {rec.recipient}.")


# -- audit log -------------------------------------------------------------------------------------


@audit_app.command("verify")
def audit_verify(
    public_key: Annotated[Path | None, typer.Option("--public-key", help="A copy of audit.pub kept outside the "
                                                    "workspace (default: the workspace's).")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Check the whole chain, every checkpoint's signature and the head; exit 1 naming the first bad entry."""
    from jejak import audit

    result = audit.verify(_workspace(), public_key)
    if as_json:
        _print_json(result.to_json())
    elif result.intact:
        out.print(result.message, highlight=False)
    else:
        err.print(f"[bold red]tampered:[/] {result.message}", highlight=False, soft_wrap=True)
    if not result.intact:
        raise typer.Exit(1)


@audit_app.command("list")
def audit_list(
    limit: Annotated[int | None, typer.Option(help="Only the newest N entries.", min=1)] = None,
    as_json: JsonFlag = False,
) -> None:
    """Entries of the audit log, oldest first."""
    from jejak import audit

    items = audit.entries(_workspace(), limit)
    if as_json:
        _print_json([e.to_json() for e in items])
        return
    if not items:
        out.print("The audit log is empty.")
        return
    for e in items:  # plain lines: ids and hashes are copied, never cut to the terminal's width
        detail = json.dumps(e.detail, sort_keys=True, separators=(",", ":")) if e.detail else ""
        out.print(f"{e.seq:>6}  {e.time:%Y-%m-%d %H:%M:%S}Z  {e.actor}  {e.action}  {e.target or '-'}  {detail}",
                  highlight=False, soft_wrap=True)


@audit_app.command("checkpoint")
def audit_checkpoint() -> None:
    """Sign the newest entry now (needs the master secret); verify then covers everything up to it."""
    from jejak import audit

    cp = audit.checkpoint(_workspace())
    out.print(f"Checkpoint signed at entry {cp.seq} (hash {cp.hash}).", highlight=False, soft_wrap=True)


# -- the service -----------------------------------------------------------------------------------


def _service_db(ws: Workspace) -> Any:
    from jejak.ledger import Ledger
    from jejak.service.db import Database

    return Database(Ledger.open(ws.ledger_url).engine)


@user_app.command("add")
def user_add(
    name: str,
    role: Annotated[str, typer.Option(help="requester, approver, investigator, auditor, admin or external.")],
) -> None:
    """Create an account; its password is printed once."""
    from jejak import audit
    from jejak.service import auth

    ws = _workspace()
    user, password = auth.add_user(_service_db(ws), name, role)
    audit.record(ws, "user.add", user.name, {"role": user.role})
    out.print(f"Account [bold]{user.name}[/] ({user.role}). Password, shown once: [bold]{password}[/]",
              highlight=False)


@user_app.command("reset")
def user_reset(name: str) -> None:
    """Give NAME a new password (printed once), lift a lock-out and end their sessions."""
    from jejak import audit
    from jejak.service import auth

    ws = _workspace()
    password = auth.reset_password(_service_db(ws), name)
    audit.record(ws, "user.reset", name)
    out.print(f"New password for [bold]{name}[/], shown once: [bold]{password}[/]", highlight=False)


def _demo_accounts(ws: Workspace) -> None:
    from jejak import audit
    from jejak.service import auth

    db = _service_db(ws)
    made = []
    for role in auth.ROLES:
        name = f"demo-{role}"
        if auth.user_by_name(db, name) is None:
            user, password = auth.add_user(db, name, role)
            audit.record(ws, "user.add", user.name, {"role": role})
            made.append((name, role, password))
    if not made:
        out.print("Demo accounts demo-<role> exist; their passwords were printed when they were made "
                  "('jejak user reset NAME' gives a new one).")
        return
    t = RichTable("account", "role", "password (shown once)", title="Demo accounts")
    for name, role, password in made:
        t.add_row(name, role, password)
    out.print(t)


@user_app.command("list")
def user_list(as_json: JsonFlag = False) -> None:
    """Accounts of the service."""
    from jejak.service import auth

    items = auth.list_users(_service_db(_workspace()))
    if as_json:
        _print_json([{k: v for k, v in u.items() if k != "id"} for u in items])
        return
    t = RichTable("name", "role", "state", "created")
    for u in items:
        t.add_row(str(u["name"]), str(u["role"]), "active" if u["active"] else "disabled",
                  f"{u['created_at']:%Y-%m-%d %H:%M}")
    out.print(t)


@user_app.command("token")
def user_token(
    name: str,
    label: Annotated[str, typer.Option(help="What the token is for.")] = "script",
    days: Annotated[int, typer.Option(help="Days until it expires.", min=1)] = 90,
) -> None:
    """Issue an API token for NAME (printed once; stored as a hash)."""
    from jejak import audit
    from jejak.service import auth

    ws = _workspace()
    db = _service_db(ws)
    user = auth.user_by_name(db, name)
    if user is None:
        raise JejakError(f"no account {name!r}")
    token = auth.new_token(db, user.id, label, days)
    audit.record(ws, "token.create", user.name, {"id": token.split("_")[1]})
    out.print(token, highlight=False, soft_wrap=True)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(help="Background jobs (releases, investigations) run at once.",
                                         min=1)] = 2,
    max_upload: Annotated[int, typer.Option(help="Largest leaked file accepted, in MiB.", min=1)] = 2048,
    demo_accounts: Annotated[bool, typer.Option("--demo-accounts", help="Create one account per role "
                                                "(demo-<role>) if missing and print their passwords once.")]
    = False,
) -> None:
    """Run the service: releases requested and approved, cases worked, in a browser."""
    import uvicorn

    from jejak.service.app import create_app
    from jejak.service.core import Service, Settings

    ws = _workspace()
    if demo_accounts:
        _demo_accounts(ws)
    service = Service(ws, Settings(workers=workers, max_upload=max_upload * 1024 * 1024))
    out.print(f"jejak serving {service.ws.home} on http://{host}:{port}/ (Ctrl-C to stop)", highlight=False)
    # No access log: a one-time download link carries its token in the path.
    uvicorn.run(create_app(service), host=host, port=port, log_level="warning", access_log=False, proxy_headers=True,
                server_header=False)


# -- synthetic data --------------------------------------------------------------------------------


@app.command()
def synth(
    out_dir: Annotated[Path, typer.Option("--out", help="Directory for the snapshot files.")],
    participants: Annotated[int, typer.Option(help="Number of BPJS-like participants.")] = 200_000,
    snapshots: Annotated[int, typer.Option(help="Number of dated snapshots with history.")] = 3,
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives identical files.")] = 0,
    start: Annotated[str, typer.Option(help="Date of the first snapshot.")] = "2025-01-01",
    interval_days: Annotated[int, typer.Option(help="Days between snapshots.")] = 182,
    fmt: Annotated[str, typer.Option("--format", help="csv or parquet.")] = "csv",
    patients: Annotated[bool, typer.Option(help="Also write Kemenkes-like patient visits.")] = True,
) -> None:
    """Generate realistic synthetic participants (and patients) as dated snapshots. No workspace needed."""
    from jejak.synth import generate

    with _bar(participants, "generating") as update:
        files = generate(
            out_dir, participants=participants, snapshots=snapshots, seed=seed,
            start=_parse_date(start, "--start"), interval_days=interval_days, fmt=fmt,
            patients=patients, progress=update,
        )
    t = RichTable("dataset", "as of", "rows", "file")
    for f in files:
        t.add_row(f.dataset, str(f.as_of), f"{f.rows:,}", str(f.path))
    out.print(t)


# -- report and notification pack (helper "report") ----------------------------------------------


LangOpt = Annotated[str, typer.Option("--lang", help="Language of the documents: id (Indonesian) or en.")]


@app.command()
def report(
    case: Annotated[str, typer.Argument(help="A case id in the workspace, or a verdict JSON file.")],
    out_file: Annotated[Path, typer.Option("--out", help="The HTML report to write.")],
    pdf: Annotated[Path | None, typer.Option("--pdf", help="Also print the report to this PDF (needs Chromium).")]
    = None,
    lang: LangOpt = "id",
) -> None:
    """Render the investigation report (one offline HTML file, optionally PDF) from a verdict."""
    from jejak.report import load_verdict, verdict_from

    if Path(case).suffix.lower() == ".json" or Path(case).is_file():
        verdict = load_verdict(Path(case))
    else:
        verdict = verdict_from(_workspace().cases_dir, case)[0]
    _write_report(verdict, out_file, pdf, lang)


def _write_report(verdict: dict[str, Any], html_out: Path, pdf: Path | None, lang: str) -> None:
    from jejak.report import render_pdf, write_html

    html_path = write_html(verdict, html_out, lang)
    out.print(f"Report: [bold]{html_path}[/]")
    if pdf is not None:
        with _steps() as say:
            say("printing the report to PDF with headless Chromium")
            out.print(f"PDF: [bold]{render_pdf(html_path, pdf)}[/]")


@app.command()
def notify(
    case: Annotated[str, typer.Argument(help="A case id in the workspace, or its verdict JSON file.")],
    discovered: Annotated[str, typer.Option(help="When the leak was discovered, e.g. 2026-11-23T08:00 (WIB "
                                            "unless an offset is given); the 3x24-hour deadline runs from it.")],
    out_dir: Annotated[Path | None, typer.Option("--out", help="New directory for the pack "
                                                 "(default: cases/<case>/notify).")] = None,
    controller: Annotated[str, typer.Option(help="The data controller's name, as the notices sign it.")]
    = "Pengendali Data",
    pdf: Annotated[bool | None, typer.Option("--pdf/--no-pdf", help="Print the authority notice to PDF "
                                             "(default: when Chromium is installed).", show_default=False)] = None,
    lang: LangOpt = "id",
    as_json: JsonFlag = False,
) -> None:
    """Prepare the UU PDP Art. 46 notification pack: authority notice, subject list, suspect summary."""
    from datetime import datetime

    from jejak.notify import WIB, deadline, prepare_pack, wib

    late = deadline(discovered).passed(datetime.now(WIB))  # a future discovery is refused by prepare_pack
    if late:  # said at once: the operator must not learn it after the pack is written
        err.print(f"[bold yellow]{late}[/]", highlight=False, soft_wrap=True)
    from jejak import audit
    from jejak.report import verdict_from

    ws = _workspace()
    with _steps(not as_json) as say:
        pack = prepare_pack(ws, case, discovered, out=out_dir, lang=lang, controller=controller,
                            pdf=pdf, say=say)
    audit.record(ws, "notify", str(verdict_from(ws.cases_dir, case)[0].get("case_id") or case), {
        "due": pack.deadline.due.isoformat(), "subjects": pack.counts.subjects, "review": pack.counts.review,
        "files": sorted(p.name for p in pack.files.values())})
    if as_json:
        _print_json({"directory": str(pack.directory), "due": pack.deadline.due.isoformat(),
                     "subjects": pack.counts.subjects, "by_channel": pack.counts.by_channel,
                     "review": pack.counts.review, "files": {k: str(v) for k, v in pack.files.items()}})
        return
    out.print(f"Notification pack: [bold]{pack.directory}[/]")
    out.print(f"Deadline (3x24 hours from discovery): [bold]{wib(pack.deadline.due, lang)}[/]")
    channels = ", ".join(f"{k} {v:,}" for k, v in sorted(pack.counts.by_channel.items())) or "none"
    out.print(f"{pack.counts.subjects:,} subjects ({channels}); {pack.counts.review:,} need review before sending "
              f"({pack.counts.deceased:,} deceased: letters to the heirs).")
    if pack.subjects_source != "subjects.parquet":
        out.print("[yellow]The case had no subject list: subjects were re-linked by identifiers only.[/]")


# -- demo ------------------------------------------------------------------------------------------


@app.command()
def demo(
    rows: Annotated[int, typer.Option(help="Synthetic participants in the demo registry.")] = 200_000,
    seed: Annotated[int, typer.Option(help="Random seed for the story.")] = 0,
    fresh: Annotated[bool, typer.Option(help="Delete an existing demo workspace first.")] = False,
    lang: LangOpt = "id",
) -> None:
    """Run the whole story on synthetic data in a new workspace (what `make demo` runs)."""
    from jejak.demo import run_demo
    from jejak.notify import plain
    from jejak.report import verdict_paragraph

    home = resolve_home(state.home)
    with _bar(rows, "generating") as update:
        where = {"stage": "starting", "done": 0, "total": 1}

        def progress(what: str, done: int, total: int) -> None:
            where.update(stage=what, done=done, total=total)
            update(what, done, total)

        def say(msg: str) -> None:
            update(msg, int(where["done"]), int(where["total"]))  # type: ignore[call-overload]

        result = run_demo(home, rows=rows, seed=seed, fresh=fresh, say=say, progress=progress, lang=lang)
    out.print(f"Workspace: [bold]{result.workspace.home}[/]")
    t = RichTable("dataset", "key", "rows now", "versions", "snapshots", title="The demo registry")
    for i in result.datasets:
        t.add_row(i.name, i.key, f"{i.rows:,}", f"{i.versions:,}", ", ".join(map(str, i.snapshots)))
    out.print(t)
    out.print(f"{result.recipients} recipients, {result.marked + result.registered} releases "
              f"({result.marked} marked, {result.registered} registered).")
    out.print(f"The leak that turned up: [bold]{result.leak}[/] (the story: made from release "
              f"{result.truth.get('release_id')} of {result.truth.get('recipient')}).")
    if result.verdict is not None:
        out.print("\n[bold]Verdict[/]")
        out.print(plain(verdict_paragraph(result.verdict, lang)), highlight=False)
        out.print(f"\nCase: {result.case_dir}")
        for path in result.reports:
            out.print(f"Report: [bold]{path}[/]")
        out.print(f"Notification pack: [bold]{result.notify_dir}[/]")
    for note in result.missing:
        out.print(f"[yellow]Not in this run:[/] {note}")


# -- investigate (verification, dating, impact, attribution of a leaked file) -----------------------


@app.command()
def investigate(
    file: Annotated[Path, typer.Argument(help="The leaked file (CSV/TSV, JSON, Parquet, XLSX, ...); never modified.")],
    dataset: Annotated[str | None, typer.Option(help="Registry dataset to compare with (default: best fit).")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Also write the verdict JSON to this file.")] = None,
    threshold: Annotated[float, typer.Option(help="False-accusation bound for naming a suspect.")] = 1e-6,
    report_out: Annotated[Path | None, typer.Option("--report", help="Also write the HTML report to this file.")]
    = None,
    pdf: Annotated[Path | None, typer.Option("--pdf", help="Also print the report to this PDF (needs Chromium).")]
    = None,
    lang: LangOpt = "id",
    memory_limit: MemoryOpt = None,
) -> None:
    """Is a leaked file ours, how much is genuine, when was it taken, who is hit, who leaked it."""
    from jejak import resources

    resources.use_memory_limit(memory_limit)
    from jejak.investigate import STAGES
    from jejak.investigate import investigate as run_investigation

    ws = _workspace()
    with _bar(len(STAGES), "investigating") as update:
        verdict = run_investigation(ws, file, dataset=dataset, threshold=threshold, progress=update)
    from jejak import audit

    audit.record(ws, "investigate", verdict.case_id, {
        "file": file.name, "sha256": verdict.evidence.sha256, "rows": verdict.evidence.rows,
        "dataset": verdict.dataset.name})
    data = verdict.to_json()
    if json_out is not None:
        json_out.write_text(json.dumps(data, indent=2, default=str) + "\n")
    out.print(f"[bold]Case {verdict.case_id}[/] ({verdict.case_dir})")
    for line in verdict.summary:
        out.print(f"  {line}", highlight=False)
    if report_out is not None or pdf is not None:
        _write_report(data, report_out or (verdict.case_dir or Path.cwd()) / f"report_{lang}.html", pdf, lang)


# -- eval: attribution under attack (owner: attribution) ------------------------------------------


@app.command("eval")
def eval_(
    work: Annotated[Path, typer.Option("--work", help="Scratch directory; an existing one is reused, with the "
                                       "sizes it was built with.")]
    = Path("jejak-eval"),
    participants: Annotated[int, typer.Option(help="Synthetic participants in the scratch registry.")] = 20_000,
    releases: Annotated[int, typer.Option(help="Releases in the ledger (3 leakers, the rest decoys).")] = 1_000,
    leaks: Annotated[int, typer.Option(help="Leaks per scenario whose outcomes are counted; every decoy scored "
                                            "against one is an innocent trial.")] = 200,
    seeds: Annotated[int, typer.Option(help="Leaks per size in the search; all must be attributed correctly.")] = 2,
    scenario: Annotated[list[str] | None, typer.Option(help="Only these scenarios (repeatable).")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Measure attribution under every attack of the threat model: rows needed (bound <= 1e-9), the
    outcome of each leak, and innocent accusations (at 1e-6).

    Runs in a scratch workspace of its own (never --home). Its default is ./jejak-eval, not the
    system's temporary directory: the synthetic registry and leaks are written owner-only where
    the user chose to work, and a second run reuses them.
    """
    from jejak.evaluation import OUTCOMES, evaluate

    base = work.expanduser().resolve()
    with _steps() as say:
        report = evaluate(base, participants=participants, releases=releases, leaks=leaks, seeds=seeds,
                          scenarios=scenario, say=say)
    if as_json:
        _print_json(report.to_json())
        return
    t = RichTable("attack", "rows needed", "outcomes", "dated",
                  title=f"Attribution under attack among {report.releases:,} releases ({report.participants:,} "
                        f"participants): rows needed at bound <= 1e-9, outcomes of {leaks} leaks of 100-3,000 rows")
    for r in report.rows:
        outcomes = ", ".join(f"{o} {r.outcomes[o]}" for o in OUTCOMES if r.outcomes.get(o))
        t.add_row(r.scenario, f"{r.rows_needed:,}" if r.rows_needed else "–", outcomes, f"{r.dated}/{r.leaks}")
    out.print(t)
    out.print(f"Innocent releases accused at 1e-6: [bold]{report.innocent_accused}[/] of "
              f"{report.innocent_trials:,} trials (lowest innocent log10 bound {report.innocent_min_log10_bound:.2f})")
    out.print("Uncorrected p-values of innocents, share with p <= a: "
              + ", ".join(f"a={a}: {v:.4f}" for a, v in report.calibration.items()))
    out.print(f"Extraction windows containing the extraction date: "
              f"[bold]{report.dating_contained:,}[/] of {report.dating_trials:,} leaks")
    out.print(f"Scratch workspace: {base}  ({report.seconds:.0f} s)")


INTERRUPTED = "interrupted, nothing changed"


def main() -> None:
    # Everything jejak writes may hold personal data: owner-only whatever the shell's umask.
    os.umask(0o077)
    signals.install()
    try:
        app()
    except JejakError as exc:
        if signals.received():  # an interrupted query, reported as a failed step
            _interrupted()
        err.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        raise SystemExit(2) from None
    except BaseException as exc:
        if signals.received() or signals.is_interruption(exc):
            _interrupted()
        message = _resource_error(exc)
        if message is None:
            raise
        remove_owned()
        err.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
        raise SystemExit(2) from None


def _resource_error(exc: BaseException) -> str | None:
    """One line for a run that ran out of disk or memory (every writer commits at its end, so nothing
    changed); None for anything else. DuckDB's own message names only its temporary file."""
    import duckdb

    text = str(exc)
    if isinstance(exc, duckdb.IOException | OSError) and "No space left on device" in text:
        return ("the disk holding the workspace is full (DuckDB spills what exceeds its memory limit there); "
                "free space, or allow more memory with --memory-limit; nothing changed")
    if isinstance(exc, duckdb.OutOfMemoryException | MemoryError):
        return ("out of memory; lower --memory-limit (DuckDB then spills to the workspace) or run on a machine "
                "with more memory; nothing changed")
    return None


def _interrupted() -> None:
    # Every writer commits at its very end (import in one transaction, a release's file renamed
    # inside the ledger transaction, a case renamed into place), so an interruption leaves the
    # workspace as it was; temporary folders are removed on the way out.
    remove_owned()
    signals.ignore_more()
    saved = signals.saved()
    err.print(f"interrupted after {', '.join(saved)} was saved; nothing else changed" if saved else INTERRUPTED,
              highlight=False)
    raise SystemExit(signals.exit_status()) from None


if __name__ == "__main__":
    main()
