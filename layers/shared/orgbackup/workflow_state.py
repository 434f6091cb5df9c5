"""The onboarding workflow's state: the JSON object statemachine/onboarding.asl.json passes from step to step.

The TypedDicts below are its one definition. The steps (``orgbackup.onboarding``) build it, the report
(``orgbackup.report``) reads it, ``check_state`` validates it at every step's entry by walking these very types, and
``orgbackup_tools.asl_check`` checks that every path the state machine reads or writes (``$.plan.converge``,
``$.report.failed``, a Catch's ``$.failure.error`` ...) is a field of them, of a type the state can use there.

A step handed anything else - a list, a string, a key of the wrong type, a malformed resolution - raises
InvalidInputError naming the key, the value and the rule, a classified error the state machine's Catch clauses
know, instead of failing deep inside with a TypeError. Keys the model does not name pass through unchecked, and a
key may be absent until the step that writes it has run (``required`` names what a step needs). Stdlib and
``orgbackup.accounts`` only: the Report function imports it too.
"""

import functools
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Final, NotRequired, TypedDict, cast

from orgbackup.accounts import Resolution
from orgbackup.exceptions import InvalidInputError
from orgbackup.fields import got, is_account_id

# A Step Functions execution name: 1-80 characters (Step Functions API reference, StartExecution "name").
MAX_EXECUTION_CHARS: Final = 80


@dataclass(frozen=True)
class Rule:
    """A constraint beyond the JSON type, carried by ``Annotated``: ``holds(value)`` or the error says ``why``."""

    holds: Callable[[Any], bool]
    why: str


@dataclass(frozen=True)
class ParsedBy:
    """A subtree another module owns and validates (its parser raises InvalidInputError naming the field)."""

    parse: Callable[[object], object]


AccountId = Annotated[str, Rule(is_account_id, "is not a 12-digit account ID")]
Count = Annotated[int, Rule(lambda value: value >= 0, "must be a count")]
ExecutionName = Annotated[
    str,
    Rule(
        lambda value: 0 < len(value) <= MAX_EXECUTION_CHARS,
        f"must be an execution name (1-{MAX_EXECUTION_CHARS} characters)",
    ),
]


class AccountEntry(TypedDict):
    """One account of the resolution (``Resolution.to_dict``): to onboard, skipped or invalid."""

    account_id: NotRequired[str]
    name: NotRequired[str]
    parent_id: NotRequired[str]
    sources: NotRequired[list[str]]
    code: NotRequired[str]
    reason: NotRequired[str]


class ResolutionCounts(TypedDict):
    to_onboard: int
    skipped: int
    invalid: int


class ResolutionState(TypedDict):
    """``resolution``: ``orgbackup.accounts.Resolution`` as JSON (its ``from_dict`` validates it)."""

    mode: str
    counts: NotRequired[ResolutionCounts]
    to_onboard: NotRequired[list[AccountEntry]]
    skipped: NotRequired[list[AccountEntry]]
    invalid: NotRequired[list[AccountEntry]]
    reason: NotRequired[str]
    baseline_current: NotRequired[int]  # reconcile: accounts skipped as current, counted, not listed
    remaining: NotRequired[int]  # reconcile: accounts to onboard left for the next chunk (Outcome -> NextChunk)


class Plan(TypedDict):
    """``plan``: which branches the run takes (the WhatToDo Choice state reads it)."""

    start_baseline: bool
    converge: bool
    offboard: NotRequired[bool]  # accounts may have left the scope: the Offboard branch first (it removes the key)
    reevaluated: NotRequired[list[str]]  # the accounts an organization change named (orgbackup.changes)


class DepartureEntry(TypedDict):
    """An account leaving the scope (``orgbackup.changes.Departure``): where its instances go, what was detached."""

    account_id: str
    code: NotRequired[str]
    reason: NotRequired[str]
    name: NotRequired[str]
    regions: NotRequired[list[str]]
    detached: NotRequired[list[str]]


class Offboarded(TypedDict):
    """What the report says of an account that was offboarded."""

    name: str | None
    why: str
    removed: list[str]
    kept: str
    stacks: str  # "retained" or "deleted"


