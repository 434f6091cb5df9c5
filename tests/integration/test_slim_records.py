"""Slim records (issue 14, part 5): the lifecycle rule's InputTransformer and the Pipe's InputTemplate from
template.yaml turn each Control Tower event into a record of about 170 characters, so ONE Pipes batch of 1,000
accounts fits Step Functions' input (262,144 characters), and the workflow's parser reads every record of it.
With the two emulation extensions they rest on (EventBridge's missing-path rule, Pipes' per-record template)."""

import json
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.events.utils import EventTemplateParser
from sample_events import read_event

from orgbackup.workflow_input import AccountRequest, InvalidRecord, parse_workflow_input
from orgbackup_tools import deployment, emulation

TEMPLATE = deployment.load_template()
RULE = TEMPLATE["Resources"]["ControlTowerLifecycleRule"]["Properties"]
TRANSFORMER = RULE["Targets"][0]["InputTransformer"]
PIPE = TEMPLATE["Resources"]["OnboardingPipe"]["Properties"]
PIPE_TEMPLATE = PIPE["TargetParameters"]["InputTemplate"]
# Step Functions takes at most 262,144 characters of input; a Pipe's Step Functions target gets the batch as one
# JSON array within that ("Amazon EventBridge Pipes batching and concurrency").
STEP_FUNCTIONS_INPUT_LIMIT = 262_144
# The longest IDs AWS allows: OU IDs are ou- then 4-32 and 8-32 characters (Organizations API reference,
# OrganizationalUnit.Id); SQS message IDs are UUIDs.
LONGEST_OU = "ou-" + "a" * 32 + "-" + "b" * 32


def lifecycle_event(index: int, name: str = "CreateManagedAccount", ou: str = LONGEST_OU) -> dict[str, Any]:
    sample = "create-managed-account.json" if name == "CreateManagedAccount" else "update-managed-account.json"
    event: dict[str, Any] = read_event(f"controltower/{sample}")
    status = next(iter(event["detail"]["serviceEventDetails"].values()))
    status["account"] = {"accountId": f"7{index:011d}", "accountName": "x" * 50}
    status["organizationalUnit"] = {"organizationalUnitId": ou, "organizationalUnitName": "y" * 128}
    return event


def through_rule_and_pipe(event: dict[str, Any], message_id: str) -> Any:
    """What the state machine receives for ``event``: the rule's transformer (moto's, with AWS's missing-path rule),
    then an SQS record, then the Pipe's template."""
    with emulation.input_transformer_missing_paths():
        body = EventTemplateParser.parse(
            TRANSFORMER["InputTemplate"], TRANSFORMER["InputPathsMap"], {**event, "ingestion-time": event["time"]}
        )
    record = {"messageId": message_id, "receiptHandle": "AQEB" + "r" * 400, "body": json.dumps(body)}
    return emulation.render_pipe_input_template(PIPE_TEMPLATE, record)


def test_the_pipe_takes_batches_of_at_least_1000_within_the_documented_ranges() -> None:
    sqs = PIPE["SourceParameters"]["SqsQueueParameters"]
    # PipeSourceSqsQueueParameters: BatchSize 1-10,000; MaximumBatchingWindowInSeconds 0-300
    assert 1000 <= sqs["BatchSize"] <= 10_000
    assert 0 <= sqs["MaximumBatchingWindowInSeconds"] <= 300


def test_one_batch_of_1000_worst_case_records_fits_the_step_functions_input() -> None:
    batch = [
        through_rule_and_pipe(lifecycle_event(i), f"{i:08d}-aaaa-bbbb-cccc-dddddddddddd")
        for i in range(1, PIPE["SourceParameters"]["SqsQueueParameters"]["BatchSize"] + 1)
    ]
    size = len(json.dumps(batch))
    assert size <= STEP_FUNCTIONS_INPUT_LIMIT, size
    parsed = parse_workflow_input(batch)
    assert len(parsed.requests) == len(batch)
    assert parsed.invalid == ()


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
