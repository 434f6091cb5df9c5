"""Issue 12: when the organization changes. Accounts move, close and leave; OUs are registered and deregistered;
the deployment's Regions and scope change. Every test runs the real rules, queue batching and state machine against
the emulated organization, and reads back what each account really holds afterwards."""

import copy
import dataclasses
from typing import Any

import pytest
from fault_helpers import protection_gaps
from workflow_helpers import (
    REGIONS,
    SANDBOX,
    WORKLOADS,
    Notifications,
    allowed_accounts,
    central_policies,
    execution_end,
    holdings,
    lifecycle_event,
    operation_accounts,
    read_event,
    run_state,
    sqs_record,
    stackset_operations,
    states_entered,
)

from orgbackup import settings_loader, vault_policy
from orgbackup.custom_resource import CustomResourceRequest
from orgbackup.exceptions import InvalidInputError
from orgbackup.policies.converge import handle_policy_resource
from orgbackup.policies.parameters import PolicyParameters
from orgbackup.settings import Settings
from orgbackup_tools import emulation
from orgbackup_tools.simulation import Observer, build_report, session_in

MOVE_OUT = "organizations/move-account-out-of-scope.json"
MOVE_IN = "organizations/move-account-into-scope.json"
CLOSE = "organizations/close-account.json"
REMOVE = "organizations/remove-account-from-organization.json"
REGISTER_OU = "controltower/register-organizational-unit.json"
DEREGISTER_OU = "controltower/deregister-organizational-unit.json"
VAULTS_EVERYWHERE = dict.fromkeys(REGIONS, "orgbackup-member")


def onboard(world, *account_ids: str) -> None:
    """The accounts protected by an earlier run (a manual one, through the same state machine)."""
    history = world.execute({"mode": "manual", "account_ids": list(account_ids)})
    assert execution_end(history)["type"] == "ExecutionSucceeded"
    for account_id in account_ids:
        assert protection_gaps(world, account_id) == [], account_id


def deliver(world, *events: dict[str, Any]) -> list[list[dict[str, Any]]]:
    """AWS makes each change, then emits the event; the rules, the queue and the Pipe carry them (one batch)."""
    for event in events:
        world.apply_organization_change(event)
    return world.process_events(list(events))


def move_event(account_id: str, source: str, destination: str) -> dict[str, Any]:
    event: dict[str, Any] = copy.deepcopy(read_event(MOVE_OUT))
    event["id"] = f"{event['id'][:-12]}{account_id}"
    event["detail"]["requestParameters"] = {
        "accountId": account_id,
        "sourceParentId": source,
        "destinationParentId": destination,
    }
    return event


def deployed_before_the_change(world, *account_ids: str) -> None:
    """The accounts' baseline in the Regions of before the configuration change, as the earlier deployment left it."""
    world.client("cloudformation").create_stack_instances(
        StackSetName=world.settings.member_stackset_name, Accounts=list(account_ids), Regions=list(REGIONS)
    )


def offboard_operations(world) -> list[dict[str, Any]]:
    return [operation for operation in stackset_operations(world) if operation["Action"] == "DELETE"]


def assert_offboarded_retaining(world, account_id: str) -> None:
    """No instance, no place in the central vault policy, no backup policy; the stacks (vaults) still there."""
    held = holdings(world, account_id)
    assert held.stack_instances == {}
    assert held.vaults == VAULTS_EVERYWHERE
    assert not held.in_central_vault_policy
    for region, policy in central_policies(world).items():
        assert account_id not in allowed_accounts(policy), region
    assert held.backup_policies == []


# ---------------------------------------------------------------------------------------------------------------
# Organizations events


def test_an_account_moved_out_of_scope_is_offboarded_and_keeps_its_stacks(world) -> None:
    # Given 333333333333 protected in Workloads (in scope)
    onboard(world, "333333333333")
    inbox = Notifications(world)

    # When it is moved to Sandbox (out of scope) and Organizations' MoveAccount event arrives
    (history,) = deliver(world, read_event(MOVE_OUT))

    # Then the run took the Offboard branch, then converged the vault policy and the backup policies
    assert execution_end(history)["type"] == "ExecutionSucceeded"
    entered = states_entered(history)
    assert entered[:5] == ["Start", "Resolve", "WhatToDo", "Offboard", "OffboardingStarted"]
    assert "InspectOffboarding" in entered
    assert "StartBaseline" not in entered
    assert "RefreshVaultPolicy" in entered
    # And one StackSet operation removed its instances in every Region, retaining the stacks
    (operation,) = offboard_operations(world)
    assert operation["Status"] == "SUCCEEDED"
    assert operation_accounts(world, operation["OperationId"]) == {"333333333333"}
    assert_offboarded_retaining(world, "333333333333")
    # And the report says offboarded, what was removed and what was kept
    report = build_report(world, [history])
    item = report["accounts"]["333333333333"]
    assert item["outcome"] == "offboarded"
    assert "out of scope" in item["reason"]
    assert "stack instances in eu-west-1, us-east-1" in item["reason"]
    assert "kept: its stacks (member vault, KMS key, backup role) and every recovery point" in item["reason"]
    (note,) = inbox.new()
    assert note["subject"] == "orgbackup: 0 onboarded, 1 offboarded"
    assert "Offboarded (left the scope) (1):" in note["message"]
    assert "backup policy orgbackup-daily (attached to the account)" in note["message"]


