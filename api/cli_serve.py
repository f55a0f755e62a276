"""CLI verbs for the service: `ctrlmap serve` runs the API and web pages; `ctrlmap keys` manages API keys."""

from __future__ import annotations

import os
from typing import Optional

import typer

from api.console import actor, console, context, emit_json, handle_errors, table

keys_app = typer.Typer(help="API keys for the service (roles viewer, reviewer, admin).", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
    app.add_typer(keys_app, name="keys")


@handle_errors
def serve(host: Optional[str] = typer.Option(None, help="Address to listen on [default: 127.0.0.1]."),
          port: Optional[int] = typer.Option(None, help="Port [default: 8000]."),
          log_level: str = typer.Option("info", help="uvicorn log level."),
          workers: int = typer.Option(0, min=0, help="Run background jobs in N `ctrlmap worker` processes "
                                      "[default: 0, on a thread of this process]."),
          processes: int = typer.Option(1, min=1, help="API processes sharing the port.")) -> None:
    """Run the API (OpenAPI at /openapi.json) and the reviewer's web pages."""
    import uvicorn

    from api.app import create_app
    from api.cli_scale import serve_in_processes, spawn_workers
    from api.processes import server_checkpoint_seconds, tune_for_serving
    from rag.audit_key import load_key
    from rag.index import require_shared_index

    ctx = context()
    host, port = host or ctx.settings.host, port or ctx.settings.port
    key = load_key(ctx.settings)  # fail now, not at the first decision, when the audit key is unusable
    if workers or processes > 1:
        require_shared_index(ctx.settings)
    app = create_app(ctx=ctx, worker=not workers, checkpoint_seconds=server_checkpoint_seconds(ctx.settings)) \
        if processes == 1 else None
    spawned = spawn_workers(workers)
    if host not in ("127.0.0.1", "localhost", "::1"):
        console.print(f"[yellow]listening on {host}[/]: put TLS in front of it; keys travel in every request")
    console.print(f"ctrlmap on [bold]http://{host}:{port}/[/] (data in {ctx.settings.data_dir.resolve()}; audit "
                  f"chain key {key.key_id} from {key.source})", highlight=False)
    try:
        if app is None:
            serve_in_processes(processes, not workers, host=host, port=port, log_level=log_level)
        else:
            tune_for_serving()
            uvicorn.run(app, host=host, port=port, log_level=log_level)
    finally:
        for process in spawned:
            process.terminate()


@keys_app.command("create")
@handle_errors
def keys_create(role: str = typer.Option(..., help="viewer, reviewer or admin."),
                workspace: Optional[str] = typer.Option(None, "--workspace", help="Bind the key to this workspace "
                                                        "(created if missing); omit for every workspace."),
                name: Optional[str] = typer.Option(None, help="The person who holds the key, recorded as the "
                                                   "actor of their decisions [default: $CTRLMAP_ACTOR]."),
                as_json: bool = typer.Option(False, "--json")) -> None:
    """Create an API key and print it (shown once; only a salted hash is stored)."""
    from rag.auth import create_key, parse_role

    ctx = context()
    if workspace:
        ctx.workspace(workspace, create=True)
    holder = name or os.environ.get("CTRLMAP_ACTOR", "")
    key, info = create_key(ctx, parse_role(role), workspace, holder, actor=actor(None))
    if as_json:
        emit_json({"key": key, **info.__dict__, "role": info.role.value})
        return
    console.print(key, soft_wrap=True, highlight=False)
    console.print(f"[dim]{info.role.value} key {info.prefix} of {info.name} for {workspace or 'all workspaces'}; "
                  f"send it as 'Authorization: Bearer <key>'. It is not shown again.[/]", highlight=False)


@keys_app.command("list")
@handle_errors
def keys_list(as_json: bool = typer.Option(False, "--json")) -> None:
    """Keys with their role and workspace (never the keys themselves)."""
    from rag.auth import list_keys

    rows = [{**k.__dict__, "role": k.role.value, "workspace": k.workspace or "(all)"} for k in list_keys(context())]
    emit_json(rows) if as_json else console.print(table("API keys", rows, ["id", "prefix", "role", "workspace",
                                                                          "name", "created_at", "revoked"]))


@keys_app.command("revoke")
@handle_errors
def keys_revoke(key_id: int) -> None:
    """Revoke a key; requests with it are refused from now on."""
    from rag.auth import revoke_key

    info = revoke_key(context(), key_id, actor(None))
    console.print(f"key {info.prefix} revoked")
