"""When the organization changes: which accounts leave the scope, and offboarding them.

One classification serves the events and the daily reconcile alike: ``accounts.resolve`` classifies every account
against the organization as it is when the run executes (never as an event described it), and an account whose
verdict is a departure (out of scope, excluded, closed or suspended, no longer in the organization) and that still
holds something of the product is offboarded:

- the product's backup policies attached to it directly are detached (an account named explicitly in
  ``policy_target_ids`` keeps them: that is configuration, not drift);
- its member StackSet instances are removed with ``RetainStacks`` (the stacks stay: vault, key and recovery points;
  CloudFormation API reference, DeleteStackInstances: "RetainStacks: Removes the stack instances from the specified
  stack set, but doesn't delete the stacks",
  https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_DeleteStackInstances.html) unless the
  deployment says delete;
- it leaves the central vault access policy at the next step (RefreshVaultPolicy renders the policy from the
  accounts in scope, so a departed account is simply no longer named).

Besides departures, reconcile removes instances in Regions the deployment no longer backs up (``BackupRegions``
lost a Region), retaining their stacks the same way (an instance still there afterwards is a failed offboarding,
as a departure's is), and detaches the product's policies from accounts that are not in scope (extra attachments).
"""

from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Final, cast

from botocore.exceptions import ClientError

from orgbackup import baseline, retry
from orgbackup.accounts import AccountOutcome, Resolution, in_scope_active_account_ids, resolve
from orgbackup.aws.organizations import Organizations
from orgbackup.aws.stacksets import StackSet
from orgbackup.observability import logger
from orgbackup.policies.apply import managed_policies
from orgbackup.retry import Backoff
from orgbackup.settings import Settings
from orgbackup.workflow_input import AccountRequest, WorkflowInput
from orgbackup.workflow_state import DepartureEntry, Offboarded, Plan, WorkflowState, check_state, operations_name

if TYPE_CHECKING:
    from mypy_boto3_cloudformation import CloudFormationClient
    from mypy_boto3_organizations import OrganizationsClient

# Verdicts of accounts.resolve that mean "this account must no longer be protected".
DEPARTURE_CODES: Final = frozenset({"out-of-scope", "excluded", "not-active", "unknown-account"})
# Triggers that ask to re-evaluate (organization changes); their accounts report "unchanged" when nothing was due.
CHANGE_TRIGGERS: Final = frozenset(
    {
        "MoveAccount",
        "RemoveAccountFromOrganization",
        "CloseAccount",
        "RegisterOrganizationalUnit",
        "DeregisterOrganizationalUnit",
    }
)
KEPT_WITH_RETAINED_STACKS: Final = (
    "its stacks (member vault, KMS key, backup role) and every recovery point in them; its copies in the central vault"
)
KEPT_WITH_DELETED_STACKS: Final = (
    "its copies in the central vault; recovery points in its member vault (AWS Backup refuses to delete a vault that "
    "holds any, so that stack's deletion fails and the instance is reported)"
)


@dataclass(frozen=True)
class OffboardingSettings:
    """``OffboardingRetainStacks`` (template parameter): false deletes the departing accounts' stacks."""

    offboarding_retain_stacks: bool = True


# ---------------------------------------------------------------------------------------------------------------
# OU lifecycle events: the OU's accounts, now


def _ou_accounts(
    org: "Organizations | OrganizationsClient", ou_id: str, backoff: Backoff | None
) -> list[tuple[str, str | None]]:
    """(account ID, name) of every account under the OU and its child OUs; empty when the OU no longer exists."""
    below = Organizations.of(org, backoff).walk_down([ou_id])
    return [(account["Id"], account.get("Name")) for account, _ in below]


