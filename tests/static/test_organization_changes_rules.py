"""Issue 12: the rules that bring organization changes to the onboarding queue, and the us-east-1 forwarder for a
home Region elsewhere (Organizations' events reach EventBridge in us-east-1 only)."""

import subprocess
import sys
from pathlib import Path

import pytest

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
    (statement,) = FORWARDER["Resources"]["ForwardRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    assert statement == {"Effect": "Allow", "Action": "events:PutEvents", "Resource": bus}
    # And it refuses to deploy anywhere but us-east-1, or for a home Region that is us-east-1
    assert set(FORWARDER["Rules"]) == {"OnlyInUsEast1", "HomeRegionIsAnotherRegion"}


@pytest.mark.parametrize("rule", ["OrganizationChangesRule", "ControlTowerOuLifecycleRule"])
def test_each_change_rule_may_send_to_the_onboarding_queue_and_nothing_else(rule: str) -> None:
    (target,) = TEMPLATE["Resources"][rule]["Properties"]["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": "OnboardingQueue.Arn"}
    assert target["DeadLetterConfig"]["Arn"] == {"Fn::GetAtt": "OnboardingDeadLetterQueue.Arn"}
    statements = TEMPLATE["Resources"]["OnboardingQueuePolicy"]["Properties"]["PolicyDocument"]["Statement"]
    allow = next(item for item in statements if item["Sid"] == "AllowTheLifecycleRuleToSend")
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
