"""Importing aid sources into the tenant's catalogue (and, optionally, into the document index).

`import_paths([...])` detects each source kind from file names and contents, converts, replaces the
source's aids in the catalogue (one transaction per source), computes the missing dense vectors, and
turns each aid into a `DocumentRecord` (doc_id = aid id, source = "aids") for search and the assistant.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from territoria.aids.finder import ensure_vectors
from territoria.aids.importers import ImportBatch, load_batches
from territoria.aids.model import AID_TYPES, AUDIENCES, Aid, format_date_fr
from territoria.aids.perimeter import GEO_FILES, install_geo
from territoria.aids.store import AidStore
from territoria.core.errors import TerritoriaError
from territoria.core.types import DocumentRecord, Section


@dataclass
class ImportReport:
    sources: list[dict] = field(default_factory=list)
    geo: str | None = None
    indexed: dict | None = None
    index_note: str | None = None
    embedded: int = 0
    total: int = 0
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return {"sources": self.sources, "geo": self.geo, "indexed": self.indexed, "index_note": self.index_note,
                "embedded": self.embedded, "total": self.total, "seconds": round(self.seconds, 1)}


def _is_geo_dir(p: Path) -> bool:
    return p.is_dir() and all((p / f).is_file() for f in GEO_FILES)


def import_paths(paths: list[Path], *, mapping: dict | None = None, source: str | None = None,
                 kind: str | None = None, index: bool = True, embed: bool = True,
                 on_progress: Callable[[str], None] | None = None, settings=None, tenant: str | None = None
                 ) -> ImportReport:
    from territoria.core.settings import get_settings

    settings = settings or get_settings()
    report = ImportReport()
    t0 = time.perf_counter()
    say = on_progress or (lambda s: None)
    # 1. The communes reference first (explicitly given, or next to an aids folder).
    aid_paths = []
    for p in paths:
        p = Path(p)
        if not p.exists():
            raise TerritoriaError(f"Chemin introuvable : {p}.", hint="Indiquez un fichier ou un dossier existant.")
        if _is_geo_dir(p):
            report.geo = str(install_geo(p, settings.data_dir))
            say(f"Référentiel des communes installé depuis {p}.")
            continue
        aid_paths.append(p)
        sibling = (p if p.is_dir() else p.parent).parent / "communes"
        if report.geo is None and _is_geo_dir(sibling):
            from territoria.aids.perimeter import geo_store_dir

            if not (geo_store_dir(settings.data_dir) / "communes.csv.gz").is_file():
                report.geo = str(install_geo(sibling, settings.data_dir))
                say(f"Référentiel des communes installé depuis {sibling}.")
    if not aid_paths:
        report.seconds = time.perf_counter() - t0
        return report
    # 2. Aid sources.
    batches: list[ImportBatch] = []
    for p in aid_paths:
        found = load_batches(p, kind=kind, mapping=mapping, source=source)
        if not found:
            raise TerritoriaError(
                f"Aucune source d'aides reconnue dans {p}.",
                hint="Sources reconnues : aides_jeunes_benefits.jsonl, aides_velo.jsonl, "
                     "mission_transition_programs.jsonl, un export JSON de l'API Aides-territoires, ou un "
                     "CSV/JSON quelconque avec --mapping.")
        batches += found
    store = AidStore.open(settings, tenant)
    try:
        merged: dict[str, ImportBatch] = {}
        for b in batches:
            if b.source in merged:
                merged[b.source].aids += b.aids
                merged[b.source].skipped += b.skipped
            else:
                merged[b.source] = b
        all_new: list[Aid] = []
        for src, b in merged.items():
            ids = [a.id for a in b.aids]
            dup = len(ids) - len(set(ids))
            uniq = list({a.id: a for a in b.aids}.values())
            counts = store.replace_source(src, uniq)
            entry = {"source": src, "file": str(b.path), "aids": len(uniq), **counts,
                     "skipped": [{"id": i, "reason": r} for i, r in b.skipped], "notes": b.notes}
            if dup:
                entry["notes"] = entry["notes"] + [f"{dup} identifiant(s) en double : la dernière version est gardée."]
            report.sources.append(entry)
            all_new += uniq
            say(f"{src} : {len(uniq)} aides ({counts['added']} nouvelles, {counts['updated']} modifiées, "
                f"{counts['unchanged']} inchangées, {counts['removed']} retirées).")
        report.total = store.count()
        # 3. Dense vectors (cached by text hash: only new or changed texts are embedded).
        if embed:
            done = [0]

            def prog(n):
                done[0] += n
                if done[0] % 128 < n:
                    say(f"Vecteurs calculés : {done[0]}…")

            ensure_vectors(store, store.load_all(), embed_missing=True, on_progress=prog)
            report.embedded = done[0]
    finally:
        store.close()
    # 4. Documents for search and the assistant.
    if index:
        try:
            from territoria.ingest.pipeline import ingest_records
        except ImportError:
            report.index_note = ("Indexation documentaire non disponible dans cette version (module "
                                 "territoria.ingest.pipeline absent) : aides importées dans le catalogue seulement.")
        else:
            recs = [aid_document(a) for a in all_new]
            try:
                summary = ingest_records(recs, tenant=tenant or settings.tenant)
            except TerritoriaError as exc:
                report.index_note = f"Aides importées, mais l'indexation documentaire a échoué : {exc}"
            except Exception as exc:  # the catalogue is written; the document index must not undo it
                report.index_note = (f"Aides importées, mais l'indexation documentaire a échoué ({exc}). "
                                     "Relancez l'import plus tard ou utilisez --no-index.")
            else:
                report.indexed = summary.to_dict() if hasattr(summary, "to_dict") else {"documents": len(recs)}
    report.seconds = time.perf_counter() - t0
    return report


def aid_document(a: Aid) -> DocumentRecord:
    """The aid as a citable document: description, conditions, amount, dates, how to apply."""
    sections = [Section(a.description or a.name, heading_path=["Présentation"])]
    cond_lines = []
    from territoria.aids.eligibility import label_of

    for n in a.conditions:
        try:
            cond_lines.append("- " + label_of(n))
        except Exception:  # a malformed node must not block indexing
            continue
    cond_lines += [f"- {t}" for t in a.conditions_text]
    if cond_lines:
        sections.append(Section("\n".join(cond_lines), heading_path=["Conditions"]))
    info = []
    if a.audiences:
        info.append("Public : " + ", ".join(AUDIENCES.get(x, x) for x in a.audiences))
    if a.aid_types:
        info.append("Type d'aide : " + ", ".join(AID_TYPES.get(x, x) for x in a.aid_types))
    if (a.amount or {}).get("text"):
        info.append("Montant : " + a.amount["text"])
    if a.perimeter and a.perimeter.get("name"):
        info.append("Territoire : " + a.perimeter["name"])
    if a.financers:
        info.append("Financeur : " + ", ".join(a.financers))
    if a.end_date:
        info.append("Date limite : " + (format_date_fr(a.end_date) or a.end_date))
    if info:
        sections.append(Section("\n".join(info), heading_path=["En bref"]))
    if a.how_to_apply or a.apply_url:
        sections.append(Section(a.how_to_apply or f"Demande : {a.apply_url}", heading_path=["Comment demander"]))
    return DocumentRecord(
        doc_id=a.id, title=a.name, sections=sections, source="aids", doc_type="aid", url=a.url,
        date=None, summary=(a.description or "")[:300] or None,
        metadata={"aid_source": a.source, "themes": a.themes, "keywords": a.keywords,
                  "perimeter": a.perimeter, "audiences": a.audiences, "end_date": a.end_date,
                  "attribution": a.attribution, "institution": a.institution},
    )


def load_mapping(path: Path | None) -> dict | None:
    if path is None:
        return None
    hint = "Le fichier --mapping doit être un JSON, par ex. {\"name\": \"Intitulé\"}."
    if not Path(path).is_file():
        raise TerritoriaError(f"Fichier de correspondance de champs introuvable : {path}.", hint=hint)
    try:
        with open(path, encoding="utf-8") as fh:
            m = json.load(fh)
    except (OSError, UnicodeDecodeError) as exc:
        raise TerritoriaError(f"Correspondance de champs illisible ({path}).",
                              hint=hint + " Enregistrez-le en UTF-8.") from exc
    except json.JSONDecodeError as exc:
        raise TerritoriaError(f"Correspondance de champs illisible ({path}) : JSON invalide, ligne {exc.lineno}, "
                              f"colonne {exc.colno}.", hint=hint) from exc
    if not isinstance(m, dict):
        raise TerritoriaError("La correspondance de champs doit être un objet JSON.")
    return m
