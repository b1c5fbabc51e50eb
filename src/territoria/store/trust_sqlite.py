"""SQLite backend of the trust tables: users, API keys, usage counters and the audit log.

Same database file as the documents (one file to back up), its own connections. Audit appends run in
`BEGIN IMMEDIATE` transactions: SQLite's write lock serialises appends from several threads *and*
processes, so the hash chain stays one chain (each row reads the previous head inside the lock).
"""

from __future__ import annotations

import sqlite3
from typing import Any, Callable, Iterator

from territoria.store.sqlite_base import SQLiteBase

SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    username TEXT PRIMARY KEY,
    tenant TEXT NOT NULL,
    role TEXT NOT NULL,
    password_hash TEXT,
    oidc_subject TEXT,
    created_at TEXT NOT NULL,
    disabled INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS users_tenant ON users (tenant);
CREATE TABLE IF NOT EXISTS api_keys (
    key_id TEXT PRIMARY KEY,
    tenant TEXT NOT NULL,
    role TEXT NOT NULL,
    name TEXT NOT NULL DEFAULT '',
    key_hash TEXT NOT NULL,
    instance INTEGER NOT NULL DEFAULT 0,
    rpm INTEGER,
    tokens_per_day INTEGER,
    created_at TEXT NOT NULL,
    revoked_at TEXT,
    last_used_at TEXT
);
CREATE INDEX IF NOT EXISTS api_keys_tenant ON api_keys (tenant);
CREATE TABLE IF NOT EXISTS tenant_quotas (
    tenant TEXT PRIMARY KEY,
    rpm INTEGER,
    tokens_per_day INTEGER
);
CREATE TABLE IF NOT EXISTS usage (
    day TEXT NOT NULL,
    scope TEXT NOT NULL,
    ident TEXT NOT NULL,
    tokens INTEGER NOT NULL DEFAULT 0,
    requests INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (day, scope, ident)
);
CREATE TABLE IF NOT EXISTS audit_log (
    seq INTEGER PRIMARY KEY,
    tenant TEXT NOT NULL,
    actor TEXT NOT NULL,
    at TEXT NOT NULL,
    use_case TEXT NOT NULL,
    model TEXT,
    prompt_version TEXT,
    input TEXT,
    input_hash TEXT NOT NULL,
    retrieved TEXT NOT NULL DEFAULT '[]',
    output TEXT,
    latency_ms REAL,
    energy_wh REAL,
    extra TEXT NOT NULL DEFAULT '{}',
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_tenant_at ON audit_log (tenant, at);
CREATE TABLE IF NOT EXISTS audit_head (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    last_seq INTEGER NOT NULL,
    last_hash TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS audit_anchor (
    anchor_id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    through_seq INTEGER NOT NULL,
    last_hash TEXT NOT NULL,
    purged INTEGER NOT NULL,
    cutoff TEXT NOT NULL
);
"""

AUDIT_COLUMNS = ("seq", "tenant", "actor", "at", "use_case", "model", "prompt_version", "input", "input_hash",
                 "retrieved", "output", "latency_ms", "energy_wh", "extra", "prev_hash", "hash")


class SQLiteTrustStore(SQLiteBase):
    SCHEMA = SCHEMA
    SYNCHRONOUS = "FULL"  # an answer's audit row must survive a power cut

    def _write(self, fn: Callable[[sqlite3.Connection], Any]) -> Any:
        with self._tx() as c:
            return fn(c)

    def execute(self, sql: str, args: tuple | list = ()) -> sqlite3.Cursor:
        return self._conn.execute(sql, args)

    def write(self, sql: str, args: tuple | list = ()) -> int:
        return self._write(lambda c: c.execute(sql, args).rowcount)

    # -- users --
    _USER_COLS = "username, tenant, role, password_hash, oidc_subject, created_at, disabled"

    def _user(self, r) -> dict[str, Any] | None:
        if r is None:
            return None
        return dict(zip(("username", "tenant", "role", "password_hash", "oidc_subject", "created_at", "disabled"), r))

    def get_user(self, username: str) -> dict[str, Any] | None:
        return self._user(self.execute(f"SELECT {self._USER_COLS} FROM users WHERE username = ?",
                                       (username,)).fetchone())

    def user_by_subject(self, subject: str) -> dict[str, Any] | None:
        return self._user(self.execute(f"SELECT {self._USER_COLS} FROM users WHERE oidc_subject = ?",
                                       (subject,)).fetchone())

    def list_users(self, tenant: str | None = None) -> list[dict[str, Any]]:
        sql, args = f"SELECT {self._USER_COLS} FROM users", []
        if tenant is not None:
            sql, args = sql + " WHERE tenant = ?", [tenant]
        return [self._user(r) for r in self.execute(sql + " ORDER BY username", args).fetchall()]

    def put_user(self, u: dict[str, Any]) -> None:
        self.write(f"INSERT OR REPLACE INTO users ({self._USER_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
                   (u["username"], u["tenant"], u["role"], u.get("password_hash"), u.get("oidc_subject"),
                    u["created_at"], int(u.get("disabled") or 0)))

    def delete_user(self, username: str) -> bool:
        return bool(self.write("DELETE FROM users WHERE username = ?", (username,)))

    def delete_tenant_accounts(self, tenant: str) -> tuple[int, int]:
        """Remove a tenant's users, keys and quotas in one transaction: (users, keys) deleted."""
        def run(c):
            users = c.execute("DELETE FROM users WHERE tenant = ?", (tenant,)).rowcount
            keys = c.execute("DELETE FROM api_keys WHERE tenant = ?", (tenant,)).rowcount
            c.execute("DELETE FROM tenant_quotas WHERE tenant = ?", (tenant,))
            return users, keys
        return self._write(run)

    # -- API keys --
    _KEY_COLS = "key_id, tenant, role, name, key_hash, instance, rpm, tokens_per_day, created_at, revoked_at, last_used_at"

    def _key(self, r) -> dict[str, Any] | None:
        if r is None:
            return None
        return dict(zip(self._KEY_COLS.split(", "), r))

    def get_key(self, key_id: str) -> dict[str, Any] | None:
        return self._key(self.execute(f"SELECT {self._KEY_COLS} FROM api_keys WHERE key_id = ?", (key_id,)).fetchone())

    def list_keys(self, tenant: str | None = None) -> list[dict[str, Any]]:
        sql, args = f"SELECT {self._KEY_COLS} FROM api_keys", []
        if tenant is not None:
            sql, args = sql + " WHERE tenant = ?", [tenant]
        return [self._key(r) for r in self.execute(sql + " ORDER BY created_at, key_id", args).fetchall()]

    def put_key(self, k: dict[str, Any]) -> None:
        cols = self._KEY_COLS.split(", ")
        self.write(f"INSERT INTO api_keys ({self._KEY_COLS}) VALUES ({','.join('?' * len(cols))})",
                   [k.get(c) for c in cols])

    def revoke_key(self, key_id: str, at: str) -> bool:
        return bool(self.write("UPDATE api_keys SET revoked_at = ? WHERE key_id = ? AND revoked_at IS NULL",
                               (at, key_id)))

    def touch_key(self, key_id: str, at: str) -> None:
        try:
            self.execute("UPDATE api_keys SET last_used_at = ? WHERE key_id = ?", (at, key_id))
        except sqlite3.OperationalError:  # busy: last use is informative only
            pass

    # -- quotas and usage --
    def tenant_quota(self, tenant: str) -> tuple[int | None, int | None]:
        r = self.execute("SELECT rpm, tokens_per_day FROM tenant_quotas WHERE tenant = ?", (tenant,)).fetchone()
        return (r[0], r[1]) if r else (None, None)

    def set_tenant_quota(self, tenant: str, rpm: int | None, tokens_per_day: int | None) -> None:
        self.write("INSERT OR REPLACE INTO tenant_quotas (tenant, rpm, tokens_per_day) VALUES (?, ?, ?)",
                   (tenant, rpm, tokens_per_day))

    def add_usage(self, day: str, items: list[tuple[str, str]], tokens: int, requests: int = 0) -> None:
        def run(c):
            for scope, ident in items:
                c.execute("INSERT INTO usage (day, scope, ident, tokens, requests) VALUES (?, ?, ?, ?, ?) "
                          "ON CONFLICT (day, scope, ident) DO UPDATE SET tokens = tokens + excluded.tokens, "
                          "requests = requests + excluded.requests", (day, scope, ident, tokens, requests))
        self._write(run)

    def usage(self, day: str, scope: str, ident: str) -> int:
        r = self.execute("SELECT tokens FROM usage WHERE day = ? AND scope = ? AND ident = ?",
                         (day, scope, ident)).fetchone()
        return int(r[0]) if r else 0

    # -- audit log --
    def audit_append(self, make_row: Callable[[int, str], dict[str, Any]]) -> dict[str, Any]:
        """Append one row built by `make_row(seq, prev_hash)` (which computes its hash) atomically."""
        def run(c):
            head = c.execute("SELECT last_seq, last_hash FROM audit_head WHERE id = 1").fetchone()
            if head is None:
                anchor = c.execute("SELECT through_seq, last_hash FROM audit_anchor ORDER BY anchor_id DESC "
                                   "LIMIT 1").fetchone()
                head = anchor or (0, "0" * 64)
            row = make_row(int(head[0]) + 1, head[1])
            c.execute(f"INSERT INTO audit_log ({', '.join(AUDIT_COLUMNS)}) VALUES ({','.join('?' * len(AUDIT_COLUMNS))})",
                      [row[k] for k in AUDIT_COLUMNS])
            c.execute("INSERT OR REPLACE INTO audit_head (id, last_seq, last_hash) VALUES (1, ?, ?)",
                      (row["seq"], row["hash"]))
            return row
        return self._write(run)

    @staticmethod
    def _audit_where(tenant: str | None, start: str | None, end: str | None) -> tuple[str, list]:
        sql, args = " WHERE 1=1", []
        if tenant is not None:
            sql += " AND tenant = ?"
            args.append(tenant)
        if start:
            sql += " AND at >= ?"
            args.append(start)
        if end:
            sql += " AND at < ?"
            args.append(end)
        return sql, args

    def audit_rows(self, *, tenant: str | None = None, start: str | None = None, end: str | None = None,
                   newest_first: bool = False, limit: int | None = None, offset: int = 0) -> Iterator[dict[str, Any]]:
        where, args = self._audit_where(tenant, start, end)
        sql = f"SELECT {', '.join(AUDIT_COLUMNS)} FROM audit_log{where} ORDER BY seq" + (" DESC" if newest_first else "")
        if limit is not None:
            sql += " LIMIT ? OFFSET ?"
            args += [limit, offset]
        for r in self.execute(sql, args):
            yield dict(zip(AUDIT_COLUMNS, r))

    def audit_count(self, *, tenant: str | None = None, start: str | None = None, end: str | None = None) -> int:
        where, args = self._audit_where(tenant, start, end)
        return int(self.execute(f"SELECT COUNT(*) FROM audit_log{where}", args).fetchone()[0])

    def audit_head(self) -> tuple[int, str] | None:
        r = self.execute("SELECT last_seq, last_hash FROM audit_head WHERE id = 1").fetchone()
        return (int(r[0]), r[1]) if r else None

    def audit_anchor(self) -> dict[str, Any] | None:
        r = self.execute("SELECT anchor_id, at, through_seq, last_hash, purged, cutoff FROM audit_anchor "
                         "ORDER BY anchor_id DESC LIMIT 1").fetchone()
        return dict(zip(("anchor_id", "at", "through_seq", "last_hash", "purged", "cutoff"), r)) if r else None

    def audit_purge(self, cutoff: str, at: str) -> dict[str, Any] | None:
        """Delete the oldest rows dated before `cutoff` (a prefix of the chain) and anchor the chain on the
        last deleted row, in one transaction. None when nothing is old enough."""
        def run(c):
            r = c.execute("SELECT MIN(seq) FROM audit_log WHERE at >= ?", (cutoff,)).fetchone()
            first_kept = r[0]
            if first_kept is None:
                last = c.execute("SELECT MAX(seq) FROM audit_log").fetchone()[0]
                through = last
            else:
                through = first_kept - 1
            if through is None:
                return None
            row = c.execute("SELECT hash FROM audit_log WHERE seq = ?", (through,)).fetchone()
            if row is None:
                return None
            n = c.execute("DELETE FROM audit_log WHERE seq <= ?", (through,)).rowcount
            if n == 0:
                return None
            c.execute("INSERT INTO audit_anchor (at, through_seq, last_hash, purged, cutoff) VALUES (?, ?, ?, ?, ?)",
                      (at, through, row[0], n, cutoff))
            return {"through_seq": through, "purged": n, "last_hash": row[0], "cutoff": cutoff}
        return self._write(run)
