"""Reference Python client of the useapi.net LTX Studio API v1 (and of this project's simulator).

`LTXStudioClient` blocks (requests); `AsyncLTXStudioClient` is the same client for async code (httpx).
Point either at the simulator with USEAPI_BASE_URL=http://127.0.0.1:PORT/v1/ltxstudio and USEAPI_TOKEN;
code written for the real service needs no other change.
"""

from __future__ import annotations

from contracts.version import __version__  # the product's one version (contracts/version.py)

from ._async_client import AsyncLTXStudioClient
from ._client import DEFAULT_BASE_URL, LTXStudioClient, ResponseHook
from ._retry import RetryPolicy
from .exceptions import (
    APIError,
    AuthenticationError,
    BadRequestError,
    CapacityError,
    ConflictError,
    JobFailedError,
    JobTimeoutError,
    LTXStudioError,
    NotFoundError,
    PaymentRequiredError,
    ServerError,
    TransportError,
    ValidationError,
)
from .models import (
    Account,
    AccountBalance,
    Artifact,
    AssetItem,
    AssetList,
    AssetListMeta,
    AssetRef,
    Job,
    JobCreated,
    JobState,
    JobStatus,
    RunningJob,
    SchedulerAvailable,
    SchedulerCapacity,
    UploadedAsset,
)

__all__ = [
    "DEFAULT_BASE_URL",
    "APIError",
    "Account",
    "AccountBalance",
    "Artifact",
    "AssetItem",
    "AssetList",
    "AssetListMeta",
    "AssetRef",
    "AsyncLTXStudioClient",
    "AuthenticationError",
    "BadRequestError",
    "CapacityError",
    "ConflictError",
    "Job",
    "JobCreated",
    "JobFailedError",
    "JobState",
    "JobStatus",
    "JobTimeoutError",
    "LTXStudioClient",
    "LTXStudioError",
    "NotFoundError",
    "PaymentRequiredError",
    "ResponseHook",
    "RetryPolicy",
    "RunningJob",
    "SchedulerAvailable",
    "SchedulerCapacity",
    "ServerError",
    "TransportError",
    "UploadedAsset",
    "ValidationError",
    "__version__",
]
