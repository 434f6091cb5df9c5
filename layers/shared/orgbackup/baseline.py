"""The member baseline as StackSet instances: read their state, start the operations that create or repair
them, and read what each operation did per account and Region (through the StackSets adapter,
``orgbackup.aws.stacksets``).

One operation covers every account and every Region of a batch: StackSets run one operation per StackSet at a
time ("Only one operation can be performed for a stack set at a given time", OperationInProgressException,
https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_CreateStackInstances.html), so a batch of 50
accounts is one operation, not 50 queued ones. ``UpdateStackInstances`` acts only "in AWS Regions and accounts where
they already exist; to create additional stack instances, use CreateStackInstances"
(https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_UpdateStackInstances.html), so instances that
exist but are not CURRENT are repaired with it. An account missing an instance in some Region is created in every
Region, in the batch's one create operation: what ``CreateStackInstances`` does with a pair that already has an
instance its reference does not say. Users report that AWS skips such pairs without an error (a moto issue built on
that: https://github.com/getmoto/moto/issues/10171); the emulation does the same. Were AWS to refuse the call
instead, StartBaseline would fail and its failure be reported (no operation started, nothing half-done), never
leave an account silently unprotected; creating per missing-Region group instead would cost one more queued
operation per group and break the one-operation batch.
"""

import re
from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from orgbackup.aws.stacksets import StackSet
from orgbackup.exceptions import InvalidInputError

if TYPE_CHECKING:
    from mypy_boto3_cloudformation import CloudFormationClient

# Every Region at once, every account of a Region at once, and no account's failure stops the others: the
# workflow reads the result of each pair and reports the failed ones (StackSets operation options).
OPERATION_PREFERENCES: Final[dict[str, Any]] = {
    "RegionConcurrencyType": "PARALLEL",
    "MaxConcurrentPercentage": 100,
    "FailureTolerancePercentage": 100,
}
# OperationId: 1-128 characters matching [a-zA-Z0-9][-a-zA-Z0-9]* (CloudFormation API reference, CreateStackInstances
# OperationId, https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_CreateStackInstances.html).
_OPERATION_ID_UNSAFE = re.compile(r"[^a-zA-Z0-9-]")
CURRENT: Final = "CURRENT"


@dataclass(frozen=True, slots=True)
class InstanceState:
    # Status and DetailedStatus of the instance summary (CloudFormation API reference, StackInstanceSummary and
    # StackInstanceComprehensiveStatus,
    # https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_StackInstanceComprehensiveStatus.html).
    status: str  # CURRENT | OUTDATED | INOPERABLE
    # PENDING | RUNNING | SUCCEEDED | FAILED | CANCELLED | INOPERABLE | SKIPPED_SUSPENDED_ACCOUNT | FAILED_IMPORT
    detailed_status: str
    reason: str = ""


Instances = dict[str, dict[str, InstanceState]]  # account -> Region -> state


# Up to this many accounts, their instances are read account by account (one call each, whatever the StackSet's
# size); more, and the whole StackSet is listed (100 instances a page).
READ_BY_ACCOUNT_UP_TO: Final = 20


def instance_states(
    cfn: "CloudFormationClient", stackset_name: str, accounts: Collection[str] | None = None
) -> Instances:
    """The StackSet's instances by account and Region; with ``accounts``, at least those accounts' (a batch's
    few accounts are read one by one, so its cost does not grow with the StackSet)."""
    stackset = StackSet(cfn, stackset_name)
    if accounts is not None and len(accounts) <= READ_BY_ACCOUNT_UP_TO:
        summaries: Iterable[Any] = (
            summary for account in sorted(set(accounts)) for summary in stackset.instances(account)
        )
    else:
        summaries = stackset.instances()
    states: Instances = defaultdict(dict)
    for summary in summaries:
        states[summary["Account"]][summary["Region"]] = InstanceState(
            status=summary.get("Status", ""),
            detailed_status=summary.get("StackInstanceStatus", {}).get("DetailedStatus", ""),
            reason=summary.get("StatusReason", ""),
        )
    return dict(states)


def current_accounts(states: Instances, regions: Iterable[str]) -> set[str]:
    """Accounts whose instance is CURRENT in every backup Region: the ones with a baseline."""
    wanted = list(regions)
    return {
        account
        for account, by_region in states.items()
        if all(by_region.get(region, InstanceState("", "")).status == CURRENT for region in wanted)
    }


def deployed_accounts(states: Instances, regions: Iterable[str]) -> set[str]:
    """Accounts with an instance in every backup Region, whatever its status: their stacks exist, even while an
    operation updates them (OUTDATED) or after an update failed and rolled back."""
    wanted = list(regions)
    return {account for account, by_region in states.items() if all(region in by_region for region in wanted)}