def expand_ou_requests(
    org: "Organizations | OrganizationsClient", workflow_input: WorkflowInput, backoff: Backoff | None = None
) -> WorkflowInput:
    """Each Register/DeregisterOrganizationalUnit request becomes a request per account under that OU now."""
    if not workflow_input.ou_requests:
        return workflow_input
    expanded: list[AccountRequest] = []
    for request in workflow_input.ou_requests:
        for account_id, name in _ou_accounts(org, request.ou_id, backoff):
            expanded.append(
                AccountRequest(account_id=account_id, source=request.source, trigger=request.trigger, account_name=name)
            )
    return replace(workflow_input, requests=(*workflow_input.requests, *expanded), ou_requests=())


def reevaluated_accounts(workflow_input: WorkflowInput) -> list[str]:
    return sorted({request.account_id for request in workflow_input.requests if request.trigger in CHANGE_TRIGGERS})


# ---------------------------------------------------------------------------------------------------------------
# Which accounts leave


def _departures_in(resolution: Resolution) -> list[AccountOutcome]:
    return [
        item
        for item in [*resolution.skipped, *resolution.invalid]
        if item.account_id is not None and item.code in DEPARTURE_CODES
    ]


def may_need_offboarding(resolution: Resolution, states: baseline.Instances) -> bool:
    """Cheap test at Resolve: does the run have anything to offboard? Reconcile always looks (drift)."""
    if resolution.mode == "reconcile":
        return True
    return any(item.account_id in states for item in _departures_in(resolution))


@dataclass
class Departure:
    account_id: str
    code: str
    reason: str
    name: str | None = None
    regions: list[str] = field(default_factory=list)  # where its member instances are removed
    detached: list[str] = field(default_factory=list)  # "<policy name>" detached from it

    def to_entry(self) -> DepartureEntry:
        """As the workflow state holds it: empty fields left out."""
        return cast(
            DepartureEntry, {key: value for key, value in self.__dict__.items() if value or key == "account_id"}
        )


def find_departures(
    org: "Organizations | OrganizationsClient",
    settings: Settings,
    resolution: Resolution,
    states: baseline.Instances,
    backoff: Backoff | None = None,
    in_scope: Collection[str] | None = None,
) -> list[Departure]:
    """Accounts to offboard, decided now. In reconcile, every account holding instances that the in-scope listing
    (``in_scope``: the in-scope active accounts, read now) did not return is classified the same way an event's
    account is (accounts.resolve). The resolution cannot say which accounts are in scope: a reconcile counts the
    current ones and onboards one chunk of the rest."""
    outcomes = _departures_in(resolution)
    if resolution.mode == "reconcile":
        listed = set(in_scope_active_account_ids(org, settings, backoff=backoff) if in_scope is None else in_scope)
        others = sorted(set(states) - listed)
        requests = [AccountRequest(account_id=a, source="reconcile", trigger="manual") for a in others]
        outcomes += _departures_in(resolve(org, settings, requests, mode="manual", backoff=backoff))
    departures: dict[str, Departure] = {}
    for item in outcomes:
        assert item.account_id is not None
        departures.setdefault(
            item.account_id,
            Departure(item.account_id, item.code, item.reason, item.name, sorted(states.get(item.account_id, {}))),
        )
    return list(departures.values())


def dropped_regions(states: baseline.Instances, keep: Collection[str], accounts: Iterable[str]) -> dict[str, list[str]]:
    """account -> Regions where it has an instance the deployment no longer wants (BackupRegions lost a Region)."""
    return {
        account: sorted(region for region in states.get(account, {}) if region not in keep)
        for account in accounts
        if any(region not in keep for region in states.get(account, {}))
    }


# ---------------------------------------------------------------------------------------------------------------
# Offboarding: detach, remove instances


def _direct_policies(org: Organizations, account_id: str, managed_ids: Mapping[str, str]) -> list[str]:
    """IDs of the product's policies attached to the account itself; none when the account left the organization
    (its attachments went with it)."""
    try:
        attached = org.backup_policies_of(account_id)
    except ClientError as error:
        if retry.error_code(error) in {"TargetNotFoundException", "AccountNotFoundException"}:
            return []
        raise
    return sorted(policy_id for policy_id in attached if policy_id in managed_ids)