def test_an_account_moved_into_scope_is_onboarded(world) -> None:
    # Given sandbox-a (666666666666) out of scope, holding nothing
    assert holdings(world, "666666666666").stack_instances == {}

    # When it is moved to Workloads
    (history,) = deliver(world, read_event(MOVE_IN))

    # Then it is protected, by one CREATE operation, and nothing was offboarded
    assert execution_end(history)["type"] == "ExecutionSucceeded"
    assert protection_gaps(world, "666666666666") == []
    assert [operation["Action"] for operation in stackset_operations(world)] == ["CREATE"]
    assert build_report(world, [history])["accounts"]["666666666666"]["outcome"] == "onboarded"


def test_a_closed_account_is_offboarded(world) -> None:
    # Given 555555555555 protected
    onboard(world, "555555555555")

    # When it is closed and the CloseAccount event arrives (PENDING_CLOSURE in Organizations until AWS completes it)
    (history,) = deliver(world, read_event(CLOSE))

    # Then it is offboarded, its stacks retained, for the reason Organizations gives now
    assert execution_end(history)["type"] == "ExecutionSucceeded"
    assert_offboarded_retaining(world, "555555555555")
    item = build_report(world, [history])["accounts"]["555555555555"]
    assert item["outcome"] == "offboarded"
    assert item["reason"].startswith("account state PENDING_CLOSURE")


def test_an_organizations_event_aws_could_not_have_emitted_is_refused_and_changes_nothing(world) -> None:
    # Given the emulated organization as it is
    org = world.client("organizations")
    parents_before = {
        a["Id"]: org.list_parents(ChildId=a["Id"])["Parents"][0]["Id"] for a in org.list_accounts()["Accounts"]
    }

    def edited(sample: str, **changes: Any) -> dict[str, Any]:
        event: dict[str, Any] = copy.deepcopy(read_event(sample))
        event["detail"]["requestParameters"].update(changes)
        return event

    missing = copy.deepcopy(read_event(MOVE_OUT))
    del missing["detail"]["requestParameters"]["destinationParentId"]
    bad = [
        ("destinationParentId", edited(MOVE_OUT, destinationParentId="ou-ab12-99999999")),  # no such OU
        ("destinationParentId", edited(MOVE_OUT, destinationParentId=5)),
        ("destinationParentId", missing),
        ("accountId", edited(REMOVE, accountId="111111111111")),  # the management account
        ("accountId", edited(CLOSE, accountId="111111111111")),
    ]
    for field, event in bad:
        # When the simulation is asked to make the change of an event whose call AWS would have refused
        with pytest.raises(InvalidInputError) as raised:
            world.apply_organization_change(event)
        # Then the error names the field
        assert str(raised.value).startswith(f"detail.requestParameters.{field}: "), raised.value

    # And a call recorded with an errorCode (AWS refused it) changes nothing either
    refused = read_event(MOVE_OUT)
    refused["detail"]["errorCode"] = "AccessDeniedException"
    assert world.apply_organization_change(refused) is None
    parents_after = {
        a["Id"]: org.list_parents(ChildId=a["Id"])["Parents"][0]["Id"] for a in org.list_accounts()["Accounts"]
    }
    assert parents_after == parents_before
    assert {a["Id"]: a["Status"] for a in org.list_accounts()["Accounts"]}["111111111111"] == "ACTIVE"


def test_a_closed_account_once_suspended_is_not_offboarded_again(world) -> None:
    # Given 555555555555 offboarded on its CloseAccount event, while Organizations still showed PENDING_CLOSURE
    onboard(world, "555555555555")
    deliver(world, read_event(CLOSE))
    before = len(stackset_operations(world))

    # When the closure completes (SUSPENDED) and the daily reconcile runs
    emulation.rename_account("555555555555", "555555555555", "SUSPENDED")
    history = world.execute(read_event("workflow/reconcile.json"))

    # Then nothing is removed twice or given back: no removal, no operation names it, it is not reported again
    assert execution_end(history)["type"] == "ExecutionSucceeded"
    new = stackset_operations(world)[before:]
    assert [operation["Action"] for operation in new if operation["Action"] == "DELETE"] == []
    assert all("555555555555" not in operation_accounts(world, operation["OperationId"]) for operation in new)
    assert "555555555555" not in run_state(history).get("offboarding", {}).get("offboarded", {})
    assert_offboarded_retaining(world, "555555555555")


