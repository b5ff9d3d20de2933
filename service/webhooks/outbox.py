"""Where deliveries wait: one queue per webhook and deployment (``key``), so each goes
out in order, and only its head is ever in flight.

Alone, an SQLite file in WAL mode: a delivery is written before anyone is called, so a
process killed at any point finds it again at start-up (at least once). A fleet keeps the
same queues in its store (``service/fleet/outbox.py``). SQLite is called from one thread
of its own, never on the event loop.
"""

import asyncio
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

from service.settings import ConfigurationError
from service.webhooks.messages import Message

T = TypeVar("T")
# Delivered ids are kept this long, so a change seen again (a restart, another replica's
# feed) is not sent twice.
DELIVERED_KEPT_SECONDS = 7 * 86_400
MAX_ERROR = 500
# Dead letters kept, the oldest dropped past it: a receiver gone for good cannot grow them
# without bound.
MAX_DEAD_LETTERS = 10_000
MAX_REF_DIGITS = 18  # SQLite's integers are 64-bit


@dataclass(frozen=True, slots=True)
class Pending:
    """A queue's head, due now."""

    message: Message
    attempts: int
    ref: str
    """The backend's handle for it."""


@dataclass(frozen=True, slots=True)
class DeadLetter:
    ref: str
    webhook: str
    id: str
    key: str
    attempts: int
    last_error: str | None
    created: float
    died: float


class Outbox(Protocol):
    async def put(self, message: Message) -> bool:
        """Queues ``message``; False when its id was queued or delivered before."""

    async def due(self, now: float, limit: int, busy: set[str]) -> list[Pending]:
        """Heads of queues due by ``now``, none of the ``busy`` keys, none of a disabled
        webhook's."""

    async def delivered(self, pending: Pending, now: float) -> None: ...

    async def retry(self, pending: Pending, error: str, at: float) -> None: ...

    async def dead(self, pending: Pending, error: str, now: float) -> None: ...

    async def dead_letters(self, limit: int) -> list[DeadLetter]: ...

    async def resend(self, ref: str, now: float) -> bool:
        """A dead letter queued again, at once; False for no such dead letter."""

    async def disable(self, webhook: str, reason: str) -> None: ...

    async def enable(self, webhook: str) -> bool:
        """False when it was not disabled."""

    async def disabled(self) -> dict[str, str]:
        """Disabled webhooks and why."""

    async def counts(self) -> dict[str, tuple[int, int]]:
        """Each webhook's waiting and dead deliveries."""

    async def close(self) -> None: ...


SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    webhook TEXT NOT NULL,
    key TEXT NOT NULL,
    id TEXT NOT NULL,
    body BLOB NOT NULL,
    created REAL NOT NULL,
    state TEXT NOT NULL DEFAULT 'waiting',
    attempts INTEGER NOT NULL DEFAULT 0,
    next_at REAL NOT NULL,
    last_error TEXT,
    settled REAL,
    UNIQUE (webhook, id)
);
CREATE INDEX IF NOT EXISTS queues ON messages (state, webhook, key, seq);
CREATE TABLE IF NOT EXISTS disabled (webhook TEXT PRIMARY KEY, reason TEXT NOT NULL);
"""


def _connect(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        # In WAL mode NORMAL loses nothing to a killed process (the OS holds the writes);
        # only to the machine losing power before a checkpoint.
        db.execute("PRAGMA synchronous=NORMAL")
        db.executescript(SCHEMA)
    except sqlite3.Error:
        db.close()
        raise
    return db


class SqliteOutbox:
    def __init__(self, path: Path) -> None:
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="webhooks-db")
        self._db: sqlite3.Connection | None = None
        self._path = path

    async def open(self) -> "SqliteOutbox":
        await self._run(self._open)
        return self

    def _open(self) -> None:
        self._db = _connect(self._path)

    @staticmethod
    def check(path: Path) -> None:
        """At start-up, before serving: ``ConfigurationError`` in one line for a file
        that cannot be the outbox (no such directory, not SQLite, not writable)."""
        try:
            _connect(path).close()
        except sqlite3.Error as exc:
            raise ConfigurationError(f"GATEWAY_WEBHOOKS_DB ({path}): {exc}") from None

    async def _run(self, work: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._thread, work, *args)

    def _sql(self, statement: str, *args: Any) -> list[tuple[Any, ...]]:
        assert self._db is not None
        return self._db.execute(statement, args).fetchall()

    async def put(self, message: Message) -> bool:
        def put() -> bool:
            if self._sql("SELECT 1 FROM disabled WHERE webhook = ?", message.webhook):
                return False
            cursor = self._sql(
                "INSERT INTO messages (webhook, key, id, body, created, next_at) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING seq",
                message.webhook, message.key, message.id, message.body, message.created,
                message.created,
            )  # fmt: skip
            return bool(cursor)

        result: bool = await self._run(put)
        return result

    async def due(self, now: float, limit: int, busy: set[str]) -> list[Pending]:
        def due() -> list[Pending]:
            rows = self._sql(
                "SELECT m.seq, m.webhook, m.key, m.id, m.body, m.created, m.attempts "
                "FROM messages m WHERE m.state = 'waiting' AND m.next_at <= ? "
                "AND m.webhook NOT IN (SELECT webhook FROM disabled) "
                "AND m.seq = (SELECT MIN(seq) FROM messages WHERE state = 'waiting' "
                "AND webhook = m.webhook AND key = m.key) "
                "ORDER BY m.next_at LIMIT ?",
                now, limit + len(busy),
            )  # fmt: skip
            found = [
                Pending(Message(webhook, key, id_, body, created), attempts, str(seq))
                for seq, webhook, key, id_, body, created, attempts in rows
                if f"{webhook}\x1f{key}" not in busy
            ]
            return found[:limit]

        result: list[Pending] = await self._run(due)
        return result

    async def delivered(self, pending: Pending, now: float) -> None:
        def delivered() -> None:
            self._sql(
                "UPDATE messages SET state = 'delivered', body = x'', settled = ?, "
                "attempts = attempts + 1 WHERE seq = ?",
                now, int(pending.ref),
            )  # fmt: skip
            self._sql(
                "DELETE FROM messages WHERE state = 'delivered' AND settled < ?",
                now - DELIVERED_KEPT_SECONDS,
            )

        await self._run(delivered)

    async def retry(self, pending: Pending, error: str, at: float) -> None:
        await self._run(
            self._sql,
            "UPDATE messages SET attempts = attempts + 1, next_at = ?, last_error = ? "
            "WHERE seq = ?",
            at, error[:MAX_ERROR], int(pending.ref),
        )  # fmt: skip

    async def dead(self, pending: Pending, error: str, now: float) -> None:
        def dead() -> None:
            self._sql(
                "UPDATE messages SET state = 'dead', attempts = attempts + 1, last_error = ?, "
                "settled = ? WHERE seq = ?",
                error[:MAX_ERROR], now, int(pending.ref),
            )  # fmt: skip
            self._sql(
                "DELETE FROM messages WHERE seq IN (SELECT seq FROM messages "
                "WHERE state = 'dead' ORDER BY seq DESC LIMIT -1 OFFSET ?)",
                MAX_DEAD_LETTERS,
            )

        await self._run(dead)

    async def dead_letters(self, limit: int) -> list[DeadLetter]:
        rows = await self._run(
            self._sql,
            "SELECT seq, webhook, id, key, attempts, last_error, created, settled "
            "FROM messages WHERE state = 'dead' ORDER BY seq LIMIT ?",
            limit,
        )
        return [DeadLetter(str(row[0]), *row[1:]) for row in rows]

    async def resend(self, ref: str, now: float) -> bool:
        if not (ref.isascii() and ref.isdigit() and len(ref) <= MAX_REF_DIGITS):
            return False
        rows = await self._run(
            self._sql,
            "UPDATE messages SET state = 'waiting', attempts = 0, next_at = ?, settled = NULL "
            "WHERE seq = ? AND state = 'dead' RETURNING seq",
            now, int(ref),
        )  # fmt: skip
        return bool(rows)

    async def disable(self, webhook: str, reason: str) -> None:
        await self._run(
            self._sql,
            "INSERT INTO disabled VALUES (?, ?) ON CONFLICT DO UPDATE SET reason = excluded.reason",
            webhook, reason[:MAX_ERROR],
        )  # fmt: skip

    async def enable(self, webhook: str) -> bool:
        rows = await self._run(
            self._sql, "DELETE FROM disabled WHERE webhook = ? RETURNING webhook", webhook
        )
        return bool(rows)

    async def disabled(self) -> dict[str, str]:
        rows = await self._run(self._sql, "SELECT webhook, reason FROM disabled")
        return dict(rows)

    async def counts(self) -> dict[str, tuple[int, int]]:
        rows = await self._run(
            self._sql,
            "SELECT webhook, SUM(state = 'waiting'), SUM(state = 'dead') FROM messages "
            "WHERE state != 'delivered' GROUP BY webhook",
        )
        return {webhook: (waiting, dead) for webhook, waiting, dead in rows}

    async def close(self) -> None:
        def close() -> None:
            if self._db is not None:
                self._db.close()
                self._db = None

        await self._run(close)
        self._thread.shutdown(wait=True)
