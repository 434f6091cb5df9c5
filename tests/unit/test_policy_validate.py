"""The backup policy validator: AWS's documented examples pass, and every rule rejects its invalid variant."""

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from orgbackup.policies.validate import (
    MAX_POLICY_CHARACTERS,
    RULES,
    PolicyIssue,
    check_schedule_expression,
    join_path,
    minify,
    parse_policy_text,
    validate_policy,
    validate_policy_text,
)

EXAMPLES = Path(__file__).parent / "data" / "policy_examples"
POLICIES = sorted((EXAMPLES / "policies").glob("*.json"))
FRAGMENTS = sorted((EXAMPLES / "fragments").glob("*.json"))
# Child policies that only override inherited settings: valid, but not complete on their own.
PARTIAL = {"example5_child.json"}

ROLE = "arn:aws:iam::$account:role/BackupRole"
CENTRAL = "arn:aws:backup:eu-west-1:222222222222:backup-vault:central"
SECONDARY = "arn:aws:backup:eu-central-1:$account:backup-vault:secondary"
P = "$.plans.Org_Plan"
R = f"{P}.rules.Daily"
TAGS = f"{P}.selections.tags.daily"
RES = f"{P}.selections.resources.volumes"
CENTRAL_COPY = f"{R}.copy_actions['{CENTRAL}']"


def assign(value: object) -> dict[str, object]:
    return {"@@assign": value}


def tag(key: str, value: str) -> dict[str, object]:
    return {"tag_key": assign(key), "tag_value": assign(value)}


def condition(key: str, value: str) -> dict[str, object]:
    return {"condition_key": assign(f"aws:ResourceTag/{key}"), "condition_value": assign(value)}


def valid_policy() -> dict[str, Any]:
    """A complete policy that uses every element of the language at least once."""
    return {
        "plans": {
            "Org_Plan": {
                "@@operators_allowed_for_child_policies": ["@@append"],
                "regions": {
                    "@@assign": ["eu-west-1", "eu-central-1"],
                    "@@operators_allowed_for_child_policies": ["@@none"],
                },
                "rules": {
                    "Daily": {
                        "schedule_expression": assign("cron(0 5 ? * * *)"),
                        "schedule_expression_timezone": assign("Europe/Paris"),
                        "start_backup_window_minutes": assign("60"),
                        "complete_backup_window_minutes": assign("480"),
                        "target_backup_vault_name": assign("member-vault"),
                        "target_logically_air_gapped_backup_vault_arn": assign(
                            "arn:aws:backup:$region:$account:backup-vault:AirGapped"
                        ),
                        "enable_continuous_backup": assign("false"),
                        "lifecycle": {
                            "move_to_cold_storage_after_days": assign("30"),
                            "delete_after_days": assign("120"),
                            "opt_in_to_archive_for_supported_resources": assign("false"),
                        },
                        "copy_actions": {
                            CENTRAL: {
                                "target_backup_vault_arn": assign(CENTRAL),
                                "lifecycle": {"delete_after_days": assign("90")},
                            },
                            SECONDARY: {"target_backup_vault_arn": assign(SECONDARY)},
                        },
                        "recovery_point_tags": {"managed-by": tag("managed-by", "orgbackup")},
                        "index_actions": {"resource_types": assign(["EBS"])},
                        "scan_actions": {"GUARDDUTY": {"scan_mode": assign("INCREMENTAL_SCAN")}},
                    }
                },
                "selections": {
                    "tags": {
                        "daily": {
                            "iam_role_arn": assign(ROLE),
                            "tag_key": assign("backup-plan"),
                            "tag_value": assign(["daily"]),
                            "conditions": {"string_not_equals": {"opt-out": condition("backup", "false")}},
                        }
                    },
                    "resources": {
                        "volumes": {
                            "iam_role_arn": assign(ROLE),
                            "resource_types": assign(["arn:aws:ec2:*:*:volume/*"]),
                            "not_resource_types": assign(["arn:aws:rds:*:*:db:*"]),
                            "conditions": {
                                "string_equals": {"prod": condition("stage", "prod")},
                                "string_like": {"team": condition("team", "data*")},
                                "string_not_like": {"tmp": condition("name", "*tmp*")},
                            },
                        }
                    },
                },
                "advanced_backup_settings": {
                    "ec2": {"windows_vss": assign("enabled")},
                    "s3": {"backup_acls": assign("enabled"), "backup_object_tags": assign("disabled")},
                },
                "backup_plan_tags": {"managed-by": tag("managed-by", "orgbackup")},
                "scan_settings": {
                    "GUARDDUTY": {
                        "resource_types": assign(["EBS"]),
                        "scanner_role_arn": assign("arn:aws:iam::$account:role/Scanner"),
                    }
                },
            }
        }
    }


