"""Bad and edge-case inputs run through the whole workflow (issue 5): each gets its own specific reason, in the
run's state and in the notification a person reads, and none changes anything: no StackSet operation, no stack
instance, no central vault policy write, no backup policy created or attached.

The records are tests/unit/data/lifecycle_corpus.json (50 rows the parser is tested on, one by one) plus
tests/workflow/data/workflow_corpus.json "records" (rows only the workflow can judge: an unknown OU or account, the
management, central, out-of-scope and suspended accounts, and more events that are not onboarding triggers), all in
ONE Pipes batch (the Pipe hands over up to 100 records): each record must still get its own reason. Whole inputs
that are malformed as a whole ("inputs") are separate executions in one organization, started together."""

import json

from fault_helpers import (
    corpus_record,
    load_unit_corpus,
    load_workflow_corpus,
    mutations_since,
    snapshot,
    wait_all,
)
from sample_events import corpus_event
from workflow_helpers import WORKLOADS, Notifications, execution_end, run_state, states_entered

from orgbackup.accounts import reason_of
from orgbackup.workflow_input import MAX_RECORD_BYTES
from orgbackup_tools.simulation import Account

RECORD_ROWS = [*load_unit_corpus(), *load_workflow_corpus()["records"]]
INPUT_ROWS = load_workflow_corpus()["inputs"]
SUSPENDED = Account("777777777777", "suspended-a", WORKLOADS[0], state="SUSPENDED")


def source_of(row: dict, index: int) -> str:
    """The source the workflow names a record by: its SQS message ID, or its place in the batch when it has none."""
    record = corpus_record(row)
    return row["id"] if isinstance(record, dict) and "messageId" in record else f"record[{index}]"


def expected_outcome(row: dict) -> tuple:
    return (row.get("outcome", "invalid"), row.get("code", "malformed"), row.get("account_id"), row["reason"])


def whole_input(row: dict) -> object:
    value = row["input"]
    if isinstance(value, dict):
        value = dict(value)
        if "generated_account_ids" in row:
            value["account_ids"] = [str(100_000_000_000 + index) for index in range(row["generated_account_ids"])]
        if "generated_reason_chars" in row:
            value["reason"] = "x" * row["generated_reason_chars"]
    return value


def test_the_corpus_is_large_and_each_row_is_named_once() -> None:
    # Given the two corpus files / Then at least 30 record rows and 10 whole-input rows, each named once
    assert len(RECORD_ROWS) >= 30
    assert len(INPUT_ROWS) >= 10
    ids = [row["id"] for row in [*RECORD_ROWS, *INPUT_ROWS]]
    assert len(set(ids)) == len(ids)
    # And the workflow's own rows are bad or edge cases, never a plain new account
    assert all(row.get("outcome") in ("invalid", "skipped") for row in load_workflow_corpus()["records"])


def test_every_bad_or_edge_case_record_in_one_batch_gets_its_own_reason_and_changes_nothing(
    make_world, aws_calls
) -> None:
    # Given the organization of events/README.md with a suspended account in Workloads, and every corpus record in
    # one Pipes batch
    world = make_world(extra_accounts=[SUSPENDED])
    batch = [corpus_record(row) for row in RECORD_ROWS]
    before = snapshot(world)
    inbox = Notifications(world)
    mark = aws_calls.mark()

    # When the workflow runs the batch
    history = world.execute(batch)

    # Then the run succeeds without starting a baseline: there is nothing to onboard
    assert execution_end(history)["type"] == "ExecutionSucceeded"
    assert "StartBaseline" not in states_entered(history)
    resolution = run_state(history)["resolution"]
    assert resolution["to_onboard"] == []
    # And every record has its own outcome, code and reason (none merged with another, none lost)
    outcomes = {
        source: (outcome, item["code"], item.get("account_id"), reason_of(item))
        for outcome in ("invalid", "skipped")
        for item in resolution[outcome]
        for source in item["sources"]
    }
    assert outcomes == {source_of(row, index): expected_outcome(row) for index, row in enumerate(RECORD_ROWS)}
    # And the notification lists each one with its reason
    (note,) = inbox.new()
    invalid = sum(1 for row in RECORD_ROWS if expected_outcome(row)[0] == "invalid")
    skipped = len(RECORD_ROWS) - invalid
    assert note["subject"] == f"orgbackup: 0 onboarded, {skipped} skipped, {invalid} invalid"
    lines = note["message"].splitlines()
    for index, row in enumerate(RECORD_ROWS):
        outcome, _, account_id, reason = expected_outcome(row)
        if outcome == "invalid":
            assert f"[{source_of(row, index)}]: {reason}" in note["message"], row["id"]
        else:
            assert any(line.startswith(f"  - {account_id} ") and line.endswith(f": {reason}") for line in lines), row[
                "id"
            ]
    # And nothing changed: no mutating call was made, and the organization holds what it held
    assert mutations_since(aws_calls, mark) == {}
    assert snapshot(world) == before