def test_an_account_removed_from_the_organization_is_offboarded(world) -> None:
    # Given 444444444444 (Prod, nested in Workloads) protected
    onboard(world, "444444444444")

    # When it leaves the organization and the RemoveAccountFromOrganization event arrives
    (history,) = deliver(world, read_event(REMOVE))

    # Then its instances are removed (stacks retained) and the central vault policy no longer names it
    assert execution_end(history)["type"] == "ExecutionSucceeded"
    # (an account outside the organization has no parents to read its policies through)
    assert Observer(world).stack_instances().get("444444444444", {}) == {}
    for policy in central_policies(world).values():
        assert "444444444444" not in allowed_accounts(policy)
    (operation,) = offboard_operations(world)
    assert operation_accounts(world, operation["OperationId"]) == {"444444444444"}
    state = run_state(history)
    assert list(state["offboarding"]["offboarded"]) == ["444444444444"]
    assert "unknown account" in state["offboarding"]["offboarded"]["444444444444"]["why"]


def test_a_stale_move_event_after_the_account_moved_back_changes_nothing(world, aws_calls) -> None:
    # Given 333333333333 protected, moved out and back again before the first move's event is handled
    onboard(world, "333333333333")
    org = world.client("organizations")
    org.move_account(AccountId="333333333333", SourceParentId=WORKLOADS[0], DestinationParentId=SANDBOX[0])
    org.move_account(AccountId="333333333333", SourceParentId=SANDBOX[0], DestinationParentId=WORKLOADS[0])
    mark = aws_calls.mark()

    # When the (now stale) MoveAccount event arrives
    (history,) = world.process_events([read_event(MOVE_OUT)])

    # Then the decision is taken from the organization as it is: nothing is offboarded, nothing redeployed
    assert execution_end(history)["type"] == "ExecutionSucceeded"
    assert offboard_operations(world) == []
    for operation in ("DeleteStackInstances", "CreateStackInstances", "UpdateStackInstances", "DetachPolicy"):
        assert aws_calls.count_since(mark, operation) == 0, operation
    assert protection_gaps(world, "333333333333") == []
    item = build_report(world, [history])["accounts"]["333333333333"]
    assert item["outcome"] == "unchanged"
    assert item["reason"] == "baseline already current"


def test_a_replayed_move_event_does_nothing_twice(world, aws_calls) -> None:
    # Given 333333333333 offboarded by its MoveAccount event
    onboard(world, "333333333333")
    deliver(world, read_event(MOVE_OUT))
    assert len(offboard_operations(world)) == 1
    mark = aws_calls.mark()

    # When the same event is delivered again
    (history,) = world.process_events([read_event(MOVE_OUT)])

    # Then no second operation runs and nothing is detached again; the account is reported unchanged
    assert execution_end(history)["type"] == "ExecutionSucceeded"
    assert len(offboard_operations(world)) == 1
    assert aws_calls.count_since(mark, "DeleteStackInstances") == 0
    assert aws_calls.count_since(mark, "DetachPolicy") == 0
    assert_offboarded_retaining(world, "333333333333")
    assert build_report(world, [history])["accounts"]["333333333333"]["outcome"] == "unchanged"


def test_a_move_between_two_out_of_scope_ous_is_unchanged(world, aws_calls) -> None:
    # Given sandbox-a out of scope, holding nothing; When it moves from Sandbox to the root (also out of scope)
    mark = aws_calls.mark()
    (history,) = deliver(world, move_event("666666666666", SANDBOX[0], "r-ab12"))

    # Then nothing is deployed or removed, and the account is reported unchanged
    assert execution_end(history)["type"] == "ExecutionSucceeded"
    assert stackset_operations(world) == []
    assert aws_calls.count_since(mark, "DeleteStackInstances") == 0
    item = build_report(world, [history])["accounts"]["666666666666"]
    assert item["outcome"] == "unchanged"
    assert item["reason"].startswith("out of scope")


def test_an_event_for_an_unknown_account_is_invalid_and_changes_nothing(world) -> None:
    # When a MoveAccount event names an account the organization does not have
    (history,) = world.process_events([move_event("999999999999", WORKLOADS[0], SANDBOX[0])])

    # Then nothing is deployed or removed and the account is reported invalid, with the reason
    assert execution_end(history)["type"] == "ExecutionSucceeded"
    assert stackset_operations(world) == []
    item = build_report(world, [history])["accounts"]["999999999999"]
    assert item["outcome"] == "invalid"
    assert item["reason"].startswith("unknown account: 999999999999")


