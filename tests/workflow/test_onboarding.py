"""The onboarding workflow end to end: Control Tower lifecycle events put on the bus, matched by the real rule,
carried by the queue and the Pipe, executed by the real definition with the real handlers. Every Then reads
what the emulated accounts really hold and what SNS really delivered, not only what the workflow says."""

import pytest
from workflow_helpers import (
    REGIONS,
    SANDBOX,
    SECURITY,
    WORKLOADS,
    Notifications,
    allowed_accounts,
    backup_policies,
    central_policies,
    execution_end,
    holdings,
    lifecycle_event,
    new_accounts,
    operation_accounts,
    read_event,
    run_state,
    sqs_record,
    stackset_operations,
    states_entered,
)

from orgbackup.accounts import CENTRAL_ACCOUNT_WHY
from orgbackup_tools.simulation import Account, build_report

POLICIES = ["orgbackup-daily", "orgbackup-monthly"]
CURRENT_EVERYWHERE = dict.fromkeys(REGIONS, "CURRENT")


def assert_protected(world, account_id: str) -> None:
    """The account holds its baseline in every backup Region, may copy into the central vault in every Region,
    and has the backup policies in force."""
    held = holdings(world, account_id)
    assert held.stack_instances == CURRENT_EVERYWHERE
    assert held.vaults == dict.fromkeys(REGIONS, world.settings.member_vault_name)
    for region, policy in central_policies(world).items():
        assert account_id in allowed_accounts(policy), f"{account_id} missing from the central vault policy in {region}"
    assert held.in_central_vault_policy
    assert held.backup_policies == POLICIES


def assert_untouched(world, account_id: str) -> None:
    held = holdings(world, account_id)
    assert held.stack_instances == {}
    assert held.vaults == {}
    # (backup policies reach an account only once its role and vault exist: AWS Backup needs them)
    assert held.backup_policies == []
    for policy in central_policies(world).values():
        assert account_id not in allowed_accounts(policy)


@pytest.mark.parametrize(
    ("sample", "account_id", "name"),
    [
        ("controltower/create-managed-account.json", "333333333333", "workload-a"),
        ("controltower/update-managed-account.json", "444444444444", "workload-b-prod"),
    ],
    ids=["CreateManagedAccount", "UpdateManagedAccount"],
)
def test_a_new_account_is_protected_in_every_region_by_one_stackset_operation(
    world, aws_calls, sample, account_id, name
) -> None:
    # Given the organization of events/README.md, where the account has no baseline yet
    assert_untouched(world, account_id)
    inbox = Notifications(world)
    mark = aws_calls.mark()

    # When Control Tower reports the account created (or re-enrolled) with state SUCCEEDED
    histories = world.process_events([read_event(sample)])

    # Then one execution ran, through every step, and succeeded
    assert len(histories) == 1
    assert execution_end(histories[0])["type"] == "ExecutionSucceeded"
    assert states_entered(histories[0]) == [
        "Start",
        "Resolve",
        "WhatToDo",
        "StartBaseline",
        "WaitForBaseline",
        "InspectBaseline",
        "RefreshVaultPolicy",
        "ReattachBackupPolicies",
        "Report",
        "Notify",
        "Outcome",
        "Done",
    ]
    # And the account really holds its baseline, is in the central vault policy and has the policies in force
    assert_protected(world, account_id)
    # And that took exactly one StackSet operation, for that account only, and one policy write per Region
    (operation,) = stackset_operations(world)
    assert operation["Action"] == "CREATE"
    assert operation["Status"] == "SUCCEEDED"
    assert operation_accounts(world, operation["OperationId"]) == {account_id}
    assert aws_calls.count_since(mark, "PutBackupVaultAccessPolicy") == len(REGIONS)
    # And the other member accounts are untouched
    for other in {"333333333333", "444444444444", "555555555555", "666666666666"} - {account_id}:
        assert_untouched(world, other)
    # And one notification names the account
    (note,) = inbox.new()
    assert note["subject"] == "orgbackup: 1 onboarded"
    assert f"Onboarded (1):\n  - {account_id} ({name})" in note["message"]
    assert "Backup policies in force: orgbackup-daily, orgbackup-monthly." in note["message"]


