"""The client's exceptions: one tree under `LTXStudioError`, so callers can catch everything at once.

HTTP errors carry `.status` (the HTTP status), `.error` (the API's `error` text, or the raw body when it
is not JSON) and `.response` (the transport's response: `requests.Response` from `LTXStudioClient`,
`httpx.Response` from `AsyncLTXStudioClient`), because the API's only machine-readable failure
detail is the status code plus a free-text `error`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .models import Job

__all__ = [
    "APIError",
    "AuthenticationError",
    "BadRequestError",
    "CapacityError",
    "ConflictError",
    "JobFailedError",
    "JobTimeoutError",
    "LTXStudioError",
    "NotFoundError",
    "PaymentRequiredError",
    "ServerError",
    "TransportError",
    "ValidationError",
    "error_for_response",
]


class LTXStudioError(Exception):
    """Base of every error the client raises."""

    status: int | None = None

    def __init__(self, message: str, *, error: str | None = None, response: Any = None):
        super().__init__(message)
        self.error = error if error is not None else message
        self.response = response
        if response is not None:
            self.status = response.status_code


class ValidationError(LTXStudioError, ValueError):
    """Options the contract forbids, caught before any request is sent.

    Also a `ValueError`, since a bad argument is what it is; `.errors` lists every problem found, not
    only the first, so one round of fixes is enough.
    """

    def __init__(self, message: str, errors: list[str] | None = None):
        super().__init__(message)
        self.errors = errors or [message]


class TransportError(LTXStudioError):
    """The request never got an HTTP answer (connection refused, reset, timed out) after all retries."""


class APIError(LTXStudioError):
    """The API answered with an error status; the subclass tells which kind."""

    def __init__(self, message: str, *, error: str | None = None, response: Any = None,
                 status: int | None = None, body: Any = None):
        super().__init__(message, error=error, response=response)
        if status is not None:
            self.status = status
        self.body = body


class BadRequestError(APIError):
    """400: the API rejected the parameters (our local checks cannot see everything, e.g. unknown assets)."""

    status = 400


class AuthenticationError(APIError):
    """401: missing or wrong API token."""

    status = 401


class PaymentRequiredError(APIError):
    """402: not enough LTX Studio credits (generation), or no LTX Studio subscription (POST accounts)."""

    status = 402


class NotFoundError(APIError):
    """404: unknown account, job or asset (jobs also expire)."""

    status = 404


class ConflictError(APIError):
    """409: the request conflicts with the current state."""

    status = 409


class CapacityError(APIError):
    """429: every configured account is running `maxJobs` jobs; retried automatically before surfacing."""

    status = 429

    @property
    def retry_after(self) -> float | None:
        """Seconds the server asked us to wait, if it said so."""
        if self.response is None:
            return None
        from ._retry import parse_retry_after

        return parse_retry_after(self.response.headers.get("Retry-After"))


class ServerError(APIError):
    """5xx: the API or LTX Studio behind it failed."""


class JobFailedError(LTXStudioError):
    """The job ended with `status.type == "failed"`; `.job` is its last state, `.error` the reason."""

    def __init__(self, message: str, *, job: Job | None = None, error: str | None = None):
        super().__init__(message, error=error)
        self.job = job


class JobTimeoutError(LTXStudioError, TimeoutError):
    """`wait()` gave up before the job finished; the job itself may still complete later."""

    def __init__(self, message: str, *, job_id: str, job: Job | None = None):
        super().__init__(message)
        self.job_id = job_id
        self.job = job


_BY_STATUS: dict[int, type[APIError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    402: PaymentRequiredError,
    404: NotFoundError,
    409: ConflictError,
    429: CapacityError,
}


def _request_of(response: Any) -> Any:
    try:
        return response.request  # httpx raises when a response was built without one
    except RuntimeError:
        return None


def error_for_response(response: Any) -> APIError:
    """Build the exception for an error response (requests' or httpx's); never raises, whatever the body is."""
    status = response.status_code
    body: Any = None
    error: str | None = None
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        for key in ("error", "message"):
            value = body.get(key)
            if isinstance(value, str) and value:
                error = value
                break
            if value is not None and error is None:
                error = str(value)
    if error is None:
        try:
            text = response.text or ""
        except Exception:  # undecodable bytes must not hide the real error
            text = ""
        reason = getattr(response, "reason", None) or getattr(response, "reason_phrase", None) or ""
        error = text.strip()[:500] or reason or f"HTTP {status}"
    if status in _BY_STATUS:
        cls = _BY_STATUS[status]
    elif status >= 500:
        cls = ServerError
    else:
        cls = APIError
    request = _request_of(response)
    method = request.method if request is not None else ""
    try:
        url = str(response.url or "")
    except RuntimeError:  # an httpx.Response without its request
        url = ""
    if not url and request is not None:
        url = str(request.url)
    message = f"{status} {error} ({method} {url})".replace(" ()", "")
    return cls(message, error=error, response=response, status=status, body=body)
