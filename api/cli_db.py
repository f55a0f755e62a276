"""CLI verbs for the database's schema: `ctrlmap db upgrade`, `db current` and `db history` (the store also
upgrades itself when it opens; these let an operator do it and look first)."""

from __future__ import annotations

from contextlib import contextmanager

import typer

from api.console import console, context, emit_json, handle_errors

db_app = typer.Typer(help="The database's schema revisions (Alembic).", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(db_app, name="db")


@contextmanager
def _store():
    """The store opened without upgrading it (these verbs decide that), closed afterwards."""
    from rag.store import Store

    store = Store(context().settings, upgrade=False)
    try:
        yield store
    finally:
        store.dispose()


def _where(store) -> str:
    return store.engine.url.render_as_string(hide_password=True)


@db_app.command("upgrade")
@handle_errors
def upgrade(as_json: bool = typer.Option(False, "--json")) -> None:
    """Upgrade the database to the newest revision (a database made before migrations is stamped first)."""
    from rag import migrate

    with _store() as store:
        before = migrate.status(store.engine)
        applied = migrate.upgrade(store.engine, store.write_engine)
    if as_json:
        emit_json({"database": _where(store), "from": before.current, "legacy": before.legacy, "applied": applied,
                   "head": before.head})
        return
    if before.legacy:
        console.print(f"recognized a database made before migrations: stamped at revision {migrate.BASELINE}")
    if applied:
        console.print(f"applied {', '.join(applied)}; now at {before.head}")
    else:
        console.print(f"already at the newest revision {before.head}")


@db_app.command("current")
@handle_errors
def current(as_json: bool = typer.Option(False, "--json")) -> None:
    """Show the database's revision and the newest one this ctrlmap knows, without changing anything."""
    from rag import migrate

    with _store() as store:
        state = migrate.status(store.engine)
    if as_json:
        emit_json({"database": _where(store), "current": state.current, "head": state.head,
                   "legacy": state.legacy, "up_to_date": state.up_to_date})
        return
    console.print(f"database {_where(store)}", highlight=False)
    if state.legacy:
        console.print(f"made before migrations (no revision recorded): `ctrlmap db upgrade` stamps it at "
                      f"{migrate.BASELINE} and upgrades it to {state.head}")
    elif state.up_to_date:
        console.print(f"revision {state.current} (newest)")
    else:
        console.print(f"revision {state.current or 'none (empty)'}; newest is {state.head}: run `ctrlmap db "
                      f"upgrade` (the store also upgrades itself when it opens)")


@db_app.command("history")
@handle_errors
def history() -> None:
    """List the schema revisions, oldest first."""
    from rag import migrate

    for revision, message in migrate.history():
        console.print(f"{revision}  {message}", highlight=False)
