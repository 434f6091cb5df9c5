"""What is deployed is what was reviewed: after SAM's transform, every role's effective permissions (managed
policies expanded), every rule, target and Lambda permission, every alarm and every function's settings equal the
snapshot in tests/static/data/template_inventory.json. It was first taken before the template refactor (issue 11
part 7), which had to leave it unchanged; since then every change meant to alter what is deployed regenerates it
(tests/template_inventory.py says how), so the snapshot's diff shows that change for review."""

import json
from typing import Any

import pytest
from template_inventory import SNAPSHOT, inventory, transformed

from orgbackup.exceptions import ConfigurationError
from orgbackup_tools import deployment, sam_events


@pytest.fixture(scope="module")
def current() -> dict[str, Any]:
    return inventory()


@pytest.fixture(scope="module")
def snapshot() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(SNAPSHOT.read_text(encoding="utf-8"))
    return loaded


@pytest.mark.parametrize("section", ["roles", "rules", "lambda_permissions", "alarms", "functions"])
def test_the_deployed_section_equals_the_snapshot(
    section: str, current: dict[str, Any], snapshot: dict[str, Any]
) -> None:
    # Given the snapshot and the current template, both through SAM's transform
    # When comparing one section
    # Then it is the same (role by role, rule by rule: the failure names which one differs)
    if isinstance(snapshot[section], dict):
        assert sorted(current[section]) == sorted(snapshot[section])
        for name, expected in snapshot[section].items():
            assert current[section][name] == expected, name
    else:
        assert current[section] == snapshot[section]


def test_the_snapshot_covers_every_role_rule_and_permission(snapshot: dict[str, Any]) -> None:
    # A snapshot that lost its content would compare equal to an empty template
    assert len(snapshot["roles"]) >= 13
    assert len(snapshot["rules"]) >= 7
    assert len(snapshot["lambda_permissions"]) >= 4
    assert all(role["grants"] or role["aws_managed_policies"] for role in snapshot["roles"].values())


def _one_get_att_form(value: Any) -> Any:
    if isinstance(value, dict):
        if list(value) == ["Fn::GetAtt"] and isinstance(value["Fn::GetAtt"], list):
            return {"Fn::GetAtt": ".".join(value["Fn::GetAtt"])}
        return {key: _one_get_att_form(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_one_get_att_form(item) for item in value]
    return value


def test_the_tools_read_the_rules_and_permissions_sam_generates() -> None:
    # Given the template as SAM's transform writes it and as the tools read it (orgbackup_tools.sam_events)
    generated = ("AWS::Events::Rule", "AWS::Lambda::Permission")
    sam = {
        name: _one_get_att_form(spec) for name, spec in transformed()["Resources"].items() if spec["Type"] in generated
    }
    ours = {
        name: _one_get_att_form(spec)
        for name, spec in deployment.load_template()["Resources"].items()
        if spec["Type"] in generated
    }
    # When comparing every rule and Lambda permission, by logical ID
    # Then they are the same resources with the same properties, and some come from functions' event sources
    assert ours == sam
    assert "FormatBackupAlertFunctionBackupJobFailed" in ours
    assert "FormatBackupAlertFunctionBackupJobFailedPermission" in ours


def test_an_event_source_the_tools_cannot_render_is_refused_by_name() -> None:
    template = {
        "Resources": {
            "Fn": {
                "Type": "AWS::Serverless::Function",
                "Properties": {"Events": {"Nightly": {"Type": "Schedule", "Properties": {"Schedule": "rate(1 day)"}}}},
            }
        }
    }
    with pytest.raises(ConfigurationError, match=r"Resources\.Fn\.Properties\.Events\.Nightly\.Type: 'Schedule'"):
        sam_events.expand(template)
    queue_by_sam = {"Pattern": {"source": ["x"]}, "DeadLetterConfig": {"Type": "SQS"}}
    template["Resources"]["Fn"]["Properties"]["Events"] = {
        "Rule": {"Type": "EventBridgeRule", "Properties": queue_by_sam}
    }
    with pytest.raises(ConfigurationError, match=r"Events\.Rule\.Properties\.DeadLetterConfig: only Arn"):
        sam_events.expand(template)


def test_a_function_setting_is_its_own_else_the_globals_one() -> None:
    template = {"Globals": {"Function": {"Handler": "app.lambda_handler", "Timeout": 60}}}
    assert deployment.function_setting(template, {"Timeout": 900}, "Timeout") == 900
    assert deployment.function_setting(template, {"Timeout": 900}, "Handler") == "app.lambda_handler"
    assert deployment.function_setting(template, {}, "MemorySize") is None
    # and every function of template.yaml has a handler that way
    real = deployment.load_template()
    for name, resource in real["Resources"].items():
        if resource["Type"] == "AWS::Serverless::Function":
            assert deployment.function_setting(real, resource["Properties"], "Handler") == "app.lambda_handler", name
