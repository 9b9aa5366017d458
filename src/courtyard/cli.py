"""The ``courtyard`` command: serve, migrate, and operator administration."""

from __future__ import annotations

import asyncio
import getpass
import json
import os
import sys
from pathlib import Path

import typer
from pydantic import ValidationError
from rich.console import Console

from courtyard.accounts.model import OperatorRole
from courtyard.container import build_services
from courtyard.core.config import InsecureConfiguration, Settings
from courtyard.core.db import Database
from courtyard.core.errors import CourtyardError
from courtyard.core.migrate import SchemaOutOfDate, current_revision, ensure_schema
from courtyard.governance.audit import Verification
from courtyard.governance.store import verify_audit_log

app = typer.Typer(help="Courtyard: a self-hostable social platform.", no_args_is_help=True)
admin_app = typer.Typer(help="Operator accounts.", no_args_is_help=True)
app.add_typer(admin_app, name="admin")
policy_app = typer.Typer(
    help="Rule packs: check them and try them on events.", no_args_is_help=True
)
app.add_typer(policy_app, name="policy")
audit_app = typer.Typer(help="The audit log: check its hash chain.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")
transparency_app = typer.Typer(
    help="Transparency: the DSA statements export and the transparency report.",
    no_args_is_help=True,
)
app.add_typer(transparency_app, name="transparency")
console = Console()
err_console = Console(stderr=True)


def load_settings() -> Settings:
    """Settings from the environment, or a readable refusal (exit 2) instead of a traceback."""
    try:
        return Settings()
    except InsecureConfiguration as exc:
        err_console.print(f"[red]Refusing to start: {exc}[/red]", soft_wrap=True)
        raise typer.Exit(2) from exc
    except ValidationError as exc:
        err_console.print("[red]Invalid settings:[/red]")
        for error in exc.errors():
            name = "COURTYARD_" + "_".join(str(p) for p in error["loc"]).upper()
            err_console.print(f"  {name}: {error['msg']}", soft_wrap=True)
        raise typer.Exit(2) from exc


@app.command()
def serve(
    host: str | None = typer.Option(None, help="Address to bind (COURTYARD_HOST)."),
    port: int | None = typer.Option(None, help="Port to bind (COURTYARD_PORT)."),
) -> None:
    """Run the HTTP server."""
    import uvicorn

    from courtyard.app import create_app

    settings = load_settings()
    bind_host = host or settings.host
    bind_port = port if port is not None else settings.port
    application = create_app(settings, freeze_startup=True)
    shown = "localhost" if bind_host in {"127.0.0.1", "0.0.0.0", "::"} else bind_host  # noqa: S104
    if ":" in shown:
        shown = f"[{shown}]"  # an IPv6 address in a URL
    url = settings.public_url or f"http://{shown}:{bind_port}/"
    backend = "SQLite" if settings.is_sqlite else "PostgreSQL"
    # One unbroken line however narrow the terminal (or pipe), so scripts can read the URL.
    console.print(f"Courtyard is starting on {backend}: open [bold]{url}[/bold]", soft_wrap=True)
    uvicorn.run(
        application,
        host=bind_host,
        port=bind_port,
        log_level=os.environ.get("COURTYARD_LOG_LEVEL", "info"),
        proxy_headers=True,
        # The sans-I/O websockets implementation (the legacy one is deprecated upstream).
        ws="websockets-sansio",
        # Chat frames are small JSON: compressing each cost more CPU than it saved bytes
        # (7% of the server's time in bench/chat.py), and nginx or TLS sit in front anyway.
        ws_per_message_deflate=False,
        # The stream has its own heartbeat (JSON ping/pong, idle close after 75 s): uvicorn's
        # protocol pings on top were a second timer per socket for the same job.
        ws_ping_interval=None,
        ws_ping_timeout=None,
        forwarded_allow_ips=os.environ.get("COURTYARD_FORWARDED_ALLOW_IPS", "127.0.0.1"),
    )


@app.command()
def migrate() -> None:
    """Apply database migrations up to this version's head."""

    settings = load_settings()

    async def run() -> list[str]:
        db = Database(settings.database_url, sqlite_synchronous=settings.sqlite_synchronous)
        try:
            await ensure_schema(db, migrate=True)
            return await current_revision(db)
        finally:
            await db.dispose()

    try:
        revisions = asyncio.run(run())
    except CourtyardError as exc:
        err_console.print(f"[red]{exc.message}[/red]")
        raise typer.Exit(1) from exc
    console.print(f"Database is at revision {', '.join(revisions)}.")


