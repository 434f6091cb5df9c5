"""The onboarding workflow's state, checked at every step's entry: the JSON object statemachine/onboarding.asl.json
passes from step to step (keys documented in ``orgbackup.onboarding``). A step handed anything else - a list, a
string, a key of the wrong type, a malformed resolution - raises InvalidInputError naming the key, the value and
the rule, a classified error the state machine's Catch clauses know, instead of failing deep inside with a
TypeError. Stdlib and ``orgbackup.accounts`` only: the Report function imports it too.
"""

from collections.abc import Mapping
from typing import Any, Final

from orgbackup.accounts import Resolution
from orgbackup.exceptions import InvalidInputError
from orgbackup.fields import got, is_account_id

State = dict[str, Any]

# A Step Functions execution name: 1-80 characters (Step Functions API reference, StartExecution "name").
MAX_EXECUTION_CHARS: Final = 80


def _strings(value: object, path: str) -> None:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise InvalidInputError(f"workflow state: {path}: must be a list of strings, got {got(value)}")


def _object(state: Mapping[str, Any], key: str) -> Mapping[str, Any] | None:
    value = state.get(key)
    if key in state and not isinstance(value, dict):
        raise InvalidInputError(f"workflow state: {key}: must be an object, got {got(value)}")
    return value


def _check_baseline(baseline: Mapping[str, Any]) -> None:
    onboarded = baseline.get("onboarded", [])
    _strings(onboarded, "baseline.onboarded")
    bad = next((item for item in onboarded if not is_account_id(item)), None)
    if bad is not None:
        raise InvalidInputError(f"workflow state: baseline.onboarded: {got(bad)} is not a 12-digit account ID")
    failed = baseline.get("failed", {})
    if not isinstance(failed, dict):
        raise InvalidInputError(f"workflow state: baseline.failed: must be an object, got {got(failed)}")
    for account, reasons in failed.items():
        _strings(reasons, f"baseline.failed.{account}")


def _check_backup_policies(policies: Mapping[str, Any]) -> None:
    for key in ("policies", "attached", "created", "updated"):
        if key in policies:
            _strings(policies[key], f"backup_policies.{key}")
    count = policies.get("attached_count", 0)
    if not isinstance(count, int) or isinstance(count, bool) or count < 0:
        raise InvalidInputError(f"workflow state: backup_policies.attached_count: must be a count, got {got(count)}")


def _check_failure(failure: Mapping[str, Any]) -> None:
    if "step" in failure and not isinstance(failure["step"], str):
        raise InvalidInputError(f"workflow state: failure.step: must be a string, got {got(failure['step'])}")
    error = failure.get("error", {})
    if not isinstance(error, dict):
        raise InvalidInputError(f"workflow state: failure.error: must be an object, got {got(error)}")
    for key in ("Error", "Cause"):
        if key in error and not isinstance(error[key], str):
            raise InvalidInputError(f"workflow state: failure.error.{key}: must be a string, got {got(error[key])}")


def check_state(state: object, *, required: tuple[str, ...] = ()) -> State:
    """``state`` if it is a well-formed workflow state holding ``required``; InvalidInputError otherwise."""
    if not isinstance(state, dict):
        raise InvalidInputError(
            f"workflow state: must be a JSON object (the state the previous step returned), got {got(state)}"
        )
    missing = [key for key in required if key not in state]
    if missing:
        raise InvalidInputError(f"workflow state: {', '.join(map(repr, missing))} missing; set by an earlier step")
    execution = state.get("execution")
    if "execution" in state and (not isinstance(execution, str) or not 0 < len(execution) <= MAX_EXECUTION_CHARS):
        raise InvalidInputError(
            f"workflow state: execution: must be an execution name (1-{MAX_EXECUTION_CHARS} characters), "
            f"got {got(execution)}"
        )
    if "resolution" in state:
        Resolution.from_dict(state["resolution"])
    plan = _object(state, "plan")
    for key, value in (plan or {}).items():
        if key == "reevaluated":  # the accounts an organization change named (orgbackup.changes)
            _strings(value, "plan.reevaluated")
        elif not isinstance(value, bool):
            raise InvalidInputError(f"workflow state: plan.{key}: must be true or false, got {got(value)}")
    if "operations" in state:
        _strings(state["operations"], "operations")
    baseline = _object(state, "baseline")
    if baseline is not None:
        _check_baseline(baseline)
    vault_policy = _object(state, "vault_policy")
    if vault_policy is not None and "written_regions" in vault_policy:
        _strings(vault_policy["written_regions"], "vault_policy.written_regions")
    policies = _object(state, "backup_policies")
    if policies is not None:
        _check_backup_policies(policies)
    failure = _object(state, "failure")
    if failure is not None:
        _check_failure(failure)
    return state
