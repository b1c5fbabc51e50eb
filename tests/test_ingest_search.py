"""Ingestion and search on real files and real Service-Public fiches."""

import gzip
import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from territoria.cli import app
from territoria.ingest.pipeline import ingest_paths
from territoria.search.engine import Filters, search
from territoria.search.text import analyze
from territoria.store import get_store

FIX = Path(__file__).parent / "fixtures" / "docs"
runner = CliRunner()


def fiches(shared_dir: Path, ids: set[str]) -> list[dict]:
    out = []
    with gzip.open(shared_dir / "data" / "service-public" / "fiches.jsonl.gz", "rt", encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            if row["id"] in ids:
                out.append(row)
    return out


@pytest.fixture()
def corpus(tmp_path, shared_dir) -> Path:
    """A small JSONL corpus of real fiches (identity card, passport, fourrière, driving licence...)."""
    ids = {"F1341", "F1342", "F1344", "F21089", "F14929", "F12918", "F34232", "F2559", "F10434", "F1460"}
    rows = fiches(shared_dir, ids)
    assert len(rows) >= 8
    p = tmp_path / "fiches.jsonl"
    p.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
    return p


def test_french_analyzer_folds_accents_elisions_and_stems():
    assert analyze("l'électricité") == analyze("electricite")
    assert analyze("Qu'est-ce que les allocations familiales ?") == analyze("allocation familiale")
    assert "le" not in analyze("le logement")  # stop word
    assert analyze("passeports") == analyze("passeport")


def test_jsonl_ingest_ids_idempotence_and_replacement(data_dir, corpus):
    s1 = ingest_paths([corpus], tenant="t1")
    assert s1.ok and s1.ingested >= 8 and s1.chunks > s1.ingested
    store = get_store()
    assert "F1342" in store.document_hashes("t1")  # document id = row id
    gen = store.generation("t1")
    s2 = ingest_paths([corpus], tenant="t1")
    assert s2.ingested == 0 and s2.unchanged == s1.ingested
    assert store.generation("t1") == gen  # no work, nothing rewritten
    # a changed document is replaced, the others untouched
    rows = [json.loads(l) for l in corpus.read_text(encoding="utf-8").splitlines()]
    rows[0]["text"] += "\n\nNouvelle section\nUn paragraphe ajouté sur la zizanie municipale."
    corpus.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    s3 = ingest_paths([corpus], tenant="t1")
    assert s3.ingested == 1 and s3.unchanged == s1.ingested - 1
    hits = search("zizanie", k=3, mode="bm25", tenant="t1")
    assert hits and hits[0].doc_id == rows[0]["id"]


def test_lexical_search_finds_fiche_without_accents(data_dir, corpus):
    ingest_paths([corpus], tenant="t1")
    hits = search("j'ai perdu ma carte d'identite", k=5, mode="bm25", tenant="t1")
    assert hits
    assert hits[0].doc_id == "F1344"  # identity card: in case of loss
    h = hits[0]
    assert h.title and h.url.startswith("https://www.service-public.fr/") and h.text
    # tenants are isolated
    assert search("carte d'identite", k=5, mode="bm25", tenant="autre") == []


def test_dense_and_hybrid_search(data_dir, corpus):
    from territoria.search.dense import embed_pending

    ingest_paths([corpus], tenant="t1")
    embed_pending(get_store(), "t1")
    from territoria.search.engine import get_index

    idx = get_index("t1")
    assert set(idx.dense) == {"e5-small", "use-m3"}  # e5 on head passages, USE on every passage
    assert len(idx.dense["use-m3"][0]) == len(idx.rows)
    hits = search("on m'a enlevé ma voiture garée devant un garage", k=3, mode="dense", tenant="t1")
    assert {"F12918", "F34232"} & {h.doc_id for h in hits}
    hyb = search("ma voiture a été embarquée par la fourrière, comment la récupérer", k=3, tenant="t1")
    assert hyb[0].doc_id in {"F12918", "F34232"}  # fourrière fiches
    assert len({h.doc_id for h in hyb}) == len(hyb)  # one hit per document


@pytest.fixture()
def small_two_stage(monkeypatch):
    """The two-stage dense scan at the size of a test corpus (over 50 vectors, 24 dimensions, 20 candidates)."""
    from territoria.search import dense

    monkeypatch.setattr(dense, "APPROX_MIN_ROWS", 50)
    monkeypatch.setattr(dense, "APPROX_DIM", 24)
    monkeypatch.setattr(dense, "CANDIDATES", 20)
    return dense


def test_two_stage_dense_scan_matches_exact_on_real_vectors(data_dir, corpus, small_two_stage):
    """Large matrices are scanned through a PCA projection, then exact scores for the candidates: on
    real USE vectors of real fiches the best passages are the exact ones, and non-candidates are -inf."""
    import numpy as np

    from territoria.models.embeddings import get_embedder
    from territoria.search.dense import embed_pending

    dense = small_two_stage
    ingest_paths([corpus], tenant="t1")
    embed_pending(get_store(), "t1", plan={"use-m3": ("head", "body")})
    rows, mat = get_store().load_embeddings("t1", "use-m3")
    assert len(rows) > 60
    two_stage = dense.DenseMatrix(rows, mat)
    assert two_stage.reduced is not None and two_stage.reduced.shape == (len(rows), 24)
    for q in ("ma voiture est à la fourrière", "refaire ma carte d'identité perdue", "surendettement saisie sur salaire"):
        qv = get_embedder("use-m3").embed_queries([q])[0]
        exact, approx = mat @ qv, two_stage.scores(qv)
        assert list(np.argsort(-approx)[:5]) == list(np.argsort(-exact)[:5])
        assert int(np.isfinite(approx).sum()) == dense.CANDIDATES
        top = np.argsort(-exact)[:5]
        assert np.allclose(approx[top], exact[top], atol=1e-5)
        # under a filter, the candidates are taken among the allowed rows only
        allowed = np.zeros(len(rows), dtype=bool)
        allowed[np.argsort(-exact)[-10:]] = True  # the 10 least similar passages
        within = two_stage.scores(qv, allowed=allowed)
        assert set(np.flatnonzero(np.isfinite(within))) == set(np.flatnonzero(allowed))
        assert np.allclose(within[allowed], exact[allowed], atol=1e-5)


def test_two_stage_scan_keeps_documents_of_a_narrow_filter(data_dir, corpus, small_two_stage, monkeypatch):
    """Under a filter the scan looks among the allowed documents' passages: the one document of the source
    asked for is found by dense search even though none of its passages is among the unfiltered candidates."""
    from territoria.search import engine
    from territoria.search.dense import embed_pending

    monkeypatch.setattr(small_two_stage, "DEFAULT_PLAN", {"use-m3": ("head", "body")})
    monkeypatch.setattr(engine, "DEFAULT_PLAN", {"use-m3": ("head", "body")})
    ingest_paths([corpus], tenant="t1", source="sp")
    ingest_paths([FIX / "tri_selectif.md"], tenant="t1", source="mairie")
    embed_pending(get_store(), "t1")
    assert engine.get_index("t1").dense["use-m3"][1].reduced is not None  # two-stage scan in use
    q = "ma voiture est partie à la fourrière"
    hits = search(q, k=3, mode="dense", tenant="t1", filters=Filters(source="mairie"))
    assert [h.source for h in hits] == ["mairie"]
    assert search(q, k=3, mode="dense", tenant="t1")[0].source == "sp"


def test_filters_by_source_and_type(data_dir, corpus):
    ingest_paths([corpus], tenant="t1", source="sp")
    ingest_paths([FIX / "tri_selectif.md"], tenant="t1", source="mairie")
    assert all(h.source == "mairie" for h in search("conseil municipal", k=5, mode="bm25", tenant="t1",
                                                    filters=Filters(source="mairie")))
    assert search("passeport", k=5, mode="bm25", tenant="t1", filters=Filters(doc_type="md")) == [] or all(
        h.source == "mairie" for h in search("passeport", k=5, mode="bm25", tenant="t1", filters=Filters(doc_type="md")))


def test_date_filters_forms_errors_and_no_hit_messages(data_dir, corpus):
    from territoria.core.errors import TerritoriaError

    ingest_paths([corpus], tenant="t1")
    # French order, year and month stand for their first / last day
    assert Filters(doc_type=".PDF").doc_type == "pdf"
    f = Filters(date_from="28/08/2019", date_to="2020-01")
    assert (f.date_from, f.date_to) == ("2019-08-28", "2020-01-31")
    assert Filters(date_to="2024-02").date_to == "2024-02-29"
    hits = search("carte", k=10, mode="bm25", tenant="t1", filters=Filters(date_from="2019", date_to="2019"))
    assert hits and all(h.doc_id in {"F1341", "F10434"} for h in hits)  # the two fiches dated 2019
    for bad in ("2025-13-01", "31/02/2024", "hier"):
        with pytest.raises(TerritoriaError, match="illisible"):
            Filters(date_from=bad)
    with pytest.raises(TerritoriaError, match="après la date de fin"):
        Filters(date_from="2021", date_to="2020")
    base = ["--data-dir", str(data_dir), "search"]
    r = runner.invoke(app, base + ["passeport", "--tenant", "t1", "--from", "2025-13-01"])
    assert r.exit_code == 2 and "illisible" in r.output and "AAAA-MM-JJ" in r.output
    r = runner.invoke(app, base + ["passeport", "--tenant", "t1", "--from", "2030", "--mode", "bm25"])
    assert r.exit_code == 0 and "filtres" in r.output  # not "have you ingested anything?"
    r = runner.invoke(app, base + ["xqzwkv", "--tenant", "t1", "--mode", "bm25"])
    assert "Aucun passage" in r.output
    r = runner.invoke(app, base + ["passeport", "--tenant", "vide", "--mode", "bm25"])
    assert "territoria ingest" in r.output
    r = runner.invoke(app, base + ["  ", "--tenant", "t1"])
    assert r.exit_code == 2 and "vide" in r.output


def test_files_folders_and_bad_input_continue_and_keep_stored(data_dir, tmp_path):
    folder = tmp_path / "docs"
    shutil.copytree(FIX, folder)
    (folder / "sous" / "dossier").mkdir(parents=True)
    shutil.copy(FIX / "tri_selectif.md", folder / "sous" / "dossier" / "note.md")
    (folder / "donnees.bin").write_bytes(b"\x00\x01binaire")
    s = ingest_paths([folder], tenant="t")
    failed = {Path(f).name: reason for f, reason in s.failed}
    # every bad file is named with a French reason, the good ones are in
    assert "donnees.bin" in failed and "non pris en charge" in failed["donnees.bin"].lower()
    assert any("mot de passe" in r for r in failed.values())
    assert any("vide" in r.lower() for r in failed.values())
    assert s.ingested >= 8
    ids = set(get_store().document_hashes("t"))
    assert "sous/dossier/note.md" in ids
    before = dict(get_store().document_hashes("t"))
    # a corrupt version of a stored file loses nothing already stored
    good_pdf = next(i for i in ids if i.endswith(".pdf"))
    (folder / good_pdf).write_bytes(b"%PDF-1.4 garbage")
    s2 = ingest_paths([folder / good_pdf], tenant="t")
    assert s2.failed
    assert get_store().document_hashes("t") == before


def test_scanned_pdf_is_ocred_not_indexed_empty(data_dir):
    scans = [p for p in FIX.iterdir() if "scan" in p.name and p.suffix == ".pdf"]
    assert scans
    s = ingest_paths(scans, tenant="t")
    assert s.ok and s.ingested == len(scans)
    doc = get_store().get_document("t", scans[0].name)
    assert doc.metadata.get("ocr_pages", 0) >= 1
    assert get_store().count_chunks("t") >= 2


def test_cli_ingest_search_delete(data_dir, corpus):
    r = runner.invoke(app, ["--data-dir", str(data_dir), "ingest", str(corpus), "--dense", "off", "--json"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["--data-dir", str(data_dir), "search", "passeport", "--mode", "bm25", "--json"])
    hits = json.loads(r.stdout)
    assert hits and set(hits[0]) >= {"doc_id", "chunk_id", "title", "url", "section", "page", "score", "text"}
    r = runner.invoke(app, ["--data-dir", str(data_dir), "delete", hits[0]["doc_id"]])
    assert r.exit_code == 0
    r = runner.invoke(app, ["--data-dir", str(data_dir), "delete", "nexistepas"])
    assert r.exit_code == 1 and "introuvable" in r.output
    r = runner.invoke(app, ["--data-dir", str(data_dir), "ingest", str(data_dir / "absent.pdf")])
    assert r.exit_code == 1 and "introuvable" in r.output.lower()
    odd = data_dir / "crochets"
    odd.mkdir()
    (odd / "rapport [v2].pdf").write_bytes(b"pas un pdf")  # brackets in a name are not console markup
    r = runner.invoke(app, ["--data-dir", str(data_dir), "ingest", str(odd), "--dense", "off"])
    assert r.exit_code == 1 and "[v2]" in r.output  # it was shown as « rapport .pdf »
    (data_dir / "vide").mkdir()  # an empty (or unmounted) folder is not a silent success
    r = runner.invoke(app, ["--data-dir", str(data_dir), "ingest", str(data_dir / "vide"), "--dense", "off"])
    assert r.exit_code == 1 and "Aucun document" in r.output
    r = runner.invoke(app, ["--data-dir", str(data_dir), "ingest", str(corpus), "--dense", "of"])
    assert r.exit_code == 2 and "inline, background ou off" in r.output


def test_eval_retrieval_json(data_dir, corpus, tmp_path):
    ingest_paths([corpus])
    qa = tmp_path / "qa.jsonl"
    qa.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in [
        {"question": "Combien coûte un passeport ?", "relevant_ids": ["F14929"]},
        {"question": "refaire sa carte d'identité", "relevant_ids": ["F1342"]},
        {"question": "question hors corpus", "relevant_ids": []},
    ]), encoding="utf-8")
    r = runner.invoke(app, ["--data-dir", str(data_dir), "eval", "retrieval", str(qa), "--modes", "bm25", "--json"])
    assert r.exit_code == 0, r.output
    res = json.loads(r.stdout)
    assert res["n"] == 2
    m = res["modes"]["bm25"]
    assert set(m) >= {"recall@1", "recall@5", "recall@10", "mrr@10", "ndcg@10", "p50_ms", "p95_ms"}
    assert 0 <= m["recall@1"] <= m["recall@5"] <= m["recall@10"] <= 1
    # bad QA files: named, with the line and the reason, in French (exit code 2), never a traceback
    bad = {"latin1.jsonl": '{"question": "été", "relevant_ids": []}\n'.encode("latin-1"),
           "sans_question.jsonl": b'{"question": "ok", "relevant_ids": []}\n{"relevant_ids": ["F1"]}\n',
           "ids.jsonl": b'{"question": "ok", "relevant_ids": "F1342"}\n'}
    expected = {"latin1.jsonl": "UTF-8", "sans_question.jsonl": "ligne 2", "ids.jsonl": "liste"}
    for name, content in bad.items():
        (tmp_path / name).write_bytes(content)
        for cmd in (["eval", "retrieval"], ["eval", "answers"]):
            r = runner.invoke(app, ["--data-dir", str(data_dir), *cmd, str(tmp_path / name)])
            assert r.exit_code == 2 and expected[name] in r.output, (cmd, name, r.output)
    r = runner.invoke(app, ["--data-dir", str(data_dir), "eval", "retrieval", str(tmp_path / "absent.jsonl")])
    assert r.exit_code == 2 and "introuvable" in r.output



@pytest.mark.parametrize("argv, expected", [
    (["search"], "argument « query » manquant"),
    (["serch", "x"], "commande inconnue : « serch »"),
    (["search", "x", "--kk", "3"], "option inconnue : --kk"),
    (["search", "x", "--k", "abc"], "« --k » : un nombre entier est attendu"),
    (["search", "x", "--k", "0"], "« --k » : au moins 1"),
    (["search", "carte", "identité"], "argument(s) en trop : identité"),
])
def test_usage_errors_are_french_with_exit_code_2(argv, expected, capsys, tmp_path):
    """The installed `territoria` command (cli.main): click's English usage errors are said in French."""
    from territoria.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["--data-dir", str(tmp_path), *argv])
    err = " ".join(capsys.readouterr().err.split())
    assert exit_info.value.code == 2 and expected in err and "--help" in err, err


def test_cli_main_exit_codes_of_commands(capsys, tmp_path):
    from territoria.cli import main

    for argv, code in ((["status"], 0), (["delete", "absent"], 1), (["--help"], 0)):
        with pytest.raises(SystemExit) as exit_info:
            main(["--data-dir", str(tmp_path), *argv])
        assert exit_info.value.code == code, argv
    assert "Usage" in capsys.readouterr().out
