"""The contract toolkit: the spec, validators, semantic checks, strategies, the check command, a pytest plugin."""

from typing import Any

from ltxstudio_mock.contracts.spec import Contract, get_contract, load_spec, spec_path
from ltxstudio_mock.contracts.validate import ContractViolation, validate_response

# Imported on first use: the simulator imports ``contracts.spec`` at start-up and should not pay for the
# checks, the schemathesis runner or hypothesis (about 0.1 s).
_LAZY = {
    "response_body": "ltxstudio_mock.contracts.strategies",
    "request_body": "ltxstudio_mock.contracts.strategies",
    "CheckFailure": "ltxstudio_mock.contracts.checks",
    "JobHistory": "ltxstudio_mock.contracts.checks",
    "check_response": "ltxstudio_mock.contracts.checks",
    "semantic_failures": "ltxstudio_mock.contracts.checks",
    "Failure": "ltxstudio_mock.contracts.runner",
    "Report": "ltxstudio_mock.contracts.runner",
    "UnsafeTarget": "ltxstudio_mock.contracts.runner",
    "run_checks": "ltxstudio_mock.contracts.runner",
}


def __getattr__(name: str) -> Any:
    """The lazily imported names above."""
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
