"""The one exception the rules raise; the HTTP layer turns it into ``{"error", "code"}``."""

from __future__ import annotations

from ltxstudio_mock.mock_server.bounds import clip_message


class ApiError(Exception):
    """A documented failure: an HTTP status and the service's ``error`` text."""

    def __init__(self, status: int, message: str, headers: tuple[tuple[str, str], ...] = ()) -> None:
        message = clip_message(message)  # never echo a whole offending value (a 1 MB prompt) back
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers  # extra answer headers (Retry-After on a 429 or 503 when asked for)

    def body(self) -> dict[str, object]:
        return {"error": self.message, "code": self.status}


def bad_request(message: str) -> ApiError:
    return ApiError(400, message)


def not_found(message: str) -> ApiError:
    return ApiError(404, message)