class OffboardingState(TypedDict):
    """``offboarding``: what the Offboard step started and, once InspectOffboarding ran, what came of it."""

    departures: list[DepartureEntry]
    # account ID -> Regions no longer backed up: Offboard, those it removes; InspectOffboarding, those removed (a
    # Region whose instance remains goes to ``failed``)
    regions_dropped: dict[str, list[str]]
    operations: list[str]  # the StackSet operation IDs WaitForOffboarding polls
    retain_stacks: bool
    wait: bool  # an operation was started: OffboardingStarted goes to WaitForOffboarding
    offboarded: NotRequired[dict[str, Offboarded]]  # InspectOffboarding, by account ID
    failed: NotRequired[dict[str, list[str]]]  # InspectOffboarding: account ID -> one reason per Region


class BaselineState(TypedDict):
    """``baseline``: per account, whether the StackSet operations left its baseline current everywhere."""

    onboarded: list[AccountId]
    failed: dict[str, list[str]]  # account ID -> one reason per failed Region


class VaultPolicyState(TypedDict):
    # Absent when a batch kept the organization form without counting accounts (onboarding.refresh_vault_policy).
    accounts: NotRequired[Count]
    mode: str
    written_regions: list[str]


class BackupPoliciesState(TypedDict):
    policies: list[str]
    created: list[str]
    updated: list[str]
    attached: list[str]  # the first ones (the state stays within 256 KiB); attached_count counts them all
    attached_count: Count


class ErrorOutput(TypedDict):
    """What a Catch puts at its ResultPath (Step Functions developer guide, "Error handling in Step Functions":
    https://docs.aws.amazon.com/step-functions/latest/dg/concepts-error-handling.html): the error name and cause."""

    Error: NotRequired[str]
    Cause: NotRequired[str]


class Failure(TypedDict):
    """``failure``: the step whose Catch fired (the ``failed_step`` variable it assigned) and what it caught."""

    step: NotRequired[str]
    error: NotRequired[ErrorOutput]


class Report(TypedDict):
    """``report``: the notification (Notify publishes subject and message) and the outcome (Outcome reads failed)."""

    subject: str
    message: str
    failed: Count
    offboarding_failed: NotRequired[Count]  # Outcome ends AccountsNotOffboarded when some are
    outcome: str


class WorkflowState(TypedDict):
    """The state, with the step that writes each key."""

    execution: NotRequired[ExecutionName]  # Resolve
    chunk: NotRequired[Count]  # Resolve, reconcile: which chunk of the run this is (1, 2, ...; NextChunk counts)
    resolution: NotRequired[Annotated[ResolutionState, ParsedBy(Resolution.from_dict)]]  # Resolve
    plan: NotRequired[Plan]  # Resolve (Offboard updates it)
    offboarding: NotRequired[OffboardingState]  # Offboard, InspectOffboarding
    operations: NotRequired[list[str]]  # StartBaseline: the StackSet operation IDs WaitForBaseline polls
    baseline: NotRequired[BaselineState]  # InspectBaseline
    vault_policy: NotRequired[VaultPolicyState]  # RefreshVaultPolicy
    backup_policies: NotRequired[BackupPoliciesState]  # ReattachBackupPolicies
    report: NotRequired[Report]  # Report, ReportFailure
    failure: NotRequired[Failure]  # a Catch, then RecordFailedStep
    report_error: NotRequired[ErrorOutput]  # ReportFailure's Catch: the report itself failed
    notify_error: NotRequired[ErrorOutput]  # NotifyFailure's and NotifyRawFailure's Catch


class ResolveRequest(TypedDict):
    """What the Start state hands Resolve: the execution's input (any JSON: a Pipes batch is an array), its name."""

    input: Any
    execution: str
    chunk: NotRequired[int]  # NextChunk: the reconcile chunk this Resolve runs (absent: the first)


class OperationStatus(TypedDict):
    status: str  # DescribeStackSetOperation's StackSetOperation.Status


class OperationPoll(TypedDict):
    """The state of one iteration of a polling Map (WaitForBaseline, WaitForOffboarding): one StackSet operation and
    its polls."""

    operation_id: str
    polls: Count
    operation: NotRequired[OperationStatus]


# ---------------------------------------------------------------------------------------------------------------
# Validation: the types above, walked


_JSON_NAMES: Final[Mapping[type, str]] = {str: "a string", bool: "true or false", int: "an integer"}


def _is_typeddict(kind: object) -> bool:
    return isinstance(kind, type) and typing.is_typeddict(kind)


@functools.cache
def fields(model: type) -> dict[str, Any]:
    """A TypedDict's keys and their types (``Annotated`` kept, ``NotRequired`` removed); read once per model."""
    hints = typing.get_type_hints(model, include_extras=True)
    return {
        key: typing.get_args(kind)[0] if typing.get_origin(kind) in (typing.NotRequired, typing.Required) else kind
        for key, kind in hints.items()
    }


