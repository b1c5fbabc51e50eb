"""Audit log of every AI output (AI Act art. 12): append-only, hash-chained, verifiable, exportable.

Each row holds: tenant, actor (user / key / CLI / public channel), time (UTC), use case, model and prompt
version, the input (or only its keyed hash when anonymisation is on: TERRITORIA_AUDIT_ANONYMISE=1),
retrieved document ids, the output, latency and energy estimate. `hash` = SHA-256 of the row's canonical
JSON including `prev_hash`, the previous row's hash, so editing, deleting or reordering rows breaks the chain:
`verify()` says which rows. The last row is also recorded in `audit_head` (a deleted tail shows); a purge
(retention, TERRITORIA_AUDIT_RETENTION_DAYS, default 365) deletes the oldest rows and writes an anchor
holding the last deleted row's hash, so the remaining chain still verifies. For protection against someone
who can rewrite the whole database, publish the head elsewhere (`territoria audit head` prints it; e.g. a
daily copy into the DSI's log server) and verify against those copies (`audit verify --expect-file F`): a
chain rewritten from some row on, with every hash recomputed, no longer matches the heads recorded before.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import json
import os
from dataclasses import dataclass, field
from functools import lru_cache
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable, Iterator

from territoria.trust import principal as _principal

GENESIS = "0" * 64
HASHED = ("tenant", "actor", "at", "use_case", "model", "prompt_version", "input", "input_hash", "retrieved",
          "output", "latency_ms", "energy_wh", "extra", "prev_hash")


def _ts():
    from territoria.store import get_trust_store

    return get_trust_store()


def anonymise_enabled() -> bool:
    return os.environ.get("TERRITORIA_AUDIT_ANONYMISE", "0").lower() in ("1", "true", "oui", "yes")


def _env_retention_days() -> int:
    from territoria.core.errors import TerritoriaError

    raw = os.environ.get("TERRITORIA_AUDIT_RETENTION_DAYS", "365")
    try:
        days = int(raw)
    except ValueError:
        days = -1
    if days < 0:
        raise TerritoriaError(f"TERRITORIA_AUDIT_RETENTION_DAYS invalide : « {raw} ».",
                              hint="Indiquez un nombre de jours (entier positif), par exemple 365.")
    return days


def retention_days() -> int:
    """The retention shown on pages (365 when the variable is unreadable: `audit purge` refuses to run then)."""
    try:
        return _env_retention_days()
    except Exception:
        return 365


def _hash_key() -> bytes:
    env = os.environ.get("TERRITORIA_SECRET_KEY")
    if env:
        return env.encode()
    from territoria.core.settings import get_settings

    return _file_key(str(get_settings().ensure().data_dir.resolve()))


@lru_cache(maxsize=8)
def _file_key(data_dir: str) -> bytes:
    from pathlib import Path

    p = Path(data_dir) / "audit.key"
    if not p.exists():
        import secrets

        tmp = p.with_name(f"audit.key.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32))
        try:
            os.link(tmp, p)  # atomic, and never replaces a key another process created first
        except FileExistsError:
            pass
        finally:
            tmp.unlink(missing_ok=True)
    return p.read_text().strip().encode()


def input_digest(text: str) -> str:
    """Keyed hash (HMAC-SHA-256) of an input: equal inputs match, the text cannot be guessed back."""
    return hmac.new(_hash_key(), text.encode("utf-8"), hashlib.sha256).hexdigest()


def row_hash(row: dict[str, Any]) -> str:
    payload = json.dumps([row.get(k) for k in HASHED], ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def record(use_case: str, *, tenant: str, input: str, output: Any, model: str | None = None,
           prompt_version: str | None = None, retrieved: Iterable[str] = (), latency_ms: float | None = None,
           energy_wh: float | None = None, actor: str | None = None, extra: dict | None = None) -> dict[str, Any]:
    """Append one row for one AI output; returns it (with seq and hash)."""
    anon = anonymise_enabled()
    out = output if isinstance(output, str) else json.dumps(output, ensure_ascii=False, sort_keys=True, default=str)
    fields = {
        "tenant": tenant, "actor": actor or _principal.actor_of(tenant), "use_case": use_case, "model": model,
        "prompt_version": prompt_version, "input": None if anon else input, "input_hash": input_digest(input),
        "retrieved": json.dumps(list(retrieved), ensure_ascii=False),
        "output": out, "latency_ms": None if latency_ms is None else float(latency_ms),
        "energy_wh": None if energy_wh is None else float(energy_wh),
        "extra": json.dumps(extra or {}, ensure_ascii=False, sort_keys=True, default=str),
    }

    def make(seq: int, prev: str) -> dict[str, Any]:
        row = {"seq": seq, **fields, "at": _now(), "prev_hash": prev}
        row["hash"] = row_hash(row)
        return row

    return _ts().audit_append(make)


# -- verification -----------------------------------------------------------------------------------

@dataclass
class Problem:
    kind: str  # edited | deleted | reordered | truncated | broken_link | rewritten | missing
    seq: int
    message: str
    last: int | None = None  # last row of a deleted or truncated range

    def to_dict(self) -> dict:
        return {"kind": self.kind, "seq": self.seq, "message": self.message}


@dataclass
class Verification:
    rows: int = 0
    first_seq: int | None = None
    last_seq: int | None = None
    head_hash: str | None = None
    anchor: dict | None = None
    problems: list[Problem] = field(default_factory=list)
    expected_checked: int = 0   # recorded heads compared with the stored chain
    expected_unverifiable: int = 0  # recorded heads older than the last purge (only the anchor row is kept)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict:
        return {"ok": self.ok, "rows": self.rows, "first_seq": self.first_seq, "last_seq": self.last_seq,
                "head_hash": self.head_hash, "anchor": self.anchor, "problems": [p.to_dict() for p in self.problems],
                "expected_checked": self.expected_checked, "expected_unverifiable": self.expected_unverifiable}


def head() -> dict[str, Any] | None:
    """The head of the chain, to copy elsewhere (None for an empty log): `seq` and `hash` of the last row (what
    `verify(expected)` checks), `at` the time it was read, `rows` the number of rows stored now (fewer than
    `seq` after a retention purge) and `last_at` the time the last row was written."""
    ts = _ts()
    h = ts.audit_head()
    if h is None:
        return None
    last = next(iter(ts.audit_rows(newest_first=True, limit=1)), None)
    return {"seq": h[0], "hash": h[1], "at": _now(), "rows": ts.audit_count(),
            "last_at": last["at"] if last is not None and last["seq"] == h[0] else None}


def parse_expected(text: str) -> list[tuple[int, str]]:
    """Recorded heads, one per line: the JSON printed by `audit head --json`, or `SEQ HASH` / `SEQ:HASH`.
    Blank lines and lines starting with # are skipped; anything else is a clear error."""
    from territoria.core.errors import TerritoriaError

    out = []
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#") or line == "null":  # "null": `audit head --json` of an empty log
            continue
        if len(line) == 64 and all(c in "0123456789abcdef" for c in line.lower()):
            raise TerritoriaError(f"Ligne {n} : empreinte sans numéro de ligne (« {line[:12]}… »).",
                                  hint="Indiquez « NUMÉRO:EMPREINTE », tels qu'affichés par « territoria audit head » : "
                                       "le numéro dit à quelle ligne du journal l'empreinte doit se retrouver.")
        try:
            if line.startswith("{"):
                d = json.loads(line)
                seq, h = int(d["seq"]), str(d["hash"])
            else:
                a, b = line.replace(":", " ").split()
                seq, h = int(a), b
        except (ValueError, KeyError, TypeError):
            raise TerritoriaError(f"Ligne {n} illisible dans les empreintes relevées : « {line[:80]} ».",
                                  hint="Attendu : le JSON de « territoria audit head --json », ou « NUMÉRO EMPREINTE ».")
        if len(h) != 64 or any(c not in "0123456789abcdef" for c in h.lower()):
            raise TerritoriaError(f"Ligne {n} : « {h[:80]} » n'est pas une empreinte SHA-256 (64 caractères hexadécimaux).")
        out.append((seq, h.lower()))
    return out