def test_a_burst_mixing_onboarding_and_offboarding_is_one_operation_each_way(world) -> None:
    # Given 333333333333 and 555555555555 protected
    onboard(world, "333333333333", "555555555555")
    before = len(stackset_operations(world))

    # When one Pipes batch carries: 333333333333 moved out, 555555555555 closed, 666666666666 moved in, and a
    # Control Tower CreateManagedAccount for 444444444444
    batch = [
        read_event(MOVE_OUT),
        read_event(CLOSE),
        read_event(MOVE_IN),
        lifecycle_event(account_id="444444444444", name="workload-b-prod", ou=("ou-ab12-33333333", "Prod")),
    ]
    for event in batch:
        world.apply_organization_change(event)
    history = world.execute([sqs_record(event) for event in batch])

    # Then exactly one StackSet operation each way ran, the DELETE first
    assert execution_end(history)["type"] == "ExecutionSucceeded"
    new = stackset_operations(world)[before:]
    assert [operation["Action"] for operation in new] == ["DELETE", "CREATE"]
    assert operation_accounts(world, new[0]["OperationId"]) == {"333333333333", "555555555555"}
    assert operation_accounts(world, new[1]["OperationId"]) == {"444444444444", "666666666666"}
    # And each account holds what the organization says it should
    assert_offboarded_retaining(world, "333333333333")
    assert_offboarded_retaining(world, "555555555555")
    assert protection_gaps(world, "444444444444") == []
    assert protection_gaps(world, "666666666666") == []
    outcomes = {account: item["outcome"] for account, item in build_report(world, [history])["accounts"].items()}
    assert outcomes == {
        "333333333333": "offboarded",
        "555555555555": "offboarded",
        "444444444444": "onboarded",
        "666666666666": "onboarded",
    }


# ---------------------------------------------------------------------------------------------------------------
# Control Tower OU lifecycle events


def test_a_registered_ou_has_its_accounts_re_evaluated_and_onboarded(make_world) -> None:
    # Given Sandbox in scope (its accounts not protected yet)
    world = make_world(overrides={"InScopeOuIds": f"{WORKLOADS[0]},{SANDBOX[0]}"})

    # When Control Tower reports the Sandbox OU registered
    (history,) = world.process_events([read_event(REGISTER_OU)])

    # Then its account is onboarded
    assert execution_end(history)["type"] == "ExecutionSucceeded"
    assert protection_gaps(world, "666666666666") == []
    assert build_report(world, [history])["accounts"]["666666666666"]["outcome"] == "onboarded"


def test_a_deregistered_ou_has_its_accounts_re_evaluated_against_the_scope(world) -> None:
    # Given 333333333333 protected in Workloads, 555555555555 (also Workloads) not yet
    onboard(world, "333333333333")

    # When Control Tower reports the Workloads OU deregistered (the deployment still names it in scope)
    (history,) = world.process_events([read_event(DEREGISTER_OU)])

    # Then every account under it (Prod's too) is re-evaluated: the protected one is unchanged, the others are
    # onboarded; nothing is offboarded while the configuration keeps the OU in scope
    assert execution_end(history)["type"] == "ExecutionSucceeded"
    assert offboard_operations(world) == []
    outcomes = {account: item["outcome"] for account, item in build_report(world, [history])["accounts"].items()}
    assert outcomes == {"333333333333": "unchanged", "444444444444": "onboarded", "555555555555": "onboarded"}


# ---------------------------------------------------------------------------------------------------------------
# The daily reconcile finds and repairs drift; configuration changes converge


def test_reconcile_offboards_accounts_whose_event_was_lost_and_detaches_extra_attachments(world) -> None:
    # Given 333333333333 protected, then moved out of scope without its event reaching the product, and a product
    # policy attached by hand to sandbox-a (out of scope)
    onboard(world, "333333333333")
    org = world.client("organizations")
    org.move_account(AccountId="333333333333", SourceParentId=WORKLOADS[0], DestinationParentId=SANDBOX[0])
    daily = next(p for p in org.list_policies(Filter="BACKUP_POLICY")["Policies"] if p["Name"] == "orgbackup-daily")
    org.attach_policy(PolicyId=daily["Id"], TargetId="666666666666")

    # When the daily reconcile runs
    history = world.execute(read_event("workflow/reconcile.json"))

    # Then 333333333333 is offboarded, sandbox-a's attachment is gone, the in-scope accounts are protected
    assert execution_end(history)["type"] == "ExecutionSucceeded"
    assert_offboarded_retaining(world, "333333333333")
    assert holdings(world, "666666666666").backup_policies == []
    for account_id in ("444444444444", "555555555555"):
        assert protection_gaps(world, account_id) == [], account_id
    offboarded = run_state(history)["offboarding"]["offboarded"]
    assert sorted(offboarded) == ["333333333333", "666666666666"]
    assert offboarded["666666666666"]["removed"][0] == "backup policy orgbackup-daily (attached to the account)"