@admin_app.command("create")
def admin_create(
    handle: str,
    role: OperatorRole = typer.Option(OperatorRole.ADMIN, help="admin or reviewer"),
    password_env: str = typer.Option(
        "COURTYARD_ADMIN_PASSWORD",
        help="Environment variable holding the password; prompted for when unset.",
    ),
) -> None:
    """Create an operator account, or grant the role to an existing account (its password is
    left as it is)."""
    password = os.environ.get(password_env)
    if password is None:
        if not sys.stdin.isatty():
            err_console.print(f"[red]Set {password_env} or run in a terminal to be prompted.[/red]")
            raise typer.Exit(2)
        password = getpass.getpass("Password: ")
        if getpass.getpass("Repeat: ") != password:
            err_console.print("[red]The passwords differ.[/red]")
            raise typer.Exit(2)

    settings = load_settings()

    async def run() -> str:
        async with build_services(settings) as services:
            account = await services.accounts.create_operator(handle, password, role)
            return f"{account.handle} ({account.id}) has roles: {', '.join(sorted(account.roles))}"

    try:
        console.print(asyncio.run(run()))
    except CourtyardError as exc:
        err_console.print(f"[red]{exc.code}: {exc.message}[/red]")
        raise typer.Exit(1) from exc


@policy_app.command("check")
def policy_check(
    packs: list[Path] = typer.Argument(..., help="Rule pack files (.toml)."),
) -> None:
    """Check packs as the server would load them: fields, signals, CEL types, examples."""
    from courtyard.governance.engine import CompiledPolicy
    from courtyard.governance.packs import PackError
    from courtyard.governance.policytest import load_pack_file

    failed = False
    for path in packs:
        try:
            pack = load_pack_file(path)
            compiled = CompiledPolicy([pack])
        except PackError as error:
            typer.echo(error.render(), err=True)
            failed = True
            continue
        except OSError as error:
            typer.echo(f"{path}: {error}", err=True)
            failed = True
            continue
        typer.echo(
            f"{path}: pack {pack.id} is valid ({len(compiled.rules)} rules, "
            f"{len(pack.signals)} lists, every example as expected)"
        )
    if failed:
        raise typer.Exit(2)


