"""Users and revoked tokens, in the data directory's accounts database (DuckDB).

A user's paper account in the engine is named by the user's id, so the engine's events
name their owner. Emails are kept lower-case and unique. Only argon2 hashes of
passwords are stored.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass

import duckdb

DDL = """
CREATE TABLE IF NOT EXISTS users (
    id            VARCHAR PRIMARY KEY,
    email         VARCHAR NOT NULL UNIQUE,
    name          VARCHAR NOT NULL,
    password_hash VARCHAR NOT NULL,
    created_us    BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS revoked_tokens (
    jti  VARCHAR PRIMARY KEY,
    exp  BIGINT NOT NULL
);
"""


@dataclass(frozen=True, slots=True)
class User:
    id: str
    email: str
    name: str
    password_hash: str

    def public(self) -> dict[str, str]:
        return {"id": self.id, "email": self.email, "name": self.name}


class EmailTaken(ValueError):
    """The email belongs to another user already."""


class Users:
    """The users table; safe from any thread (each call uses its own cursor)."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self._con = con
        cur = con.cursor()
        cur.execute(DDL)
        cur.close()
        self._by_id: dict[str, User] = {}
        self._lock = threading.Lock()

    def _query(self, sql: str, params: list[object]) -> list[tuple[object, ...]]:
        cur = self._con.cursor()
        try:
            return cur.execute(sql, params).fetchall()
        finally:
            cur.close()

    @staticmethod
    def new_id() -> str:
        return str(uuid.uuid4())

    def add(self, user_id: str, email: str, name: str, password_hash: str) -> User:
        """Store a new user; raises EmailTaken if the email is in use."""
        user = User(user_id, email.lower(), name, password_hash)
        with self._lock:
            if self.by_email(user.email) is not None:
                raise EmailTaken(user.email)
            try:
                self._query(
                    "INSERT INTO users VALUES (?, ?, ?, ?, ?)",
                    [user.id, user.email, user.name, password_hash, time.time_ns() // 1000],
                )
            except duckdb.ConstraintException:
                raise EmailTaken(user.email) from None
            self._by_id[user.id] = user
        return user

    def by_email(self, email: str) -> User | None:
        rows = self._query(
            "SELECT id, email, name, password_hash FROM users WHERE email = ?", [email.lower()]
        )
        return User(*rows[0]) if rows else None  # type: ignore[arg-type]

    def by_id(self, user_id: str) -> User | None:
        user = self._by_id.get(user_id)
        if user is None:
            rows = self._query(
                "SELECT id, email, name, password_hash FROM users WHERE id = ?", [user_id]
            )
            if rows:
                user = self._by_id[user_id] = User(*rows[0])  # type: ignore[arg-type]
        return user

    def ids(self) -> list[str]:
        return [str(r[0]) for r in self._query("SELECT id FROM users ORDER BY created_us", [])]

    def count(self) -> int:
        return int(self._query("SELECT count(*) FROM users", [])[0][0])  # type: ignore[arg-type]


class DuckRevocations:
    """Revoked token ids, kept until their tokens expire (survives restarts)."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self._con = con
        now = int(time.time())
        cur = con.cursor()
        try:
            cur.execute(DDL)
            cur.execute("DELETE FROM revoked_tokens WHERE exp < ?", [now])
            rows = cur.execute("SELECT jti, exp FROM revoked_tokens").fetchall()
        finally:
            cur.close()
        self._mem: dict[str, int] = {str(j): int(e) for j, e in rows}

    def is_revoked(self, jti: str) -> bool:
        return jti in self._mem

    def revoke(self, jti: str, exp: int) -> None:
        if jti in self._mem:
            return
        if len(self._mem) % 1024 == 1023:  # forget tokens that have expired anyway
            now = int(time.time())
            self._mem = {j: e for j, e in self._mem.items() if e >= now}
        self._mem[jti] = int(exp)
        cur = self._con.cursor()
        try:
            cur.execute("INSERT OR IGNORE INTO revoked_tokens VALUES (?, ?)", [jti, int(exp)])
        finally:
            cur.close()