def test_a_lost_backup_region_loses_its_instances_retaining_the_stacks(world) -> None:
    # Given 333333333333 protected, with an instance left in eu-central-1, a Region no longer in BackupRegions
    onboard(world, "333333333333")
    cfn = world.client("cloudformation")
    cfn.create_stack_instances(
        StackSetName=world.settings.member_stackset_name, Accounts=["333333333333"], Regions=["eu-central-1"]
    )

    # When the daily reconcile runs
    history = world.execute(read_event("workflow/reconcile.json"))

    # Then the eu-central-1 instance is removed retaining its stack, and the account stays protected
    assert execution_end(history)["type"] == "ExecutionSucceeded"
    (operation,) = offboard_operations(world)
    results = cfn.list_stack_set_operation_results(
        StackSetName=world.settings.member_stackset_name, OperationId=operation["OperationId"]
    )["Summaries"]
    assert {(r["Account"], r["Region"]) for r in results} == {("333333333333", "eu-central-1")}
    assert protection_gaps(world, "333333333333") == []
    assert run_state(history)["offboarding"]["regions_dropped"] == {"333333333333": ["eu-central-1"]}
    assert "Regions no longer backed up" in run_state(history)["report"]["message"]


def test_a_lost_backup_region_whose_instance_cannot_be_removed_is_reported_failed(make_world) -> None:
    # Given OffboardingRetainStacks=false and 333333333333 protected, with an instance left in eu-central-1, a
    # Region no longer in BackupRegions, whose vault holds recovery points (so its stack cannot be deleted)
    world = make_world(overrides={"OffboardingRetainStacks": "false"})
    onboard(world, "333333333333")
    world.client("cloudformation").create_stack_instances(
        StackSetName=world.settings.member_stackset_name, Accounts=["333333333333"], Regions=["eu-central-1"]
    )
    emulation.hold_recovery_points("333333333333", "eu-central-1", world.settings.member_vault_name)
    inbox = Notifications(world)

    # When the daily reconcile runs
    history = world.execute(read_event("workflow/reconcile.json"))

    # Then the instance stays, the run fails saying which account, which Region and why, and does not report the
    # Region as removed; the account stays protected in the Regions backed up
    end = execution_end(history)
    assert end["type"] == "ExecutionFailed"
    assert end["executionFailedEventDetails"]["error"] == "AccountsNotOffboarded"
    held = holdings(world, "333333333333")
    assert held.stack_instances == dict.fromkeys([*REGIONS, "eu-central-1"], "CURRENT")
    assert held.in_central_vault_policy
    offboarding = run_state(history)["offboarding"]
    (reason,) = offboarding["failed"]["333333333333"]
    assert reason.startswith("eu-central-1 (no longer backed up): ")
    assert "recovery points" in reason
    assert offboarding["regions_dropped"] == {}
    item = build_report(world, [history])["accounts"]["333333333333"]
    assert item["outcome"] == "failed"
    (note,) = inbox.new()
    assert "1 offboarding failed" in note["subject"]
    assert f"333333333333: {reason}" in note["message"]
    assert "Regions no longer backed up" not in note["message"]


def test_a_gained_backup_region_gets_every_protected_account_in_one_operation(make_world) -> None:
    # Given BackupRegions now with eu-central-1 too, and two accounts protected before in the first two only
    world = make_world(overrides={"BackupRegions": "us-east-1,eu-west-1,eu-central-1"})
    deployed_before_the_change(world, "333333333333", "555555555555")
    before = len(stackset_operations(world))

    # When the daily reconcile runs
    history = world.execute(read_event("workflow/reconcile.json"))

    # Then one operation gave every in-scope account its baseline in the new Region, and the central vault policy
    # is written there too
    assert execution_end(history)["type"] == "ExecutionSucceeded"
    new = stackset_operations(world)[before:]
    assert [operation["Action"] for operation in new] == ["CREATE"]
    for account_id in ("333333333333", "444444444444", "555555555555"):
        assert holdings(world, account_id).stack_instances.get("eu-central-1") == "CURRENT", account_id
        assert account_id in allowed_accounts(central_policies(world)["eu-central-1"])
    assert "eu-central-1" in run_state(history)["vault_policy"]["written_regions"]


