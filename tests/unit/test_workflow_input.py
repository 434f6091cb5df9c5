"""Parsing of the onboarding workflow's input: Control Tower lifecycle events, Pipes batches, manual and
reconcile inputs. Bad records never raise; each gets a reason naming the field, the value and the rule."""

import copy
import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sample_events import corpus_event

from orgbackup import workflow_input
from orgbackup.exceptions import InvalidInputError
from orgbackup.workflow_input import (
    MAX_MANUAL_ACCOUNTS,
    MAX_RECORD_BYTES,
    AccountRequest,
    InvalidRecord,
    ManagedAccountEvent,
    parse_lifecycle_event,
    parse_sqs_record,
    parse_workflow_input,
)

CORPUS = json.loads((Path(__file__).parent / "data" / "lifecycle_corpus.json").read_text(encoding="utf-8"))
DEFAULT_EVENT = "controltower/create-managed-account.json"
QUEUE_ARN = "arn:aws:sqs:us-east-1:111111111111:orgbackup-lifecycle-events"

LoadEvent = Callable[[str], Any]


def read_lifecycle_event(event: object) -> ManagedAccountEvent:
    """The parser behind parse_lifecycle_event for one event, raising instead of returning an InvalidRecord (no
    caller in the product needs this form, so it lives here)."""
    try:
        return workflow_input._read_event(event)
    except workflow_input.RecordError as error:
        raise InvalidInputError(str(error)) from None


def sqs_record(body: str, message_id: str = "5a1f0c2e-7b3d-4e8a-9c01-2f3e4d5a6b7c") -> dict[str, Any]:
    """An SQS record as EventBridge Pipes hands it to a Step Functions target."""
    return {
        "messageId": message_id,
        "receiptHandle": "AQEBexample...",
        "body": body,
        "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1741081267000", "SenderId": "AIDAEXAMPLE"},
        "messageAttributes": {},
        "md5OfBody": hashlib.md5(body.encode()).hexdigest(),
        "eventSource": "aws:sqs",
        "eventSourceARN": QUEUE_ARN,
        "awsRegion": "us-east-1",
    }


def build_record(row: dict[str, Any], load_event: LoadEvent) -> Any:
    """Apply a corpus row's edits ('set', 'delete', 'pad_bytes', 'body', ...) to a sample from events/."""
    if "record" in row:
        return row["record"]
    event = corpus_event(row)
    if "body" in row:
        body = row["body"]
    elif "body_repeat" in row:
        body = "".join(text * times for text, times in row["body_repeat"])
    else:
        body = json.dumps(event, separators=(",", ":"), ensure_ascii=False)
    record = sqs_record(body, message_id=row["id"])
    record.update(row.get("record_set", {}))
    for key in row.get("record_delete", []):
        del record[key]
    return record


# ---------------------------------------------------------------------------------------------------------------
# The corpus of bad inputs


def test_corpus_is_large_and_ids_are_unique() -> None:
    # Given the corpus file / Then it holds at least 30 rows, each named once
    ids = [row["id"] for row in CORPUS]
    assert len(ids) >= 30
    assert len(set(ids)) == len(ids)


@pytest.mark.parametrize("row", CORPUS, ids=[row["id"] for row in CORPUS])
def test_corpus_record_gets_its_specific_reason(row: dict[str, Any], load_event: LoadEvent) -> None:
    # Given a Pipes batch holding one bad record
    batch = [build_record(row, load_event)]

    # When the workflow input is parsed
    parsed = parse_workflow_input(batch)

    # Then nothing is requested and the record is invalid for exactly the documented reason
    assert parsed.mode == "events"
    assert parsed.requests == ()
    assert len(parsed.invalid) == 1
    invalid = parsed.invalid[0]
    assert invalid.reason == row["reason"]
    assert invalid.code == row.get("code", "malformed")
    assert invalid.account_id == row.get("account_id")
    expected_source = row["id"] if isinstance(batch[0], dict) else "record[0]"
    assert invalid.source == expected_source


