"""The steps of the onboarding workflow, one function per Task of statemachine/onboarding.asl.json.

Each step takes the workflow state (a JSON object) and returns it with its own key added, so the state machine
passes one document from step to step and every step can be re-run: each reads the source of truth again
(Organizations, the StackSet's instances) rather than trusting what an earlier attempt wrote.

The state's keys and their JSON shape are one model, ``orgbackup.workflow_state.WorkflowState`` (which step writes
which key is noted there); every step validates it at entry (``check_state``) and returns it.
"""

from collections.abc import Callable, Collection, Sequence
from typing import TYPE_CHECKING, Any, cast

from orgbackup import baseline, changes, vault_policy
from orgbackup.accounts import Resolution, in_scope_active_account_ids, resolve_input
from orgbackup.aws.organizations import Organizations
from orgbackup.exceptions import InvalidInputError, RetryableConflictError
from orgbackup.fields import is_account_id, json_type
from orgbackup.observability import logger
from orgbackup.policies.apply import ACCOUNTS_TOKEN
from orgbackup.policies.converge import reattach_policies
from orgbackup.policies.parameters import PolicyParameters
from orgbackup.settings import Settings
from orgbackup.workflow_input import parse_workflow_input
from orgbackup.workflow_state import Plan, ResolutionState, WorkflowState, check_state, operations_name

if TYPE_CHECKING:
    from mypy_boto3_backup import BackupClient
    from mypy_boto3_cloudformation import CloudFormationClient
    from mypy_boto3_organizations import OrganizationsClient
    from mypy_boto3_sts import STSClient


def resolution_of(state: WorkflowState) -> Resolution:
    if "resolution" not in state:
        raise InvalidInputError("workflow state: 'resolution' is missing; it is set by an earlier step")
    return Resolution.from_dict(state["resolution"])


def resolve_request(event: object) -> tuple[object, str]:
    """The Resolve task's payload (the Start state wraps the execution's input): ``(input, execution name)``;
    ``request_chunk`` reads which reconcile chunk it is."""
    if not isinstance(event, dict) or "input" not in event:
        raise InvalidInputError(
            'Resolve: the payload must be {"input": <the execution\'s input>, "execution": <its name>} '
            f"(what the Start state passes), got {json_type(event)}"
            + (f" with keys {', '.join(map(repr, list(event)[:10])) or 'none'}" if isinstance(event, dict) else "")
        )
    execution = event.get("execution", "")
    if not isinstance(execution, str):
        raise InvalidInputError(
            f"Resolve: execution: must be the execution's name (a string), got {json_type(execution)}"
        )
    return event["input"], execution


def request_failed_earlier(event: object) -> list[str]:
    """The accounts that failed in the earlier chunks of a reconcile (NextChunk carries them; none when absent)."""
    failed = event.get("failed_earlier", []) if isinstance(event, dict) else []
    if not isinstance(failed, list) or not all(isinstance(item, str) and is_account_id(item) for item in failed):
        raise InvalidInputError(
            f"Resolve: failed_earlier: must be a list of 12-digit account IDs, got {json_type(failed)} {failed!r:.200}"
        )
    return failed


def request_chunk(event: object) -> int:
    """The reconcile chunk a Resolve payload asks for: NextChunk counts them (1 when absent: the first)."""
    chunk = event.get("chunk", 1) if isinstance(event, dict) else 1
    if not isinstance(chunk, int) or isinstance(chunk, bool) or chunk < 1:
        raise InvalidInputError(f"Resolve: chunk: must be a chunk number (1 or more), got {json_type(chunk)} {chunk!r}")
    return chunk


