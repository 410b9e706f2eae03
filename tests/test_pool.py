"""PostgreSQL pools sized by settings, and `lumen serve` fitting workers x (pool + overflow) under the server's
max_connections (`serving.fit_pool`), checked on the PostgreSQL the suite starts."""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest
from sqlalchemy.pool import QueuePool

import cli
import serving
from agent.service import Lumen
from storage import Database
from storage.database import connection_limit
from tests.server_helpers import make_settings


def test_pools_that_fit_are_left_alone() -> None:
    assert serving.fit_pool(2, 30, 10, 97) == serving.PoolPlan(2, 30, 10)


def test_pools_past_the_server_limit_are_cut_per_worker_and_said() -> None:
    plan = serving.fit_pool(8, 30, 10, 97)  # 320 wanted, 92 to share
    assert (plan.workers, plan.pool_size, plan.max_overflow) == (8, 11, 0)
    assert plan.workers * (plan.pool_size + plan.max_overflow) <= 97 - serving.PG_HEADROOM
    assert plan.warning is not None and "320" in plan.warning and "97" in plan.warning
    # A little over: the overflow goes first, the pool that is kept open stays.
    plan = serving.fit_pool(2, 30, 10, 75)
    assert (plan.workers, plan.pool_size, plan.max_overflow) == (2, 30, 5)


def test_past_a_useful_pool_per_worker_fewer_workers_start() -> None:
    plan = serving.fit_pool(64, 30, 10, 97)  # 92 / 64 would leave one connection a worker
    assert plan.workers == 92 // serving.MIN_POOL_PER_WORKER
    assert plan.pool_size + plan.max_overflow >= serving.MIN_POOL_PER_WORKER
    assert plan.workers * (plan.pool_size + plan.max_overflow) <= 92
    assert plan.warning is not None and f"Starting {plan.workers} workers" in plan.warning
    tiny = serving.fit_pool(4, 30, 10, 3)  # a server with almost nothing to give still gets one worker
    assert (tiny.workers, tiny.pool_size, tiny.max_overflow) == (1, 1, 0)


async def test_the_server_limit_is_read_from_postgresql(database_url: str) -> None:
    limit = await connection_limit(database_url)
    if database_url.startswith("sqlite"):
        assert limit is None
        return
    assert limit is not None
    conn = await asyncpg.connect(database_url.replace("postgresql+asyncpg://", "postgresql://", 1))
    try:
        shown = int(await conn.fetchval("SHOW max_connections"))
        reserved = int(await conn.fetchval("SHOW superuser_reserved_connections"))
    finally:
        await conn.close()
    assert limit.max_connections == shown and limit.reserved >= reserved
    assert limit.available == shown - limit.reserved


async def test_the_pool_settings_reach_the_engine(postgres_url: str, tmp_path: Any) -> None:
    settings = make_settings(tmp_path).model_copy(
        update={"lumen_database_url": postgres_url, "lumen_db_pool_size": 3, "lumen_db_max_overflow": 2}
    )
    lumen = await Lumen.create(settings)
    try:
        pool = lumen.db.engine.sync_engine.pool
        assert isinstance(pool, QueuePool) and (pool.size(), pool._max_overflow) == (3, 2)
    finally:
        await lumen.close()
    async with Database(postgres_url, pool_size=7, max_overflow=0) as database:
        pool = database.engine.sync_engine.pool
        assert isinstance(pool, QueuePool) and (pool.size(), pool._max_overflow) == (7, 0)


def test_serve_fits_the_workers_pools_under_max_connections(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import uvicorn

    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: calls.append(kwargs))
    monkeypatch.setenv("LUMEN_DATABASE_URL", postgres_url)
    # The workers read the fitted pool from the environment: monkeypatch puts it back after the test.
    monkeypatch.setenv("LUMEN_DB_POOL_SIZE", "30")
    monkeypatch.setenv("LUMEN_DB_MAX_OVERFLOW", "10")
    assert cli.main(["serve", "--workers", "8"]) == 0  # 320 connections: more than the test server allows
    err = capsys.readouterr().err
    assert "max_connections" in err and "320" in err
    pool, overflow = int(cli.os.environ["LUMEN_DB_POOL_SIZE"]), int(cli.os.environ["LUMEN_DB_MAX_OVERFLOW"])
    assert calls[-1]["workers"] * (pool + overflow) < 320 and pool >= 1
    monkeypatch.setenv("LUMEN_DB_POOL_SIZE", "2")
    monkeypatch.setenv("LUMEN_DB_MAX_OVERFLOW", "1")
    assert cli.main(["serve", "--workers", "2"]) == 0  # 6: fits, nothing said, nothing changed
    assert capsys.readouterr().err == "" and calls[-1]["workers"] == 2
    assert (cli.os.environ["LUMEN_DB_POOL_SIZE"], cli.os.environ["LUMEN_DB_MAX_OVERFLOW"]) == ("2", "1")