def test_changed_scope_and_exclusions_offboard_and_onboard_at_the_next_reconcile(make_world) -> None:
    # Given the deployment changed: Sandbox is now the only in-scope OU and 666666666666 is... in scope; the
    # Workloads accounts still hold their baseline from before the change; 555555555555 also newly excluded
    world = make_world(overrides={"InScopeOuIds": SANDBOX[0], "ExcludedAccountIds": "555555555555"})
    deployed_before_the_change(world, "333333333333", "555555555555")
    before = len(stackset_operations(world))

    # When the daily reconcile runs
    history = world.execute(read_event("workflow/reconcile.json"))

    # Then the Workloads accounts are offboarded (one DELETE), sandbox-a onboarded (one CREATE)
    assert execution_end(history)["type"] == "ExecutionSucceeded"
    new = stackset_operations(world)[before:]
    assert [operation["Action"] for operation in new] == ["DELETE", "CREATE"]
    assert operation_accounts(world, new[0]["OperationId"]) == {"333333333333", "555555555555"}
    offboarded = run_state(history)["offboarding"]["offboarded"]
    assert offboarded["555555555555"]["why"] == "excluded: listed in the excluded_account_ids setting"
    assert offboarded["333333333333"]["why"].startswith("out of scope")
    assert protection_gaps(world, "666666666666") == []


def _copy_into_central_vault(world, account_id: str) -> dict[str, Any]:
    """What the account's backup plan copy action does: its backup role copies a recovery point of its member vault
    into the central vault (the emulated AWS Backup evaluates the central vault's access policy); the finished job."""
    settings = world.settings
    region = settings.primary_region
    point = emulation.add_recovery_point(
        account_id,
        region,
        settings.member_vault_name,
        resource_arn=f"arn:aws:ec2:{region}:{account_id}:volume/vol-0123456789abcdef0",
        resource_type="EBS",
    )
    backup = session_in(world, account_id, region).client("backup")
    job_id = backup.start_copy_job(
        RecoveryPointArn=point,
        SourceBackupVaultName=settings.member_vault_name,
        DestinationBackupVaultArn=(
            f"arn:aws:backup:{region}:{settings.central_backup_account_id}:backup-vault:{settings.central_vault_name}"
        ),
        IamRoleArn=f"arn:aws:iam::{account_id}:role/{settings.backup_role_name}",
    )["CopyJobId"]
    while True:
        job: dict[str, Any] = backup.describe_copy_job(CopyJobId=job_id)["CopyJob"]
        if job["State"] in ("COMPLETED", "FAILED"):
            return job


def _organization_form_before_the_exclusion(world) -> None:
    """The central vault as a large organization holds it before the deploy that excluded 555555555555: the
    organization form rendered under the earlier settings (no account excluded), written through the central
    account's vault-policy role."""
    settings = world.settings
    before = dataclasses.replace(settings, excluded_account_ids=())
    paths = vault_policy.org_paths_for(
        world.client("organizations"), settings.organization_id, settings.in_scope_ou_ids
    )
    session = vault_policy.assume_central_role(world.client("sts"), settings, "before-the-exclusion")
    policies = {region: vault_policy.render_organization_form(before, region, paths) for region in REGIONS}
    vault_policy.apply_central_vault_policy(
        lambda region: session.client("backup", region_name=region), settings, policies
    )