def verify(expected: Iterable[tuple[int, str]] = ()) -> Verification:
    """Walk the whole chain (all tenants) and report every break, naming the rows. `expected`: heads
    (seq, hash) recorded earlier outside the database; each one must still be the hash of that row."""
    ts = _ts()
    anchor = ts.audit_anchor()
    rows = list(ts.audit_rows())
    v = Verification(rows=len(rows), anchor=anchor)
    by_hash = {r["hash"]: r["seq"] for r in rows}
    exp_prev = anchor["last_hash"] if anchor else GENESIS
    exp_seq = (anchor["through_seq"] + 1) if anchor else 1
    for r in rows:
        seq = r["seq"]
        v.first_seq = seq if v.first_seq is None else v.first_seq
        gap = seq > exp_seq
        if gap:
            a, b = exp_seq, seq - 1
            v.problems.append(Problem("deleted", a, f"ligne{'s' if b > a else ''} {a}"
                                      + (f" à {b}" if b > a else "") + f" supprimée{'s' if b > a else ''}.", b))
        if row_hash(r) != r["hash"]:
            v.problems.append(Problem("edited", seq, f"ligne {seq} modifiée : son contenu ne correspond plus à "
                                                     f"son empreinte."))
        elif r["prev_hash"] != exp_prev:
            after = by_hash.get(r["prev_hash"])
            if after is not None and after != seq - 1:
                v.problems.append(Problem("reordered", seq, f"ligne {seq} déplacée : elle suivait la ligne {after} "
                                                            f"(ordre modifié)."))
            elif not gap:
                v.problems.append(Problem("broken_link", seq, f"ligne {seq} : le lien vers la ligne précédente est "
                                                              f"rompu (ligne supprimée ou remplacée)."))
        exp_prev, exp_seq = r["hash"], seq + 1
        v.last_seq = seq
    head = ts.audit_head()
    if head is not None:
        v.head_hash = head[1]
        last = v.last_seq or (anchor["through_seq"] if anchor else 0)
        if head[0] > last:
            a = last + 1
            v.problems.append(Problem("truncated", a, f"fin du journal supprimée : lignes {a} à {head[0]} absentes "
                                                      f"(la dernière ligne enregistrée était la n° {head[0]}).",
                                      head[0]))
        elif head[0] == v.last_seq and head[1] != exp_prev:
            v.problems.append(Problem("edited", head[0], f"ligne {head[0]} : l'empreinte ne correspond pas à celle "
                                                         f"enregistrée en tête du journal."))
    _check_expected(v, rows, anchor, head, expected)
    return v


