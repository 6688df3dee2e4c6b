"""The contract toolkit: the spec, validators, semantic checks, strategies, the check command, a pytest plugin."""

from typing import Any

from contracts.spec import Contract, get_contract, load_spec, spec_path
from contracts.validate import ContractViolation, validate_response

# Imported on first use: the simulator imports ``contracts.spec`` at start-up and should not pay for the
# checks, the schemathesis runner or hypothesis (about 0.1 s).
_LAZY = {
    "response_body": ".strategies",
    "request_body": ".strategies",
    "CheckFailure": ".checks",
    "JobHistory": ".checks",
    "check_response": ".checks",
    "semantic_failures": ".checks",
    "Failure": ".runner",
    "Report": ".runner",
    "UnsafeTarget": ".runner",
    "run_checks": ".runner",
}


def __getattr__(name: str) -> Any:
    """The lazily imported names above."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
