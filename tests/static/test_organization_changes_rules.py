"""Issue 12: the rules that bring organization changes to the onboarding queue, and the us-east-1 forwarder for a
home Region elsewhere (Organizations' events reach EventBridge in us-east-1 only)."""

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from moto.events.models import EventPattern

from orgbackup_tools.deployment import PROJECT_ROOT, load_template

TEMPLATE = load_template(PROJECT_ROOT / "template.yaml")
FORWARDER_PATH = PROJECT_ROOT / "forwarder" / "organizations-events.yaml"
FORWARDER = load_template(FORWARDER_PATH)


def test_the_forwarder_forwards_exactly_what_the_home_rule_matches() -> None:
    home = TEMPLATE["Resources"]["OrganizationChangesRule"]["Properties"]["EventPattern"]
    forwarded = FORWARDER["Resources"]["OrganizationChangesForwardRule"]["Properties"]["EventPattern"]
    assert forwarded == home
    assert home["detail"]["eventName"] == ["MoveAccount", "RemoveAccountFromOrganization", "CloseAccount"]


def test_the_forwarder_targets_the_home_regions_default_bus_with_a_role_that_may_only_put_there() -> None:
    (target,) = FORWARDER["Resources"]["OrganizationChangesForwardRule"]["Properties"]["Targets"]
    bus = {"Fn::Sub": "arn:${AWS::Partition}:events:${HomeRegion}:${AWS::AccountId}:event-bus/default"}
    assert target["Arn"] == bus
    assert target["RoleArn"] == {"Fn::GetAtt": "ForwardRole.Arn"}
    statements = FORWARDER["Resources"]["ForwardRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    # the home Region's default bus, and orgbackup's alerts bus for the undelivered-events alarm: nothing else
    assert [(item["Effect"], item["Action"], item["Resource"]) for item in statements] == [
        ("Allow", "events:PutEvents", bus),
        ("Allow", "events:PutEvents", {"Ref": "AlertsEventBusArn"}),
    ]
    # And it refuses to deploy anywhere but us-east-1, or for a home Region that is us-east-1
    assert set(FORWARDER["Rules"]) == {"OnlyInUsEast1", "HomeRegionIsAnotherRegion"}


@pytest.mark.parametrize("rule", ["OrganizationChangesRule", "ControlTowerOuLifecycleRule"])
def test_each_change_rule_may_send_to_the_onboarding_queue_and_nothing_else(rule: str) -> None:
    (target,) = TEMPLATE["Resources"][rule]["Properties"]["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": "OnboardingQueue.Arn"}
    assert target["DeadLetterConfig"]["Arn"] == {"Fn::GetAtt": "OnboardingDeadLetterQueue.Arn"}
    statements = TEMPLATE["Resources"]["OnboardingQueuePolicy"]["Properties"]["PolicyDocument"]["Statement"]
    allow = next(item for item in statements if item["Sid"] == "AllowTheOnboardingRulesToSend")
    assert {"Fn::GetAtt": f"{rule}.Arn"} in allow["Condition"]["ArnEquals"]["aws:SourceArn"]


@pytest.mark.slow
def test_the_forwarder_passes_cfn_lint() -> None:
    result = subprocess.run(
        [str(Path(sys.executable).parent / "cfn-lint"), str(FORWARDER_PATH)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_forwarding_role_carries_the_optional_permissions_boundary() -> None:
    role = FORWARDER["Resources"]["ForwardRole"]["Properties"]
    assert role["PermissionsBoundary"]["Fn::If"][0] == "HasPermissionsBoundary"
    assert FORWARDER["Parameters"]["PermissionsBoundaryPolicyName"]["Default"] == ""


# ---------------------------------------------------------------------------------------------------------------
# The forwarder's failure path: nothing it cannot deliver is dropped silently, and only its own rules use its role


def forwarder_rules() -> dict[str, Any]:
    return {name: spec for name, spec in FORWARDER["Resources"].items() if spec["Type"] == "AWS::Events::Rule"}


def rule_arn(name: dict[str, Any]) -> dict[str, Any]:
    """The ARN of a rule named ``name`` (a ``!Sub``), as the role's trust policy writes it."""
    return {"Fn::Sub": "arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:rule/" + name["Fn::Sub"]}


def test_only_the_forwarder_s_own_rules_may_assume_its_role() -> None:
    # EventBridge User Guide, "Cross-service confused deputy prevention": for event bus rule targets, aws:SourceArn
    # must be the rule ARN.
    (trust,) = FORWARDER["Resources"]["ForwardRole"]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "events.amazonaws.com"}
    assert trust["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    rules = forwarder_rules()
    assert sorted(trust["Condition"]["ArnEquals"]["aws:SourceArn"], key=json.dumps) == sorted(
        (rule_arn(spec["Properties"]["Name"]) for spec in rules.values()), key=json.dumps
    )
    # and every rule that uses the role is one of them
    for spec in rules.values():
        for target in spec["Properties"]["Targets"]:
            assert target.get("RoleArn") == {"Fn::GetAtt": "ForwardRole.Arn"}


def test_an_event_the_forwarder_cannot_deliver_waits_in_an_encrypted_alarmed_queue() -> None:
    resources = FORWARDER["Resources"]
    for name, spec in forwarder_rules().items():
        (target,) = spec["Properties"]["Targets"]
        # Every target has the dead-letter queue; an event bus target takes no RetryPolicy (EventBridge retries it)
        assert target["DeadLetterConfig"]["Arn"] == {"Fn::GetAtt": "UndeliveredDeadLetterQueue.Arn"}, name
        assert "RetryPolicy" not in target, name
    queue = resources["UndeliveredDeadLetterQueue"]["Properties"]
    assert queue["SqsManagedSseEnabled"] is True
    assert queue["MessageRetentionPeriod"] == 1_209_600  # SQS's maximum, 14 days
    # Only the stack's rules may send to it, over TLS only
    policy = resources["UndeliveredDeadLetterQueuePolicy"]["Properties"]["PolicyDocument"]["Statement"]
    deny, allow = policy
    assert (deny["Effect"], deny["Action"], deny["Condition"]) == (
        "Deny",
        "sqs:*",
        {"Bool": {"aws:SecureTransport": "false"}},
    )
    assert (allow["Principal"], allow["Action"]) == ({"Service": "events.amazonaws.com"}, "sqs:SendMessage")
    assert sorted(allow["Condition"]["ArnEquals"]["aws:SourceArn"], key=json.dumps) == sorted(
        ({"Fn::GetAtt": f"{name}.Arn"} for name in forwarder_rules()), key=json.dumps
    )
    # And the alarm watches that queue
    alarm = resources["UndeliveredAlarm"]["Properties"]
    assert alarm["Dimensions"] == [
        {"Name": "QueueName", "Value": {"Fn::GetAtt": "UndeliveredDeadLetterQueue.QueueName"}}
    ]
    assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (0, "GreaterThanThreshold")


def test_the_forwarder_s_alarm_reaches_the_notification_topic_through_the_alerts_bus() -> None:
    # Given the alarm going off, as CloudWatch sends it to us-east-1's default bus
    resources = FORWARDER["Resources"]
    values = {"AWS::Partition": "aws", "AWS::Region": "us-east-1", "AWS::AccountId": "111111111111"}
    values["HomeRegion"] = "eu-west-1"

    def resolved(node: Any) -> Any:
        if isinstance(node, dict) and set(node) == {"Fn::Sub"}:
            return re.sub(r"\$\{([^}]+)\}", lambda match: values[match.group(1)], node["Fn::Sub"])
        if isinstance(node, dict):
            return {key: resolved(value) for key, value in node.items()}
        if isinstance(node, list):
            return [resolved(item) for item in node]
        return node

    alarm_name = resolved(resources["UndeliveredAlarm"]["Properties"]["AlarmName"])
    alarm_arn = f"arn:aws:cloudwatch:us-east-1:111111111111:alarm:{alarm_name}"
    event = {
        "source": "aws.cloudwatch",
        "detail-type": "CloudWatch Alarm State Change",
        "account": "111111111111",
        "region": "us-east-1",
        "resources": [alarm_arn],
        "detail": {"alarmName": alarm_name, "state": {"value": "ALARM"}},
    }

    # Then the forwarder's rule sends it to the alerts bus ...
    rule = resources["UndeliveredAlarmForwardRule"]["Properties"]
    assert EventPattern.load(json.dumps(resolved(rule["EventPattern"]))).matches_event(event)
    assert rule["Targets"][0]["Arn"] == {"Ref": "AlertsEventBusArn"}
    # ... where orgbackup's rule publishes it to the notification topic
    topic_rule = TEMPLATE["Resources"]["BaselineAlarmsToTopicRule"]["Properties"]
    assert EventPattern.load(json.dumps(topic_rule["EventPattern"])).matches_event(event)
    assert topic_rule["Targets"][0]["Arn"] == {"Ref": "NotificationTopic"}