def test_corpus_in_one_batch_yields_one_invalid_record_per_row(load_event: LoadEvent) -> None:
    # Given every corpus row in a single batch, after one good record
    good = sqs_record(json.dumps(load_event(DEFAULT_EVENT)), message_id="good")
    batch = [good, *(build_record(row, load_event) for row in CORPUS)]

    # When it is parsed
    parsed = parse_workflow_input(batch)

    # Then the good record is still a request and every bad one is reported, in order
    assert [request.source for request in parsed.requests] == ["good"]
    assert [item.reason for item in parsed.invalid] == [row["reason"] for row in CORPUS]


# ---------------------------------------------------------------------------------------------------------------
# Valid lifecycle events


def test_create_managed_account_event_becomes_a_request(load_event: LoadEvent) -> None:
    # Given the sample CreateManagedAccount event
    event = load_event("controltower/create-managed-account.json")

    # When it is parsed as one record
    result = parse_lifecycle_event(event, source="evt-1")

    # Then it asks to onboard the account it names, in the OU it names
    assert result == AccountRequest(
        account_id="333333333333",
        source="evt-1",
        trigger="CreateManagedAccount",
        account_name="workload-a",
        ou_id="ou-ab12-11111111",
        ou_name="Workloads",
    )


def test_update_managed_account_event_becomes_a_request(load_event: LoadEvent) -> None:
    # Given the sample UpdateManagedAccount event (Control Tower's retry and re-enrolment event)
    event = load_event("controltower/update-managed-account.json")

    # When it is parsed
    result = parse_lifecycle_event(event, source="evt-2")

    # Then it is an onboarding request too
    assert isinstance(result, AccountRequest)
    assert (result.account_id, result.trigger, result.ou_id) == (
        "444444444444",
        "UpdateManagedAccount",
        "ou-ab12-33333333",
    )


def test_read_lifecycle_event_returns_the_typed_model(load_event: LoadEvent) -> None:
    # Given the sample CreateManagedAccount event
    event = load_event("controltower/create-managed-account.json")

    # When it is read as a single event
    parsed = read_lifecycle_event(event)

    # Then every documented field is there
    assert parsed.succeeded
    assert parsed.event_name == "CreateManagedAccount"
    assert parsed.event_id == "0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0"
    assert (parsed.account_id, parsed.account_name) == ("333333333333", "workload-a")
    assert (parsed.ou_id, parsed.ou_name) == ("ou-ab12-11111111", "Workloads")
    assert parsed.message == "AWS Control Tower successfully created a managed account."
    assert parsed.requested_timestamp == "2025-03-04T09:12:41+0000"
    assert parsed.completed_timestamp == "2025-03-04T09:41:07+0000"
    assert (parsed.management_account_id, parsed.region) == ("111111111111", "us-east-1")


def test_read_lifecycle_event_returns_a_failed_event_as_is(load_event: LoadEvent) -> None:
    # Given the FAILED sample
    event = load_event("controltower/create-managed-account-failed.json")

    # When it is read as a single event / Then it is a model whose state says it failed
    parsed = read_lifecycle_event(event)
    assert not parsed.succeeded
    assert parsed.state == "FAILED"
    assert parsed.account_id == "555555555555"


def test_read_lifecycle_event_raises_with_the_precise_reason(load_event: LoadEvent) -> None:
    # Given the sample with an 11-digit account ID
    event = load_event("controltower/malformed-account-id.json")

    # When it is read as a single event / Then InvalidInputError names the path, the value and the rule
    with pytest.raises(InvalidInputError) as raised:
        read_lifecycle_event(event)
    assert str(raised.value) == (
        "detail.serviceEventDetails.createManagedAccountStatus.account.accountId: "
        "'33333333333' is not a 12-digit account ID"
    )


@pytest.mark.parametrize(
    ("edit", "value"),
    [
        ("account_id_leading_zero", "012345678901"),
        ("ou_id_longest", "ou-" + "a" * 32 + "-" + "b" * 32),
        ("unknown_fields_ignored", None),
    ],
)
def test_edge_cases_that_are_valid(edit: str, value: str | None, load_event: LoadEvent) -> None:
    # Given a valid event at an edge of the rules
    event = copy.deepcopy(load_event(DEFAULT_EVENT))
    status = event["detail"]["serviceEventDetails"]["createManagedAccountStatus"]
    if edit == "account_id_leading_zero":
        status["account"]["accountId"] = value
    elif edit == "ou_id_longest":
        status["organizationalUnit"]["organizationalUnitId"] = value
    else:
        status["futureField"] = {"nested": [1, 2, 3]}
        event["detail"]["newTopLevel"] = True

    # When it is parsed / Then it is a request
    assert isinstance(parse_lifecycle_event(event, source="s"), AccountRequest)


