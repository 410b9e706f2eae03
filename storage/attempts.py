"""Rationed attempts (failed order lookups and the like), counted by what they aimed at across conversations.

`reserve_attempts` is the one way to spend an attempt: one INSERT records an attempt on every key only if every key
has room in its window, and reservations on a key happen one after another (see `_lock`), on one worker or many: a
hundred simultaneous ones on a key with room for ten get exactly ten.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from functools import lru_cache, partial
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.database import Engine, Prepared, Statements, UTCDateTime
from storage.schema import attempts

# No limit looks further back than this: older rows are deleted, as failures are recorded and every PRUNE_EVERY.
KEPT_FOR = timedelta(days=1)
PRUNE_EVERY = timedelta(minutes=10)


class Allowance(NamedTuple):
    """At most `limit` attempts on a key within the last `window`."""

    limit: int
    window: timedelta


def _lock_id(key: str) -> int:
    """A key's PostgreSQL advisory lock: 64 bits of its hash (a collision only makes two keys wait for each other)."""
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big", signed=True)


class AttemptStore(Engine):
    _pruned_at: datetime | None = None

    async def record_attempts(self, keys: list[str]) -> list[int]:
        """Count one attempt against every key, whatever the limits; the new rows' ids."""
        if not keys:
            return []
        now = self.clock()
        async with self.begin() as conn:
            ids = await self._insert_attempts(conn, keys, now)
            # Rows a day old are outside every window: drop them here, on the rare failed attempt, not on every check.
            await conn.execute(sa.delete(attempts).where(attempts.c.at < now - KEPT_FOR))
        return ids

    async def count_attempts(self, keys: list[str], *, since: datetime) -> dict[str, int]:
        if not keys:
            return {}
        async with self.read() as conn:
            return await _count(conn, dict.fromkeys(keys, since))

    async def reserve_attempts(self, allowances: Mapping[str, Allowance]) -> list[int] | None:
        """Spend one attempt on every key if each has room in its window: the new rows' ids; None (nothing spent)
        when any key is used up. Settle the reservation with `settle_attempts` once its outcome is known."""
        if not allowances:
            return []
        now = self.clock()
        await self._prune(now)
        async with self.writing() as tx:
            await self._lock(tx, list(allowances))
            ids = [int(i) for i in (await tx.run(*self._reserve(allowances, now))).scalars()]
        return ids or None

    async def decide_attempt(self, allowances: Mapping[str, Allowance], *, spent: bool) -> bool:
        """An attempt whose outcome is known: True if every key had room, and then it counts if `spent`.

        One write transaction, holding the keys as `reserve_attempts` does, and one statement either way, so both cost
        the same: a failure is `reserve_attempts`'s INSERT (its rows count from now on: nothing to settle), a proof
        asks the same question of the same rows without writing (whether any key is used up), since a proof's attempt
        would be taken back before anyone could see it. Holding the keys, the answer is the one a reservation would
        have had.
        """
        return (await self.decide_attempts([allowances], spent=spent))[0]

    async def decide_attempts(self, decisions: Sequence[Mapping[str, Allowance]], *, spent: bool) -> list[bool]:
        """`decide_attempt` for each of `decisions` in turn, all in one write transaction: one commit a lookup, not one
        a decision. The first refused ends it (the ones after it are not decided); the answers of those decided.

        Every key of every decision is held from the start (in one order, so never a deadlock): each decision's
        answer is the one `decide_attempt` would have given on its own at that moment.
        """
        answers: list[bool] = []
        if not any(decisions):
            return [True] * len(decisions)
        now = self.clock()
        await self._prune(now)
        async with self.writing() as tx:
            await self._lock(tx, [key for allowances in decisions for key in allowances])
            if _disjoint(decisions):
                return await self._decide_together(tx, decisions, now, spent=spent)
            for allowances in decisions:
                answers.append(await self._decide(tx, allowances, now, spent=spent))
                if not answers[-1]:
                    break
        return answers

    async def _decide_together(
        self, tx: Statements, decisions: Sequence[Mapping[str, Allowance]], now: datetime, *, spent: bool
    ) -> list[bool]:
        """`_decide` for each decision in turn, in one statement (one round trip, not one a decision), when no key is
        in two decisions (a lookup's guess keys and its order's wrong-proofs key): the same answers and rows.

        A decision is answered yes when none of its keys, nor of the decisions before it, is used up: in turn, a
        decision runs only after those before it said yes, and (keys apart) what they inserted cannot fill its keys.
        One statement reads the rows as they were before it, as the decisions before it read them. Spent, it inserts
        the rows of the decisions answered yes (the keys it returns tell which); not spent, it only reads.
        """
        asked = [allowances for allowances in decisions if allowances]
        shape = tuple(len(allowances) for allowances in asked)
        params: dict[str, Any] = {"now": now}
        for j, allowances in enumerate(asked):
            params |= _params(allowances, now, prefix=f"d{j}_")
        if spent:
            prepared = self.prepared(f"attempts_reserve_each:{shape}", partial(_reserve_each_statement, shape))
            inserted = {row[1] for row in (await tx.run(prepared, params)).rows}
            said = [next(iter(allowances)) in inserted for allowances in asked]
        else:
            prepared = self.prepared(f"attempts_used_up_each:{shape}", partial(_used_up_each_statement, shape))
            said = [not used for used in (await tx.run(prepared, params)).rows[0]]
        answers: list[bool] = []
        told = iter(said)
        for allowances in decisions:
            answers.append(next(told) if allowances else True)
            if not answers[-1]:
                break
        return answers

    async def _decide(self, tx: Statements, allowances: Mapping[str, Allowance], now: datetime, *, spent: bool) -> bool:
        if not allowances:
            return True
        if spent:
            return bool((await tx.run(*self._reserve(allowances, now))).rows)
        used_up = self.prepared(f"attempts_used_up_exists:{len(allowances)}", _exists_builder(len(allowances)))
        return not (await tx.run(used_up, _params(allowances, now))).rows[0][0]

    async def used_up(self, allowances: Mapping[str, Allowance]) -> bool:
        """Whether any key has its limit of attempts in its window (a plain read: `reserve_attempts` decides)."""
        if not allowances:
            return False
        used_up = self.prepared(f"attempts_used_up_exists:{len(allowances)}", _exists_builder(len(allowances)))
        return bool((await self.read_one(used_up, _params(allowances, self.clock()))).rows[0][0])

    async def used_up_keys(self, allowances: Mapping[str, Allowance]) -> frozenset[str]:
        """The keys that have their limit of attempts in their window: `used_up`'s read, saying which."""
        if not allowances:
            return frozenset()
        statement, params = _used_up(allowances, self.clock())
        async with self.read() as conn:
            return frozenset(str(key) for key in (await conn.execute(statement, params)).scalars())

    async def settle_attempts(self, ids: list[int], *, spent: bool) -> None:
        """End a reservation: a spent attempt counts from now on, one not spent (a proof that held) is taken back.

        Either way it is one statement on the same rows, so settling costs the same whatever the outcome.
        """
        if not ids:
            return
        async with self.begin() as conn:
            await conn.execute(*_settle(ids, spent=spent, now=self.clock()))

    async def _prune(self, now: datetime) -> None:
        """Drop every row older than any window, at most every PRUNE_EVERY (keys never tried again included)."""
        if self._pruned_at is not None and now - self._pruned_at < PRUNE_EVERY:
            return
        self._pruned_at = now
        async with self.begin() as conn:
            await conn.execute(sa.delete(attempts).where(attempts.c.at < now - KEPT_FOR))

    def _reserve(self, allowances: Mapping[str, Allowance], now: datetime) -> tuple[Prepared, dict[str, Any]]:
        """One statement: a row per key, inserted only if no key already has its limit of attempts in its window.

        INSERT INTO attempts (key, at) SELECT k, :now FROM (SELECT :k1 UNION ALL ...) WHERE NOT EXISTS (
            SELECT key FROM attempts WHERE (key = :k1 AND at >= :since1) OR ... GROUP BY key HAVING count(*) >= limit)
        """
        n = len(allowances)
        return self.prepared(f"attempts_reserve:{n}", lambda: _reserve_statement(n)), _params(allowances, now)

    async def _lock(self, tx: Statements, keys: list[str]) -> None:
        """Hold the keys until this transaction ends, so reservations on a key happen one after another.

        PostgreSQL runs concurrent statements on snapshots: a transaction-scoped advisory lock per key (taken in one
        order, so never a deadlock) makes the next reserver of a key wait, and its statement then sees this attempt.
        SQLite runs one writing transaction at a time (BEGIN IMMEDIATE), which is all `_reserve` needs.
        """
        if tx.dialect_name == "postgresql":
            lock = self.prepared(
                "attempts_lock", lambda: sa.select(sa.func.pg_advisory_xact_lock(sa.bindparam("p_lock")))
            )
            for lock_id in sorted({_lock_id(key) for key in keys}):
                await tx.run(lock, {"p_lock": lock_id})

    @staticmethod
    async def _insert_attempts(conn: AsyncConnection, keys: list[str], now: datetime) -> list[int]:
        inserted = await conn.execute(
            sa.insert(attempts).values([{"key": key, "at": now} for key in keys]).returning(attempts.c.id)
        )
        return [int(i) for i in inserted.scalars().all()]


