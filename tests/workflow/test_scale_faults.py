"""Scale and faults (issue 5): twenty onboardings at once, AWS throttling and conflicts on every call the functions
make, a StackSet operation that outlasts the workflow's poll bound, one Region of one account failing, and
duplicated, replayed, overlapping and stale events. Every Then reads what the emulated accounts really hold (stack
instances, vaults, the central vault policy, the backup policies in force) and what SNS really delivered."""

import json
import re
import time
from collections import Counter
from pathlib import Path

import pytest
from fault_helpers import (
    POLICIES,
    gated_waits,
    instance_pairs,
    instant_task_retries,
    mutations_since,
    operations_per_account,
    protection_gaps,
    wait_all,
    wait_until,
)
from workflow_helpers import (
    PROD,
    REGIONS,
    Notifications,
    allowed_accounts,
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

from orgbackup import onboarding, retry
from orgbackup.accounts import BASELINE_CURRENT, BASELINE_IN_PROGRESS, reason_of
from orgbackup_tools import emulation
from orgbackup_tools.simulation import Account, build_report

ROOT = Path(__file__).resolve().parents[2]
DEFINITION = json.loads((ROOT / "statemachine" / "onboarding.asl.json").read_text(encoding="utf-8"))
POLL_STATES = DEFINITION["States"]["WaitForBaseline"]["ItemProcessor"]["States"]
# The workflow's bound on one StackSet operation: so many polls, each after so many seconds.
POLL_BOUND = next(
    choice["NumericGreaterThanEquals"]
    for choice in POLL_STATES["OperationEnded"]["Choices"]
    if choice.get("Variable") == "$.polls"
)
POLL_SECONDS = POLL_STATES["WaitForOperation"]["Seconds"]


def record_for(account: Account, sample: str = "controltower/create-managed-account.json") -> dict:
    """One SQS record of a Pipes batch carrying the lifecycle event for ``account``."""
    return sqs_record(lifecycle_event(sample, account_id=account.account_id, name=account.name))


def execution_status(world, arn: str) -> str:
    return str(world.client("stepfunctions").describe_execution(executionArn=arn)["status"])


# ---------------------------------------------------------------------------------------------------------------
# Many onboardings at once


def test_twenty_onboardings_started_at_once_all_end_in_the_vault_policy_with_each_instance_once(
    make_world, aws_calls
) -> None:
    # Given twenty new accounts in the in-scope Workloads OU
    accounts = new_accounts(20)
    ids = {account.account_id for account in accounts}
    world = make_world(extra_accounts=accounts)
    inbox = Notifications(world)

    # When one execution per account is started, all at once, each with a one-record batch (batching bypassed)
    arns = [world.start_execution([record_for(account)]) for account in accounts]
    statuses = wait_all(world, arns)

    # Then every execution succeeds
    assert statuses == ["SUCCEEDED"] * len(accounts)
    # And the central vault policy lets exactly the twenty copy in, in every Region: no account was lost to a
    # write rendered before another execution's baseline was done
    for region, policy in central_policies(world).items():
        assert allowed_accounts(policy) == ids, region
    # And every stack instance exists exactly once and is CURRENT: 20 accounts x 2 Regions
    assert instance_pairs(world) == Counter({(account, region, "CURRENT"): 1 for account in ids for region in REGIONS})
    # And each account was in exactly one StackSet operation
    assert operations_per_account(world) == Counter(dict.fromkeys(ids, 1))
    # And each account holds its vaults and has the backup policies in force
    for account_id in sorted(ids):
        assert protection_gaps(world, account_id) == [], account_id
    # And each execution sent one notification, for its own account
    notes = inbox.new()
    assert [note["subject"] for note in notes] == ["orgbackup: 1 onboarded"] * len(accounts)
    assert {re.search(r"Onboarded \(1\):\n  - (\d{12})", note["message"])[1] for note in notes} == ids


def test_the_vault_policy_step_never_ends_on_a_write_the_source_of_truth_has_outgrown(make_world, aws_calls) -> None:
    # Given an account to onboard, and more whose baselines other executions complete while this one writes the
    # central vault policy: one just before each of its writes (one per Region and round), so the source of truth
    # moves after every round of writes the step allows itself (the worst interleaving of concurrent onboardings)
    newcomer, *others = new_accounts(1 + len(REGIONS) * onboarding.MAX_REFRESH_ROUNDS)
    world = make_world(extra_accounts=[newcomer, *others])
    cfn = world.client("cloudformation")
    finishing = [account.account_id for account in others]

    def another_execution_finishes_a_baseline() -> None:
        if finishing:
            cfn.create_stack_instances(
                StackSetName=world.settings.member_stackset_name, Accounts=[finishing.pop(0)], Regions=list(REGIONS)
            )

    aws_calls.on("backup", "PutBackupVaultAccessPolicy", another_execution_finishes_a_baseline)
    invoked = len(world.invocations)

    # When the account is onboarded
    with instant_task_retries() as intervals:
        history = world.execute([record_for(newcomer)])

    # Then the policy in force names all seven accounts in every Region: none was lost to a stale write
    assert execution_end(history)["type"] == "ExecutionSucceeded"
    everyone = {newcomer.account_id, *(account.account_id for account in others)}
    for region, policy in central_policies(world).items():
        assert allowed_accounts(policy) == everyone, region
    # And that is because the step, having seen the source of truth move after each of its rounds of writes, did
    # not end on its last (stale) write: it failed with RetryableConflictError, and the state machine ran it again
    # after one backoff interval
    assert finishing == []
    assert world.invocations[invoked:].count("RefreshVaultPolicyFunction") == 2
    assert len(intervals) == 1
    (retrier,) = [
        item
        for item in DEFINITION["States"]["RefreshVaultPolicy"]["Retry"]
        if "RetryableConflictError" in item["ErrorEquals"]
    ]
    assert 0 <= intervals[0] <= retrier["IntervalSeconds"]
    assert run_state(history)["vault_policy"]["accounts"] == len(everyone)


# ---------------------------------------------------------------------------------------------------------------
# Throttling and conflicts on every call


@pytest.mark.parametrize("code", ["ThrottlingException", "TooManyRequestsException", "ConcurrentModificationException"])
def test_every_call_the_functions_make_is_retried_with_bounded_backoff_and_the_run_converges(
    make_world, aws_calls, no_sleep, code
) -> None:
    # Given two new accounts, the first onboarded by a clean run: the calls it makes are every call the functions
    # make to onboard an account (Organizations, CloudFormation, STS, and AWS Backup in the central account)
    clean, faulted = new_accounts(2)
    world = make_world(extra_accounts=[clean, faulted])
    inbox = Notifications(world)
    mark = aws_calls.mark()
    clean_history = world.execute([record_for(clean)])
    made = sorted(set(aws_calls.calls[mark:]))
    assert {service for service, _ in made} == {"organizations", "cloudformation", "sts", "backup"}
    assert no_sleep == []
    clean_invocations = list(world.invocations)
    # And AWS answers `code` to the first call, or the first two calls, of every one of those operations
    faults = {
        (service, operation): aws_calls.fail(service, operation, code, times=1 + index % 2)
        for index, (service, operation) in enumerate(made)
    }
    mark = aws_calls.mark()

    # When the second account is onboarded
    history = world.execute([record_for(faulted)])

    # Then the run succeeded (a call that is not retried would have failed its step: the failure names it)
    assert execution_end(history)["type"] == "ExecutionSucceeded", run_state(history).get("failure")
    # And every injected error was answered, and the run made no call the clean run did not (all were covered)
    assert {key: fault.answered for key, fault in faults.items()} == {key: fault.times for key, fault in faults.items()}
    assert set(aws_calls.calls[mark:]) <= set(made)
    # And each error was retried inside its function after exactly one backoff sleep, each within the bound of its
    # attempt (full jitter: at most base x 2^attempt, and attempts 1 and 2 here)
    injected = sum(fault.times for fault in faults.values())
    assert len(no_sleep) == injected
    backoff = retry.DEFAULT_BACKOFF
    assert all(0 <= slept <= min(backoff.cap_seconds, backoff.base_seconds * 2) for slept in no_sleep)
    # And the state machine had no task to retry: the same states, each function invoked once, as in the clean run
    assert states_entered(history) == states_entered(clean_history)
    assert world.invocations[len(clean_invocations) :] == clean_invocations
    # And the run converged to the clean run's end state
    assert holdings(world, faulted.account_id) == holdings(world, clean.account_id)
    assert protection_gaps(world, faulted.account_id) == []
    assert operations_per_account(world) == Counter({clean.account_id: 1, faulted.account_id: 1})
    for region, policy in central_policies(world).items():
        assert allowed_accounts(policy) == {clean.account_id, faulted.account_id}, region
    assert [note["subject"] for note in inbox.new()] == ["orgbackup: 1 onboarded"] * 2


# ---------------------------------------------------------------------------------------------------------------
# A StackSet operation that outlasts the workflow's bound


def test_an_operation_running_past_the_poll_bound_fails_clearly_and_a_rerun_finishes_without_duplicates(
    world, aws_calls
) -> None:
    # Given StackSet operations that stay RUNNING (CloudFormation is slow today)
    world.faults.hold()
    inbox = Notifications(world)
    waited = len(world.waits)
    mark = aws_calls.mark()

    # When an account is created
    started = time.monotonic()
    (history,) = world.process_events([read_event("controltower/create-managed-account.json")])
    elapsed = time.monotonic() - started

    # Then the workflow polled the operation up to its bound (an hour of modelled time, seconds of real time)
    assert world.waits[waited:] == [POLL_SECONDS] * POLL_BOUND
    assert POLL_BOUND * POLL_SECONDS == 3600
    assert elapsed < 60
    # And the execution failed at WaitForBaseline, with StackSetOperationTimedOut
    end = execution_end(history)
    assert end["type"] == "ExecutionFailed"
    assert end["executionFailedEventDetails"]["error"] == "OnboardingFailed"
    failure = run_state(history)["failure"]
    assert (failure["step"], failure["error"]["Error"]) == ("WaitForBaseline", "StackSetOperationTimedOut")
    # And one notification says which step, which error, why, for which account, and what to do
    (note,) = inbox.new()
    assert note["subject"] == "orgbackup: onboarding FAILED at WaitForBaseline: StackSetOperationTimedOut"
    message = note["message"]
    assert "Why: The StackSet operation was still running after 120 polls (one hour)." in message
    assert "Accounts in this run: 333333333333" in message
    assert "Fix the cause, then start the state machine with" in message
    rerun = json.loads(re.search(r'\{"mode": "manual".*\}', message)[0])
    assert rerun == {"mode": "manual", "account_ids": ["333333333333"]}
    # And nothing after the wait ran: the operation was started, nothing else was written
    assert mutations_since(aws_calls, mark) == {"CreateStackInstances": 1}
    (operation,) = stackset_operations(world)
    assert operation["Status"] == "RUNNING"
    assert "RefreshVaultPolicy" not in states_entered(history)

    # When the operator re-runs it at once, while the operation still runs
    mark = aws_calls.mark()
    history = world.execute(rerun)

    # Then the run starts nothing (a second operation would only queue behind the first) and says why
    assert execution_end(history)["type"] == "ExecutionSucceeded"
    assert mutations_since(aws_calls, mark) == {}
    assert [(item["account_id"], item["code"]) for item in run_state(history)["resolution"]["skipped"]] == [
        ("333333333333", "baseline-in-progress")
    ]
    (note,) = inbox.new()
    assert note["subject"] == "orgbackup: 0 onboarded, 1 skipped"
    assert f"333333333333 (workload-a): {BASELINE_IN_PROGRESS}" in note["message"]

    # When CloudFormation finishes the operation, and the operator re-runs the notification's input
    world.faults.release()
    mark = aws_calls.mark()
    history = world.execute(rerun)

    # Then the onboarding is finished without a second operation or a second instance
    assert execution_end(history)["type"] == "ExecutionSucceeded"
    assert operations_per_account(world) == Counter({"333333333333": 1})
    assert instance_pairs(world) == Counter({("333333333333", region, "CURRENT"): 1 for region in REGIONS})
    assert protection_gaps(world, "333333333333") == []
    assert mutations_since(aws_calls, mark) == {
        "PutBackupVaultAccessPolicy": len(REGIONS),
        "AttachPolicy": len(POLICIES),
    }
    (note,) = inbox.new()
    assert note["subject"] == "orgbackup: 0 onboarded, 1 skipped"
    assert "Baseline already current (no StackSet change): 1 account(s)." in note["message"]


# ---------------------------------------------------------------------------------------------------------------
# Partial failure, completed by the daily reconcile


def test_one_region_of_one_account_failing_leaves_the_rest_protected_and_reconcile_completes_it(
    world, aws_calls
) -> None:
    # Given the member baseline cannot deploy into 444444444444 in us-east-1
    reason = "Resource handler returned message: Role with name orgbackup-backup-role already exists (HTTP 409)"
    world.faults.fail("444444444444", "us-east-1", reason)
    inbox = Notifications(world)
    events = [
        lifecycle_event(account_id="333333333333", name="workload-a"),
        lifecycle_event(account_id="444444444444", name="workload-b-prod", ou=PROD),
        lifecycle_event(account_id="555555555555", name="workload-c"),
    ]

    # When the three accounts are created in one burst
    (history,) = world.process_events(events)

    # Then the two others are protected in every Region
    assert protection_gaps(world, "333333333333") == []
    assert protection_gaps(world, "555555555555") == []
    # And 444444444444 holds its baseline where it deployed, but is not let into the central vault and gets no
    # backup policy (they would name a role and a vault it lacks in us-east-1)
    held = holdings(world, "444444444444")
    assert held.stack_instances == {"us-east-1": "OUTDATED", "eu-west-1": "CURRENT"}
    assert held.vaults == {"eu-west-1": world.settings.member_vault_name}
    assert not held.in_central_vault_policy
    assert held.backup_policies == []
    # And the report and the notification name the failed account and Region, with AWS's reason
    report = build_report(world, [history])
    assert report["accounts"]["444444444444"]["outcome"] == "failed"
    assert report["accounts"]["444444444444"]["reason"] == f"us-east-1: {reason}"
    assert {account: item["outcome"] for account, item in report["accounts"].items()} == {
        "333333333333": "onboarded",
        "444444444444": "failed",
        "555555555555": "onboarded",
    }
    (note,) = inbox.new()
    assert note["subject"] == "orgbackup: 2 onboarded, 1 failed"
    assert f"444444444444 (workload-b-prod): us-east-1: {reason}" in note["message"]
    assert execution_end(history)["executionFailedEventDetails"]["error"] == "AccountsNotOnboarded"

    # When the cause is gone and the daily reconcile runs (nobody re-runs anything by hand)
    world.faults.heal()
    mark = aws_calls.mark()
    history = world.execute(read_event("workflow/reconcile.json"))

    # Then one UpdateStackInstances repaired exactly the failed pair, and nothing else was deployed
    assert execution_end(history)["type"] == "ExecutionSucceeded"
    first, repair = stackset_operations(world)
    assert (first["Action"], repair["Action"]) == ("CREATE", "UPDATE")
    assert operation_accounts(world, repair["OperationId"]) == {"444444444444"}
    repaired = world.client("cloudformation").list_stack_set_operation_results(
        StackSetName=world.settings.member_stackset_name, OperationId=repair["OperationId"]
    )["Summaries"]
    assert [(item["Region"], item["Status"]) for item in repaired] == [("us-east-1", "SUCCEEDED")]
    assert mutations_since(aws_calls, mark).get("CreateStackInstances", 0) == 0
    # And all three are protected, each instance existing once
    for account_id in ("333333333333", "444444444444", "555555555555"):
        assert protection_gaps(world, account_id) == [], account_id
    assert sum(instance_pairs(world).values()) == 3 * len(REGIONS)
    (note,) = inbox.new()
    assert note["subject"] == "orgbackup: 1 onboarded, 2 skipped"
    assert "(mode: reconcile)" in note["message"]
    assert "Onboarded (1):\n  - 444444444444 (workload-b-prod)" in note["message"]


# ---------------------------------------------------------------------------------------------------------------
# Duplicated, replayed, overlapping and stale events


def test_duplicated_and_replayed_events_and_accounts_closed_before_the_run_cause_no_storm_and_no_double_work(
    make_world, aws_calls
) -> None:
    # Given a new account, and two more that Control Tower reported created but that are closed (one CLOSED, one
    # SUSPENDED) by the time the run reads Organizations
    fresh, closed, suspended = new_accounts(3)
    world = make_world(extra_accounts=[fresh, closed, suspended])
    inbox = Notifications(world)
    event = lifecycle_event(account_id=fresh.account_id, name=fresh.name)
    world.put_lifecycle_events(
        [
            event,
            event,  # the same event twice in one batch (an at-least-once delivery)
            lifecycle_event(account_id=closed.account_id, name=closed.name),
            lifecycle_event(account_id=suspended.account_id, name=suspended.name),
        ]
    )
    emulation.rename_account(closed.account_id, closed.account_id, state="CLOSED")
    emulation.rename_account(suspended.account_id, suspended.account_id, state="SUSPENDED")

    # When the Pipe hands the queue over
    (history,) = world.run_batches()

    # Then one execution onboarded the new account once, for both records of its event
    assert execution_end(history)["type"] == "ExecutionSucceeded"
    resolution = run_state(history)["resolution"]
    (onboarded,) = resolution["to_onboard"]
    assert onboarded["account_id"] == fresh.account_id
    assert len(onboarded["sources"]) == 2
    assert protection_gaps(world, fresh.account_id) == []
    # And the closed accounts are skipped with the state Organizations has now, and get nothing
    assert {item["account_id"]: reason_of(item) for item in resolution["skipped"]} == {
        closed.account_id: "account state CLOSED: the account is closed",
        suspended.account_id: "account state SUSPENDED: the account is suspended; nothing can be deployed into it",
    }
    for account_id in (closed.account_id, suspended.account_id):
        assert holdings(world, account_id).stack_instances == {}
        for policy in central_policies(world).values():
            assert account_id not in allowed_accounts(policy)

    # When the same event arrives again in the next batch (a replay)
    mark = aws_calls.mark()
    (replayed,) = world.process_events([event])

    # Then it changes nothing and says why
    assert execution_end(replayed)["type"] == "ExecutionSucceeded"
    assert mutations_since(aws_calls, mark) == {}
    assert [(item["account_id"], reason_of(item)) for item in run_state(replayed)["resolution"]["skipped"]] == [
        (fresh.account_id, BASELINE_CURRENT)
    ]
    # And over both runs: one StackSet operation for the one account that needed it, each instance once, no
    # failed execution, one notification per execution
    assert operations_per_account(world) == Counter({fresh.account_id: 1})
    assert instance_pairs(world) == Counter({(fresh.account_id, region, "CURRENT"): 1 for region in REGIONS})
    assert [execution["status"] for execution in world.executions] == ["SUCCEEDED", "SUCCEEDED"]
    assert [note["subject"] for note in inbox.new()] == [
        "orgbackup: 1 onboarded, 2 skipped",
        "orgbackup: 0 onboarded, 1 skipped",
    ]


def test_an_event_arriving_while_a_run_is_deploying_the_same_account_starts_nothing_twice(world, aws_calls) -> None:
    # Given a run for 333333333333 whose StackSet operation is still running, parked in WaitForBaseline
    world.faults.hold()
    inbox = Notifications(world)
    with gated_waits() as gate:
        first = world.start_execution([sqs_record(read_event("controltower/create-managed-account.json"))])
        wait_until(lambda: gate.arrivals >= 1, what="the first run waiting for its operation")
        mark = aws_calls.mark()

        # When Control Tower's UpdateManagedAccount for the same account starts a second run meanwhile
        update = lifecycle_event(
            "controltower/update-managed-account.json", account_id="333333333333", name="workload-a"
        )
        second = world.start_execution([sqs_record(update)])
        wait_until(
            lambda: execution_status(world, second) != "RUNNING" or gate.arrivals >= 2,
            what="the second run ending (or waiting for an operation of its own)",
        )
        # (the second run is over before the first one's operation ends)
        assert execution_status(world, second) == "SUCCEEDED"
        assert mutations_since(aws_calls, mark) == {}

        # When CloudFormation finishes the first run's operation
        world.faults.release()
        gate.open()
        statuses = wait_all(world, [first, second])

    # Then both runs succeeded, the second having started no operation, and the account is protected
    assert statuses == ["SUCCEEDED", "SUCCEEDED"]
    second_state = run_state(world.history(second))
    assert [(item["account_id"], item["code"]) for item in second_state["resolution"]["skipped"]] == [
        ("333333333333", "baseline-in-progress")
    ]
    assert "StartBaseline" not in states_entered(world.history(second))
    assert operations_per_account(world) == Counter({"333333333333": 1})
    assert instance_pairs(world) == Counter({("333333333333", region, "CURRENT"): 1 for region in REGIONS})
    assert protection_gaps(world, "333333333333") == []
    assert holdings(world, "333333333333").backup_policies == POLICIES
    # And each run sent one notification: the second says the baseline was in progress, the first that it onboarded
    notes = inbox.new()
    assert [note["subject"] for note in notes] == ["orgbackup: 0 onboarded, 1 skipped", "orgbackup: 1 onboarded"]
    assert f"333333333333 (workload-a): {BASELINE_IN_PROGRESS}" in notes[0]["message"]