def test_record_at_the_size_limit_is_parsed_and_one_byte_more_is_not(load_event: LoadEvent) -> None:
    # Given two bodies: exactly MAX_RECORD_BYTES bytes, and one byte more
    event = copy.deepcopy(load_event(DEFAULT_EVENT))
    event["detail"]["padding"] = ""
    base = len(json.dumps(event, separators=(",", ":")).encode())
    event["detail"]["padding"] = "x" * (MAX_RECORD_BYTES - base)
    at_limit = json.dumps(event, separators=(",", ":"))
    assert len(at_limit.encode()) == MAX_RECORD_BYTES

    # When each is parsed
    ok = parse_sqs_record(sqs_record(at_limit), 0)
    too_big = parse_sqs_record(sqs_record(at_limit + " "), 0)

    # Then the limit is inclusive
    assert isinstance(ok, AccountRequest)
    assert isinstance(too_big, InvalidRecord)
    assert too_big.reason.startswith(f"body: {MAX_RECORD_BYTES + 1} bytes exceeds the {MAX_RECORD_BYTES}-byte limit")


def test_multibyte_characters_count_as_bytes(load_event: LoadEvent) -> None:
    # Given a body under the limit in characters but over it in UTF-8 bytes
    event = copy.deepcopy(load_event(DEFAULT_EVENT))
    event["detail"]["padding"] = "é" * (MAX_RECORD_BYTES // 2 + 10)
    body = json.dumps(event, ensure_ascii=False)
    assert len(body) < MAX_RECORD_BYTES < len(body.encode())

    # When it is parsed / Then it is refused for its size in bytes
    result = parse_sqs_record(sqs_record(body), 0)
    assert isinstance(result, InvalidRecord)
    assert result.reason.startswith(f"body: {len(body.encode())} bytes exceeds")


# ---------------------------------------------------------------------------------------------------------------
# Whole inputs


def test_pipe_batch_sample_yields_every_record_with_its_source(load_event: LoadEvent) -> None:
    # Given the sample Pipes batch: two accounts and a redelivered duplicate
    batch = load_event("workflow/pipe-batch.json")

    # When it is parsed
    parsed = parse_workflow_input(batch)

    # Then each record is a request carrying its SQS messageId (deduplication is the resolver's job)
    assert parsed.mode == "events"
    assert parsed.invalid == ()
    assert [(r.account_id, r.source) for r in parsed.requests] == [
        ("333333333333", "5a1f0c2e-7b3d-4e8a-9c01-2f3e4d5a6b7c"),
        ("444444444444", "6b2a1d3f-8c4e-4f9b-8d12-3a4f5e6b7c8d"),
        ("333333333333", "7c3b2e4a-9d5f-4a0c-9e23-4b5a6f7c8d9e"),
    ]


def test_pipe_batch_sample_bodies_match_their_md5(load_event: LoadEvent) -> None:
    # Given the sample batches / Then each md5OfBody is the real MD5 of its body, as SQS computes it
    for name in ("workflow/pipe-batch.json", "workflow/invalid-batch.json"):
        for record in load_event(name):
            assert record["md5OfBody"] == hashlib.md5(record["body"].encode()).hexdigest()


def test_invalid_batch_sample_yields_only_invalid_records(load_event: LoadEvent) -> None:
    # Given the sample batch of bad records
    batch = load_event("workflow/invalid-batch.json")

    # When it is parsed
    parsed = parse_workflow_input(batch)

    # Then no account is requested and each record has its own reason
    assert parsed.requests == ()
    assert [(item.code, item.account_id) for item in parsed.invalid] == [
        ("malformed", None),
        ("not-a-trigger", None),
        ("not-a-trigger", None),
        ("failed-state", "555555555555"),
        ("malformed", None),
        ("malformed", None),
        ("malformed", "333333333333"),
    ]
    reasons = [item.reason for item in parsed.invalid]
    assert reasons[0].startswith("body: not valid JSON")
    assert reasons[1] == "source: 'aws.s3' is not 'aws.controltower': not a Control Tower event"
    assert reasons[2].startswith("detail.eventName: 'SetupLandingZone' is not an onboarding trigger")
    assert reasons[3].startswith("state 'FAILED': Control Tower reported the account creation failed: ")
    assert reasons[4].endswith("'33333333333' is not a 12-digit account ID")
    assert reasons[5].endswith("'4444444444444' is not a 12-digit account ID")
    assert "organizationalUnitId: 'OU-AB12-1111' is not an OU ID" in reasons[6]


def test_empty_batch_is_valid_and_yields_nothing() -> None:
    # Given an empty Pipes batch / When it is parsed / Then there is nothing to do and nothing wrong
    parsed = parse_workflow_input([])
    assert (parsed.mode, parsed.requests, parsed.invalid) == ("events", (), ())


def test_record_without_message_id_is_named_by_its_position(load_event: LoadEvent) -> None:
    # Given a record with no messageId
    record = sqs_record(json.dumps(load_event(DEFAULT_EVENT)))
    del record["messageId"]

    # When it is parsed as the third record of a batch / Then its source is its position
    result = parse_sqs_record(record, 2)
    assert isinstance(result, AccountRequest)
    assert result.source == "record[2]"


def test_single_raw_event_is_a_batch_of_one(load_event: LoadEvent) -> None:
    # Given a raw EventBridge event (what `sam local invoke -e events/controltower/...` sends)
    event = load_event("controltower/update-managed-account.json")

    # When it is parsed as the workflow input / Then it is one request named by the event ID
    parsed = parse_workflow_input(event)
    assert parsed.mode == "events"
    assert [(r.account_id, r.source) for r in parsed.requests] == [
        ("444444444444", "1c2d3e4f-5061-7283-94a5-b6c7d8e9f0a1")
    ]


def test_single_raw_non_trigger_event_is_an_invalid_record(load_event: LoadEvent) -> None:
    # Given a raw SetupLandingZone event / When it is parsed / Then it is reported, not raised
    parsed = parse_workflow_input(load_event("controltower/other-event-setup-landing-zone.json"))
    assert parsed.requests == ()
    assert [item.code for item in parsed.invalid] == ["not-a-trigger"]


def test_single_raw_event_over_the_size_limit_is_an_invalid_record(load_event: LoadEvent) -> None:
    # Given a raw event padded past the per-record limit
    event = copy.deepcopy(load_event(DEFAULT_EVENT))
    event["detail"]["padding"] = "x" * MAX_RECORD_BYTES

    # When it is parsed / Then it is refused for its size, before its fields are read
    parsed = parse_workflow_input(event)
    assert parsed.requests == ()
    assert parsed.invalid[0].reason.startswith("event: ")
    assert "exceeds the 65536-byte limit per record" in parsed.invalid[0].reason


def test_manual_sample_yields_requests(load_event: LoadEvent) -> None:
    # Given the sample manual input
    payload = load_event("workflow/manual.json")

    # When it is parsed / Then each account ID is a request named by its position, with the operator's reason
    parsed = parse_workflow_input(payload)
    assert parsed.mode == "manual"
    assert parsed.reason == "backfill: accounts enrolled before orgbackup was deployed"
    assert [(r.account_id, r.source, r.trigger) for r in parsed.requests] == [
        ("333333333333", "account_ids[0]", "manual"),
        ("555555555555", "account_ids[1]", "manual"),
    ]


def test_manual_input_reports_each_bad_account_id_and_keeps_the_good_ones() -> None:
    # Given a manual input mixing a good ID, a number, a short ID and a duplicate
    payload = {"mode": "manual", "account_ids": ["333333333333", 444444444444, "55555555555", "333333333333"]}

    # When it is parsed
    parsed = parse_workflow_input(payload)

    # Then good IDs are requests and each bad one is invalid with its own reason
    assert [r.source for r in parsed.requests] == ["account_ids[0]", "account_ids[3]"]
    assert [(item.source, item.reason) for item in parsed.invalid] == [
        (
            "account_ids[1]",
            "account_ids[1]: must be a string, got number 444444444444 "
            "(account IDs can start with 0, which numbers lose)",
        ),
        ("account_ids[2]", "account_ids[2]: '55555555555' is not a 12-digit account ID"),
    ]


def test_reconcile_sample_and_scheduled_event_are_reconcile(load_event: LoadEvent) -> None:
    # Given the reconcile sample and a raw EventBridge scheduled event
    scheduled = {
        "version": "0",
        "id": "89ab-cdef",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "111111111111",
        "time": "2025-03-05T03:00:00Z",
        "region": "us-east-1",
        "resources": ["arn:aws:events:us-east-1:111111111111:rule/orgbackup-reconcile"],
        "detail": {},
    }

    # When each is parsed / Then both mean reconcile, with no requests of their own
    for payload in (load_event("workflow/reconcile.json"), scheduled):
        parsed = parse_workflow_input(payload)
        assert (parsed.mode, parsed.requests, parsed.invalid) == ("reconcile", (), ())


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (
            "333333333333",
            "input: must be a list of SQS records (a Pipes batch) or an object, got string '333333333333'",
        ),
        (None, "input: must be a list of SQS records (a Pipes batch) or an object, got null"),
        (42, "input: must be a list of SQS records (a Pipes batch) or an object, got number 42"),
        (
            {"Records": []},
            "input: an object must have 'mode' ('manual' or 'reconcile') or be an EventBridge event "
            "('source' and 'detail-type'); its keys are 'Records'",
        ),
        ({"mode": "backfill"}, "mode: 'backfill' is not one of 'manual', 'reconcile'"),
        ({"mode": 1}, "mode: must be a string, got number 1"),
        ({"mode": "manual"}, "account_ids: missing (a manual input names the account IDs to onboard)"),
        (
            {"mode": "manual", "account_ids": "333333333333"},
            "account_ids: must be a list of account ID strings, got string",
        ),
        (
            {"mode": "manual", "account_ids": []},
            "account_ids: is empty: name at least one account ID (or use mode 'reconcile')",
        ),
        (
            {"mode": "manual", "account_ids": ["333333333333"] * (MAX_MANUAL_ACCOUNTS + 1)},
            f"account_ids: {MAX_MANUAL_ACCOUNTS + 1} IDs exceed the {MAX_MANUAL_ACCOUNTS} a manual input may name: "
            "use mode 'reconcile' to onboard every in-scope account",
        ),
        ({"mode": "manual", "account_ids": ["333333333333"], "reason": 7}, "reason: must be a string, got number 7"),
        (
            {"mode": "manual", "account_ids": ["333333333333"], "reason": "x" * 2000},
            "reason: 2000 characters exceed the limit of 1024",
        ),
        (
            {"mode": "manual", "acount_ids": ["333333333333"]},
            "manual input: unknown field(s) 'acount_ids'; allowed: account_ids, mode, reason",
        ),
        ({"mode": "reconcile", "accounts": []}, "reconcile input: unknown field(s) 'accounts'; allowed: mode"),
    ],
    ids=lambda value: None if isinstance(value, str) and value.count(" ") > 2 else repr(value)[:30],
)
def test_malformed_whole_input_raises_a_precise_error(payload: Any, message: str) -> None:
    # Given an input malformed as a whole / When it is parsed / Then InvalidInputError says what and why
    with pytest.raises(InvalidInputError) as raised:
        parse_workflow_input(payload)
    assert str(raised.value) == message


@pytest.mark.parametrize(
    "record",
    [None, True, 0, 1.5, "", "x", [], [{}], {}, {"body": None}, {"body": "{}"}, {"body": "null"}, {"messageId": 5}],
    ids=repr,
)
def test_parsing_any_record_never_raises(record: Any) -> None:
    # Given any JSON value as a record / When it is parsed / Then the answer is an InvalidRecord, never an exception
    assert isinstance(parse_sqs_record(record, 0), InvalidRecord)