def check_value(value: object, kind: Any, path: str) -> None:
    """InvalidInputError naming ``path`` unless ``value`` is JSON of the type ``kind`` (the state's annotations)."""
    if kind is Any:
        return
    origin = typing.get_origin(kind)
    if origin is Annotated:
        _check_annotated(value, kind, path)
    elif _is_typeddict(kind):
        _check_object(value, kind, path)
    elif origin is list:
        _check_list(value, typing.get_args(kind)[0], path)
    elif origin is dict:
        if not isinstance(value, dict):
            raise InvalidInputError(f"workflow state: {path}: must be an object, got {got(value)}")
        item = typing.get_args(kind)[1]
        for key, element in value.items():
            check_value(element, item, f"{path}.{key}")
    elif optional_of(kind) is not None:
        if value is not None:
            check_value(value, optional_of(kind), path)
    elif kind in _JSON_NAMES:
        if not _is_json(value, kind):
            raise InvalidInputError(f"workflow state: {path}: must be {_JSON_NAMES[kind]}, got {got(value)}")
    else:
        raise TypeError(f"{path}: {kind!r} is not a JSON type the model knows")  # a model error, not bad input


def _check_annotated(value: object, kind: Any, path: str) -> None:
    base, *extras = typing.get_args(kind)
    parsers = [extra for extra in extras if isinstance(extra, ParsedBy)]
    if parsers:
        parsers[0].parse(value)
        return
    check_value(value, base, path)
    for extra in extras:
        if isinstance(extra, Rule) and not extra.holds(value):
            if extra.why.startswith("must"):
                raise InvalidInputError(f"workflow state: {path}: {extra.why}, got {got(value)}")
            raise InvalidInputError(f"workflow state: {path}: {got(value)} {extra.why}")


def _check_object(value: object, model: type, path: str) -> None:
    if not isinstance(value, dict):
        raise InvalidInputError(f"workflow state: {path}: must be an object, got {got(value)}")
    for key, kind in fields(model).items():
        if key in value:
            check_value(value[key], kind, f"{path}.{key}")


def _check_list(value: object, item: Any, path: str) -> None:
    scalar = _base(item)
    if not isinstance(value, list) or (
        scalar in _JSON_NAMES and not all(_is_json(element, scalar) for element in value)
    ):
        raise InvalidInputError(f"workflow state: {path}: must be a list{_of(item)}, got {got(value)}")
    for index, element in enumerate(value):
        check_value(element, item, f"{path}[{index}]")


def optional_of(kind: Any) -> Any:
    """``X`` for ``X | None`` (JSON null allowed); None for any other type (other unions are not JSON types here)."""
    arguments = typing.get_args(kind) if typing.get_origin(kind) in (types.UnionType, typing.Union) else ()
    others = [argument for argument in arguments if argument is not type(None)]
    return others[0] if len(arguments) == 2 and len(others) == 1 else None


def _is_json(value: object, kind: type) -> bool:
    # bool is an int in Python, not in JSON.
    return isinstance(value, kind) and (kind is bool or not isinstance(value, bool))


def _base(kind: Any) -> Any:
    return typing.get_args(kind)[0] if typing.get_origin(kind) is Annotated else kind


def _of(item: Any) -> str:
    return {str: " of strings", int: " of integers", bool: " of true or false"}.get(_base(item), "")


def operations_name(state: WorkflowState) -> str:
    """The name a step's StackSet operation IDs derive from (``baseline.operation_id``): the execution's, and the
    reconcile chunk's past the first: the operation ID is an idempotency token, CloudFormation performs an operation
    only once per ID (CloudFormation API reference, CreateStackInstances OperationId:
    https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_CreateStackInstances.html)."""
    execution = str(state.get("execution", "run"))
    chunk = state.get("chunk", 1)
    return execution if chunk <= 1 else f"{execution}-chunk{chunk}"


def check_state(state: object, *, required: tuple[str, ...] = ()) -> WorkflowState:
    """``state`` if it is a well-formed workflow state holding ``required``; InvalidInputError otherwise."""
    if not isinstance(state, dict):
        raise InvalidInputError(
            f"workflow state: must be a JSON object (the state the previous step returned), got {got(state)}"
        )
    missing = [key for key in required if key not in state]
    if missing:
        raise InvalidInputError(f"workflow state: {', '.join(map(repr, missing))} missing; set by an earlier step")
    for key, kind in fields(WorkflowState).items():
        if key in state:
            check_value(state[key], kind, key)
    return cast(WorkflowState, state)
