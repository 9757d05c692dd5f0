"""`llmpulse lake`: export the store to a Parquet lake, verify a lake, load one back.

These open the store themselves: a ClickHouse server at any time, a chDB store only while
no server holds it (a running server exports with `serve --lake DEST`)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from llmpulse.cli.common import DEFAULT_DATA_DIR, DataDir, StoreUrl, console, fail, parse_duration
from llmpulse.costs.overrides import load_all as load_overrides
from llmpulse.events.normalize import Batch, Normalizer
from llmpulse.governance.retention import MAX_DAYS
from llmpulse.lake.backfill import Reprocess, backfill
from llmpulse.lake.destination import Destination, LakeError, S3Options
from llmpulse.lake.export import export
from llmpulse.lake.schema import BRONZE, LAYERS, SchemaMismatch
from llmpulse.lake.verify import verify
from llmpulse.pricing.dated import PriceRegistry
from llmpulse.pricing.prices import PriceBook, PriceFileError, load_price_file
from llmpulse.query.filters import QueryError, parse_time
from llmpulse.store import open_engine
from llmpulse.store.engine import Engine, StoreError
from llmpulse.store.migrate import migrate

lake_app = typer.Typer(
    help="A Parquet lake of the store's data: export, verify, backfill.", no_args_is_help=True
)
Endpoint = Annotated[
    str | None,
    typer.Option(
        "--s3-endpoint",
        envvar="AWS_ENDPOINT_URL",
        help="S3-compatible endpoint, e.g. http://127.0.0.1:9000 (default: AWS).",
    ),
]
AccessKey = Annotated[str | None, typer.Option("--s3-access-key", envvar="AWS_ACCESS_KEY_ID")]
SecretKey = Annotated[str | None, typer.Option("--s3-secret-key", envvar="AWS_SECRET_ACCESS_KEY")]
Since = Annotated[
    str | None, typer.Option("--from", help="ISO 8601 or relative (-7d): calls from then on.")
]
Until = Annotated[str | None, typer.Option("--to", help="ISO 8601 or relative: calls before.")]


def _store(store: str | None, data_dir: DataDir) -> Engine:
    url = store or f"chdb://{data_dir.expanduser() / 'store'}"
    try:
        engine = open_engine(url)
        migrate(engine)
    except StoreError as exc:
        hint = (
            " (is a server running on it? use `llmpulse serve --lake DEST` there)"
            if url.startswith("chdb://")
            else ""
        )
        raise fail(f"{exc}{hint}") from None
    return engine


def _dest(url: str, endpoint: str | None, access: str | None, secret: str | None) -> Destination:
    try:
        return Destination(url, S3Options(endpoint, access, secret))
    except LakeError as exc:
        raise fail(str(exc)) from None


def _ms(value: str | None, option: str) -> int | None:
    if value is None:
        return None
    try:
        return int(parse_time(value, option, datetime.now(UTC)).timestamp() * 1000)
    except QueryError as exc:
        raise typer.BadParameter(exc.message, param_hint=option) from None


@lake_app.command("export")
def export_command(
    dest: Annotated[str, typer.Argument(help="file://PATH, a folder, or s3://bucket/prefix.")],
    start: Since = None,
    to: Until = None,
    layer: Annotated[
        str, typer.Option(help="bronze, silver, gold, or all (comma-separated).")
    ] = "all",
    settle: Annotated[
        str, typer.Option(help="Leave calls stored in the last SETTLE to the next run.")
    ] = "30s",
    store: StoreUrl = None,
    data_dir: DataDir = DEFAULT_DATA_DIR,
    s3_endpoint: Endpoint = None,
    s3_access_key: AccessKey = None,
    s3_secret_key: SecretKey = None,
) -> None:
    """Export what reached the store since the last run (or, with --from/--to, a one-off
    copy of a range into an empty destination)."""
    layers = LAYERS if layer == "all" else tuple(x.strip() for x in layer.split(","))
    unknown = [x for x in layers if x not in LAYERS]
    if unknown:
        raise typer.BadParameter(f"unknown layer {unknown[0]!r}: use {', '.join(LAYERS)} or all",
                                 param_hint="--layer")  # fmt: skip
    settle_ms = int(parse_duration(settle, "--settle") * 1000)
    lake = _dest(dest, s3_endpoint, s3_access_key, s3_secret_key)
    engine = _store(store, data_dir)
    try:
        result = export(engine, lake, layers, _ms(start, "--from"), _ms(to, "--to"), settle_ms)
    except (LakeError, StoreError) as exc:
        raise fail(f"{exc}; the watermark was not advanced") from None
    finally:
        engine.close()
    if result.orphans_removed:
        console.print(f"removed {result.orphans_removed} files left by an unfinished run")
    if result.manifest is None:
        console.print("nothing new to export")
        return
    m = result.manifest
    table = Table("layer", "rows", "files")
    for name in m.layers:
        files = sum(1 for f in m.files if f.layer == name)
        table.add_row(name, f"{result.rows.get(name, 0):,}", f"{files:,}")
    console.print(table)
    until = datetime.fromtimestamp(m.watermark_to_ms / 1000, UTC).isoformat()
    console.print(f"run {m.run} committed; watermark {until}")


@lake_app.command("verify")
def verify_command(
    dest: Annotated[str, typer.Argument(help="The lake: file://PATH, a folder or s3://...")],
    against_store: Annotated[
        bool, typer.Option(help="Also compare silver's counts and sums with the store.")
    ] = True,
    store: StoreUrl = None,
    data_dir: DataDir = DEFAULT_DATA_DIR,
    s3_endpoint: Endpoint = None,
    s3_access_key: AccessKey = None,
    s3_secret_key: SecretKey = None,
) -> None:
    """Check every file against its manifest (and the store); exit 1 on any mismatch."""
    lake = _dest(dest, s3_endpoint, s3_access_key, s3_secret_key)
    engine = _store(store, data_dir) if against_store else None
    try:
        report = verify(lake, engine)
    except (LakeError, StoreError) as exc:
        raise fail(str(exc)) from None
    finally:
        if engine is not None:
            engine.close()
    summary = Table("runs", "files", *(f"{name} rows" for name in LAYERS), "orphans")
    counts = [f"{report.rows.get(n, 0):,}" for n in LAYERS]
    summary.add_row(str(report.runs), str(report.files), *counts, str(report.orphans))
    console.print(summary)
    if report.ok:
        console.print("[green]ok[/]: every file matches its manifest"
                      + (" and the store" if engine is not None else ""))  # fmt: skip
        return
    problems = Table("where", "check", "expected", "found", title="mismatches")
    for p in report.problems:
        problems.add_row(p.subject, p.check, p.expected, p.found)
    console.print(problems)
    raise typer.Exit(1)


@lake_app.command("backfill")
def backfill_command(
    src: Annotated[str, typer.Argument(help="The lake: file://PATH, a folder or s3://...")],
    start: Since = None,
    to: Until = None,
    layer: Annotated[
        str, typer.Option(help="silver (the calls as stored) or bronze (as received).")
    ] = "silver",
    reprocess: Annotated[
        bool,
        typer.Option(
            help="Bronze through the ingest path again: validated, normalized and priced "
            "at today's prices (the target store's overrides included).",
        ),
    ] = False,
    prices: Annotated[
        Path | None, typer.Option(help="A price file, as `serve --prices` takes.")
    ] = None,
    store: StoreUrl = None,
    data_dir: DataDir = DEFAULT_DATA_DIR,
    s3_endpoint: Endpoint = None,
    s3_access_key: AccessKey = None,
    s3_secret_key: SecretKey = None,
) -> None:
    """Load the lake's calls into the store; calls it has are skipped, erased users are
    never brought back."""
    if reprocess and layer != BRONZE:
        raise typer.BadParameter("--reprocess replays bronze: add --layer bronze",
                                 param_hint="--reprocess")  # fmt: skip
    lake = _dest(src, s3_endpoint, s3_access_key, s3_secret_key)
    engine = _store(store, data_dir)
    try:
        replay = _ingest_path(engine, prices) if reprocess else None
        result = backfill(engine, lake, _ms(start, "--from"), _ms(to, "--to"), layer, replay)
    except (LakeError, StoreError, SchemaMismatch, PriceFileError) as exc:
        raise fail(str(exc)) from None
    finally:
        engine.close()
    skipped = result.rows_read - result.rows_inserted - result.rows_erased - result.rows_invalid
    console.print(
        f"{result.rows_inserted:,} calls loaded from {result.files:,} files "
        f"({result.rows_read:,} read, {skipped:,} already stored, "
        f"{result.rows_erased:,} of erased users left out)"
    )
    if result.rows_invalid:
        console.print(f"[yellow]{result.rows_invalid:,} events refused:[/] "
                      + "; ".join(result.reasons))  # fmt: skip


def _ingest_path(engine: Engine, prices: Path | None) -> Reprocess:
    """The ingest path's Normalizer with the price file and the store's project overrides;
    no retention window (history is the point)."""
    normalizer = Normalizer(PriceBook(load_price_file(prices) if prices else None), MAX_DAYS)
    registry = PriceRegistry()
    load_overrides(engine, registry)

    def replay(events: list[dict[str, Any]], project: str, received_ms: int) -> Batch:
        return normalizer.batch(events, project, received_ms, registry.get(project))

    return replay