def test_a_burst_of_ten_new_accounts_is_one_execution_and_one_stackset_operation(make_world, aws_calls) -> None:
    # Given ten new accounts in the Workloads OU
    accounts = new_accounts(10)
    world = make_world(extra_accounts=accounts)
    events = [lifecycle_event(account_id=a.account_id, name=a.name) for a in accounts]
    inbox = Notifications(world)
    mark = aws_calls.mark()

    # When Control Tower reports all ten created at once
    histories = world.process_events(events)

    # Then the Pipe hands them over as one batch: one execution, which succeeds
    assert len(histories) == 1
    assert execution_end(histories[0])["type"] == "ExecutionSucceeded"
    assert len(world.executions) == 1
    # And one StackSet operation created the baseline of all ten, in both Regions
    (operation,) = stackset_operations(world)
    assert operation_accounts(world, operation["OperationId"]) == {a.account_id for a in accounts}
    assert aws_calls.count_since(mark, "CreateStackInstances") == 1
    # And the central vault policy was written once per Region, naming all ten
    assert aws_calls.count_since(mark, "PutBackupVaultAccessPolicy") == len(REGIONS)
    for account in accounts:
        assert_protected(world, account.account_id)
    # And one notification lists the ten
    (note,) = inbox.new()
    assert note["subject"] == "orgbackup: 10 onboarded"
    assert all(f"{a.account_id} ({a.name})" in note["message"] for a in accounts)


def test_the_same_event_twice_changes_nothing_the_second_time(world, aws_calls) -> None:
    # Given an account onboarded from its CreateManagedAccount event
    event = read_event("controltower/create-managed-account.json")
    world.process_events([event])
    operations = stackset_operations(world)
    policies = central_policies(world)
    policies_in_force = backup_policies(world)
    inbox = Notifications(world)
    mark = aws_calls.mark()

    # When the same event arrives again (a redelivery, or UpdateManagedAccount after a retry)
    (history,) = world.process_events([event])

    # Then no StackSet operation was started, the vault policy was not written, no backup policy changed
    assert stackset_operations(world) == operations
    for operation in ("CreateStackInstances", "UpdateStackInstances", "PutBackupVaultAccessPolicy"):
        assert aws_calls.count_since(mark, operation) == 0, operation
    for operation in ("CreatePolicy", "UpdatePolicy", "AttachPolicy", "DetachPolicy", "DeletePolicy"):
        assert aws_calls.count_since(mark, operation) == 0, operation
    assert central_policies(world) == policies
    assert backup_policies(world) == policies_in_force
    assert_protected(world, "333333333333")
    # And the run says why: the account is skipped, its baseline already current
    assert execution_end(history)["type"] == "ExecutionSucceeded"
    report = build_report(world, [history])
    assert report["accounts"]["333333333333"]["outcome"] == "skipped"
    assert report["accounts"]["333333333333"]["reason"] == "baseline already current"
    (note,) = inbox.new()
    assert note["subject"] == "orgbackup: 0 onboarded, 1 skipped"
    assert "Baseline already current (no StackSet change): 1 account(s)." in note["message"]
    assert "written in nowhere (unchanged)" in note["message"]


def test_out_of_scope_excluded_suspended_management_and_central_accounts_are_skipped_and_nothing_changes(
    make_world, aws_calls
) -> None:
    # Given 555555555555 excluded by the deployment, and a suspended account in the in-scope Workloads OU
    world = make_world(
        extra_accounts=[Account("777777777777", "suspended-a", WORKLOADS[0], state="SUSPENDED")],
        overrides={"ExcludedAccountIds": "555555555555"},
    )
    events = [
        lifecycle_event(account_id="666666666666", name="sandbox-a", ou=SANDBOX),
        lifecycle_event(account_id="555555555555", name="workload-c"),
        lifecycle_event(account_id="777777777777", name="suspended-a"),
        lifecycle_event(account_id="111111111111", name="management"),
        lifecycle_event(account_id="222222222222", name="central-backup", ou=SECURITY),
    ]
    inbox = Notifications(world)
    mark = aws_calls.mark()

    # When Control Tower reports each of them
    (history,) = world.process_events(events)

    # Then each is skipped with its reason
    report = build_report(world, [history])
    outcomes = {account: (item["outcome"], item["reason"]) for account, item in report["accounts"].items()}
    assert outcomes["666666666666"][0] == "skipped"
    assert outcomes["666666666666"][1].startswith("out of scope: r-ab12 > ou-ab12-22222222 is not under any OU")
    assert outcomes["555555555555"] == ("skipped", "excluded: listed in the excluded_account_ids setting")
    assert outcomes["777777777777"] == (
        "skipped",
        "account state SUSPENDED: the account is suspended; nothing can be deployed into it",
    )
    assert outcomes["111111111111"][0] == "skipped"
    assert outcomes["111111111111"][1].startswith("management account: never onboarded")
    assert outcomes["222222222222"] == ("skipped", CENTRAL_ACCOUNT_WHY)
    assert set(outcomes) == {"666666666666", "555555555555", "777777777777", "111111111111", "222222222222"}
    # And nothing changed: no StackSet operation, no instance, no policy write, no baseline step ran
    assert execution_end(history)["type"] == "ExecutionSucceeded"
    assert stackset_operations(world) == []
    for operation in ("CreateStackInstances", "UpdateStackInstances", "PutBackupVaultAccessPolicy", "AttachPolicy"):
        assert aws_calls.count_since(mark, operation) == 0, operation
    assert "StartBaseline" not in states_entered(history)
    assert "RefreshVaultPolicy" not in states_entered(history)
    for account_id in outcomes:
        assert_untouched(world, account_id)
    # And the notification lists the five with their reasons
    (note,) = inbox.new()
    assert note["subject"] == "orgbackup: 0 onboarded, 5 skipped"
    for account_id, (_, reason) in outcomes.items():
        assert f"{account_id}" in note["message"]
        assert reason in note["message"]


