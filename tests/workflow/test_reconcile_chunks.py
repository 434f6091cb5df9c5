"""Issue 14, part 5: a reconcile (the first deploy's backfill) of more accounts than one chunk onboards them all in
one execution, one chunk of accounts per round of the state machine (Resolve ... Notify, Outcome,
NextChunk), one StackSet operation per chunk, its state inside Step Functions' limit; and the daily reconcile of an
organization where every account is current lists none of them. The chunk is lowered to 3 accounts here."""

import json
from typing import Any

from workflow_helpers import (
    REGIONS,
    Notifications,
    execution_end,
    holdings,
    new_accounts,
    operation_accounts,
    read_event,
    run_state,
    stackset_operations,
    states_entered,
)

from orgbackup import accounts
from orgbackup_tools.simulation import build_report

# Step Functions' payload quota: 256 KiB per task input or output and execution state
# (https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html).
MAX_STATE_BYTES = 262_144
CURRENT_EVERYWHERE = dict.fromkeys(REGIONS, "CURRENT")
# The in-scope active accounts of the default organization (Workloads and Prod under it) and five new ones, by ID.
IN_SCOPE = sorted(["333333333333", "444444444444", "555555555555", *(a.account_id for a in new_accounts(5))])


def largest_state(history: list[dict[str, Any]]) -> int:
    """The largest state any state of the execution passed on, in bytes."""
    outputs = [
        event["stateExitedEventDetails"].get("output", "")
        for event in history
        if event["type"].endswith("StateExited") and "stateExitedEventDetails" in event
    ]
    assert outputs
    return max(len(output.encode()) for output in outputs)


def test_a_backfill_larger_than_a_chunk_is_onboarded_in_chunks_in_one_execution(make_world, monkeypatch) -> None:
    # Given chunks of 3 accounts and an organization of 8 in-scope accounts, none with a baseline (a first deploy)
    monkeypatch.setattr(accounts, "RECONCILE_CHUNK_ACCOUNTS", 3)
    world = make_world(extra_accounts=new_accounts(5))
    inbox = Notifications(world)

    # When the reconcile runs
    history = world.execute(read_event("workflow/reconcile.json"))

    # Then one execution onboarded them in ceil(8 / 3) = 3 chunks, one StackSet operation each, by account ID
    assert execution_end(history)["type"] == "ExecutionSucceeded", run_state(history).get("failure")
    entered = states_entered(history)
    assert entered.count("Resolve") == 3
    assert entered.count("NextChunk") == 2
    assert entered.count("StartBaseline") == 3
    chunks = [sorted(operation_accounts(world, item["OperationId"])) for item in stackset_operations(world)]
    assert chunks == [IN_SCOPE[0:3], IN_SCOPE[3:6], IN_SCOPE[6:8]]
    # And every account is protected
    for account_id in IN_SCOPE:
        held = holdings(world, account_id)
        assert held.stack_instances == CURRENT_EVERYWHERE, account_id
        assert held.in_central_vault_policy, account_id
        assert held.backup_policies == ["orgbackup-daily", "orgbackup-monthly"], account_id
    # And no state passed on was larger than Step Functions allows
    assert largest_state(history) <= MAX_STATE_BYTES
    # And each chunk's notification says what follows
    first, second, third = inbox.new()
    assert first["subject"] == "orgbackup: 3 onboarded"
    assert "5 more accounts follow in this run (chunk 2)." in first["message"]
    assert "2 more accounts follow in this run (chunk 3)." in second["message"]
    assert "more accounts" not in third["message"]
    assert "Baseline already current (no StackSet change): 6 account(s)." in third["message"]
    final = run_state(history)
    assert final["chunk"] == 3
    assert "remaining" not in final["resolution"]
    # And the simulation's report reads every chunk
    report = build_report(world, [history])
    assert {account: item["outcome"] for account, item in report["accounts"].items()} == dict.fromkeys(
        IN_SCOPE, "onboarded"
    )

    # When the daily reconcile runs on the organization, every account now current
    daily = world.execute(read_event("workflow/reconcile.json"))

    # Then it lists no account, counts the current ones, starts no StackSet operation and runs one chunk
    assert execution_end(daily)["type"] == "ExecutionSucceeded"
    resolution = run_state(daily)["resolution"]
    assert resolution.get("skipped", []) == []
    assert resolution.get("to_onboard", []) == []
    assert resolution["baseline_current"] == len(IN_SCOPE)
    assert len(stackset_operations(world)) == 3
    assert "NextChunk" not in states_entered(daily)
    (note,) = inbox.new()
    assert note["subject"] == f"orgbackup: 0 onboarded, {len(IN_SCOPE)} skipped"