def detach_from(
    org: "Organizations | OrganizationsClient", account_id: str, managed: Mapping[str, str], explicit: Collection[str]
) -> list[str]:
    """Detach the product's policies attached directly to the account (unless the deployment names it)."""
    if account_id in explicit:
        return []
    organizations = Organizations.of(org)
    names = {policy_id: name for name, policy_id in managed.items()}
    detached = []
    for policy_id in _direct_policies(organizations, account_id, names):
        organizations.detach(policy_id, account_id)
        detached.append(names[policy_id])
    return sorted(detached)


def extra_attachments(
    org: "Organizations | OrganizationsClient",
    managed: Mapping[str, str],
    in_scope: Collection[str],
    explicit: Collection[str],
) -> set[str]:
    """Accounts the product's policies are attached to directly that are not in scope (reconcile's drift)."""
    organizations = Organizations.of(org)
    return {
        account_id
        for policy_id in managed.values()
        for account_id, kind in organizations.targets_of(policy_id).items()
        if kind == "ACCOUNT" and account_id not in {*in_scope, *explicit}
    }


def _groups(removals: Mapping[str, Sequence[str]]) -> list[tuple[list[str], list[str]]]:
    """Accounts grouped by the Regions to remove (self-managed DeleteStackInstances takes accounts x Regions)."""
    by_regions: dict[tuple[str, ...], list[str]] = defaultdict(list)
    for account, regions in removals.items():
        if regions:
            by_regions[tuple(sorted(regions))].append(account)
    return [(sorted(accounts), list(regions)) for regions, accounts in by_regions.items()]


def remove_instances(
    cfn: "CloudFormationClient",
    stackset_name: str,
    removals: Mapping[str, Sequence[str]],
    execution: str,
    *,
    retain_stacks: bool,
) -> list[str]:
    """One DeleteStackInstances operation per set of Regions (one in the usual case); returns the operation IDs.
    A deterministic operation ID makes a retried task find its own operation instead of starting another."""
    stackset = StackSet(cfn, stackset_name)
    return [
        stackset.delete_instances(
            baseline.operation_id(execution, f"offboard{index}"),
            accounts,
            regions,
            baseline.OPERATION_PREFERENCES,
            retain_stacks=retain_stacks,
        )
        for index, (accounts, regions) in enumerate(_groups(removals))
    ]


def offboard(
    event: object,
    settings: Settings,
    offboarding: OffboardingSettings,
    policy_name_prefix: str,
    org: "Organizations | OrganizationsClient",
    cfn: "CloudFormationClient",
    backoff: Backoff | None = None,
) -> WorkflowState:
    """The Offboard step: find what leaves (from the organization now), detach, start the instance removals."""
    state = check_state(event, required=("resolution",))
    org = Organizations.of(org, backoff)  # one per invocation
    resolution = Resolution.from_dict(state["resolution"])
    # A batch reads its departing accounts' instances only (baseline.instance_states); reconcile reads them all.
    leaving = {item.account_id for item in _departures_in(resolution) if item.account_id}
    states = baseline.instance_states(
        cfn, settings.member_stackset_name, None if resolution.mode == "reconcile" else leaving
    )
    # Reconcile: the in-scope accounts, listed once, serve both the departures and the extra attachments.
    in_scope = in_scope_active_account_ids(org, settings, backoff=backoff) if resolution.mode == "reconcile" else None
    departures = {
        item.account_id: item for item in find_departures(org, settings, resolution, states, backoff, in_scope)
    }
    managed = managed_policies(org, policy_name_prefix)
    explicit = set(settings.policy_target_ids)
    if in_scope is not None:
        for account_id in sorted(extra_attachments(org, managed, in_scope, explicit) - set(departures)):
            departures[account_id] = Departure(account_id, "out-of-scope", "not in scope: policies attached")
    for departure in departures.values():
        departure.detached = detach_from(org, departure.account_id, managed, explicit)
    # Only what holds something of the product is offboarded; the rest had nothing to remove.
    departures = {account: item for account, item in departures.items() if item.regions or item.detached}
    removals: dict[str, list[str]] = {account: item.regions for account, item in departures.items()}
    region_drift: dict[str, list[str]] = {}
    if resolution.mode == "reconcile":
        staying = set(states) - set(departures)
        region_drift = dropped_regions(states, settings.baseline_regions, staying)
        removals.update(region_drift)
    operations = remove_instances(
        cfn,
        settings.member_stackset_name,
        removals,
        operations_name(state),
        retain_stacks=offboarding.offboarding_retain_stacks,
    )
    logger.info(
        "offboarding started",
        extra={"departures": sorted(departures), "region_drift": region_drift, "operations": operations},
    )
    changed = bool(departures or region_drift)
    # Done: WhatToDo now goes on to onboarding and convergence.
    plan = state["plan"].copy() if "plan" in state else Plan(start_baseline=False, converge=False)
    plan.pop("offboard", None)
    if changed:
        plan["converge"] = True
    return {
        **state,
        "plan": plan,
        "offboarding": {
            "departures": [item.to_entry() for item in departures.values()],
            "regions_dropped": region_drift,
            "operations": operations,
            "retain_stacks": offboarding.offboarding_retain_stacks,
            "wait": bool(operations),
        },
    }


