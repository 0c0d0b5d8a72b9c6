"""Domain errors raised by services; views and the API turn them into messages and status codes."""
from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l


class DomainError(Exception):
    """A broken business rule; `status` is the HTTP status the API answers with."""

    status = 400
    code = "bad_request"

    def __init__(self, message: Any, fields: dict[str, Any] | None = None) -> None:
        super().__init__(str(message))
        self.message = message
        self.fields = fields or {}

    def flash_text(self) -> str:
        """The message with what is wrong in each field, for a page's flash line."""
        return " ".join([str(self.message), *(str(v) for v in self.fields.values())])


class ValidationFailed(DomainError):
    """Input that cannot be accepted; `fields` maps field names to messages (the summary defaults to
    asking the user to check the input)."""

    status = 422
    code = "validation_failed"

    def __init__(self, message: Any = None, fields: dict[str, Any] | None = None) -> None:
        super().__init__(message or _l("入力内容を確認してください。"), fields)


class PermissionDenied(DomainError):
    """The actor may see the object but may not do this to it."""

    status = 403
    code = "forbidden"

    def __init__(self, message: Any = None, fields: dict[str, Any] | None = None) -> None:
        super().__init__(message or _l("この操作を行う権限がありません。"), fields)


class NotFound(DomainError):
    """The object does not exist, or the actor may not see it (the two are never told apart)."""

    status = 404
    code = "not_found"

    def __init__(self, message: Any = None, fields: dict[str, Any] | None = None) -> None:
        super().__init__(message or _l("見つかりません。"), fields)


class Conflict(DomainError):
    """The request conflicts with the current state (a stale version, a forbidden transition)."""

    status = 409
    code = "conflict"

    def __init__(
        self, message: Any, fields: dict[str, Any] | None = None, current: Any = None
    ) -> None:
        super().__init__(message, fields)
        #: The current state of the object, so a client can show both versions.
        self.current = current


class CaseError(Conflict):
    """A case rule refuses the operation in the case's current state."""