def _check_expected(v: Verification, rows: list[dict], anchor: dict | None, head: tuple[int, str] | None,
                    expected: Iterable[tuple[int, str]]) -> None:
    stored = {r["seq"]: r["hash"] for r in rows}
    if anchor:
        stored.setdefault(anchor["through_seq"], anchor["last_hash"])
    last = head[0] if head else (v.last_seq or 0)
    gaps = [p for p in v.problems if p.kind in ("deleted", "truncated")]
    recorded_in_gap: dict[int, list[int]] = {}
    for seq, h in expected:
        got = stored.get(seq)
        if got is None and anchor and seq < anchor["through_seq"]:
            v.expected_unverifiable += 1   # purged for retention: only the anchor row's hash is kept
            continue
        v.expected_checked += 1
        if got is None:
            gap = next((i for i, p in enumerate(gaps) if p.seq <= seq <= p.last), None)
            if gap is not None:  # already reported as deleted: said once, with the recorded head named
                recorded_in_gap.setdefault(gap, []).append(seq)
                continue
            what = "n'existe plus" if seq <= last else "est absente : le journal s'arrête avant elle"
            v.problems.append(Problem("missing", seq, f"ligne {seq} relevée auparavant : elle {what}."))
        elif got != h:
            v.problems.append(Problem("rewritten", seq, f"ligne {seq} : son empreinte n'est plus celle relevée "
                                                        f"auparavant ({h[:12]}…) : le journal a été réécrit."))
    for i, seqs in recorded_in_gap.items():
        seqs = sorted(set(seqs))
        gaps[i].message += (f" La ligne {seqs[0]} avait été relevée auparavant." if len(seqs) == 1 else
                            f" Les lignes {', '.join(map(str, seqs))} avaient été relevées auparavant.")


# -- export and retention ---------------------------------------------------------------------------

EXPORT_FIELDS = ("seq", "tenant", "actor", "at", "use_case", "model", "prompt_version", "input", "input_hash",
                 "retrieved", "output", "latency_ms", "energy_wh", "extra", "prev_hash", "hash")