def resolve(
    raw_input: object,
    execution: str,
    settings: Settings,
    org: "Organizations | OrganizationsClient",
    cfn: "CloudFormationClient",
    chunk: int = 1,
    failed_earlier: Sequence[str] = (),
) -> WorkflowState:
    """Parse the input, look the accounts up and classify them; decide which steps the run needs. A reconcile
    takes at most ``accounts.RECONCILE_CHUNK_ACCOUNTS`` accounts to onboard (``chunk`` counts the rounds: the state
    machine comes back here while the Report's ``next_chunk`` says so), leaving out ``failed_earlier``, the
    accounts that failed in the earlier chunks (kept in the state: the Report names them)."""
    org = Organizations.of(org)
    workflow_input = changes.expand_ou_requests(org, parse_workflow_input(raw_input))
    requested = None if workflow_input.mode == "reconcile" else {r.account_id for r in workflow_input.requests}
    states = baseline.instance_states(cfn, settings.member_stackset_name, requested)
    current = baseline.current_accounts(states, settings.baseline_regions)
    # An account an operation is deploying now is left to the run that started it: another operation would queue
    # behind it and deploy the same instances again.
    in_progress = baseline.in_progress_accounts(states)
    reconcile = workflow_input.mode == "reconcile"
    resolution = resolve_input(
        org,
        settings,
        workflow_input,
        current_baseline_ids=current,
        in_progress_baseline_ids=in_progress,
        failed_earlier=frozenset(failed_earlier) if reconcile else frozenset(),
    )
    already_current = resolution.baseline_current > 0 or any(
        item.code == "baseline-current" for item in resolution.skipped
    )
    plan: Plan = {
        "start_baseline": bool(resolution.to_onboard),
        # Accounts whose baseline is already current still get the vault policy and the backup policies
        # converged: a run that failed after its StackSet operation is finished by the next one.
        "converge": bool(resolution.to_onboard) or already_current or resolution.mode == "reconcile",
    }
    if changes.may_need_offboarding(resolution, states):
        # Accounts leaving the scope (orgbackup.changes): the Offboard branch runs first.
        plan["offboard"] = True
    reevaluated = changes.reevaluated_accounts(workflow_input)
    if reevaluated:
        plan["reevaluated"] = reevaluated
    state: WorkflowState = {
        "execution": execution,
        # Resolution.to_dict writes what workflow_state.ResolutionState describes (check_state parses it back).
        "resolution": cast(ResolutionState, resolution.to_dict()),
        "plan": plan,
    }
    if reconcile:
        state["chunk"] = chunk
        if failed_earlier:
            state["failed_earlier"] = sorted(set(failed_earlier))
    return state


def start_baseline(event: object, settings: Settings, cfn: "CloudFormationClient") -> WorkflowState:
    state = check_state(event, required=("execution", "resolution"))
    accounts = resolution_of(state).account_ids
    states = baseline.instance_states(cfn, settings.member_stackset_name, accounts)
    plan = baseline.plan_baseline(accounts, states, settings.baseline_regions)
    operations = baseline.start_operations(
        cfn, settings.member_stackset_name, plan, settings.baseline_regions, operations_name(state)
    )
    logger.info("baseline operations started", extra={"operations": operations, "accounts": len(accounts)})
    return {**state, "operations": operations}


def inspect_baseline(event: object, settings: Settings, cfn: "CloudFormationClient") -> WorkflowState:
    state = check_state(event, required=("resolution",))
    accounts = resolution_of(state).account_ids
    results = baseline.operation_results(cfn, settings.member_stackset_name, state.get("operations", []))
    states = baseline.instance_states(cfn, settings.member_stackset_name, accounts)
    outcome = baseline.assess(accounts, settings.baseline_regions, states, results)
    if outcome.failed:
        logger.warning("baseline failed for some accounts", extra={"failed": outcome.failed})
    return {**state, "baseline": {"onboarded": outcome.onboarded, "failed": outcome.failed}}