@pytest.mark.parametrize("run", ["reconcile", "batch"])
def test_an_excluded_account_in_an_in_scope_ou_cannot_copy_in_under_the_organization_form(
    make_world, monkeypatch, run: str
) -> None:
    # Given a large organization's central vault policy (the org-paths form, forced by a 1-byte threshold) written
    # before 555555555555 was excluded, and 333333333333 and 555555555555 (both in Workloads, in scope) protected
    # then; the deployment now lists 555555555555 in ExcludedAccountIds, and it stays in Workloads
    world = make_world(overrides={"ExcludedAccountIds": "555555555555"})
    monkeypatch.setattr(vault_policy, "DEFAULT_THRESHOLD_BYTES", 1)
    world.client("cloudformation").create_stack_instances(
        StackSetName=world.settings.member_stackset_name,
        Accounts=["333333333333", "555555555555"],
        Regions=list(REGIONS),
    )
    _organization_form_before_the_exclusion(world)
    # (under that policy the account's retained backup role can still copy in: the finding)
    assert _copy_into_central_vault(world, "555555555555")["State"] == "COMPLETED"

    # When the next run writes the central vault policy: the daily reconcile, or a batch that finds the
    # organization form in place (it keeps that form only when the current settings render the same)
    if run == "reconcile":
        history = world.execute(read_event("workflow/reconcile.json"))
    else:
        history = world.execute({"mode": "manual", "account_ids": ["444444444444"]})

    # Then the policy is still the organization form, now with the Deny of the excluded and management accounts
    assert execution_end(history)["type"] == "ExecutionSucceeded", run_state(history).get("failure")
    assert run_state(history)["vault_policy"]["mode"] == "org-paths"
    assert set(run_state(history)["vault_policy"]["written_regions"]) == set(REGIONS)
    for region, policy in central_policies(world).items():
        assert policy is not None, region
        (deny,) = [s for s in policy["Statement"] if s["Sid"] == vault_policy.SID_DENY_EXCLUDED]
        assert deny["Effect"] == "Deny"
        assert deny["Action"] == "backup:CopyIntoBackupVault"
        assert deny["Condition"] == {"StringEquals": {"aws:PrincipalAccount": ["111111111111", "555555555555"]}}
    # And the excluded account, still in the in-scope OU, can no longer copy in: the explicit Deny wins
    refused = _copy_into_central_vault(world, "555555555555")
    assert refused["State"] == "FAILED"
    assert f"statement {vault_policy.SID_DENY_EXCLUDED} denies it" in refused["StatusMessage"]
    assert not holdings(world, "555555555555").in_central_vault_policy
    # And the accounts still protected copy in as before, by their OU's path
    assert _copy_into_central_vault(world, "333333333333")["State"] == "COMPLETED"
    assert holdings(world, "333333333333").in_central_vault_policy
    if run == "reconcile":
        # (the reconcile also offboards it: its instances go, its stacks and recovery points stay)
        offboarded = run_state(history)["offboarding"]["offboarded"]
        assert offboarded["555555555555"]["why"] == "excluded: listed in the excluded_account_ids setting"


def test_offboarding_deletes_the_stacks_when_the_deployment_says_so(make_world) -> None:
    # Given OffboardingRetainStacks=false and 333333333333 protected
    world = make_world(overrides={"OffboardingRetainStacks": "false"})
    onboard(world, "333333333333")

    # When it moves out of scope
    (history,) = deliver(world, read_event(MOVE_OUT))

    # Then its stacks are deleted with the instances (an empty vault can be deleted)
    assert execution_end(history)["type"] == "ExecutionSucceeded"
    held = holdings(world, "333333333333")
    assert held.stack_instances == {}
    assert held.vaults == {}
    item = run_state(history)["offboarding"]["offboarded"]["333333333333"]
    assert item["stacks"] == "deleted"


def _policy_targets(world) -> dict[str, list[str]]:
    org = world.client("organizations")
    return {
        policy["Name"]: sorted(t["TargetId"] for t in org.list_targets_for_policy(PolicyId=policy["Id"])["Targets"])
        for policy in org.list_policies(Filter="BACKUP_POLICY")["Policies"]
    }


def _deploy_policy_targets(world, old: list[str], new: list[str]):
    """What `sam deploy` with a new PolicyTargetIds does: an Update of Custom::BackupPolicies, its old properties
    included, handled by the real function code with the new environment."""
    environment = {**world.function_environment("ApplyBackupPoliciesFunction"), "POLICY_TARGET_IDS": ",".join(new)}
    request = CustomResourceRequest.parse(
        {
            "RequestType": "Update",
            "ResponseURL": "https://cloudformation-custom-resource-response.example/response",
            "StackId": "arn:aws:cloudformation:us-east-1:111111111111:stack/orgbackup/1",
            "RequestId": "update-1",
            "LogicalResourceId": "BackupPolicies",
            "ResourceType": "Custom::BackupPolicies",
            "PhysicalResourceId": "orgbackup-backup-policies/orgbackup",
            "ResourceProperties": {"PolicyTargetIds": new},
            "OldResourceProperties": {"PolicyTargetIds": old},
        }
    )
    return handle_policy_resource(
        request,
        world.client("organizations"),
        lambda: (settings_loader.load(Settings, environment), settings_loader.load(PolicyParameters, environment)),
    )


def test_policy_targets_no_longer_listed_are_detached_on_deploy(world) -> None:
    # Given the policies attached to each protected account (ACCOUNTS) and, by an earlier deploy, to Prod
    onboard(world, "333333333333", "555555555555")
    _deploy_policy_targets(world, ["ACCOUNTS"], ["ACCOUNTS", "ou-ab12-33333333"])
    assert set(_policy_targets(world)["orgbackup-daily"]) == {"333333333333", "555555555555", "ou-ab12-33333333"}

    # When a deploy drops Prod from PolicyTargetIds
    _deploy_policy_targets(world, ["ACCOUNTS", "ou-ab12-33333333"], ["ACCOUNTS"])

    # Then Prod loses the policies, the accounts keep them
    assert set(_policy_targets(world)["orgbackup-daily"]) == {"333333333333", "555555555555"}

    # When a deploy replaces ACCOUNTS by ROOT (555555555555 named explicitly too)
    outcome = _deploy_policy_targets(world, ["ACCOUNTS"], ["ROOT", "555555555555"])

    # Then the policies are attached to the root and to 555555555555, and no longer to 333333333333 directly
    # (it still has them in force, through the root)
    for name, targets in _policy_targets(world).items():
        assert targets == ["555555555555", "r-ab12"], name
    assert outcome.physical_resource_id == "orgbackup-backup-policies/orgbackup"
    assert holdings(world, "333333333333").backup_policies == ["orgbackup-daily", "orgbackup-monthly"]