def test_a_failed_lifecycle_event_starts_nothing_and_fed_directly_is_reported_invalid(world, aws_calls) -> None:
    # Given Control Tower's event for an account creation that FAILED
    failed = read_event("controltower/create-managed-account-failed.json")
    inbox = Notifications(world)
    mark = aws_calls.mark()

    # When it is put on the bus, the real rule (state SUCCEEDED only) does not match it: no execution at all
    assert world.put_lifecycle_events([failed]) == 0
    assert world.run_batches() == []
    assert world.executions == []

    # When it reaches the workflow anyway, as a Pipes record and as a raw event (`sam local invoke -e`)
    histories = [world.execute([sqs_record(failed)]), world.execute(failed)]

    # Then each run reports it invalid with Control Tower's own reason, and changes nothing
    for history in histories:
        assert execution_end(history)["type"] == "ExecutionSucceeded"
        (invalid,) = run_state(history)["resolution"]["invalid"]
        assert invalid["account_id"] == "555555555555"
        assert invalid["code"] == "failed-state"
        assert invalid["reason"].startswith(
            "state 'FAILED': Control Tower reported the account creation failed: AWS Control Tower could not "
            "create a managed account"
        )
        report = build_report(world, [history])
        assert report["accounts"]["555555555555"]["outcome"] == "invalid"
        assert "StartBaseline" not in states_entered(history)
    assert stackset_operations(world) == []
    assert aws_calls.count_since(mark, "CreateStackInstances") == 0
    assert aws_calls.count_since(mark, "PutBackupVaultAccessPolicy") == 0
    assert_untouched(world, "555555555555")
    notes = inbox.new()
    assert [note["subject"] for note in notes] == ["orgbackup: 0 onboarded, 1 invalid"] * 2
    assert all(
        "555555555555" in note["message"] and "could not create a managed account" in note["message"] for note in notes
    )


def test_a_malformed_account_id_reaches_the_workflow_and_is_reported_invalid(world, aws_calls) -> None:
    # Given an event whose account ID has 11 digits (state SUCCEEDED, so the rule matches it)
    malformed = read_event("controltower/malformed-account-id.json")
    inbox = Notifications(world)
    mark = aws_calls.mark()

    # When Control Tower's event goes through the rule, the queue and the Pipe
    (history,) = world.process_events([malformed])

    # Then the run reports the record invalid, naming the field and the value
    assert execution_end(history)["type"] == "ExecutionSucceeded"
    state = run_state(history)
    assert state["resolution"]["to_onboard"] == []
    (invalid,) = state["resolution"]["invalid"]
    assert invalid["code"] == "malformed"
    assert invalid["reason"] == (
        "detail.serviceEventDetails.createManagedAccountStatus.account.accountId: '33333333333' is not a 12-digit "
        "account ID"
    )
    # And nothing changed, for that ID or for the account it resembles
    assert stackset_operations(world) == []
    assert aws_calls.count_since(mark, "CreateStackInstances") == 0
    assert aws_calls.count_since(mark, "PutBackupVaultAccessPolicy") == 0
    assert_untouched(world, "333333333333")
    (note,) = inbox.new()
    assert note["subject"] == "orgbackup: 0 onboarded, 1 invalid"
    assert "'33333333333' is not a 12-digit account ID" in note["message"]
