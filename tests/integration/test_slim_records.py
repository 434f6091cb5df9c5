"""Slim records (issue 14, part 5): each rule that targets the onboarding queue (the lifecycle rule, the
organization-change rule and the OU lifecycle rule) writes only what the workflow reads, and the Pipe's InputTemplate
keeps only the message ID and that body: at most about 230 characters a record with the longest IDs AWS allows, so
ONE Pipes batch of 1,000 records fits Step Functions' input (262,144 characters) whichever rule wrote them, and the
workflow's parser reads every record of it to the same request as the whole event. With the two emulation
extensions they rest on (EventBridge's missing-path rule, Pipes' per-record template)."""

import copy
import functools
import json
from collections.abc import Callable
from typing import Any

import boto3
import jsonpath_ng.ext
import pytest
from moto import mock_aws
from moto.events.models import EventPattern
from moto.events.utils import EventTemplateParser
from sample_events import read_event

from orgbackup.workflow_input import AccountRequest, InvalidRecord, parse_workflow_input
from orgbackup_tools import deployment, emulation

TEMPLATE = deployment.load_template()
RESOURCES = TEMPLATE["Resources"]
RULE = RESOURCES["ControlTowerLifecycleRule"]["Properties"]
TRANSFORMER = RULE["Targets"][0]["InputTransformer"]
PIPE = RESOURCES["OnboardingPipe"]["Properties"]
PIPE_TEMPLATE = PIPE["TargetParameters"]["InputTemplate"]
BATCH_SIZE = PIPE["SourceParameters"]["SqsQueueParameters"]["BatchSize"]
# Step Functions takes at most 262,144 characters of input; a Pipe's Step Functions target gets the batch as one
# JSON array within that ("Amazon EventBridge Pipes batching and concurrency").
STEP_FUNCTIONS_INPUT_LIMIT = 262_144
# The longest IDs AWS allows: OU IDs are ou- then 4-32 and 8-32 characters, root IDs r- then 4-32 (Organizations
# API reference, OrganizationalUnit.Id, Root.Id); OU names up to 128 characters; SQS message IDs are UUIDs.
LONGEST_OU = "ou-" + "a" * 32 + "-" + "b" * 32
LONGEST_ROOT = "r-" + "c" * 32
# Every rule whose target is the onboarding queue: each must have a worst case below.
QUEUE_RULES = sorted(
    logical_id
    for logical_id, resource in RESOURCES.items()
    if resource["Type"] == "AWS::Events::Rule"
    and any(target["Arn"] == {"Fn::GetAtt": "OnboardingQueue.Arn"} for target in resource["Properties"]["Targets"])
)


def lifecycle_event(index: int, name: str = "CreateManagedAccount", ou: str = LONGEST_OU) -> dict[str, Any]:
    sample = "create-managed-account.json" if name == "CreateManagedAccount" else "update-managed-account.json"
    event: dict[str, Any] = read_event(f"controltower/{sample}")
    status = next(iter(event["detail"]["serviceEventDetails"].values()))
    status["account"] = {"accountId": f"7{index:011d}", "accountName": "x" * 50}
    status["organizationalUnit"] = {"organizationalUnitId": ou, "organizationalUnitName": "y" * 128}
    return event


def organizations_event(index: int, name: str = "MoveAccount") -> dict[str, Any]:
    samples = {
        "MoveAccount": "move-account-out-of-scope.json",
        "CloseAccount": "close-account.json",
        "RemoveAccountFromOrganization": "remove-account-from-organization.json",
    }
    event: dict[str, Any] = copy.deepcopy(read_event(f"organizations/{samples[name]}"))
    parameters = event["detail"]["requestParameters"]
    parameters["accountId"] = f"7{index:011d}"
    if name == "MoveAccount":
        parameters.update(sourceParentId=LONGEST_ROOT, destinationParentId=LONGEST_OU)
    return event


