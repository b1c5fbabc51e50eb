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