def test_an_offboarding_that_cannot_delete_a_vault_holding_recovery_points_is_reported_failed(make_world) -> None:
    # Given OffboardingRetainStacks=false and 333333333333 protected, its eu-west-1 vault holding recovery points
    world = make_world(overrides={"OffboardingRetainStacks": "false"})
    onboard(world, "333333333333")
    emulation.hold_recovery_points("333333333333", "eu-west-1", world.settings.member_vault_name)
    inbox = Notifications(world)

    # When it moves out of scope
    (history,) = deliver(world, read_event(MOVE_OUT))

    # Then the stack whose vault holds recovery points is not deleted (AWS Backup refuses), the instance stays
    # and the run says so, while the rest of the offboarding is done
    end = execution_end(history)
    assert end["type"] == "ExecutionFailed"
    assert end["executionFailedEventDetails"]["error"] == "AccountsNotOffboarded"
    held = holdings(world, "333333333333")
    assert list(held.stack_instances) == ["eu-west-1"]
    assert held.vaults == {"eu-west-1": world.settings.member_vault_name}
    assert held.backup_policies == []
    assert not held.in_central_vault_policy
    item = build_report(world, [history])["accounts"]["333333333333"]
    assert item["outcome"] == "failed"
    assert item["reason"].startswith("offboarding: eu-west-1: ")
    assert "recovery points" in item["reason"]
    (note,) = inbox.new()
    assert note["subject"] == "orgbackup: 0 onboarded, 1 offboarding failed"


def test_an_account_whose_onboarding_failed_in_a_region_is_offboarded_everywhere(world) -> None:
    # Given 333333333333 whose baseline could not deploy in eu-west-1: that instance is listed OUTDATED (failed)
    world.faults.fail("333333333333", "eu-west-1")
    history = world.execute({"mode": "manual", "account_ids": ["333333333333"]})
    assert execution_end(history)["type"] == "ExecutionFailed"
    assert holdings(world, "333333333333").stack_instances == {"us-east-1": "CURRENT", "eu-west-1": "OUTDATED"}
    world.faults.heal()

    # When it moves out of scope
    (history,) = deliver(world, read_event(MOVE_OUT))

    # Then both instances are removed, the failed one too (DeleteStackInstances removes a failed instance like any
    # other), and the account is reported offboarded, not "instance still there"
    assert execution_end(history)["type"] == "ExecutionSucceeded"
    (operation,) = offboard_operations(world)
    assert operation["Status"] == "SUCCEEDED"
    held = holdings(world, "333333333333")
    assert held.stack_instances == {}
    assert held.vaults == {"us-east-1": world.settings.member_vault_name}
    item = build_report(world, [history])["accounts"]["333333333333"]
    assert item["outcome"] == "offboarded"
    assert "stack instances in eu-west-1, us-east-1" in item["reason"]


def test_an_offboarding_running_past_the_poll_bound_fails_clearly(world) -> None:
    # Given 333333333333 protected, and StackSet operations that then stay RUNNING (CloudFormation is slow today)
    onboard(world, "333333333333")
    inbox = Notifications(world)
    world.faults.hold()
    try:
        # When it is moved out of scope and its event arrives
        (history,) = deliver(world, read_event(MOVE_OUT))
    finally:
        world.faults.release()

    # Then the workflow polled the removal up to its bound and failed at WaitForOffboarding, saying so
    assert execution_end(history)["type"] == "ExecutionFailed"
    assert "FailedAtWaitForOffboarding" in states_entered(history)
    assert "InspectOffboarding" not in states_entered(history)
    failure = run_state(history)["failure"]
    assert (failure["step"], failure["error"]["Error"]) == ("WaitForOffboarding", "StackSetOperationTimedOut")
    (note,) = inbox.new()
    assert note["subject"] == "orgbackup: onboarding FAILED at WaitForOffboarding: StackSetOperationTimedOut"
    assert "Accounts in this run: none to onboard\n" in note["message"]
    assert "Accounts leaving the scope in this run: 333333333333\n" in note["message"]
    assert '{"mode": "reconcile"}' in note["message"]
