"""Errors whose message is meant for the end user (in French)."""


class TerritoriaError(Exception):
    """An error with a French message saying what went wrong and what to do."""

    def __init__(self, message: str, *, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} {self.hint}" if self.hint else self.message


class IngestError(TerritoriaError):
    """A file could not be ingested (unreadable, unsupported, too large...)."""


class NotFoundError(TerritoriaError):
    pass


def os_reason(exc: BaseException) -> str:
    """Why a file could not be read or written, in French (the system's own message is in English)."""
    if isinstance(exc, FileNotFoundError):
        return "fichier ou dossier introuvable"
    if isinstance(exc, IsADirectoryError):
        return "c'est un dossier, pas un fichier"
    if isinstance(exc, PermissionError):
        return "permission refusée"
    if isinstance(exc, UnicodeDecodeError):
        return "ce n'est pas un fichier texte UTF-8"
    return f"erreur système ({exc.__class__.__name__})"
