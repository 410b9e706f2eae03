"""The `lumen` command: `serve` the widget and API (server.py), `chat` with the service in a terminal, `sync` the order
mirror now, `eval` the scenarios (evals/). Imports happen inside each command, so `lumen --help` stays fast."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi import FastAPI

    from config import Settings

# `serve --store` for the workers, which build their app in processes of their own (see `app`).
SERVE_STORE_ENV = "LUMEN_SERVE_STORE"


def app() -> FastAPI:
    """One worker's app (uvicorn's factory): the settings from the environment, and the store `serve --store` named."""
    import server

    store = os.environ.get(SERVE_STORE_ENV)
    return server.create_app(store=Path(store) if store else None, freeze_heap=True)


def default_workers() -> int:
    return os.cpu_count() or 1


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    import serving
    from config import Settings
    from storage import is_memory_url

    # Workers read their settings from the environment: this command's options travel there too.
    for name, value in (("LUMEN_HOST", args.host), ("LUMEN_PORT", args.port)):
        if value is not None:
            os.environ[name] = str(value)
    if args.store:
        os.environ[SERVE_STORE_ENV] = str(Path(args.store).resolve())
    settings = Settings()
    workers = args.workers
    if workers > 1 and is_memory_url(settings.lumen_database_url):
        # Each worker would hold a database of its own, and a conversation would vanish when its next message
        # reached another worker.
        print("lumen: an in-memory database serves one worker only; starting one", file=sys.stderr)
        workers = 1
    workers = _fit_pool(settings, workers)
    # Failed lookups are rationed per client address: behind a reverse proxy, name it so the real address is used.
    uvicorn.run(
        "cli:app",
        factory=True,
        workers=workers,
        host=settings.lumen_host,
        port=settings.lumen_port,
        log_level="info",
        proxy_headers=True,
        forwarded_allow_ips=settings.lumen_forwarded_allow_ips,
        # No query strings in the access log, a header read timeout, a connection limit (see serving.py).
        **serving.uvicorn_options(args.max_connections),
    )
    return 0


def _fit_pool(settings: Settings, workers: int) -> int:
    """On PostgreSQL: workers x (pool + overflow) fitted under the server's max_connections (`serving.fit_pool`), the
    fitted pool passed to the workers through their environment; the workers to start."""
    import serving
    from storage.database import connection_limit

    try:
        limit = asyncio.run(connection_limit(settings.lumen_database_url))
    except Exception as exc:  # the server is down or refuses us: each worker will say so as it starts
        print(
            f"lumen: could not read PostgreSQL's max_connections ({type(exc).__name__}); pools unchecked",
            file=sys.stderr,
        )
        return workers
    if limit is None:
        return workers
    plan = serving.fit_pool(workers, settings.lumen_db_pool_size, settings.lumen_db_max_overflow, limit.available)
    if plan.warning:
        print(f"lumen: {plan.warning}", file=sys.stderr)
    os.environ["LUMEN_DB_POOL_SIZE"] = str(plan.pool_size)
    os.environ["LUMEN_DB_MAX_OVERFLOW"] = str(plan.max_overflow)
    return plan.workers


async def _chat(store: Path | None) -> int:
    from agent.service import Lumen
    from config import Settings

    settings = Settings()
    if "lumen_database_url" not in settings.model_fields_set:
        # A terminal chat keeps its conversation in memory unless a database is configured (environment or .env).
        settings = settings.model_copy(update={"lumen_database_url": "sqlite:///:memory:"})
    lumen = await Lumen.create(settings, store=store)
    shop_name = await lumen.shop_name() or "your store"
    persona = await lumen.persona()
    print(f"{persona.assistant_name} for {shop_name}: ask about an order (Ctrl-D to quit).")
    session_id: str | None = None
    try:
        while True:
            try:
                message = input("you> ").strip()
            except EOFError:
                print()
                return 0
            if not message:
                continue
            turn = await lumen.chat(message[:2000], session_id)
            session_id = turn.session_id
            print(f"{persona.assistant_name.lower()}> {turn.reply}")
    finally:
        await lumen.close()


async def _sync() -> int:
    """Backfill the order mirror now, from the configured Shopify store, and print what it holds."""
    from agent.service import Lumen
    from config import Settings

    lumen = await Lumen.create(Settings())
    try:
        try:
            result = await lumen.sync_orders()
        except ValueError as exc:
            print(f"lumen: {exc}", file=sys.stderr)
            return 2
        status = await lumen.order_sync_status()
    finally:
        await lumen.close()
    if result is None:
        print("lumen: another worker is syncing the orders now; try again when it is done", file=sys.stderr)
        return 1
    seconds = (result.finished_at - result.started_at).total_seconds()
    print(f"backfilled {result.orders} orders in {seconds:.1f}s ({result.skipped} unreadable skipped)")
    print(f"the mirror holds {status.orders} orders; state {status.state}; last sync {status.last_sync}")
    return 0


def _positive(text: str) -> int:
    number = int(text)
    if number < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return number


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="lumen", description="Lumen: 'Where is my order?' answers for Shopify.")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="serve the chat widget, demo page, admin page and API")
    serve.add_argument("--store", help="a store file (default: the demo store, or Shopify when configured)")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument(
        "--workers",
        type=_positive,
        default=default_workers(),
        help="worker processes, sharing everything through the database (default: this machine's cores, %(default)s)",
    )
    serve.add_argument("--max-connections", type=int, default=1000, help="open connections before 503 (default 1000)")

    chat = sub.add_parser("chat", help="chat with Lumen in this terminal")
    chat.add_argument("--store", help="a store file (default: the demo store, or Shopify when configured)")

    sub.add_parser("sync", help="backfill the order mirror from Shopify now and print the counts")
    sub.add_parser("eval", help="score Lumen against every documented scenario", add_help=False)

    args, rest = parser.parse_known_args(argv)
    if args.command == "eval":
        from evals.runner import main as eval_main

        return eval_main(rest)
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    if args.command == "serve":
        return _serve(args)
    if args.command == "sync":
        return asyncio.run(_sync())
    return asyncio.run(_chat(Path(args.store) if args.store else None))


if __name__ == "__main__":
    sys.exit(main())