def ou_event(index: int, name: str = "DeregisterOrganizationalUnit") -> dict[str, Any]:
    sample = "register" if name == "RegisterOrganizationalUnit" else "deregister"
    event: dict[str, Any] = copy.deepcopy(read_event(f"controltower/{sample}-organizational-unit.json"))
    status = next(iter(event["detail"]["serviceEventDetails"].values()))
    status["organizationalUnit"] = {
        "organizationalUnitId": f"ou-{index:032d}-" + "b" * 32,
        "organizationalUnitName": "y" * 128,
    }
    return event


# The longest record each rule writes, for the index-th event of a batch.
WORST_CASES: dict[str, list[Callable[[int], dict[str, Any]]]] = {
    "ControlTowerLifecycleRule": [
        lambda i: lifecycle_event(i, "CreateManagedAccount"),
        lambda i: lifecycle_event(i, "UpdateManagedAccount"),
    ],
    "OrganizationChangesRule": [
        lambda i: organizations_event(i, "MoveAccount"),
        lambda i: organizations_event(i, "RemoveAccountFromOrganization"),
        lambda i: organizations_event(i, "CloseAccount"),
    ],
    "ControlTowerOuLifecycleRule": [
        lambda i: ou_event(i, "RegisterOrganizationalUnit"),
        lambda i: ou_event(i, "DeregisterOrganizationalUnit"),
    ],
}


def through_rule_and_pipe(event: dict[str, Any], message_id: str, rule: str = "ControlTowerLifecycleRule") -> Any:
    """What the state machine receives for ``event``: ``rule``'s transformer (moto's, with AWS's missing-path rule),
    then an SQS record, then the Pipe's template."""
    (target,) = RESOURCES[rule]["Properties"]["Targets"]
    transformer = target["InputTransformer"]
    with emulation.input_transformer_missing_paths():
        body = EventTemplateParser.parse(
            transformer["InputTemplate"], transformer["InputPathsMap"], {**event, "ingestion-time": event["time"]}
        )
    record = {"messageId": message_id, "receiptHandle": "AQEB" + "r" * 400, "body": json.dumps(body)}
    return emulation.render_pipe_input_template(PIPE_TEMPLATE, record)


def test_every_rule_that_feeds_the_onboarding_queue_has_a_worst_case_here() -> None:
    assert sorted(WORST_CASES) == QUEUE_RULES


def test_the_pipe_takes_batches_of_at_least_1000_within_the_documented_ranges() -> None:
    sqs = PIPE["SourceParameters"]["SqsQueueParameters"]
    # PipeSourceSqsQueueParameters: BatchSize 1-10,000; MaximumBatchingWindowInSeconds 0-300
    assert 1000 <= sqs["BatchSize"] <= 10_000
    assert 0 <= sqs["MaximumBatchingWindowInSeconds"] <= 300