# The hot statements are built once per number of keys, with bind parameters for the keys, windows and limits:
# SQLAlchemy finds a statement's compiled form by walking the statement, which for a statement built anew costs more
# than SQLite takes to run it; a statement object reused is walked once (its cache key is memoized).


@lru_cache(maxsize=16)
def _reserve_statement(n: int) -> sa.Insert:
    wanted = sa.union_all(*[sa.select(sa.bindparam(f"k{i}", type_=sa.Text).label("key")) for i in range(n)])
    rows = sa.select(wanted.subquery("wanted").c.key, sa.bindparam("now", type_=UTCDateTime).label("at")).where(
        ~sa.exists(_used_up_statement(n))
    )
    return sa.insert(attempts).from_select(["key", "at"], rows).returning(attempts.c.id)


def _disjoint(decisions: Sequence[Mapping[str, Allowance]]) -> bool:
    """Whether no key is in two of the decisions (then `_decide_together` decides them in one statement)."""
    return sum(map(len, decisions)) == len({key for allowances in decisions for key in allowances})


@lru_cache(maxsize=16)
def _reserve_each_statement(shape: tuple[int, ...]) -> sa.Insert:
    """`_reserve_statement` for decisions of `shape` keys each, in turn: a decision's rows are inserted only if no key
    of it or of the decisions before it is used up (the parameters of `_params` with prefixes d0_, d1_, ...)."""
    rows = []
    for j, n in enumerate(shape):
        wanted = sa.union_all(
            *[sa.select(sa.bindparam(f"d{j}_k{i}", type_=sa.Text).label("key")) for i in range(n)]
        ).subquery(f"wanted{j}")
        room = [~sa.exists(_used_up_statement(m, f"d{h}_")) for h, m in enumerate(shape[: j + 1])]
        rows.append(sa.select(wanted.c.key, sa.bindparam("now", type_=UTCDateTime).label("at")).where(*room))
    chosen = sa.union_all(*rows) if len(rows) > 1 else rows[0]
    return sa.insert(attempts).from_select(["key", "at"], chosen).returning(attempts.c.id, attempts.c.key)


