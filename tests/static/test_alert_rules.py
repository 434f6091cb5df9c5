"""The failure-alert rules of `template.yaml`, evaluated against every backup event sample with a faithful matcher.

The patterns are read from the template (never copied into the product's code); the contract they must keep is
spelled out here once. Matching uses moto's EventBridge matcher, the code that decides which targets receive a
`PutEvents` event (its `TestEventPattern` is a stub), and one test checks that verdict against real delivery to SQS
targets in moto.
"""

import json
from functools import cache
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from orgbackup.exceptions import ConfigurationError
from orgbackup_tools.commands.alerts import AlertRule, alert_rules, evaluate_condition, matches
from orgbackup_tools.deployment import deployment_parameters, load_template

ROOT = Path(__file__).resolve().parents[2]
EXPECTED: dict[str, str | None] = json.loads(
    (ROOT / "tests" / "unit" / "data" / "backup_events_expected.json").read_text(encoding="utf-8")
)["expected_rule"]
SAMPLE_DIRS = (ROOT / "events" / "backup", ROOT / "tests" / "unit" / "data" / "backup_events_aws")
SAMPLES = sorted(path.relative_to(ROOT).as_posix() for folder in SAMPLE_DIRS for path in folder.glob("*.json"))
COMPLETED_WITH_ISSUES = "BackupJobCompletedWithIssuesRule"

# The contract between the rules and the formatter (issue 4): logical ID -> exact pattern.
CONTRACT: dict[str, dict[str, Any]] = {
    "FormatBackupAlertFunctionBackupJobFailed": {
        "source": ["aws.backup"],
        "detail-type": ["Backup Job State Change"],
        "detail": {"state": ["FAILED", "ABORTED", "EXPIRED"]},
    },
    "FormatBackupAlertFunctionCopyJobFailed": {
        "source": ["aws.backup"],
        "detail-type": ["Copy Job State Change"],
        "detail": {"state": ["FAILED"]},
    },
    "FormatBackupAlertFunctionRestoreJobFailed": {
        "source": ["aws.backup"],
        "detail-type": ["Restore Job State Change"],
        "detail": {"status": ["FAILED"]},
    },
    COMPLETED_WITH_ISSUES: {
        "source": ["aws.backup"],
        "detail-type": ["Backup Job State Change"],
        # An empty status message is not an issue (AWS sends "statusMessage": "" on some jobs).
        "detail": {"state": ["COMPLETED"], "statusMessage": [{"anything-but": ""}]},
    },
}


@cache
def template() -> dict[str, Any]:
    return load_template()


@cache
def parameters() -> dict[str, str]:
    return deployment_parameters()


@cache
def rules(completed_with_issues: bool) -> list[AlertRule]:
    flag = str(completed_with_issues).lower()
    return alert_rules(template(), {**parameters(), "AlertOnCompletedWithIssues": flag})