def test_whole_inputs_malformed_as_a_whole_fail_at_resolve_with_their_reason_and_change_nothing(
    make_world, aws_calls
) -> None:
    # Given one organization, and each malformed input as its own execution, all started together
    world = make_world()
    before = snapshot(world)
    inbox = Notifications(world)
    mark = aws_calls.mark()

    # When they run
    arns = {row["id"]: world.start_execution(whole_input(row), name=row["id"]) for row in INPUT_ROWS}
    statuses = dict(zip(arns, wait_all(world, list(arns.values())), strict=True))

    # Then each fails at Resolve with InvalidInputError, naming what is wrong with it
    assert statuses == dict.fromkeys(arns, "FAILED")
    for row in INPUT_ROWS:
        history = world.history(arns[row["id"]])
        failure = run_state(history)["failure"]
        assert failure["step"] == "Resolve", row["id"]
        assert failure["error"]["Error"] == "InvalidInputError", row["id"]
        assert json.loads(failure["error"]["Cause"])["errorMessage"] == row["reason"], row["id"]
        assert "StartBaseline" not in states_entered(history)
    # And each sent one notification that says so and how to start a correct run
    notes = {note["message"].split()[3]: note for note in inbox.new()}
    assert set(notes) == set(arns)
    for row in INPUT_ROWS:
        note = notes[row["id"]]
        assert note["subject"] == "orgbackup: onboarding FAILED at Resolve: InvalidInputError"
        assert f"Why: {row['reason']}\n" in note["message"]
        assert "Accounts in this run: not resolved yet (see the execution input)" in note["message"]
        assert '{"mode": "reconcile"}' in note["message"]
    # And nothing changed
    assert mutations_since(aws_calls, mark) == {}
    assert snapshot(world) == before


def test_edge_inputs_that_are_valid_as_a_whole_report_each_bad_part_and_change_nothing(make_world, aws_calls) -> None:
    # Given one organization, and three inputs that are valid as a whole: an empty batch, a manual request naming
    # bad and unknown IDs, and one raw EventBridge event (as `sam local invoke -e` sends) that is oversized
    world = make_world()
    before = snapshot(world)
    inbox = Notifications(world)
    mark = aws_calls.mark()
    manual = {
        "mode": "manual",
        "account_ids": ["33333333333", "3333333333333", "33333333333a", 333333333333, "999999999999"],
    }
    oversized = corpus_event({"pad_bytes": MAX_RECORD_BYTES})
    inputs = {"empty-batch": [], "manual-bad-ids": manual, "raw-event-oversized": oversized}

    # When they run
    arns = {name: world.start_execution(value, name=name) for name, value in inputs.items()}
    statuses = wait_all(world, list(arns.values()))

    # Then each run succeeds and says what it made of each part
    assert statuses == ["SUCCEEDED"] * len(inputs)
    resolutions = {name: run_state(world.history(arn))["resolution"] for name, arn in arns.items()}
    assert resolutions["empty-batch"]["counts"] == {"to_onboard": 0, "skipped": 0, "invalid": 0}
    assert [
        (item.get("account_id"), item["sources"], item["reason"]) for item in resolutions["manual-bad-ids"]["invalid"]
    ] == [
        (None, ["account_ids[0]"], "account_ids[0]: '33333333333' is not a 12-digit account ID"),
        (None, ["account_ids[1]"], "account_ids[1]: '3333333333333' is not a 12-digit account ID"),
        (None, ["account_ids[2]"], "account_ids[2]: '33333333333a' is not a 12-digit account ID"),
        (
            None,
            ["account_ids[3]"],
            "account_ids[3]: must be a string, got number 333333333333 (account IDs can start with 0, which numbers "
            "lose)",
        ),
        (
            "999999999999",
            ["account_ids[4]"],
            "unknown account: 999999999999 is not an account of organization o-ab12cd34ef",
        ),
    ]
    size = len(json.dumps(oversized, separators=(",", ":")))
    assert [(item["sources"], item["reason"]) for item in resolutions["raw-event-oversized"]["invalid"]] == [
        (
            [oversized["id"]],
            f"event: {size} bytes exceeds the {MAX_RECORD_BYTES}-byte limit per record (a Control Tower lifecycle "
            "event is about 2 KB; a record this large is not one)",
        )
    ]
    # And each sent one notification, none a failure
    subjects = sorted(note["subject"] for note in inbox.new())
    assert subjects == [
        "orgbackup: 0 onboarded",
        "orgbackup: 0 onboarded, 1 invalid",
        "orgbackup: 0 onboarded, 5 invalid",
    ]
    # And nothing changed
    assert mutations_since(aws_calls, mark) == {}
    assert snapshot(world) == before