def with_current_baseline(
    candidates: Collection[str],
    settings: Settings,
    cfn: "CloudFormationClient",
    kept: Collection[str] = (),
    regions: Sequence[str] | None = None,
) -> list[str]:
    """The ``candidates`` whose baseline is current in every backup Region, read from the StackSet now, plus the
    ``kept`` ones whose instances still exist in every Region. A StackSet-wide update leaves every instance
    OUTDATED while it runs, and a failed update rolls back to the old stack: neither removes a vault, so neither
    may remove an account from the central vault policy (its copies would start failing)."""
    # By default the backup Regions: the central vaults receive copies from there only, so an account whose
    # disaster-recovery Region instance is not there yet (a DR Region added later) keeps its central copies.
    regions = settings.backup_regions if regions is None else regions
    states = baseline.instance_states(cfn, settings.member_stackset_name)
    current = baseline.current_accounts(states, regions)
    still_deployed = baseline.deployed_accounts(states, regions).intersection(kept)
    return sorted((current | still_deployed).intersection(candidates))


def protected_accounts(
    settings: Settings, org: "Organizations | OrganizationsClient", cfn: "CloudFormationClient"
) -> list[str]:
    """The accounts the backup policies are attached to: active, in-scope accounts whose baseline is current in
    every Region it covers (the disaster-recovery Region too: the policies copy into the vault there)."""
    return with_current_baseline(
        in_scope_active_account_ids(org, settings), settings, cfn, regions=settings.baseline_regions
    )


def _batch_protected(state: WorkflowState) -> list[str]:
    """The batch's accounts whose baseline is current in every Region it covers: the ones InspectBaseline found
    onboarded (it reads every baseline Region) and the ones Resolve skipped as already current."""
    onboarded = state.get("baseline", {}).get("onboarded", [])
    current = [item.account_id for item in resolution_of(state).skipped if item.code == "baseline-current"]
    return sorted({*onboarded, *(account for account in current if account)})


# Re-reads after a write: another execution may have completed a baseline while this one rendered (twenty
# onboardings at once must all end in the policy: tests/workflow/test_scale_faults.py). Each round re-reads only
# the StackSet's instances (one call): onboardings change baselines, not the organization's membership, which is
# listed once per invocation.
MAX_REFRESH_ROUNDS = 3
# Policy attachments listed in the workflow state and the report (see reattach_backup_policies).
ATTACHMENTS_LISTED = 50


def refresh_vault_policy(
    event: object,
    settings: Settings,
    org: "Organizations | OrganizationsClient",
    cfn: "CloudFormationClient",
    sts: "STSClient",
    backup_client_factory: Callable[[Any, str], "BackupClient"],
) -> WorkflowState:
    """Render the central vault's access policy from the source of truth and write it where it changed, until
    the source of truth no longer moves. ``backup_client_factory(session, region)`` builds a Backup client from
    the assumed-role session.

    The last write of a race must hold the latest source of truth: every round re-reads it after writing, and a
    step whose last write is already stale (the source of truth moved in every round) raises
    RetryableConflictError instead of ending on it, so the state machine runs the step again a little later.
    A batch (not reconcile) whose central vault already holds the organization form keeps it without reading the
    organization (``_organization_form_in_place``), as long as it is the form the current settings render: one
    rendered under other ``ExcludedAccountIds`` or in-scope OUs differs (its Deny of the excluded accounts, its
    paths), so the full refresh runs and a changed exclusion reaches the policy at the next run of any kind."""
    state = check_state(event, required=("execution",))
    org = Organizations.of(org)  # one per invocation: the OU paths' parents serve the in-scope walk
    org_paths = (
        vault_policy.org_paths_for(org, settings.organization_id, settings.in_scope_ou_ids)
        if settings.in_scope_ou_ids
        else None
    )
    session = vault_policy.assume_central_role(sts, settings, state["execution"])
    in_place = vault_policy.policy_in_place(
        backup_client_factory(session, settings.primary_region), settings, settings.primary_region
    )
    if "resolution" in state and resolution_of(state).mode != "reconcile":
        settled = _organization_form_in_place(state, settings, in_place, org_paths, session, backup_client_factory)
        if settled is not None:
            return settled
    candidates = in_scope_active_account_ids(org, settings)
    # Accounts the policy in place already names stay while their instances exist (see with_current_baseline).
    kept = vault_policy.accounts_named(in_place)
    accounts = with_current_baseline(candidates, settings, cfn, kept)
    written_regions: set[str] = set()
    for _ in range(MAX_REFRESH_ROUNDS):
        policies = {
            region: vault_policy.render_central_vault_policy(
                settings,
                accounts,
                region,
                org_paths=org_paths,
                threshold=vault_policy.DEFAULT_THRESHOLD_BYTES,  # read at call time, so a test can lower it
            )
            for region in settings.backup_regions
        }
        written = vault_policy.apply_central_vault_policy(
            lambda region: backup_client_factory(session, region), settings, policies
        )
        written_regions.update(region for region, changed in written.items() if changed)
        latest = with_current_baseline(candidates, settings, cfn, kept)
        if latest == accounts:
            break
        accounts = latest
    else:
        raise RetryableConflictError(
            f"the central vault policy did not settle: the accounts with a current baseline changed after each of "
            f"{MAX_REFRESH_ROUNDS} writes (other onboardings are finishing); the policy written last names "
            f"{policies[settings.primary_region].account_count} accounts, {len(accounts)} have one now"
        )
    primary = policies[settings.primary_region]
    return {
        **state,
        "vault_policy": {
            "accounts": len(accounts),  # the accounts the last render named
            "mode": primary.mode,
            "written_regions": sorted(written_regions),
        },
    }


