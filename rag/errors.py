"""One error hierarchy. Every error names what it concerns and why; each class carries the CLI exit code
and the HTTP status the API answers with."""

from __future__ import annotations


class CtrlmapError(Exception):
    exit_code = 1
    http_status = 500
    code = "error"

    def __init__(self, message: str, **context: object) -> None:
        super().__init__(message)
        self.message = message
        self.context = {k: v for k, v in context.items() if v is not None}

    def __str__(self) -> str:
        where = self.context.get("file") or self.context.get("target")
        return f"{where}: {self.message}" if where else self.message

    def as_dict(self) -> dict:
        return {"error": self.code, "message": self.message, **{k: str(v) for k, v in self.context.items()}}


class ConfigError(CtrlmapError):
    exit_code = 2
    http_status = 500
    code = "config"


class CatalogError(CtrlmapError):
    exit_code = 2
    http_status = 422
    code = "catalog"


class NotFound(CtrlmapError):
    exit_code = 4
    http_status = 404
    code = "not_found"


class Conflict(CtrlmapError):
    exit_code = 5
    http_status = 409
    code = "conflict"


class InvalidInput(CtrlmapError):
    exit_code = 2
    http_status = 422
    code = "invalid"


# --- ingestion ----------------------------------------------------------------------------------------


class IngestError(CtrlmapError):
    """A file could not be ingested. `reason` is a short stable key; the message explains it to a person."""

    exit_code = 3
    http_status = 422
    code = "ingest"
    reason = "rejected"

    def __init__(self, message: str, *, file: str | None = None, **context: object) -> None:
        super().__init__(message, file=file, **context)
        self.file = file

    def as_dict(self) -> dict:
        return {**super().as_dict(), "reason": self.reason}


class UnsupportedType(IngestError):
    http_status = 415
    reason = "unsupported-type"


class EmptyFile(IngestError):
    reason = "empty"


class NeedsOCR(IngestError):
    reason = "needs-ocr"


class EncryptedFile(IngestError):
    reason = "encrypted"


class CorruptFile(IngestError):
    reason = "corrupt"


class UnsafeFile(IngestError):
    reason = "unsafe"


class TooLarge(IngestError):
    http_status = 413
    reason = "too-large"


class BadPath(IngestError):
    http_status = 400
    reason = "bad-path"


class ParseLimit(IngestError):
    reason = "limit-exceeded"


# --- trust --------------------------------------------------------------------------------------------


class CitationError(CtrlmapError):
    """A citation does not match the stored text it claims to quote."""

    http_status = 422
    code = "citation"


class AuditIntegrityError(CtrlmapError):
    exit_code = 6
    http_status = 500
    code = "audit_integrity"


class Unauthorized(CtrlmapError):
    exit_code = 7
    http_status = 401
    code = "unauthorized"


class Forbidden(CtrlmapError):
    exit_code = 7
    http_status = 403
    code = "forbidden"


# --- language models ----------------------------------------------------------------------------------


class LLMError(CtrlmapError):
    exit_code = 8
    http_status = 502
    code = "llm"


class LLMNotConfigured(LLMError):
    exit_code = 2
    http_status = 400
    code = "llm_not_configured"


class BudgetExceeded(LLMError):
    http_status = 429
    code = "budget_exceeded"


class LLMRefused(LLMError):
    """The endpoint rejected the key (401/403) or does not know the model (404): no call can succeed."""

    exit_code = 8
    http_status = 502
    code = "llm_refused"


class LLMUnavailable(LLMError):
    """The endpoint cannot be reached or keeps failing (connection errors, timeouts, 5xx): the circuit
    breaker stopped calling it."""

    exit_code = 8
    http_status = 503
    code = "llm_unavailable"
