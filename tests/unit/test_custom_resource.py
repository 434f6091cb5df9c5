"""The custom resource protocol: CloudFormation always gets exactly one answer, also when the action fails."""

import json
from typing import Any

import pytest
from sample_events import read_event

from orgbackup import custom_resource
from orgbackup.custom_resource import CustomResourceRequest, Outcome
from orgbackup.exceptions import InvalidInputError


def capture() -> tuple[list[dict[str, Any]], Any]:
    answers: list[dict[str, Any]] = []
    return answers, lambda url, body: answers.append({"url": url, **json.loads(body)})


def test_a_successful_action_answers_success_with_its_physical_id_and_data() -> None:
    answers, put = capture()
    event = read_event("functions/apply-backup-policies-create.json")
    custom_resource.run(event, lambda request: Outcome("policies/orgbackup", {"PolicyIds": "p-1"}), put=put)
    (answer,) = answers
    assert answer["Status"] == "SUCCESS"
    assert answer["PhysicalResourceId"] == "policies/orgbackup"
    assert answer["Data"] == {"PolicyIds": "p-1"}
    assert answer["url"] == event["ResponseURL"]
    assert answer["RequestId"] == event["RequestId"]


def test_a_failing_action_answers_failed_with_the_error_and_does_not_raise() -> None:
    # Given an action that fails (Lambda would retry a raised error and answer twice)
    answers, put = capture()

    def broken(request: CustomResourceRequest) -> Outcome:
        raise RuntimeError("policy daily: delete_after_days too short")

    # When the request runs, Then exactly one FAILED answer names the error
    custom_resource.run(read_event("functions/apply-backup-policies-update.json"), broken, put=put)
    (answer,) = answers
    assert answer["Status"] == "FAILED"
    assert answer["Reason"] == "RuntimeError: policy daily: delete_after_days too short"
    assert answer["PhysicalResourceId"] == "orgbackup-backup-policies/orgbackup"


def test_long_reasons_are_cut_to_what_cloudformation_shows() -> None:
    answers, put = capture()
    request = CustomResourceRequest.parse(read_event("functions/apply-backup-policies-create.json"))
    custom_resource.respond(request, "FAILED", "x", reason="e" * 10_000, put=put)
    assert len(answers[0]["Reason"]) == custom_resource.REASON_LIMIT
    assert answers[0]["Reason"].endswith("...(truncated)")


def test_sending_the_answer_is_retried_a_bounded_number_of_times(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(custom_resource.time, "sleep", lambda seconds: None)
    attempts: list[str] = []

    def flaky(url: str, body: bytes) -> None:
        attempts.append(url)
        raise OSError("connection reset")

    request = CustomResourceRequest.parse(read_event("functions/apply-backup-policies-create.json"))
    with pytest.raises(OSError, match="connection reset"):
        custom_resource.respond(request, "SUCCESS", "x", put=flaky, attempts=3)
    assert len(attempts) == 3


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"RequestType": "Replace"}, "RequestType: 'Replace' is not Create, Update or Delete"),
        ({"ResponseURL": "http://example.com/x"}, "ResponseURL: 'http://example.com/x' is not an https:// URL"),
        ({"StackId": None}, "missing or non-string field(s) StackId"),
    ],
)
def test_malformed_requests_are_named_precisely(change: dict[str, Any], message: str) -> None:
    event = {**read_event("functions/apply-backup-policies-create.json"), **change}
    with pytest.raises(InvalidInputError) as raised:
        CustomResourceRequest.parse(event)
    assert message in str(raised.value)


@pytest.mark.parametrize(
    ("sample", "resource_type"),
    [
        ("functions/apply-backup-policies-create.json", "Custom::BackupPolicies"),
        ("functions/apply-backup-policies-check.json", "Custom::BackupPolicyCheck"),
    ],
)
def test_the_resource_type_is_kept_so_one_function_can_serve_two_resources(sample: str, resource_type: str) -> None:
    # Given a request for either custom resource the policy function serves
    # When parsing it
    request = CustomResourceRequest.parse(read_event(sample))
    # Then its type tells them apart
    assert request.resource_type == resource_type