def plan(doc: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = doc["plans"]["Org_Plan"]
    return result


def rule(doc: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = plan(doc)["rules"]["Daily"]
    return result


def tags_selection(doc: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = plan(doc)["selections"]["tags"]["daily"]
    return result


def resources_selection(doc: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = plan(doc)["selections"]["resources"]["volumes"]
    return result


def only_issue(issues: list[PolicyIssue]) -> PolicyIssue:
    assert len(issues) == 1, [(issue.path, issue.rule, issue.message) for issue in issues]
    return issues[0]


# ------------------------------------------------------------------------------------------------------------------
# AWS's documented examples.
# ------------------------------------------------------------------------------------------------------------------


def test_the_documented_examples_are_all_transcribed() -> None:
    # Given the examples folder
    # When listing it
    names = {path.name for path in POLICIES}
    # Then every complete policy of Examples 1, 2, 5 and 8 is there, and the README names the source page
    assert names == {
        "example1_parent.json",
        "example2_parent.json",
        "example2_child.json",
        "example5_child.json",
        "example8_malware_scan.json",
    }
    readme = (EXAMPLES / "README.md").read_text(encoding="utf-8")
    assert "orgs_manage_policies_backup_syntax.html" in readme


@pytest.mark.parametrize("path", POLICIES, ids=lambda path: path.name)
def test_each_documented_example_policy_is_valid(path: Path) -> None:
    # Given a policy transcribed from AWS's "Backup policy syntax and examples" page
    text = path.read_text(encoding="utf-8")
    # When validating it as a policy among inherited ones
    issues = validate_policy_text(text)
    # Then there is nothing to report
    assert issues == []


@pytest.mark.parametrize("path", [p for p in POLICIES if p.name not in PARTIAL], ids=lambda path: path.name)
def test_each_complete_documented_example_is_valid_standalone(path: Path) -> None:
    # Given a documented example that defines whole plans
    text = path.read_text(encoding="utf-8")
    # When validating it as a policy that must work on its own
    issues = validate_policy_text(text, standalone=True)
    # Then it has every required element
    assert issues == []


def test_a_child_policy_that_only_overrides_is_incomplete_standalone() -> None:
    # Given Example 5's child policy, which relies on its parent for the selections
    text = (EXAMPLES / "policies" / "example5_child.json").read_text(encoding="utf-8")
    # When validating it as a standalone policy
    issue = only_issue(validate_policy_text(text, standalone=True))
    # Then the missing selections are named
    assert (issue.path, issue.rule) == ("$.plans.PII_Backup_Plan.selections", "required-key")
    assert "selections is missing" in issue.message


# Two examples on the page contradict the page's own rule that delete_after_days is at least
# move_to_cold_storage_after_days + 90 (AWS Backup rejects such lifecycles). They are kept verbatim and the
# validator names exactly that one problem in each.
ERRATA = {
    "example3_parent.json": (
        "$.plans.PII_Backup_Plan.rules.Hourly.copy_actions"
        "['arn:aws:backup:us-east-1:$account:backup-vault:secondary_vault'].lifecycle.delete_after_days"
    ),
    "example5_parent.json": "$.plans.PII_Backup_Plan.rules.Hourly.lifecycle.delete_after_days",
}


@pytest.mark.parametrize(("name", "path"), ERRATA.items())
def test_documented_examples_that_break_the_cold_storage_rule_get_exactly_that_issue(name: str, path: str) -> None:
    # Given a documented example whose lifecycle deletes before the 90 days in cold storage are over
    text = (EXAMPLES / "errata" / name).read_text(encoding="utf-8")
    # When validating it
    issue = only_issue(validate_policy_text(text))
    # Then the one issue is the cold-storage minimum, at the lifecycle's delete_after_days
    assert (issue.path, issue.rule) == (path, "cold-storage-minimum")
    assert "at least 90 days" in issue.message


# Where each documented fragment (Examples 6 and 7, the advanced settings and scan snippets) belongs in a plan.
def _graft(doc: dict[str, Any], fragment: dict[str, Any]) -> None:
    (key, value), *_ = fragment.items()
    if key == "resources":
        plan(doc)["selections"] = {"resources": value}
    elif key == "scan_actions":
        rule(doc)["scan_actions"] = value
    else:
        plan(doc)[key] = value


@pytest.mark.parametrize("path", FRAGMENTS, ids=lambda path: path.name)
def test_each_documented_fragment_is_valid_inside_a_plan(path: Path) -> None:
    # Given a valid plan and a fragment transcribed from the page
    doc = valid_policy()
    fragment = json.loads(path.read_text(encoding="utf-8"))
    # When the fragment replaces its part of the plan
    _graft(doc, fragment)
    # Then the policy is still valid on its own
    assert validate_policy(doc, standalone=True) == []


# ------------------------------------------------------------------------------------------------------------------
# Accepted variants (where the page's examples decide).
# ------------------------------------------------------------------------------------------------------------------


def test_the_reference_policy_is_valid() -> None:
    # Given a policy using every documented element
    # When validating it standalone
    # Then it is valid (the mutation cases below each break one rule of it)
    assert validate_policy(valid_policy(), standalone=True) == []


def _numbers_as_json_numbers(doc: dict[str, Any]) -> None:
    rule(doc)["start_backup_window_minutes"] = assign(60)
    rule(doc)["lifecycle"]["delete_after_days"] = assign(120)


def _booleans_as_json_booleans(doc: dict[str, Any]) -> None:
    rule(doc)["enable_continuous_backup"] = assign(False)
    rule(doc)["lifecycle"]["opt_in_to_archive_for_supported_resources"] = assign(True)


def _legacy_windows_vss_key(doc: dict[str, Any]) -> None:
    plan(doc)["advanced_backup_settings"]["ec2"] = {"WindowsVSS": assign("disabled")}


def _append_and_remove_on_lists(doc: dict[str, Any]) -> None:
    plan(doc)["regions"] = {"@@append": ["eu-west-1"]}
    tags_selection(doc)["tag_value"] = {"@@remove": ["weekly"]}


def _govcloud_partition(doc: dict[str, Any]) -> None:
    resources_selection(doc)["resource_types"] = assign(["arn:aws-us-gov:ec2:*:*:volume/*", "*"])
    tags_selection(doc)["iam_role_arn"] = assign("arn:aws-us-gov:iam::$account:role/service-role/Backup")


def _continuous_backup_within_35_days(doc: dict[str, Any]) -> None:
    rule(doc)["enable_continuous_backup"] = assign("true")
    rule(doc)["lifecycle"] = {"delete_after_days": assign("35")}


def _rate_schedule(doc: dict[str, Any]) -> None:
    rule(doc)["schedule_expression"] = assign("rate(12 hours)")


def _child_control_on_every_level(doc: dict[str, Any]) -> None:
    for node in (doc["plans"], plan(doc)["rules"], rule(doc), rule(doc)["lifecycle"], rule(doc)["copy_actions"]):
        node["@@operators_allowed_for_child_policies"] = ["@@assign", "@@append"]


@pytest.mark.parametrize(
    "change",
    [
        _numbers_as_json_numbers,
        _booleans_as_json_booleans,
        _legacy_windows_vss_key,
        _append_and_remove_on_lists,
        _govcloud_partition,
        _continuous_backup_within_35_days,
        _rate_schedule,
        _child_control_on_every_level,
    ],
)
def test_documented_variants_are_accepted(change: Callable[[dict[str, Any]], None]) -> None:
    # Given the reference policy changed in a way AWS's examples or docs allow
    doc = valid_policy()
    change(doc)
    # When validating it
    # Then it is still valid
    assert validate_policy(doc, standalone=True) == []


@pytest.mark.parametrize(
    "expression",
    [
        "cron(0 5 ? * * *)",
        "cron(0 0/1 ? * * *)",
        "cron(0 5/1 ? * * *)",
        "cron(15 2 1 * ? *)",
        "cron(0 5 ? * MON-FRI *)",
        "cron(0 5 ? * 1,3,5 *)",
        "cron(0 5 L * ? *)",
        "cron(0 5 15W * ? *)",
        "cron(0 5 ? * 6#3 *)",
        "cron(0 5 ? * FRIL *)",
        "cron(0 5 1 JAN,JUL ? 2030-2035)",
        "cron(30 */2 ? * * *)",
        "cron(0/60 * ? * * *)",
        "cron(15 * ? * * *)",
        "rate(1 day)",
        "rate(1 hour)",
        "rate(12 hours)",
        "rate(60 minutes)",
        "rate(90 minutes)",
    ],
)
def test_valid_schedule_expressions(expression: str) -> None:
    # Given a cron or rate expression in EventBridge syntax
    # When checking it
    # Then it is accepted
    assert check_schedule_expression(expression) is None


@pytest.mark.parametrize(
    ("expression", "why"),
    [
        ("cron(0 5 * * *)", "6 fields"),
        ("cron(0  5 ? * * *)", "6 fields"),
        ("cron(60 5 ? * * *)", "minutes value 60 is outside 0-59"),
        ("cron(0 24 ? * * *)", "hours value 24 is outside 0-23"),
        ("cron(0 5 32 * ? *)", "day-of-month value 32 is outside 1-31"),
        ("cron(0 5 1 13 ? *)", "month value 13 is outside 1-12"),
        ("cron(0 5 ? * 8 *)", "day-of-week value 8 is outside 1-7"),
        ("cron(0 5 ? * FUN *)", "day-of-week value 'FUN' is not a number"),
        ("cron(0 5 1 * ? 1969)", "year value 1969 is outside 1970-2199"),
        ("cron(0/0 5 ? * * *)", "step '0'"),
        ("cron(0 5 * * * *)", "exactly one of day-of-month and day-of-week must be '?'"),
        ("cron(0 5 ? * ? *)", "exactly one of day-of-month and day-of-week must be '?'"),
        ("rate(1 days)", "singular unit"),
        ("rate(2 day)", "plural"),
        ("rate(0 days)", "positive"),
        ("rate(5 weeks)", "cron("),
        ("every day", "cron("),
    ],
)
def test_invalid_schedule_expressions_say_why(expression: str, why: str) -> None:
    # Given a malformed schedule
    # When checking it
    problem = check_schedule_expression(expression)
    # Then the reason names the field or form at fault
    assert problem is not None
    assert why in problem


@pytest.mark.parametrize(
    ("expression", "runs"),
    [
        ("cron(*/30 * ? * * *)", "2 times an hour"),
        ("cron(0/15 * ? * * *)", "4 times an hour"),
        ("cron(0,30 5 ? * * *)", "2 times an hour"),
        ("cron(0-1 5 ? * * *)", "2 times an hour"),
        ("cron(55-5 * ? * * *)", "11 times an hour"),
        ("cron(* 5 ? * * *)", "60 times an hour"),
        ("rate(1 minute)", "every 1 minute"),
        ("rate(59 minutes)", "every 59 minute"),
    ],
)
def test_schedules_more_frequent_than_hourly_are_refused_with_the_rule_and_its_source(
    expression: str, runs: str
) -> None:
    # Given a well-formed schedule that starts snapshot backups more often than hourly
    # When checking it, alone and inside a policy
    problem = check_schedule_expression(expression)
    doc = valid_policy()
    rule(doc)["schedule_expression"] = assign(expression)
    issues = validate_policy(doc, standalone=True)
    # Then it is refused, saying how often it runs, the rule and the AWS page it comes from
    assert problem is not None
    assert runs in problem
    assert "at most hourly" in problem
    assert "plan-options-and-configuration.html" in problem
    assert [issue.rule for issue in issues] == ["schedule-frequency"]


# ------------------------------------------------------------------------------------------------------------------
# One case for every rule: the reference policy mutated one way.
# ------------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    id: str
    change: Callable[[dict[str, Any]], object]
    expected: tuple[tuple[str, str], ...]  # (path, rule) of every issue
    says: str  # a fragment of the message naming the value or the rule
    standalone: bool = True


def _set(
    getter: Callable[[dict[str, Any]], dict[str, Any]], key: str, value: object
) -> Callable[[dict[str, Any]], None]:
    def change(doc: dict[str, Any]) -> None:
        getter(doc)[key] = value

    return change


def _delete(getter: Callable[[dict[str, Any]], dict[str, Any]], key: str) -> Callable[[dict[str, Any]], None]:
    def change(doc: dict[str, Any]) -> None:
        del getter(doc)[key]

    return change


def _lifecycle(doc: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = rule(doc)["lifecycle"]
    return result


def _ec2_settings(doc: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = plan(doc)["advanced_backup_settings"]["ec2"]
    return result


def _central_copy(doc: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = rule(doc)["copy_actions"][CENTRAL]
    return result


def _rename_plan(new: str) -> Callable[[dict[str, Any]], None]:
    def change(doc: dict[str, Any]) -> None:
        doc["plans"] = {new: doc["plans"]["Org_Plan"]}

    return change


def _rename_rule(new: str) -> Callable[[dict[str, Any]], None]:
    def change(doc: dict[str, Any]) -> None:
        plan(doc)["rules"] = {new: rule(doc)}

    return change


def _old_style_copy_arn(doc: dict[str, Any]) -> None:
    old = "arn:aws:backup:us-east-1:$account:vault:secondary_vault"  # the page's pre-2024 examples wrote ":vault:"
    rule(doc)["copy_actions"] = {old: {"target_backup_vault_arn": assign(old)}}


def _mismatched_copy_target(doc: dict[str, Any]) -> None:
    # The page's 2023 syntax example: $account in the key, a literal account ID in the target.
    key = "arn:aws:backup:us-east-1:$account:backup-vault:My_Tertiary_Vault"
    target = "arn:aws:backup:us-east-1:111111111111:backup-vault:My_Tertiary_Vault"
    rule(doc)["copy_actions"] = {key: {"target_backup_vault_arn": assign(target)}}


REGION_ARN = "arn:aws:backup:$region:$account:backup-vault:secondary"
REGION_COPY = f"{R}.copy_actions['{REGION_ARN}']"


def _region_variable_in_copy_target(doc: dict[str, Any]) -> None:
    rule(doc)["copy_actions"] = {REGION_ARN: {"target_backup_vault_arn": assign(REGION_ARN)}}


def _many_conditions(doc: dict[str, Any]) -> None:
    resources_selection(doc)["conditions"] = {
        "string_equals": {f"c{index}": condition(f"key{index}", "yes") for index in range(31)}
    }


def _oversized(doc: dict[str, Any]) -> None:
    rule(doc)["recovery_point_tags"] = {f"tag{index}": tag(f"key{index:03}", "x" * 200) for index in range(40)}


def _plain_list(doc: dict[str, Any]) -> None:
    plan(doc)["regions"] = ["eu-west-1"]


SCAN_ACTIONS = f"{R}.scan_actions"
CHILD = "['@@operators_allowed_for_child_policies']"

CASES = [
    Case("value-type-plans", _set(lambda doc: doc, "plans", []), (("$.plans", "value-type"),), "named plans"),
    Case(
        "unknown-key-typo",
        _set(_lifecycle, "to_delete_after_days", assign("30")),
        ((f"{R}.lifecycle.to_delete_after_days", "unknown-key"),),
        "did you mean 'delete_after_days'",
    ),
    Case(
        "unknown-key-top",
        lambda doc: doc.update({"policies": {}}),
        (("$.policies", "unknown-key"),),
        "'policies' is not a key of the policy",
    ),
    Case(
        "selection-kind-tags",
        _set(tags_selection, "resource_types", assign(["*"])),
        ((f"{TAGS}.resource_types", "selection-kind"),),
        "belongs in a resources selection",
    ),
    Case(
        "selection-kind-resources",
        _set(resources_selection, "tag_key", assign("backup")),
        ((f"{RES}.tag_key", "selection-kind"),),
        "belongs in a tags selection",
    ),
    Case(
        "required-rule-vault",
        _delete(rule, "target_backup_vault_name"),
        ((f"{R}.target_backup_vault_name", "required-key"),),
        "target_backup_vault_name is missing: a rule must have it",
    ),
    Case(
        "required-tag-selection-role",
        _delete(tags_selection, "iam_role_arn"),
        ((f"{TAGS}.iam_role_arn", "required-key"),),
        "iam_role_arn is missing",
    ),
    Case(
        "required-resource-types",
        _delete(resources_selection, "resource_types"),
        ((f"{RES}.resource_types", "required-key"),),
        "resource_types is missing",
    ),
    Case(
        "required-copy-target",
        _delete(_central_copy, "target_backup_vault_arn"),
        ((f"{CENTRAL_COPY}.target_backup_vault_arn", "required-key"),),
        "AWS recommends always setting it",
    ),
    Case("required-plans", lambda doc: doc.clear(), (("$.plans", "required-key"),), "plans is missing"),
    Case("empty-rules", _set(plan, "rules", {}), ((f"{P}.rules", "empty-collection"),), "needs at least one rule"),
    Case(
        "empty-regions", _set(plan, "regions", assign([])), ((f"{P}.regions", "empty-collection"),), "regions is empty"
    ),
    Case(
        "empty-selections",
        _set(plan, "selections", {"tags": {}}),
        ((f"{P}.selections", "empty-collection"),),
        "no tags or resources selection",
    ),
    Case(
        "name-format-plan",
        _rename_plan("PII Backup Plan"),
        (("$.plans['PII Backup Plan']", "name-format"),),
        "not a valid plan name",
    ),
    Case(
        "name-format-rule", _rename_rule("R" * 51), ((f"{P}.rules.{'R' * 51}", "name-format"),), "not a valid rule name"
    ),
    Case(
        "setting-operator",
        _set(rule, "schedule_expression", "cron(0 5 ? * * *)"),
        ((f"{R}.schedule_expression", "setting-operator"),),
        "plain values appear only in displayed effective policies",
    ),
    Case(
        "setting-operator-list",
        _plain_list,
        ((f"{P}.regions", "setting-operator"),),
        'set it with an inheritance operator, e.g. {"@@assign": ["eu-west-1"]}',
    ),
    Case(
        "operator-count-two",
        _set(plan, "regions", {"@@assign": ["eu-west-1"], "@@append": ["eu-north-1"]}),
        ((f"{P}.regions", "operator-count"),),
        "regions has @@assign, @@append",
    ),
    Case(
        "operator-count-none",
        _set(rule, "schedule_expression", {"@@operators_allowed_for_child_policies": ["@@none"]}),
        ((f"{R}.schedule_expression", "operator-count"),),
        "needs exactly one of",
    ),
    Case(
        "operator-unknown-setting",
        _set(rule, "schedule_expression", {"@@assign": "cron(0 5 ? * * *)", "@@merge": "x"}),
        ((f"{R}.schedule_expression['@@merge']", "operator-unknown"),),
        "'@@merge' is not allowed",
    ),
    Case(
        "operator-unknown-block",
        _set(_lifecycle, "@@merge", {}),
        ((f"{R}.lifecycle['@@merge']", "operator-unknown"),),
        "@@merge is not an inheritance operator",
    ),
    Case(
        "unknown-key-in-setting",
        _set(rule, "schedule_expression", {"@@assign": "cron(0 5 ? * * *)", "value": "x"}),
        ((f"{R}.schedule_expression.value", "unknown-key"),),
        "'value' is not allowed in the setting",
    ),
    Case(
        "operator-placement-block",
        _set(rule, "lifecycle", {"@@assign": {"delete_after_days": "35"}}),
        ((f"{R}.lifecycle['@@assign']", "operator-placement"),),
        "cannot set lifecycle as a whole",
    ),
    Case(
        "operator-placement-named",
        _set(plan, "rules", {"@@append": {}, "Daily": valid_policy()["plans"]["Org_Plan"]["rules"]["Daily"]}),
        ((f"{P}.rules['@@append']", "operator-placement"),),
        "cannot set rules as a whole",
    ),
    Case(
        "operator-placement-top",
        lambda doc: doc.update({"@@operators_allowed_for_child_policies": ["@@none"]}),
        ((f"${CHILD}", "operator-placement"),),
        "cannot stand at the top level",
    ),
    Case(
        "operator-multivalued",
        _set(rule, "schedule_expression", {"@@append": "cron(0 5 ? * * *)"}),
        ((f"{R}.schedule_expression", "operator-multivalued"),),
        "@@append works only on multi-valued settings",
    ),
    Case(
        "child-control-mixed",
        _set(
            rule,
            "lifecycle",
            {"@@operators_allowed_for_child_policies": ["@@none", "@@assign"], "delete_after_days": assign("35")},
        ),
        ((f"{R}.lifecycle{CHILD}", "child-control"),),
        "@@all and @@none must stand alone",
    ),
    Case(
        "child-control-unknown",
        _set(plan, "regions", {"@@assign": ["eu-west-1"], "@@operators_allowed_for_child_policies": ["@@merge"]}),
        ((f"{P}.regions{CHILD}", "child-control"),),
        '"@@merge" is not one of',
    ),
    Case(
        "child-control-not-list",
        _set(plan, "@@operators_allowed_for_child_policies", "@@none"),
        ((f"{P}{CHILD}", "child-control"),),
        "must be a non-empty list",
    ),
    Case(
        "child-control-duplicate",
        _set(plan, "@@operators_allowed_for_child_policies", ["@@assign", "@@assign"]),
        ((f"{P}{CHILD}", "list-duplicate"),),
        "names an operator twice",
    ),
    Case(
        "value-type-list",
        _set(tags_selection, "tag_value", assign("daily")),
        ((f"{TAGS}.tag_value", "value-type"),),
        '"daily": @@assign takes a list of values',
    ),
    Case(
        "value-type-string",
        _set(rule, "schedule_expression", assign(5)),
        ((f"{R}.schedule_expression", "value-type"),),
        "it must be a string",
    ),
    Case(
        "value-type-number",
        _set(_lifecycle, "delete_after_days", assign("ten")),
        ((f"{R}.lifecycle.delete_after_days", "value-type"),),
        "whole number of days",
    ),
    Case(
        "value-type-block",
        _set(rule, "lifecycle", "35 days"),
        ((f"{R}.lifecycle", "value-type"),),
        "must be an object holding a lifecycle",
    ),
    Case(
        "list-duplicate",
        _set(plan, "regions", assign(["eu-west-1", "eu-west-1"])),
        ((f"{P}.regions[1]", "list-duplicate"),),
        'lists "eu-west-1" more than once',
    ),
    Case(
        "region-name",
        _set(plan, "regions", assign(["europe-west1"])),
        ((f"{P}.regions[0]", "region-name"),),
        '"europe-west1": it is not an AWS Region code',
    ),
    Case(
        "region-name-unknown",
        _set(plan, "regions", assign(["eu-wset-1"])),
        ((f"{P}.regions[0]", "region-name"),),
        '"eu-wset-1": it is not a Region AWS publishes',
    ),
    Case(
        "copy-target-region-unknown",
        _set(
            rule,
            "copy_actions",
            {
                SECONDARY.replace("eu-central-1", "eu-cenral-1"): {
                    "target_backup_vault_arn": assign(SECONDARY.replace("eu-central-1", "eu-cenral-1"))
                }
            },
        ),
        (
            (f"{R}.copy_actions['{SECONDARY.replace('eu-central-1', 'eu-cenral-1')}']", "region-name"),
            (
                f"{R}.copy_actions['{SECONDARY.replace('eu-central-1', 'eu-cenral-1')}'].target_backup_vault_arn",
                "region-name",
            ),
        ),
        "its Region 'eu-cenral-1' is not a Region AWS publishes",
    ),
    Case(
        "schedule-frequency",
        _set(rule, "schedule_expression", assign("cron(0/30 * ? * * *)")),
        ((f"{R}.schedule_expression", "schedule-frequency"),),
        "starts a backup 2 times an hour; AWS Backup runs snapshot backups at most hourly",
    ),
    Case(
        "schedule-expression",
        _set(rule, "schedule_expression", assign("cron(0 25 ? * * *)")),
        ((f"{R}.schedule_expression", "schedule-expression"),),
        "hours value 25 is outside 0-23",
    ),
    Case(
        "timezone",
        _set(rule, "schedule_expression_timezone", assign("Not A Zone")),
        ((f"{R}.schedule_expression_timezone", "timezone"),),
        "not an IANA time zone name",
    ),
    Case(
        "start-window",
        _set(rule, "start_backup_window_minutes", assign("59")),
        ((f"{R}.start_backup_window_minutes", "start-window"),),
        '"59": it must be at least 60 minutes',
    ),
    Case(
        "whole-number-days",
        lambda doc: _central_copy(doc)["lifecycle"].update({"delete_after_days": assign("0")}),
        ((f"{CENTRAL_COPY}.lifecycle.delete_after_days", "whole-number"),),
        '"0": it must be at least 1 day',
    ),
    Case(
        "whole-number-minutes",
        _set(rule, "complete_backup_window_minutes", assign(0)),
        ((f"{R}.complete_backup_window_minutes", "whole-number"),),
        "at least 1 minute",
    ),
    Case(
        "boolean",
        _set(rule, "enable_continuous_backup", assign("yes")),
        ((f"{R}.enable_continuous_backup", "boolean"),),
        '"yes": it must be true or false',
    ),
    Case(
        "allowed-value-vss",
        _set(_ec2_settings, "windows_vss", assign("on")),
        ((f"{P}.advanced_backup_settings.ec2.windows_vss", "allowed-value"),),
        "must be one of enabled, disabled",
    ),
    Case(
        "allowed-value-scan-mode",
        lambda doc: rule(doc)["scan_actions"]["GUARDDUTY"].update({"scan_mode": assign("QUICK_SCAN")}),
        ((f"{SCAN_ACTIONS}.GUARDDUTY.scan_mode", "allowed-value"),),
        "INCREMENTAL_SCAN, FULL_SCAN",
    ),
    Case(
        "allowed-value-index",
        _set(rule, "index_actions", {"resource_types": assign(["EC2"])}),
        ((f"{R}.index_actions.resource_types[0]", "allowed-value"),),
        "must be one of EBS, S3",
    ),
    Case(
        "allowed-value-scanner",
        _set(rule, "scan_actions", {"MALWARE": {"scan_mode": assign("FULL_SCAN")}}),
        ((f"{SCAN_ACTIONS}.MALWARE", "allowed-value"),),
        "must be GUARDDUTY",
    ),
    Case(
        "vault-name",
        _set(rule, "target_backup_vault_name", assign("v")),
        ((f"{R}.target_backup_vault_name", "vault-name"),),
        '"v": it is not a backup vault name',
    ),
    Case(
        "vault-arn",
        _old_style_copy_arn,
        (
            (f"{R}.copy_actions['arn:aws:backup:us-east-1:$account:vault:secondary_vault']", "vault-arn"),
            (
                f"{R}.copy_actions['arn:aws:backup:us-east-1:$account:vault:secondary_vault'].target_backup_vault_arn",
                "vault-arn",
            ),
        ),
        "is not backup-vault:<vault name>",
    ),
    Case(
        "copy-key-mismatch",
        _mismatched_copy_target,
        (
            (
                f"{R}.copy_actions['arn:aws:backup:us-east-1:$account:backup-vault:My_Tertiary_Vault'].target_backup_vault_arn",
                "copy-key-mismatch",
            ),
        ),
        "must be exactly the ARN of its target vault",
    ),
    Case(
        "air-gapped-arn",
        _set(
            rule,
            "target_logically_air_gapped_backup_vault_arn",
            assign("arn:aws:backup:eu-west-1:$account:backup-vault:AirGapped"),
        ),
        ((f"{R}.target_logically_air_gapped_backup_vault_arn", "air-gapped-arn"),),
        "must use the placeholders $region and $account",
    ),
    Case(
        "role-arn-user",
        _set(tags_selection, "iam_role_arn", assign("arn:aws:iam::$account:user/Bob")),
        ((f"{TAGS}.iam_role_arn", "role-arn"),),
        "it is not an IAM role ARN",
    ),
    Case(
        "role-arn-account",
        _set(tags_selection, "iam_role_arn", assign("arn:aws:iam::12345:role/Backup")),
        ((f"{TAGS}.iam_role_arn", "role-arn"),),
        "its account '12345' is neither a 12-digit account ID nor $account",
    ),
    Case(
        "account-variable-tag",
        lambda doc: plan(doc)["backup_plan_tags"].update({"owner": tag("owner", "$account")}),
        ((f"{P}.backup_plan_tags.owner.tag_value", "account-variable"),),
        "$account may appear only in ARNs",
    ),
    Case(
        "account-variable-arn-resource",
        _set(tags_selection, "iam_role_arn", assign("arn:aws:iam::$account:role/$account-backup")),
        ((f"{TAGS}.iam_role_arn", "account-variable"),),
        "whole account ID field",
    ),
    Case(
        "account-variable-region",
        _region_variable_in_copy_target,
        ((REGION_COPY, "account-variable"), (f"{REGION_COPY}.target_backup_vault_arn", "account-variable")),
        "$region may only appear in target_logically_air_gapped_backup_vault_arn",
    ),
    Case(
        "account-variable-name",
        lambda doc: plan(doc)["backup_plan_tags"].update({"$account": tag("owner", "me")}),
        ((f"{P}.backup_plan_tags['$account']", "account-variable"),),
        "may not appear in element names",
    ),
    Case(
        "cold-storage-minimum",
        _set(_lifecycle, "delete_after_days", assign("119")),
        ((f"{R}.lifecycle.delete_after_days", "cold-storage-minimum"),),
        "delete_after_days is 119 but move_to_cold_storage_after_days is 30",
    ),
    Case(
        "cold-storage-minimum-copy",
        lambda doc: _central_copy(doc)["lifecycle"].update({"move_to_cold_storage_after_days": assign("30")}),
        ((f"{CENTRAL_COPY}.lifecycle.delete_after_days", "cold-storage-minimum"),),
        "must be at least 120",
    ),
    Case(
        "archive-transition-copy",
        lambda doc: _central_copy(doc)["lifecycle"].update(
            {"opt_in_to_archive_for_supported_resources": assign("true")}
        ),
        ((f"{CENTRAL_COPY}.lifecycle.opt_in_to_archive_for_supported_resources", "archive-transition"),),
        "no move_to_cold_storage_after_days",
    ),
    Case(
        "continuous-backup-retention",
        lambda doc: rule(doc).update({"enable_continuous_backup": assign(True)}),
        ((f"{R}.lifecycle.delete_after_days", "continuous-backup-retention"),),
        "kept at most 35 days",
    ),
    Case(
        "resource-type",
        _set(resources_selection, "not_resource_types", assign(["arn:aws:ec2:*:*:snapshot/*"])),
        ((f"{RES}.not_resource_types[0]", "resource-type"),),
        '"arn:aws:ec2:*:*:snapshot/*": it is not a resource type',
    ),
    Case(
        "condition-key",
        lambda doc: tags_selection(doc)["conditions"]["string_not_equals"]["opt-out"].update(
            {"condition_key": assign("backup")}
        ),
        ((f"{TAGS}.conditions.string_not_equals['opt-out'].condition_key", "condition-key"),),
        "aws:ResourceTag/<tag key>",
    ),
    Case(
        "condition-unknown-operator",
        lambda doc: tags_selection(doc)["conditions"].update({"string_contains": {}}),
        ((f"{TAGS}.conditions.string_contains", "unknown-key"),),
        "expected string_equals, string_not_equals, string_like, string_not_like",
    ),
    Case(
        "condition-limit",
        _many_conditions,
        ((f"{RES}.conditions", "condition-limit"),),
        "holds 31 conditions: AWS allows 30",
    ),
    Case(
        "tag-format-key",
        lambda doc: rule(doc)["recovery_point_tags"].update({"empty": tag("", "x")}),
        ((f"{R}.recovery_point_tags.empty.tag_key", "tag-format"),),
        "1-128 characters",
    ),
    Case(
        "tag-format-value",
        lambda doc: rule(doc)["recovery_point_tags"].update({"long": tag("long", "v" * 257)}),
        ((f"{R}.recovery_point_tags.long.tag_value", "tag-format"),),
        "at most 256 characters",
    ),
    Case(
        "scan-settings",
        _delete(plan, "scan_settings"),
        ((f"{P}.scan_settings", "scan-settings"),),
        "scanning jobs start only with both",
    ),
    Case("size-limit", _oversized, (("$", "size-limit"),), f"at most {MAX_POLICY_CHARACTERS:,} characters"),
]


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_each_rule_rejects_its_invalid_variant(case: Case) -> None:
    # Given the reference policy mutated to break one rule
    doc = valid_policy()
    case.change(doc)
    # When validating it
    issues = validate_policy(doc, standalone=case.standalone)
    # Then exactly the expected issues are reported, at the exact paths, and the message says what and why
    assert [(issue.path, issue.rule) for issue in issues] == list(case.expected), [i.message for i in issues]
    assert any(case.says in issue.message for issue in issues), [i.message for i in issues]
    for issue in issues:
        assert issue.rule in RULES


def test_the_document_must_be_an_object() -> None:
    # Given a JSON array instead of a policy
    # When validating it
    issue = only_issue(validate_policy(["plans"]))
    # Then the root is named
    assert (issue.path, issue.rule) == ("$", "document-type")
    assert "must be a JSON object with plans" in issue.message


def test_values_that_are_not_json_are_reported() -> None:
    # Given a Python object that cannot be JSON
    doc = valid_policy()
    rule(doc)["recovery_point_tags"]["managed-by"]["tag_value"] = assign({1, 2})
    # When validating it
    issues = validate_policy(doc)
    # Then the document is refused rather than crashing the validator
    assert ("$", "document-type") in [(issue.path, issue.rule) for issue in issues]


def test_bad_json_is_an_issue_at_the_root() -> None:
    # Given text that is not JSON
    # When validating it
    issue = only_issue(validate_policy_text('{"plans": {'))
    # Then the parser's message and position are reported at $
    assert (issue.path, issue.rule) == ("$", "json-syntax")
    assert "line 1" in issue.message


def test_json_constants_that_are_not_json_are_refused() -> None:
    # Given text with NaN, which Python's parser would accept
    # When validating it
    issue = only_issue(validate_policy_text('{"plans": NaN}'))
    # Then it is a JSON syntax issue
    assert (issue.path, issue.rule) == ("$", "json-syntax")


def test_repeated_keys_are_reported_where_they_repeat() -> None:
    # Given a rule whose text repeats a key (as a published Terraform sample does with start windows)
    doc = valid_policy()
    text = minify(doc).replace(
        '"start_backup_window_minutes":{"@@assign":"60"}',
        '"start_backup_window_minutes":{"@@assign":"300"},"start_backup_window_minutes":{"@@assign":"60"}',
    )
    # When validating the text
    issue = only_issue(validate_policy_text(text))
    # Then the repeated key is named at its path
    assert (issue.path, issue.rule) == (f"{R}.start_backup_window_minutes", "json-duplicate-key")
    assert "appears more than once" in issue.message


def test_parse_returns_the_document_and_json_issues() -> None:
    # Given valid JSON text
    # When parsing it
    document, issues = parse_policy_text('{"plans": {}}')
    # Then the document comes back with no issues
    assert document == {"plans": {}}
    assert issues == []


def test_required_elements_are_only_checked_for_standalone_policies() -> None:
    # Given a policy that overrides one inherited setting only
    doc = {"plans": {"Org_Plan": {"rules": {"Daily": {"start_backup_window_minutes": assign("120")}}}}}
    # When validating it as a child policy and as a standalone policy
    as_child = validate_policy(doc)
    standalone = validate_policy(doc, standalone=True)
    # Then only the standalone check asks for the missing elements
    assert as_child == []
    assert {issue.path for issue in standalone} == {
        f"{P}.regions",
        f"{P}.selections",
        f"{R}.schedule_expression",
        f"{R}.target_backup_vault_name",
    }


def _padded_to(doc: dict[str, Any], size: int) -> dict[str, Any]:
    """``doc`` grown to exactly ``size`` minified characters with distinct 100-character tag values."""
    values = tags_selection(doc)["tag_value"]["@@assign"]
    while len(minify(doc)) + 103 <= size:
        values.append(f"{len(values):03}" + "v" * 97)
    values[-1] += "v" * (size - len(minify(doc)))
    assert len(minify(doc)) == size
    return doc


def test_a_policy_of_exactly_the_size_limit_is_accepted() -> None:
    # Given the reference policy padded to exactly 10,000 characters
    doc = _padded_to(valid_policy(), MAX_POLICY_CHARACTERS)
    # When validating it
    # Then it is valid
    assert validate_policy(doc, standalone=True) == []


def test_one_character_over_the_size_limit_is_refused() -> None:
    # Given the reference policy padded to 10,001 characters
    doc = _padded_to(valid_policy(), MAX_POLICY_CHARACTERS + 1)
    # When validating it
    issue = only_issue(validate_policy(doc, standalone=True))
    # Then the size is named against the limit
    assert (issue.path, issue.rule) == ("$", "size-limit")
    assert "10,001 characters" in issue.message


def test_a_region_newer_than_botocore_is_accepted_when_the_caller_names_it() -> None:
    # Given a policy naming a Region botocore does not know, in its regions and in a copy target
    doc = valid_policy()
    plan(doc)["regions"] = assign(["eu-west-1", "xx-future-1"])
    target = "arn:aws:backup:xx-future-1:$account:backup-vault:secondary"
    rule(doc)["copy_actions"] = {target: {"target_backup_vault_arn": assign(target)}}
    # When validating it without, then with, the Region allowed
    refused = validate_policy(doc, standalone=True)
    allowed = validate_policy(doc, standalone=True, extra_regions=["xx-future-1"])
    # Then it is refused with the way out named, then accepted
    assert {issue.rule for issue in refused} == {"region-name"}
    assert all("ExtraRegions" in issue.message for issue in refused)
    assert allowed == []
    # ... and the allowance does not outlive the call
    assert validate_policy(doc, standalone=True) == refused


def test_every_rule_has_a_case() -> None:
    # Given the validator's rules and the cases of this module
    covered = {rule_id for case in CASES for _, rule_id in case.expected}
    covered |= {"json-syntax", "json-duplicate-key", "document-type"}  # the text- and root-level tests above
    # When comparing them
    # Then no rule is left without a test
    assert set(RULES) - covered == set()


@pytest.mark.parametrize(
    ("key", "path"),
    [
        ("plans", "$.plans"),
        ("PII_Backup_Plan", "$.PII_Backup_Plan"),
        ("orgbackup-daily", "$['orgbackup-daily']"),
        ("@@assign", "$['@@assign']"),
        ("it's", "$['it\\'s']"),
        (3, "$[3]"),
    ],
)
def test_paths_are_jsonpath(key: str | int, path: str) -> None:
    # Given an object key or list index
    # When extending the root path with it
    # Then identifiers use dots and anything else brackets
    assert join_path("$", key) == path


def test_issues_serialize_to_path_and_message() -> None:
    # Given an issue
    issue = PolicyIssue("$.plans", "plans is missing", "required-key")
    # When serializing it for --json output
    # Then only path and message are shown
    assert issue.as_dict() == {"path": "$.plans", "message": "plans is missing"}


def test_validation_does_not_change_the_document() -> None:
    # Given a policy
    doc = valid_policy()
    before = copy.deepcopy(doc)
    # When validating it
    validate_policy(doc, standalone=True)
    # Then it is untouched
    assert doc == before