@lru_cache(maxsize=16)
def _used_up_each_statement(shape: tuple[int, ...]) -> sa.Select[*tuple[Any, ...]]:
    """For decisions of `shape` keys each: whether any key of each is used up, one column a decision."""
    return sa.select(*[sa.exists(_used_up_statement(n, f"d{j}_")).label(f"used{j}") for j, n in enumerate(shape)])


def _exists_builder(n: int) -> Callable[[], sa.Select[tuple[bool]]]:
    """Whether any of `n` keys has its limit of attempts in its window (the parameters of `_params`)."""
    return lambda: sa.select(sa.exists(_used_up_statement(n)))


def _settle(ids: list[int], *, spent: bool, now: datetime) -> tuple[sa.Update | sa.Delete, dict[str, Any]]:
    """A spent attempt counts from `now`; one not spent is deleted: one statement on the same rows either way."""
    return (_SPEND, {"ids": ids, "now": now}) if spent else (_TAKE_BACK, {"ids": ids})


_SETTLED = attempts.c.id.in_(sa.bindparam("ids", expanding=True))
_SPEND = sa.update(attempts).where(_SETTLED).values(at=sa.bindparam("now", type_=UTCDateTime))
_TAKE_BACK = sa.delete(attempts).where(_SETTLED)


def _used_up(allowances: Mapping[str, Allowance], now: datetime) -> tuple[sa.Select[tuple[str]], dict[str, Any]]:
    """The keys that already have their limit of attempts in their window."""
    return _used_up_statement(len(allowances)), _params(allowances, now)


@lru_cache(maxsize=16)
def _used_up_statement(n: int, prefix: str = "") -> sa.Select[tuple[str]]:
    key, at = attempts.c.key, attempts.c.at
    in_window = sa.or_(
        *[sa.and_(key == sa.bindparam(f"{prefix}k{i}"), at >= sa.bindparam(f"{prefix}since{i}")) for i in range(n)]
    )
    limit = sa.case(
        *[(key == sa.bindparam(f"{prefix}k{i}"), sa.bindparam(f"{prefix}limit{i}", type_=sa.Integer)) for i in range(n)]
    )
    return sa.select(key).where(in_window).group_by(key).having(sa.func.count() >= limit)


def _params(allowances: Mapping[str, Allowance], now: datetime, prefix: str = "") -> dict[str, Any]:
    """The bind parameters of `_reserve` and `_used_up`: the keys in order, each with its window's start and limit."""
    params: dict[str, Any] = {"now": now}
    for (k, since, limit), key in zip(_param_names(len(allowances), prefix), sorted(allowances), strict=True):
        allowance = allowances[key]
        params[k], params[since], params[limit] = key, now - allowance.window, allowance.limit
    return params


@lru_cache(maxsize=16)
def _param_names(n: int, prefix: str = "") -> tuple[tuple[str, str, str], ...]:
    """The names of `_params` for `n` keys, written once (a turn binds some ten keys in three statements)."""
    return tuple((f"{prefix}k{i}", f"{prefix}since{i}", f"{prefix}limit{i}") for i in range(n))


async def _count(conn: AsyncConnection, starts: Mapping[str, datetime]) -> dict[str, int]:
    """Attempts per key since its start."""
    in_window = sa.or_(*[sa.and_(attempts.c.key == key, attempts.c.at >= start) for key, start in starts.items()])
    stmt = sa.select(attempts.c.key, sa.func.count()).where(in_window).group_by(attempts.c.key)
    counted = {key: count for key, count in (await conn.execute(stmt)).all()}
    return {key: int(counted.get(key, 0)) for key in starts}