@pytest.fixture
def json_paths_parsed_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto parses each InputPathsMap path again for every event (jsonpath_ng builds its parser each time), which
    costs seconds over 1,000 events; the same path always parses to the same expression."""
    monkeypatch.setattr(jsonpath_ng.ext, "parse", functools.cache(jsonpath_ng.ext.parse))


@pytest.mark.usefixtures("json_paths_parsed_once")
@pytest.mark.parametrize(
    ("rule", "case"), [(rule, case) for rule, cases in WORST_CASES.items() for case in range(len(cases))]
)
def test_one_batch_of_1000_worst_case_records_fits_the_step_functions_input(rule: str, case: int) -> None:
    # Given the longest event the rule matches, 1,000 times (one batching window of a burst)
    make = WORST_CASES[rule][case]
    pattern = EventPattern.load(json.dumps(RESOURCES[rule]["Properties"]["EventPattern"]))
    assert pattern.matches_event(make(1))
    # When each goes through the rule's transformer, the queue and the Pipe's template
    batch = [
        through_rule_and_pipe(make(i), f"{i:08d}-aaaa-bbbb-cccc-dddddddddddd", rule) for i in range(1, BATCH_SIZE + 1)
    ]
    # Then the batch fits Step Functions' input, and every record is read as a request
    size = len(json.dumps(batch))
    assert size <= STEP_FUNCTIONS_INPUT_LIMIT, size
    parsed = parse_workflow_input(batch)
    assert len(parsed.requests) + len(parsed.ou_requests) == len(batch)
    assert parsed.invalid == ()


CHANGE_SAMPLES = [
    ("OrganizationChangesRule", "organizations/move-account-out-of-scope.json"),
    ("OrganizationChangesRule", "organizations/move-account-into-scope.json"),
    ("OrganizationChangesRule", "organizations/close-account.json"),
    ("OrganizationChangesRule", "organizations/remove-account-from-organization.json"),
    ("ControlTowerOuLifecycleRule", "controltower/register-organizational-unit.json"),
    ("ControlTowerOuLifecycleRule", "controltower/deregister-organizational-unit.json"),
]


@pytest.mark.parametrize(("rule", "sample"), CHANGE_SAMPLES)
def test_a_slim_change_record_asks_for_what_the_whole_event_asks_for(rule: str, sample: str) -> None:
    # Given an organization change the rule matches
    event = read_event(sample)
    assert EventPattern.load(json.dumps(RESOURCES[rule]["Properties"]["EventPattern"])).matches_event(event)
    # When it arrives slim (as deployed) and whole (sam local invoke, older queues)
    slim = parse_workflow_input([through_rule_and_pipe(event, "m-1", rule)])
    whole = parse_workflow_input([{"messageId": "m-1", "body": json.dumps(event)}])
    # Then both ask to re-evaluate the same account or OU for the same event (names come from Organizations)
    assert slim.invalid == whole.invalid == ()
    assert slim.requests == whole.requests
    assert [(r.ou_id, r.source, r.trigger) for r in slim.ou_requests] == [
        (r.ou_id, r.source, r.trigger) for r in whole.ou_requests
    ]
    assert len(slim.requests) + len(slim.ou_requests) == 1


@pytest.mark.parametrize(
    ("body", "reason", "account_id"),
    [
        ({"eventName": "CloseAccount", "accountId": ""}, "detail.requestParameters.accountId: '' is not", None),
        ({"eventName": "MoveAccount"}, "detail.requestParameters.accountId: missing", None),
        (
            {"eventName": "RegisterOrganizationalUnit", "ouId": "nope", "state": "SUCCEEDED"},
            "registerOrganizationalUnitStatus.organizationalUnit.organizationalUnitId: 'nope' is not an OU ID",
            None,
        ),
        (
            {"eventName": "DeregisterOrganizationalUnit", "ouId": "ou-ab12-11111111", "state": "FAILED"},
            "deregisterOrganizationalUnitStatus.state: 'FAILED': Control Tower reported DeregisterOrganizationalUnit",
            None,
        ),
        # an event carrying both status keys: the rule runs their values together
        (
            {"eventName": "RegisterOrganizationalUnit", "ouId": "ou-ab12-11111111", "state": "SUCCEEDEDSUCCEEDED"},
            "registerOrganizationalUnitStatus.state: 'SUCCEEDEDSUCCEEDED'",
            None,
        ),
    ],
)
def test_a_bad_slim_change_record_is_invalid_with_its_field_and_value(
    body: dict[str, Any], reason: str, account_id: str | None
) -> None:
    (invalid,) = parse_workflow_input([{"messageId": "m-9", "body": body}]).invalid
    assert invalid.source == "m-9"
    assert reason in invalid.reason, invalid.reason
    assert invalid.account_id == account_id


def test_a_slim_record_carries_what_onboarding_needs_for_both_event_names() -> None:
    for name in ("CreateManagedAccount", "UpdateManagedAccount"):
        record = through_rule_and_pipe(lifecycle_event(7, name, "ou-ab12-11111111"), "m-1")
        assert record == {
            "messageId": "m-1",
            "body": {"eventName": name, "accountId": "700000000007", "ouId": "ou-ab12-11111111", "state": "SUCCEEDED"},
        }
        (request,) = parse_workflow_input([record]).requests
        assert request == AccountRequest("700000000007", "m-1", name, ou_id="ou-ab12-11111111")


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (
            {"eventName": "CreateManagedAccount", "accountId": "", "ouId": "ou-ab12-11111111", "state": "SUCCEEDED"},
            "createManagedAccountStatus.account.accountId: '' is not a 12-digit account ID",
        ),
        # an event carrying both status keys: the rule runs their values together
        (
            {
                "eventName": "CreateManagedAccount",
                "accountId": "333333333333444444444444",
                "ouId": "ou-ab12-11111111",
                "state": "SUCCEEDEDSUCCEEDED",
            },
            "account.accountId: '333333333333444444444444' is not a 12-digit account ID",
        ),
        (
            {
                "eventName": "SetupLandingZone",
                "accountId": "333333333333",
                "ouId": "ou-ab12-11111111",
                "state": "SUCCEEDED",
            },
            "not an onboarding trigger",
        ),
        (
            {"eventName": "CreateManagedAccount", "accountId": "333333333333", "ouId": "nope", "state": "SUCCEEDED"},
            "organizationalUnit.organizationalUnitId: 'nope' is not an OU ID",
        ),
        (
            {
                "eventName": "CreateManagedAccount",
                "accountId": 333333333333,
                "ouId": "ou-ab12-11111111",
                "state": "SUCCEEDED",
            },
            "account.accountId: must be a string",
        ),
    ],
)
def test_a_bad_slim_record_is_invalid_with_its_field_and_value(body: dict[str, Any], reason: str) -> None:
    (invalid,) = parse_workflow_input([{"messageId": "m-9", "body": body}]).invalid
    assert isinstance(invalid, InvalidRecord)
    assert invalid.source == "m-9"
    assert reason in invalid.reason


def test_the_full_sqs_record_of_the_samples_is_still_read() -> None:
    # sam local invoke and older queues hand over whole SQS messages; both shapes are one contract.
    parsed = parse_workflow_input(read_event("workflow/pipe-batch.json"))
    assert len(parsed.requests) == 3


# ---------------------------------------------------------------------------------------------------------------
# The emulation extensions


def test_a_rule_variable_whose_path_is_missing_renders_empty_as_aws_documents() -> None:
    with mock_aws(), emulation.input_transformer_missing_paths():
        events, sqs = boto3.client("events", "us-east-1"), boto3.client("sqs", "us-east-1")
        url = sqs.create_queue(QueueName="q")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        events.put_rule(Name="r", EventPattern=json.dumps({"source": ["x"]}))
        transformer = {"InputPathsMap": {"a": "$.detail.a", "b": "$.detail.b"}, "InputTemplate": '{"v": "<a><b>"}'}
        events.put_targets(Rule="r", Targets=[{"Id": "q", "Arn": arn, "InputTransformer": transformer}])
        events.put_events(Entries=[{"Source": "x", "DetailType": "t", "Detail": json.dumps({"b": "only-b"})}])
        (message,) = sqs.receive_message(QueueUrl=url)["Messages"]
        assert json.loads(message["Body"]) == {"v": "only-b"}


def test_without_the_extension_moto_leaves_the_placeholder() -> None:
    # What the extension corrects; if moto changes, this tells.
    event: Any = {"detail": {"b": "x"}, "ingestion-time": "2025-01-01T00:00:00Z"}
    out = EventTemplateParser.parse('{"v": "<a><b>"}', {"a": "$.detail.a", "b": "$.detail.b"}, event)
    assert out == {"v": "<a>x"}


def test_the_pipe_template_reads_the_record_and_its_json_body() -> None:
    record = {"messageId": "m-1", "body": json.dumps({"k": {"n": 1}, "s": "text"}), "attributes": {}}
    assert emulation.render_pipe_input_template('{"id": "<$.messageId>", "b": <$.body>}', record) == {
        "id": "m-1",
        "b": {"k": {"n": 1}, "s": "text"},
    }
    assert emulation.render_pipe_input_template('{"s": "<$.body.s>", "k": <$.body.k>}', record) == {
        "s": "text",
        "k": {"n": 1},
    }
    assert emulation.render_pipe_input_template('{"m": "<$.nope>"}', record) == {"m": ""}
    # a body that is not JSON is text
    assert emulation.render_pipe_input_template('{"b": "<$.body>"}', {"body": "plain"}) == {"b": "plain"}
