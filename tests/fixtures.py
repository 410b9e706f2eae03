"""Fixtures shared by several test modules: a settable clock, an in-memory database, the database of `database_url`
(SQLite and PostgreSQL), and the demo store served by the fake Shopify Admin API. Modules import the fixtures they use.
A module that names the database otherwise (`store`, `db`) aliases it: `def store(database: Database) -> Database`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta

import pytest

from evals.fakes.shopify_admin import FakeShopify
from shopify.store_file import DEMO_STORE
from storage import Database

T0 = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
TOKEN = "shpat_test"


class Clock:
    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def db(clock: Clock) -> AsyncIterator[Database]:
    database = Database("sqlite:///:memory:", clock=clock)
    await database.connect()
    yield database
    await database.close()


@pytest.fixture
async def database(database_url: str, clock: Clock) -> AsyncIterator[Database]:
    """The database of `database_url` (a fresh SQLite file, or PostgreSQL), connected, its time from `clock`."""
    async with Database(database_url, clock=clock) as connected:
        yield connected


@pytest.fixture(scope="module")
def demo_server() -> Iterator[FakeShopify]:
    # One server per module (starting and stopping uvicorn costs ~0.2 s); each test gets it reset.
    with FakeShopify(DEMO_STORE, token=TOKEN) as server:
        yield server


@pytest.fixture
def fake(demo_server: FakeShopify) -> FakeShopify:
    demo_server.reset()
    return demo_server