def test_a_failed_account_is_left_out_of_the_next_chunks_and_the_backfill_goes_on(make_world, monkeypatch) -> None:
    # Given chunks of 3 accounts, 8 accounts to onboard, and the baseline failing for one of the first chunk every
    # time (as a missing execution role would)
    monkeypatch.setattr(accounts, "RECONCILE_CHUNK_ACCOUNTS", 3)
    world = make_world(extra_accounts=new_accounts(5))
    world.faults.fail("444444444444", "eu-west-1")
    inbox = Notifications(world)

    # When the reconcile runs
    history = world.execute(read_event("workflow/reconcile.json"))

    # Then the one failed account does not stop the backfill: it is carried to the next chunks and left out of
    # them, so one execution onboards every other account in 3 chunks (3 StackSet operations), the failed one
    # deployed once
    entered = states_entered(history)
    assert entered.count("NextChunk") == 2
    chunks = [sorted(operation_accounts(world, item["OperationId"])) for item in stackset_operations(world)]
    assert chunks == [IN_SCOPE[0:3], IN_SCOPE[3:6], IN_SCOPE[6:8]]
    for account_id in IN_SCOPE:
        if account_id != "444444444444":
            assert holdings(world, account_id).stack_instances == CURRENT_EVERYWHERE, account_id
    # And the run still ends as a run with failed accounts does
    end = execution_end(history)
    assert end["type"] == "ExecutionFailed"
    assert end["executionFailedEventDetails"]["error"] == "AccountsNotOnboarded"
    final = run_state(history)
    assert final["failed_earlier"] == ["444444444444"]
    assert (final["report"]["failed"], final["report"]["failed_accounts"]) == (1, ["444444444444"])
    assert largest_state(history) <= MAX_STATE_BYTES
    # And the first chunk's notification says why it failed and that the run goes on without it; the last one names
    # it once more, with the input that re-runs it
    first, second, last = inbox.new()
    assert "444444444444 (workload-b-prod): eu-west-1" in first["message"]
    assert "5 more accounts follow in this run (chunk 2)." in first["message"]
    assert "left out of the next chunks" in first["message"]
    assert "444444444444" not in second["message"]
    assert last["subject"] == "orgbackup: 2 onboarded, 1 failed in earlier chunks, 5 skipped"
    assert "Failed in earlier chunks of this run (their chunk's notification says why) (1):" in last["message"]
    assert last["message"].count("444444444444") == 2  # the list, and the input that re-runs it
    assert '{"mode": "manual", "account_ids": ["444444444444"]}' in last["message"]

    # When the cause is gone and the next reconcile runs
    world.faults.heal()
    history = world.execute(read_event("workflow/reconcile.json"))

    # Then it takes the failed account again, and finishes the organization
    assert execution_end(history)["type"] == "ExecutionSucceeded", run_state(history).get("failure")
    for account_id in IN_SCOPE:
        assert holdings(world, account_id).stack_instances == CURRENT_EVERYWHERE, account_id


def test_the_chunks_of_one_execution_are_bounded(make_world, monkeypatch) -> None:
    # Given chunks of ONE account and more accounts to onboard than the state machine's bound on chunks
    monkeypatch.setattr(accounts, "RECONCILE_CHUNK_ACCOUNTS", 1)
    extra = accounts.RECONCILE_MAX_CHUNKS + 1 - 3
    world = make_world(extra_accounts=new_accounts(extra))
    inbox = Notifications(world)

    # When the reconcile runs
    history = world.execute(read_event("workflow/reconcile.json"))

    # Then it ran exactly the bound's number of chunks, and ends without looping on
    assert execution_end(history)["type"] == "ExecutionSucceeded", run_state(history).get("failure")
    assert states_entered(history).count("Resolve") == accounts.RECONCILE_MAX_CHUNKS
    assert len(stackset_operations(world)) == accounts.RECONCILE_MAX_CHUNKS
    final = run_state(history)
    assert final["chunk"] == accounts.RECONCILE_MAX_CHUNKS
    assert final["resolution"]["remaining"] == 1
    last = inbox.new()[-1]
    assert (
        f"1 more accounts are left to the next reconcile run (this was chunk {accounts.RECONCILE_MAX_CHUNKS})."
        in last["message"]
    )
    assert json.loads(json.dumps(final["resolution"]["counts"]))["to_onboard"] == 1