def inspect_offboarding(event: object, settings: Settings, cfn: "CloudFormationClient") -> WorkflowState:
    """The InspectOffboarding step: per account, which instances are gone, what was kept, and what failed (the
    departures' and the Regions no longer backed up alike)."""
    state = check_state(event, required=("offboarding",))  # the model checks offboarding and its operations
    offboarding = state["offboarding"]
    results = baseline.operation_results(cfn, settings.member_stackset_name, offboarding.get("operations", []))
    dropped = offboarding.get("regions_dropped", {})
    # Only the instances this run removed are looked at below: the departed accounts' and the dropped Regions'.
    departed = {str(item.get("account_id")) for item in offboarding.get("departures", []) if isinstance(item, dict)}
    states = baseline.instance_states(cfn, settings.member_stackset_name, departed | set(dropped))

    def still_there(account: str, regions: Iterable[str], label: str = "") -> list[str]:
        """One line per Region whose instance remains: the operation's reason for it, else that it is there."""
        return [
            f"{region}{label}: "
            f"{(results.get((account, region)) or baseline.PairResult('')).reason or 'instance still there'}"
            for region in regions
            if region in states.get(account, {})
        ]

    retain = bool(offboarding.get("retain_stacks", True))
    kept = KEPT_WITH_RETAINED_STACKS if retain else KEPT_WITH_DELETED_STACKS
    offboarded: dict[str, Offboarded] = {}
    failed: dict[str, list[str]] = {}
    # A Region no longer backed up whose instance remains is a failed removal, reported as a departure's is; only
    # the Regions whose instances are gone stay in ``regions_dropped`` (the report lists them as removed).
    removed_regions: dict[str, list[str]] = {}
    for account, regions in dropped.items():
        problems = still_there(account, regions, " (no longer backed up)")
        if problems:
            failed[account] = problems
        gone = [region for region in regions if region not in states.get(account, {})]
        if gone:
            removed_regions[account] = gone
    for item in offboarding.get("departures", []):
        account = item["account_id"]
        problems = still_there(account, item.get("regions", []))
        if problems:
            failed[account] = problems
            continue
        had_baseline = bool(item.get("regions"))
        removed = [f"stack instances in {', '.join(item['regions'])}"] if had_baseline else []
        removed += [f"backup policy {name} (attached to the account)" for name in item.get("detached", [])]
        if had_baseline:
            # RefreshVaultPolicy, later in this run, renders the policy without it.
            removed.append("its place in the central vault access policy")
        offboarded[account] = {
            "name": item.get("name"),
            "why": item.get("reason", ""),
            "removed": removed,
            "kept": kept if had_baseline else "its copies in the central vault, if any",
            "stacks": "retained" if retain else "deleted",
        }
    return {
        **state,
        "offboarding": {**offboarding, "regions_dropped": removed_regions, "offboarded": offboarded, "failed": failed},
    }