def read(relative: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((ROOT / relative).read_text(encoding="utf-8"))
    return event


def routed_by(event: dict[str, Any], deployed: list[AlertRule]) -> list[str]:
    return [rule.logical_id for rule in deployed if rule.enabled and matches(rule.pattern, event)]


# ------------------------------------------------------------------------------------------------------------------
# The rules in the template


def test_the_template_holds_exactly_the_contracted_rules_and_patterns() -> None:
    # Given template.yaml with every condition on
    # When reading the rules that target the formatter
    found = {rule.logical_id: rule.pattern for rule in rules(completed_with_issues=True)}
    # Then they are the four contracted rules with exactly the contracted patterns
    assert found == CONTRACT


def test_completed_with_issues_is_opt_in() -> None:
    # Given the template's parameter and condition
    parameter = template()["Parameters"]["AlertOnCompletedWithIssues"]
    # When reading the rule's condition with the default and with "true"
    off = {rule.logical_id: rule.enabled for rule in rules(completed_with_issues=False)}
    on = {rule.logical_id: rule.enabled for rule in rules(completed_with_issues=True)}
    # Then it defaults to off, and only that rule depends on it
    assert parameter["Default"] == "false"
    assert template()["Resources"][COMPLETED_WITH_ISSUES]["Condition"] == "AlertOnCompletedWithIssues"
    assert off == {**dict.fromkeys(CONTRACT, True), COMPLETED_WITH_ISSUES: False}
    assert on == dict.fromkeys(CONTRACT, True)


def test_each_alert_rule_targets_the_formatter_on_the_alerts_bus() -> None:
    # Given the four rules
    resources = template()["Resources"]
    for logical_id in CONTRACT:
        properties = resources[logical_id]["Properties"]
        # When reading the bus and the targets
        targets = properties["Targets"]
        # Then each is on the alerts bus with the formatter as its one target
        assert properties["EventBusName"] == {"Ref": "AlertsEventBus"}, logical_id
        assert [target["Arn"] for target in targets] == [{"Fn::GetAtt": "FormatBackupAlertFunction.Arn"}], logical_id


def test_a_failing_formatter_still_keeps_the_raw_event_in_the_alarmed_dead_letter_queue() -> None:
    # Given the formatter function's definition
    function = template()["Resources"]["FormatBackupAlertFunction"]["Properties"]
    # When reading where it publishes and where failed invocations go
    on_failure = function["EventInvokeConfig"]["DestinationConfig"]["OnFailure"]
    # Then it publishes to the topic and, when it fails, Lambda sends the invocation record (with the raw event)
    # to the alerts dead-letter queue, not to the topic the publish may have failed on (issue 10, finding 8)
    assert function["Environment"]["Variables"]["NOTIFICATION_TOPIC_ARN"] == {"Ref": "NotificationTopic"}
    assert on_failure == {"Type": "SQS", "Destination": {"Fn::GetAtt": "AlertsDeadLetterQueue.Arn"}}


def test_the_formatter_may_publish_and_look_up_account_names() -> None:
    # Given the formatter's role
    statements = [
        statement
        for policy in template()["Resources"]["FormatBackupAlertRole"]["Properties"]["Policies"]
        for statement in policy["PolicyDocument"]["Statement"]
    ]
    actions = {
        action
        for statement in statements
        for action in ([statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"])
    }
    # When listing its actions
    # Then it may publish to the topic and describe accounts, nothing on every resource
    assert {"sns:Publish", "organizations:DescribeAccount"} <= actions
    assert all(statement["Resource"] != "*" for statement in statements)


# ------------------------------------------------------------------------------------------------------------------
# Every sample against the rules


def test_every_sample_has_an_expectation() -> None:
    # Given the samples in events/backup/ and AWS's documented samples
    # When comparing them with the expectations file
    # Then each sample has exactly one expectation (a new sample needs one)
    assert sorted(EXPECTED) == SAMPLES


@pytest.mark.parametrize("relative", SAMPLES)
def test_each_sample_is_routed_by_its_rule_only(relative: str) -> None:
    # Given a sample and the rules with every condition on
    event = read(relative)
    # When matching it against every rule
    hits = routed_by(event, rules(completed_with_issues=True))
    # Then a failure matches exactly its one rule, anything else none
    expected = EXPECTED[relative]
    assert hits == ([expected] if expected else []), relative


@pytest.mark.parametrize("relative", SAMPLES)
def test_with_the_defaults_completed_with_issues_goes_nowhere(relative: str) -> None:
    # Given a sample and the rules as deployed by default (AlertOnCompletedWithIssues=false)
    event = read(relative)
    # When matching it
    hits = routed_by(event, rules(completed_with_issues=False))
    # Then failures still match their rule, and a completed-with-issues job matches nothing
    expected = EXPECTED[relative]
    assert hits == ([expected] if expected and expected != COMPLETED_WITH_ISSUES else []), relative


def test_a_completed_job_needs_a_status_message_to_count_as_with_issues() -> None:
    # Given the completed-with-issues sample without its status message, and with status message null
    event = read("events/backup/backup-job-completed-with-issues.json")
    without = {**event, "detail": {k: v for k, v in event["detail"].items() if k != "statusMessage"}}
    # When matching both with the rule on
    # Then only the sample with a status message matches
    assert routed_by(event, rules(completed_with_issues=True)) == [COMPLETED_WITH_ISSUES]
    assert routed_by(without, rules(completed_with_issues=True)) == []


@mock_aws
def test_the_matcher_agrees_with_delivery_to_sqs_targets() -> None:
    # Given, in moto, an event bus with the template's rules (every condition on), each delivering to its own queue
    events = boto3.client("events", region_name="us-east-1")
    sqs = boto3.client("sqs", region_name="us-east-1")
    events.create_event_bus(Name="alerts")
    queues: dict[str, str] = {}
    for rule in rules(completed_with_issues=True):
        url = sqs.create_queue(QueueName=rule.logical_id)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        events.put_rule(Name=rule.logical_id, EventBusName="alerts", EventPattern=json.dumps(rule.pattern))
        events.put_targets(Rule=rule.logical_id, EventBusName="alerts", Targets=[{"Id": "queue", "Arn": arn}])
        queues[rule.logical_id] = url
    # When every sample is put on the bus, one at a time
    for relative in SAMPLES:
        event = read(relative)
        entry = {
            "Source": event["source"],
            "DetailType": event["detail-type"],
            "Detail": json.dumps(event["detail"]),
            "Resources": event.get("resources", []),
            "EventBusName": "alerts",
        }
        assert events.put_events(Entries=[entry])["FailedEntryCount"] == 0
        delivered = []
        for logical_id, url in queues.items():
            for message in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
                delivered.append(logical_id)
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        # Then the queues that received it are exactly the rules the matcher names
        assert delivered == routed_by(event, rules(completed_with_issues=True)), relative


# ------------------------------------------------------------------------------------------------------------------
# The condition evaluator behind `orgbackup alerts check`


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ({"Fn::Equals": [{"Ref": "Flag"}, "true"]}, True),
        ({"Fn::Not": [{"Fn::Equals": [{"Ref": "Flag"}, "true"]}]}, False),
        ({"Fn::And": [{"Condition": "IsOn"}, {"Fn::Equals": [{"Ref": "Other"}, ""]}]}, True),
        ({"Fn::Or": [{"Fn::Equals": ["a", "b"]}, {"Condition": "IsOn"}]}, True),
    ],
)
def test_conditions_are_evaluated_with_the_parameters(condition: dict[str, Any], expected: bool) -> None:
    # Given a template with a condition built from Equals, Not, And, Or, Condition and Ref
    document = {"Conditions": {"Under": condition, "IsOn": {"Fn::Equals": [{"Ref": "Flag"}, "true"]}}}
    # When evaluating it with parameters
    value = evaluate_condition("Under", document, {"Flag": "true", "Other": ""})
    # Then it has CloudFormation's value
    assert value is expected


def test_a_condition_on_an_unknown_parameter_is_named() -> None:
    # Given a condition that refers to a parameter the deployment does not set
    document = {"Conditions": {"Under": {"Fn::Equals": [{"Ref": "Missing"}, "true"]}}}
    # When evaluating it
    # Then the error names the condition and the parameter
    with pytest.raises(ConfigurationError, match=r"Conditions\.Under: Ref 'Missing' has no value"):
        evaluate_condition("Under", document, {})


# ------------------------------------------------------------------------------------------------------------------
# The forwarding rules: every baseline (member, central, management) forwards every event an alert rule takes

BASELINES = ("template.yaml", "stacksets/member-account.yaml", "stacksets/central-backup-account.yaml")


def _forwards_to_the_alerts_bus(target: dict[str, Any]) -> bool:
    return target["Arn"] in ({"Ref": "AlertsEventBusArn"}, {"Fn::GetAtt": "AlertsEventBus.Arn"})


@cache
def forwarding_rules() -> dict[str, dict[str, Any]]:
    """``file:logical ID`` -> pattern of each rule, in any of the three templates, that forwards AWS Backup events to
    the alerts bus (the baselines' dead-letter alarm rules forward CloudWatch alarms there too: not these)."""
    found: dict[str, dict[str, Any]] = {}
    for relative in BASELINES:
        for logical_id, resource in load_template(ROOT / relative)["Resources"].items():
            if resource["Type"] != "AWS::Events::Rule":
                continue
            pattern = resource["Properties"].get("EventPattern", {})
            if "aws.backup" not in pattern.get("source", []):
                continue
            if any(_forwards_to_the_alerts_bus(target) for target in resource["Properties"].get("Targets", [])):
                found[f"{relative}:{logical_id}"] = pattern
    return found


def test_each_baseline_has_a_forwarding_rule() -> None:
    assert sorted(key.split(":")[0] for key in forwarding_rules()) == sorted(BASELINES)


@pytest.mark.parametrize("relative", SAMPLES)
def test_every_forwarding_rule_forwards_what_an_alert_rule_takes(relative: str) -> None:
    # Given a sample that an alert rule takes when every condition is on
    event = read(relative)
    alerted = bool(routed_by(event, rules(completed_with_issues=True)))
    # When matching it against each baseline's forwarding rule
    for where, pattern in forwarding_rules().items():
        # Then a sample that alerts is forwarded by every baseline (forwarding more is harmless: the alert rules
        # decide), and a job that did not fail and has no status message is not forwarded at all
        if alerted:
            assert matches(pattern, event), f"{where} does not forward {relative}"
        elif EXPECTED[relative] is None and "statusMessage" not in event.get("detail", {}):
            assert not matches(pattern, event), f"{where} forwards {relative}, which never alerts"
