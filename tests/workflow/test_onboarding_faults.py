"""The onboarding workflow when AWS fails part of the way: a StackSet operation failing in one Region for one
account, StackSets busy with another operation, the central account's role refused. Every failure is notified,
leaves nothing half-done, and a later run finishes the job."""

import json
import re

from workflow_helpers import (
    REGIONS,
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

from orgbackup_tools.simulation import build_report

CURRENT_EVERYWHERE = dict.fromkeys(REGIONS, "CURRENT")
POLICIES = ["orgbackup-daily", "orgbackup-monthly"]


def test_a_stackset_failure_in_one_region_is_reported_and_a_later_run_repairs_it(world, aws_calls) -> None:
    # Given the member baseline cannot deploy into 555555555555 in eu-west-1
    reason = "Resource handler returned message: KMS key limit exceeded (Service: Kms, Status Code: 400)"
    world.faults.fail("555555555555", "eu-west-1", reason)
    inbox = Notifications(world)

    # When a Pipes batch with 333333333333 and 444444444444 and 555555555555 runs
    batch = read_event("workflow/pipe-batch.json")
    history = world.execute([*batch, sqs_record(lifecycle_event(account_id="555555555555", name="workload-c"))])

    # Then the other accounts are onboarded and protected
    for account_id in ("333333333333", "444444444444"):
        held = holdings(world, account_id)
        assert held.stack_instances == CURRENT_EVERYWHERE
        assert held.in_central_vault_policy
    # And the failed pair is left as AWS leaves it: the other Region's instance is in place, this one is not
    held = holdings(world, "555555555555")
    assert held.stack_instances == {"us-east-1": "CURRENT", "eu-west-1": "OUTDATED"}
    assert held.vaults == {"us-east-1": world.settings.member_vault_name}
    # and it gets no backup policy (they would name a vault it lacks in eu-west-1)
    assert held.backup_policies == []
    # and the account is not allowed into the central vault (its baseline is not current everywhere)
    for policy in central_policies(world).values():
        assert "555555555555" not in allowed_accounts(policy)
    # And the notification names the account, the Region and the reason, and how to retry
    (note,) = inbox.new()
    assert note["subject"] == "orgbackup: 2 onboarded, 1 failed"
    assert f"555555555555 (workload-c): eu-west-1: {reason}" in note["message"]
    assert '{"mode": "manual", "account_ids": ["555555555555"]}' in note["message"]
    # And the execution ends FAILED (AccountsNotOnboarded), after notifying
    end = execution_end(history)
    assert end["type"] == "ExecutionFailed"
    assert end["executionFailedEventDetails"]["error"] == "AccountsNotOnboarded"
    entered = states_entered(history)
    assert entered.index("Notify") < entered.index("SomeAccountsFailed")
    assert len(stackset_operations(world)) == 1

    # When the cause is fixed and the run the notification proposes is started
    world.faults.heal()
    retry_input = json.loads(re.search(r'\{"mode": "manual".*\}', note["message"])[0])
    history = world.execute(retry_input)

    # Then the failed instance is repaired with UpdateStackInstances (not created twice) and the account protected
    assert execution_end(history)["type"] == "ExecutionSucceeded"
    first, repair = stackset_operations(world)
    assert (first["Action"], repair["Action"]) == ("CREATE", "UPDATE")
    assert operation_accounts(world, repair["OperationId"]) == {"555555555555"}
    held = holdings(world, "555555555555")
    assert held.stack_instances == CURRENT_EVERYWHERE
    assert held.vaults == dict.fromkeys(REGIONS, world.settings.member_vault_name)
    assert held.in_central_vault_policy
    assert held.backup_policies == POLICIES
    (note,) = inbox.new()
    assert note["subject"] == "orgbackup: 1 onboarded"


def test_operation_in_progress_twice_is_retried_with_backoff_and_succeeds(world, aws_calls, no_sleep) -> None:
    # Given StackSets answer OperationInProgressException to the next two CreateStackInstances calls
    busy = aws_calls.fail("cloudformation", "CreateStackInstances", "OperationInProgressException", times=2)

    # When an account is created
    (history,) = world.process_events([read_event("controltower/create-managed-account.json")])

    # Then the call was retried with backoff inside the step (two waits), the third attempt started the
    # operation, and the run succeeded without the state machine having to retry the task
    assert busy.answered == 2
    assert aws_calls.count("CreateStackInstances") == 3
    assert len(no_sleep) == 2
    assert execution_end(history)["type"] == "ExecutionSucceeded"
    assert states_entered(history).count("StartBaseline") == 1
    # And exactly one operation exists, and the account is protected
    (operation,) = stackset_operations(world)
    assert operation_accounts(world, operation["OperationId"]) == {"333333333333"}
    held = holdings(world, "333333333333")
    assert held.stack_instances == CURRENT_EVERYWHERE
    assert held.in_central_vault_policy
    assert held.backup_policies == POLICIES


def test_when_the_central_role_cannot_be_assumed_the_failure_is_notified_and_a_rerun_finishes(world, aws_calls) -> None:
    # Given the central account refuses to let the management account assume its vault-policy role
    denied = aws_calls.fail(
        "sts",
        "AssumeRole",
        "AccessDenied",
        message="User: arn:aws:sts::111111111111:assumed-role/orgbackup-refresh/x is not authorized to perform: "
        "sts:AssumeRole on resource: arn:aws:iam::222222222222:role/OrgBackupVaultPolicyRole",
    )
    policies = central_policies(world)
    reattached = world.invocations.count("ReattachBackupPoliciesFunction")
    inbox = Notifications(world)
    mark = aws_calls.mark()

    # When an account is created
    (history,) = world.process_events([read_event("controltower/create-managed-account.json")])

    # Then the run fails at RefreshVaultPolicy, and a failure notification says which step, account and why
    assert denied.answered == 1
    end = execution_end(history)
    assert end["type"] == "ExecutionFailed"
    assert end["executionFailedEventDetails"]["error"] == "OnboardingFailed"
    (note,) = inbox.new()
    assert note["subject"] == "orgbackup: onboarding FAILED at RefreshVaultPolicy: CentralAccountAccessError"
    assert "FAILED at step RefreshVaultPolicy" in note["message"]
    assert "Accounts in this run: 333333333333" in note["message"]
    assert "cannot assume the central vault-policy role arn:aws:iam::222222222222:role/" in note["message"]
    assert "AccessDenied: User: arn:aws:sts::111111111111" in note["message"]
    # And nothing after the failed step ran: the vault policy was not written, the policies step never started
    entered = states_entered(history)
    assert "ReattachBackupPolicies" not in entered
    assert world.invocations.count("ReattachBackupPoliciesFunction") == reattached
    assert aws_calls.count_since(mark, "PutBackupVaultAccessPolicy") == 0
    assert central_policies(world) == policies
    assert not holdings(world, "333333333333").in_central_vault_policy
    assert holdings(world, "333333333333").backup_policies == []
    # (the baseline itself is in place, and the notification says so)
    assert holdings(world, "333333333333").stack_instances == CURRENT_EVERYWHERE
    assert "Baseline already in place for: 333333333333" in note["message"]
    operations = stackset_operations(world)
    assert len(operations) == 1

    # When the role is fixed and the run the notification proposes is started
    denied.remove()
    retry_input = json.loads(re.search(r'\{"mode": "manual".*\}', note["message"])[0])
    assert retry_input == {"mode": "manual", "account_ids": ["333333333333"]}
    history = world.execute(retry_input)

    # Then it finishes the onboarding without a new StackSet operation
    assert execution_end(history)["type"] == "ExecutionSucceeded"
    assert stackset_operations(world) == operations
    held = holdings(world, "333333333333")
    assert held.in_central_vault_policy
    assert held.backup_policies == POLICIES
    for policy in central_policies(world).values():
        assert "333333333333" in allowed_accounts(policy)
    assert "ReattachBackupPolicies" in states_entered(history)
    report = build_report(world, [history])
    assert report["accounts"]["333333333333"]["in_central_vault_policy"] is True
    (note,) = inbox.new()
    assert "Baseline already current (no StackSet change): 1 account(s)." in note["message"]
    assert "written in eu-west-1, us-east-1" in note["message"]
    assert "Newly attached: orgbackup-daily -> 333333333333, orgbackup-monthly -> 333333333333." in note["message"]
    assert run_state(history)["vault_policy"]["written_regions"] == sorted(REGIONS)