def _organization_form_in_place(
    state: WorkflowState,
    settings: Settings,
    in_place: str | None,
    org_paths: Sequence[str] | None,
    session: Any,
    backup_client_factory: Callable[[Any, str], "BackupClient"],
) -> WorkflowState | None:
    """The refresh of a batch (events or manual) when the central vault already grants by organization: the
    policy then names no account, so the batch's accounts are covered without reading the organization, and the
    work of a batch does not grow with the organization (issue 14). Each Region is still compared and rewritten
    if it drifted. Only the reconcile run recomputes the form from every in-scope account, and may switch back
    to the account form; None when the policy in place is not the organization form (the full refresh runs)."""
    primary = vault_policy.render_organization_form(settings, settings.primary_region, org_paths)
    if not vault_policy.same_policy(in_place, primary.text):
        return None
    policies = {
        region: vault_policy.render_organization_form(settings, region, org_paths) for region in settings.backup_regions
    }
    written = vault_policy.apply_central_vault_policy(
        lambda region: backup_client_factory(session, region), settings, policies
    )
    return {
        **state,
        "vault_policy": {
            "mode": primary.mode,
            "written_regions": sorted(region for region, changed in written.items() if changed),
        },
    }


def reattach_backup_policies(
    event: object,
    settings: Settings,
    params: PolicyParameters,
    org: "Organizations | OrganizationsClient",
    cfn: "CloudFormationClient",
) -> WorkflowState:
    """Attach the product's backup policies (the deploy-time custom resource creates and updates them; this step
    only attaches). When the deployment targets accounts directly (ACCOUNTS): a batch (events, manual) attaches
    them to its own accounts whose baseline is current (the ones it onboarded, and those it found current, which
    an earlier run may have left without), looking each one's policies up (or, past 20 accounts, attaching
    directly), so its work does not grow with the organization (issue 14); the reconcile run converges every
    protected account of the organization (the source of truth again)."""
    state = check_state(event)
    org = Organizations.of(org)
    accounts: list[str] = []
    whole_organization = "resolution" not in state or resolution_of(state).mode == "reconcile"
    if ACCOUNTS_TOKEN in settings.policy_target_ids:
        accounts = protected_accounts(settings, org, cfn) if whole_organization else _batch_protected(state)
    report = reattach_policies(org, settings, params, accounts=accounts, list_attached=whole_organization)
    return {
        **state,
        "backup_policies": {
            "policies": sorted(report.policy_ids),
            "created": report.created,
            "updated": report.updated,
            # The state must stay inside Step Functions' 256 KiB (a batch of 1,000 accounts attaches 2,000 times):
            # the first ones are listed, all are counted.
            "attached": report.attached[:ATTACHMENTS_LISTED],
            "attached_count": len(report.attached),
        },
    }
