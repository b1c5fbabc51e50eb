"""What the OpenAI-compatible HTTP backends (LLM, embeddings) share: the base URL convention and French
errors saying what went wrong with the server and which setting to check."""

from __future__ import annotations

from territoria.core.errors import TerritoriaError


def normalise_base_url(url: str) -> str:
    from urllib.parse import urlsplit

    url = url.rstrip("/")
    if urlsplit(url).path in ("", "/"):
        url += "/v1"  # a bare host: the OpenAI convention puts the API under /v1
    return url


def http_error(exc: Exception, *, server: str, base_url: str, key_var: str, url_var: str, status_hint: str,
               timeout_hint: str, then: str = "") -> TerritoriaError:
    """`server`: how the message names it ("Le serveur de modèle"); `then`: appended to every hint."""
    import httpx

    tail = f" {then}" if then else ""
    if isinstance(exc, httpx.HTTPStatusError):
        code = exc.response.status_code
        if code in (401, 403):
            return TerritoriaError(f"{server} refuse l'accès (HTTP {code}).", hint=f"Vérifiez la clé {key_var}.{tail}")
        return TerritoriaError(f"{server} a répondu par une erreur HTTP {code} : {exc.response.text[:300]}",
                               hint=status_hint + tail)
    if isinstance(exc, httpx.TimeoutException):
        return TerritoriaError(f"{server} n'a pas répondu à temps.", hint=timeout_hint + tail)
    if isinstance(exc, (ValueError, KeyError, TypeError, IndexError)):
        return TerritoriaError(f"Réponse illisible de {server[0].lower() + server[1:]} {base_url} ({exc}).",
                               hint=f"Vérifiez que l'adresse est celle d'une API compatible OpenAI.{tail}")
    return TerritoriaError(f"{server} {base_url} est injoignable ({exc.__class__.__name__}).",
                           hint=f"Vérifiez {url_var} et que le serveur est démarré.{tail}")
