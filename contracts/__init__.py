"""The contract toolkit: the spec, validators, semantic checks, strategies, the check command, a pytest plugin."""

from contracts.spec import Contract, get_contract, load_spec, spec_path
from contracts.validate import ContractViolation, validate_response

__all__ = ["Contract", "ContractViolation", "get_contract", "load_spec", "spec_path", "validate_response"]
