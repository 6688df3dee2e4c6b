"""The contract toolkit: the spec, validators, semantic checks, strategies, the check command, a pytest plugin."""

from typing import Any

from contracts.checks import (
    CheckFailure,
    JobHistory,
    check_response,
    semantic_failures,
)
from contracts.runner import Failure, Report, UnsafeTarget, run_checks
from contracts.spec import Contract, get_contract, load_spec, spec_path
from contracts.validate import ContractViolation, validate_response

_LAZY = {"response_body": "contracts.strategies", "request_body": "contracts.strategies"}


def __getattr__(name: str) -> Any:
    """``contracts.response_body`` / ``request_body`` without importing hypothesis until asked for."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'contracts' has no attribute {name!r}")


__all__ = [
    "CheckFailure",
    "Contract",
    "ContractViolation",
    "Failure",
    "JobHistory",
    "Report",
    "UnsafeTarget",
    "check_response",
    "get_contract",
    "load_spec",
    "request_body",
    "response_body",
    "run_checks",
    "semantic_failures",
    "spec_path",
    "validate_response",
]