# DetailedStatus of an instance an operation is deploying now: PENDING "has yet to start", RUNNING "is currently in
# progress" (CloudFormation API reference, StackInstanceComprehensiveStatus,
# https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_StackInstanceComprehensiveStatus.html).
IN_PROGRESS: Final = frozenset({"PENDING", "RUNNING"})


def in_progress_accounts(states: Instances) -> set[str]:
    """Accounts with an instance that a StackSet operation is deploying now (in any Region)."""
    return {
        account
        for account, by_region in states.items()
        if any(state.detailed_status in IN_PROGRESS for state in by_region.values())
    }


@dataclass(frozen=True)
class BaselinePlan:
    """``create``: accounts missing an instance in some Region (created in every Region; existing pairs are
    skipped: see the module docstring). ``update``: groups of accounts with the same Regions whose existing
    instances are not CURRENT."""

    create: tuple[str, ...] = ()
    update: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = ()

    @property
    def empty(self) -> bool:
        return not self.create and not self.update


def plan_baseline(account_ids: Sequence[str], states: Instances, regions: Sequence[str]) -> BaselinePlan:
    create: list[str] = []
    repair: dict[tuple[str, ...], list[str]] = defaultdict(list)
    for account in dict.fromkeys(account_ids):
        by_region = states.get(account, {})
        if any(region not in by_region for region in regions):
            create.append(account)
        stale = tuple(r for r in regions if r in by_region and by_region[r].status != CURRENT)
        if stale:
            repair[stale].append(account)
    return BaselinePlan(
        create=tuple(create), update=tuple((tuple(accounts), stale) for stale, accounts in repair.items())
    )


def operation_id(execution_name: str, action: str) -> str:
    """A deterministic operation ID, so a retried task finds the operation it already started."""
    cleaned = _OPERATION_ID_UNSAFE.sub("-", execution_name).strip("-") or "run"
    return f"{cleaned[: 127 - len(action)]}-{action}"


def start_operations(
    cfn: "CloudFormationClient", stackset_name: str, plan: BaselinePlan, regions: Sequence[str], execution_name: str
) -> list[str]:
    """Start the plan's operations; returns their IDs. ``OperationInProgressException`` is retried with backoff
    (the adapter's ``retry.call``) and, past that, surfaces as RetryableConflictError for the state machine to retry."""
    stackset = StackSet(cfn, stackset_name)
    operations: list[str] = []
    if plan.create:
        operations.append(
            stackset.create_instances(
                operation_id(execution_name, "create"), plan.create, regions, OPERATION_PREFERENCES
            )
        )
    for index, (accounts, stale_regions) in enumerate(plan.update):
        operations.append(
            stackset.update_instances(
                operation_id(execution_name, f"repair{index}"), accounts, stale_regions, OPERATION_PREFERENCES
            )
        )
    return operations


@dataclass
class PairResult:
    status: str
    reason: str = ""


@dataclass
class BaselineOutcome:
    onboarded: list[str] = field(default_factory=list)
    # account -> "Region: reason" lines for every Region that is not CURRENT
    failed: dict[str, list[str]] = field(default_factory=dict)


def operation_results(
    cfn: "CloudFormationClient", stackset_name: str, operation_ids: Iterable[str]
) -> dict[tuple[str, str], PairResult]:
    """(account, Region) -> what the operations did there; a later operation's word wins."""
    results: dict[tuple[str, str], PairResult] = {}
    stackset = StackSet(cfn, stackset_name)
    for op_id in operation_ids:
        try:
            for summary in stackset.operation_results(op_id):
                results[(summary["Account"], summary["Region"])] = PairResult(
                    summary.get("Status", ""), summary.get("StatusReason", "")
                )
        except InvalidInputError as error:  # an operation ID the StackSet does not have: the state named it
            raise InvalidInputError(f"workflow state: {error}") from None
    return results


def assess(
    account_ids: Sequence[str],
    regions: Sequence[str],
    states: Instances,
    results: dict[tuple[str, str], PairResult],
) -> BaselineOutcome:
    """An account is onboarded when its instance is CURRENT in every Region (read after the operations);
    otherwise each Region that is not says why, from the operation's result or the instance's own reason."""
    outcome = BaselineOutcome()
    for account in dict.fromkeys(account_ids):
        problems: list[str] = []
        for region in regions:
            state = states.get(account, {}).get(region)
            if state is not None and state.status == CURRENT:
                continue
            result = results.get((account, region))
            reason = (
                (result.reason if result else "")
                or (state.reason if state else "")
                or (
                    f"instance is {state.status} ({state.detailed_status})"
                    if state
                    else "no stack instance was created"
                )
            )
            problems.append(f"{region}: {reason}")
        if problems:
            outcome.failed[account] = problems
        else:
            outcome.onboarded.append(account)
    return outcome
