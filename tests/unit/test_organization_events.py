"""Issue 12: AWS Organizations events (through CloudTrail) and Control Tower OU lifecycle events, parsed as requests
to re-evaluate; bad ones become invalid records with the field, the value and the rule."""

import copy
import json

import pytest
from sample_events import read_event

from orgbackup.workflow_input import AccountRequest, InvalidRecord, OuRequest, parse_workflow_input


@pytest.mark.parametrize(
    ("sample", "account_id", "trigger"),
    [
        ("organizations/move-account-out-of-scope.json", "333333333333", "MoveAccount"),
        ("organizations/move-account-into-scope.json", "666666666666", "MoveAccount"),
        ("organizations/close-account.json", "555555555555", "CloseAccount"),
        ("organizations/remove-account-from-organization.json", "444444444444", "RemoveAccountFromOrganization"),
    ],
)
def test_organizations_events_ask_to_re_evaluate_their_account(sample, account_id, trigger) -> None:
    # Given a sample as EventBridge delivers it; When parsed as a batch of one
    event = read_event(sample)
    parsed = parse_workflow_input(event)
    # Then it is one request naming the account, with the event's ID as its source and no OU claim
    assert parsed.invalid == ()
    assert parsed.requests == (AccountRequest(account_id=account_id, source=event["id"], trigger=trigger),)


@pytest.mark.parametrize(
    ("sample", "ou_id", "trigger"),
    [
        ("controltower/register-organizational-unit.json", "ou-ab12-22222222", "RegisterOrganizationalUnit"),
        ("controltower/deregister-organizational-unit.json", "ou-ab12-11111111", "DeregisterOrganizationalUnit"),
    ],
)
def test_ou_lifecycle_events_ask_to_re_evaluate_the_ou(sample, ou_id, trigger) -> None:
    event = read_event(sample)
    parsed = parse_workflow_input(event)
    assert parsed.requests == ()
    (request,) = parsed.ou_requests
    assert request == OuRequest(ou_id=ou_id, source=event["id"], trigger=trigger, ou_name=request.ou_name)


def _invalid(event: dict) -> InvalidRecord:
    parsed = parse_workflow_input(event)
    assert parsed.requests == ()
    assert parsed.ou_requests == ()
    (invalid,) = parsed.invalid
    return invalid


def test_a_refused_call_is_not_a_trigger() -> None:
    event = copy.deepcopy(read_event("organizations/move-account-out-of-scope.json"))
    event["detail"]["errorCode"] = "AccessDenied"
    invalid = _invalid(event)
    assert invalid.code == "not-a-trigger"
    assert invalid.reason == "detail.errorCode: 'AccessDenied': the MoveAccount call failed"
    assert invalid.account_id == "333333333333"


@pytest.mark.parametrize(
    ("path", "value", "reason"),
    [
        (
            ("requestParameters", "accountId"),
            3333,
            "detail.requestParameters.accountId: must be a string, got number 3333 (account IDs can start with 0, "
            "which numbers lose)",
        ),
        (
            ("requestParameters", "accountId"),
            "33",
            "detail.requestParameters.accountId: '33' is not a 12-digit account ID",
        ),
        (("requestParameters",), None, "detail.requestParameters: must be an object, got null"),
        (
            ("requestParameters", "destinationParentId"),
            7,
            "detail.requestParameters.destinationParentId: must be a string, got number 7",
        ),
    ],
)
def test_a_malformed_organizations_event_names_the_field(path, value, reason) -> None:
    event = copy.deepcopy(read_event("organizations/move-account-out-of-scope.json"))
    node = event["detail"]
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    invalid = _invalid(event)
    assert invalid.reason == reason
    assert invalid.code == "malformed"


def test_a_failed_ou_registration_is_a_failed_state() -> None:
    event = copy.deepcopy(read_event("controltower/register-organizational-unit.json"))
    status = event["detail"]["serviceEventDetails"]["registerOrganizationalUnitStatus"]
    status["state"] = "FAILED"
    status["message"] = "AWS Control Tower could not register the OU."
    invalid = _invalid(event)
    assert invalid.code == "failed-state"
    assert invalid.reason == (
        "detail.serviceEventDetails.registerOrganizationalUnitStatus.state: 'FAILED': Control Tower reported "
        "RegisterOrganizationalUnit did not succeed: AWS Control Tower could not register the OU."
    )


def test_an_ou_event_with_a_bad_ou_id_names_it() -> None:
    event = copy.deepcopy(read_event("controltower/deregister-organizational-unit.json"))
    status = event["detail"]["serviceEventDetails"]["deregisterOrganizationalUnitStatus"]
    status["organizationalUnit"]["organizationalUnitId"] = "ou-x"
    assert _invalid(event).reason.startswith(
        "detail.serviceEventDetails.deregisterOrganizationalUnitStatus.organizationalUnit.organizationalUnitId: "
        "'ou-x' is not an OU ID"
    )


def test_a_pipes_batch_mixes_every_kind(tmp_path) -> None:
    # Given one SQS record per sample, lifecycle and organization changes together
    samples = [
        "controltower/create-managed-account.json",
        "organizations/move-account-out-of-scope.json",
        "controltower/register-organizational-unit.json",
    ]
    records = [{"messageId": f"m{i}", "body": json.dumps(read_event(name))} for i, name in enumerate(samples)]
    parsed = parse_workflow_input(records)
    assert [(r.account_id, r.source, r.trigger) for r in parsed.requests] == [
        ("333333333333", "m0", "CreateManagedAccount"),
        ("333333333333", "m1", "MoveAccount"),
    ]
    assert [(r.ou_id, r.source) for r in parsed.ou_requests] == [("ou-ab12-22222222", "m2")]