def _day_bound(value: str | None, end: bool = False) -> str | None:
    if not value:
        return None
    try:
        d = datetime.fromisoformat(value)
    except ValueError:
        from territoria.core.errors import TerritoriaError

        raise TerritoriaError(f"Date invalide : « {value} ».", hint="Format attendu : AAAA-MM-JJ.")
    if d.tzinfo is None:
        d = d.replace(tzinfo=timezone.utc)
    if end and len(value) <= 10:
        d += timedelta(days=1)  # --to 2026-12-02 includes that whole day
    return d.astimezone(timezone.utc).isoformat(timespec="microseconds")


def period(start: str | None, end: str | None) -> tuple[str | None, str | None]:
    """UTC bounds of a --from/--to period; an inverted period is an error (it would silently select nothing)."""
    from territoria.core.dates import check_period

    a, b = _day_bound(start), _day_bound(end, end=True)
    check_period(a, b, shown=(start, end))
    return a, b


def rows(*, tenant: str | None = None, start: str | None = None, end: str | None = None) -> Iterator[dict]:
    a, b = period(start, end)
    yield from _ts().audit_rows(tenant=tenant, start=a, end=b)


def page(*, tenant: str, start: str | None = None, end: str | None = None, limit: int = 50, offset: int = 0
         ) -> tuple[int, list[dict]]:
    """(number of rows, rows newest first) of one tenant, for the agent space."""
    ts = _ts()
    a, b = _day_bound(start), _day_bound(end, end=True)  # an inverted period shows no rows on the page
    out = []
    for r in ts.audit_rows(tenant=tenant, start=a, end=b, newest_first=True, limit=limit, offset=offset):
        r = dict(r)
        r["retrieved"] = json.loads(r["retrieved"] or "[]")
        try:
            r["output_data"] = json.loads(r["output"] or "null")
        except ValueError:
            r["output_data"] = r["output"]
        out.append(r)
    return ts.audit_count(tenant=tenant, start=a, end=b), out


def export(fmt: str = "jsonl", *, tenant: str | None = None, start: str | None = None, end: str | None = None
           ) -> Iterator[str]:
    """Rows as JSON lines or CSV (header first), oldest first."""
    if fmt not in ("jsonl", "csv"):
        from territoria.core.errors import TerritoriaError

        raise TerritoriaError(f"Format d'export inconnu : « {fmt} ».", hint="jsonl ou csv.")
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(EXPORT_FIELDS)
        yield buf.getvalue()
    for r in rows(tenant=tenant, start=start, end=end):
        if fmt == "jsonl":
            d = dict(r)
            d["retrieved"] = json.loads(d["retrieved"] or "[]")
            d["extra"] = json.loads(d["extra"] or "{}")
            yield json.dumps(d, ensure_ascii=False) + "\n"
        else:
            buf = io.StringIO()
            csv.writer(buf).writerow([r[k] for k in EXPORT_FIELDS])
            yield buf.getvalue()


def purge_cutoff(*, before: str | None = None, days: int | None = None) -> str:
    """The UTC time before which `purge` deletes rows; a negative --days or a --before to come is refused."""
    from territoria.core.errors import TerritoriaError

    if days is not None and days < 0:
        raise TerritoriaError(f"Durée de conservation invalide : {days} jour(s).",
                              hint="Indiquez un nombre de jours positif ou nul (--days 365).")
    if before:
        cutoff = _day_bound(before)
        if cutoff > _now():  # a date to come would delete today's rows too
            raise TerritoriaError(f"La date « {before} » est dans le futur : la purge supprimerait les lignes "
                                  f"les plus récentes.", hint="Indiquez une date passée (AAAA-MM-JJ).")
    else:
        cutoff = (datetime.now(timezone.utc) - timedelta(days=_env_retention_days() if days is None else days)
                  ).isoformat(timespec="microseconds")
    return cutoff


def purge(*, before: str | None = None, days: int | None = None) -> dict:
    """Delete rows older than the retention (or `before`), anchoring the chain; the purge is itself logged."""
    cutoff = purge_cutoff(before=before, days=days)
    res = _ts().audit_purge(cutoff, _now())
    out = {"cutoff": cutoff, "purged": 0, "through_seq": None}
    if res:
        out.update(purged=res["purged"], through_seq=res["through_seq"])
        record("audit.purge", tenant="*", input=f"purge avant {cutoff}", output=out, actor=None)
    return out
