"""The one exception the rules raise; the HTTP layer turns it into ``{"error", "code"}``."""

from __future__ import annotations

from mock_server.bounds import clip_message


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


STORE_RETRY_AFTER_S = 1


class StoreUnavailable(ApiError):
    """503: the store cannot be reached, refuses writes, or lost its data; nothing was changed, retry shortly.

    Raised by the rules (a shared store found reset) or made by ``Simulator.store_failure`` from a store's own
    exception (Redis down, a read-only or full SQLite file), so every route answers the API's error shape with
    ``Retry-After`` instead of an empty 500.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(503, f"Simulator store unavailable: {reason}", (("Retry-After", str(STORE_RETRY_AFTER_S)),))