@policy_app.command("test")
def policy_test(
    pack: Path = typer.Argument(..., help="The rule pack file (.toml)."),
    events: Path = typer.Option(..., "--events", help="JSON Lines, one event per line."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    examples: int = typer.Option(3, help="Examples shown per rule."),
) -> None:
    """Print what each rule of PACK would do on the events in FILE (shadow rules included)."""
    from courtyard.governance.packs import PackError
    from courtyard.governance.policytest import EventsFileError, load_pack_file, render, run

    try:
        loaded = load_pack_file(pack)
        with events.open(encoding="utf-8") as lines:
            report = run(loaded, lines, examples_per_rule=examples)
    except PackError as error:
        typer.echo(error.render(), err=True)
        raise typer.Exit(2) from error
    except EventsFileError as error:
        typer.echo(f"{events}: {error}", err=True)
        raise typer.Exit(2) from error
    except OSError as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(2) from error
    if as_json:
        typer.echo(json.dumps(report.as_dict(), ensure_ascii=False, indent=2))
    else:
        typer.echo(render(report))


@audit_app.command("verify")
def audit_verify(
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Check the audit log's hash chain: exit 1 if an entry was edited, deleted or moved.

    Prints the head (seq and hash): record it elsewhere, as the chain alone cannot show a
    rewrite by someone able to recompute every hash.
    """
    settings = load_settings()

    async def run() -> Verification:
        db = Database(settings.database_url, sqlite_synchronous=settings.sqlite_synchronous)
        try:
            await ensure_schema(db, migrate=False)
            async with db.read() as conn:
                return await verify_audit_log(conn)
        finally:
            await db.dispose()

    try:
        result = asyncio.run(run())
    except (CourtyardError, SchemaOutOfDate) as exc:
        err_console.print(f"[red]{getattr(exc, 'message', exc)}[/red]")
        raise typer.Exit(2) from exc
    if as_json:
        typer.echo(json.dumps(result.as_dict(), indent=2))
    else:
        typer.echo(f"Checked {result.checked} audit entries.")
        if result.head is not None:
            typer.echo(f"Head: seq {result.head.seq}, hash {result.head.hash}")
        for problem in result.problems:
            typer.echo(f"  entry {problem.seq}: {problem.kind}: {problem.detail}")
        if result.more_problems:
            typer.echo("  (more problems not listed)")
        typer.echo("OK: the audit chain is intact." if result.ok else "TAMPERED: see above.")
    if not result.ok:
        raise typer.Exit(1)


@transparency_app.command("statements")
def transparency_statements(
    first: str = typer.Option(..., "--from", help="First day of the period, YYYY-MM-DD (UTC)."),
    last: str = typer.Option(..., "--to", help="Last day of the period, included."),
    out: Path = typer.Option(..., "--out", help="The JSON file to write."),
    puid_prefix: str | None = typer.Option(
        None, help="Prefix of every puid (default: the host of COURTYARD_PUBLIC_URL)."
    ),
) -> None:
    """Write the statements of reasons issued in the period as DSA Transparency Database
    submissions: each of the file's "batches" is one body for POST /api/v1/statements."""
    from courtyard.governance.transparency import (
        default_puid_prefix,
        export_document,
        parse_period,
        puid_for,
        to_dsa_statement,
    )
    from courtyard.governance.transparency_store import statement_rows

    settings = load_settings()
    prefix = puid_prefix if puid_prefix is not None else default_puid_prefix(settings.public_url)
    try:
        period = parse_period(first, last)
        puid_for("0", prefix)
    except (CourtyardError, ValueError) as exc:
        err_console.print(f"[red]{getattr(exc, 'message', exc)}[/red]")
        raise typer.Exit(2) from exc

    async def run() -> list[dict[str, object]]:
        db = Database(settings.database_url, sqlite_synchronous=settings.sqlite_synchronous)
        try:
            await ensure_schema(db, migrate=False)
            async with db.read() as conn:
                rows = await statement_rows(conn, period.start, period.end)
        finally:
            await db.dispose()
        return [to_dsa_statement(row, platform_puid_prefix=prefix) for row in rows]

    try:
        document = export_document(period, asyncio.run(run()))
        out.write_text(json.dumps(document, ensure_ascii=False, indent=2) + "\n", "utf-8")
    except (CourtyardError, SchemaOutOfDate, OSError) as exc:
        err_console.print(f"[red]{getattr(exc, 'message', exc)}[/red]")
        raise typer.Exit(1) from exc
    typer.echo(
        f"Wrote {document['count']} statements ({len(document['batches'])} request bodies of"
        f" at most 100) to {out}."
    )


@transparency_app.command("report")
def transparency_report(
    first: str = typer.Option(..., "--from", help="First day of the period, YYYY-MM-DD (UTC)."),
    last: str = typer.Option(..., "--to", help="Last day of the period, included."),
    out: Path = typer.Option(..., "--out", help="The directory to write into."),
) -> None:
    """Write the transparency report of the period: report.md, report.json and PNG charts."""
    from datetime import UTC, datetime

    from courtyard.governance.transparency import parse_period
    from courtyard.governance.transparency_report import build_report, write_report
    from courtyard.governance.transparency_store import ReportFigures, report_figures

    settings = load_settings()
    try:
        period = parse_period(first, last)
    except CourtyardError as exc:
        err_console.print(f"[red]{exc.message}[/red]")
        raise typer.Exit(2) from exc

    async def run() -> ReportFigures:
        db = Database(settings.database_url, sqlite_synchronous=settings.sqlite_synchronous)
        try:
            await ensure_schema(db, migrate=False)
            async with db.read() as conn:
                return await report_figures(conn, period.start, period.end)
        finally:
            await db.dispose()

    try:
        report = build_report(asyncio.run(run()), period, datetime.now(UTC))
        written = write_report(report, out)
    except (CourtyardError, SchemaOutOfDate, OSError) as exc:
        err_console.print(f"[red]{getattr(exc, 'message', exc)}[/red]")
        raise typer.Exit(1) from exc
    typer.echo(f"Wrote {len(written)} files to {out}: " + ", ".join(p.name for p in written))


def main() -> None:
    app()


if __name__ == "__main__":
    main()
