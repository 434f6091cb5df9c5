"""Rendering the organization's backup policies from the templates and the deployment values."""

import json
import re
from pathlib import Path
from typing import Any

import pytest

from orgbackup import settings_loader
from orgbackup.exceptions import ConfigurationError, PolicyValidationError
from orgbackup.policies.parameters import PolicyParameters
from orgbackup.policies.render import (
    TEMPLATES_DIR,
    RenderedPolicy,
    fill_template,
    load_templates,
    render_policies,
    template_values,
)
from orgbackup.policies.validate import MAX_POLICY_CHARACTERS, minify, validate_policy
from orgbackup.settings import Settings

CENTRAL_ACCOUNT = "222222222222"
# What template.yaml and samconfig.toml would hold, by CloudFormation parameter name.
DEPLOYMENT = {
    "OrganizationId": "o-a1b2c3d4e5",
    "ManagementAccountId": "111111111111",
    "CentralBackupAccountId": CENTRAL_ACCOUNT,
    "BackupRegions": "eu-west-1,eu-central-1",
    "MemberVaultName": "orgbackup-member",
    "CentralVaultName": "orgbackup-central",
    "BackupRoleName": "orgbackup-backup",
    "MemberStacksetName": "orgbackup-member-baseline",
    "CentralVaultPolicyRoleName": "orgbackup-vault-policy",
}


def settings(**overrides: str) -> Settings:
    return settings_loader.load(Settings, {**DEPLOYMENT, **overrides}, naming="cfn")


def params(**overrides: Any) -> PolicyParameters:
    return PolicyParameters(**overrides)


def by_name(policies: list[RenderedPolicy]) -> dict[str, RenderedPolicy]:
    return {policy.name: policy for policy in policies}


def monthly_rule(policy: RenderedPolicy) -> dict[str, Any]:
    rule: dict[str, Any] = policy.document["plans"]["orgbackup-monthly-eu-west-1"]["rules"]["monthly"]
    return rule


# ------------------------------------------------------------------------------------------------------------------
# The shipped templates.
# ------------------------------------------------------------------------------------------------------------------


def test_the_default_render_is_a_daily_and_a_monthly_policy() -> None:
    # Given the default policy parameters
    # When rendering
    policies = render_policies(settings(), params())
    # Then there is one policy per template, named prefix-template
    assert [policy.name for policy in policies] == ["orgbackup-daily", "orgbackup-monthly"]
    assert sorted(path.stem for path in TEMPLATES_DIR.glob("*.json")) == ["daily", "monthly"]


def test_each_default_policy_is_valid_minified_and_under_the_limit() -> None:
    # Given the default render
    policies = render_policies(settings(), params())
    for policy in policies:
        # When looking at what would be sent to Organizations
        content = policy.content
        # Then it is the document, minified, valid on its own, and well under 10,000 characters
        assert json.loads(content) == policy.document
        assert content == json.dumps(policy.document, separators=(",", ":"), ensure_ascii=False)
        assert "\n" not in content
        assert ": " not in content
        assert ", " not in content
        assert validate_policy(policy.document, standalone=True) == []
        assert policy.size == len(content) < MAX_POLICY_CHARACTERS


def test_substitution_fills_keys_and_values_with_the_right_types() -> None:
    # Given settings with two Regions and the central vault in a separate account
    # When rendering
    daily = by_name(render_policies(settings(), params()))["orgbackup-daily"].document
    # Then the plan key carries the prefix and its Region, regions is a list of that Region, numbers are strings
    # (as in AWS's examples)
    plan = daily["plans"]["orgbackup-daily-eu-west-1"]
    assert plan["regions"] == {"@@assign": ["eu-west-1"]}
    rule = plan["rules"]["daily"]
    assert rule["lifecycle"] == {"delete_after_days": {"@@assign": "35"}}
    assert rule["start_backup_window_minutes"] == {"@@assign": "60"}
    assert rule["complete_backup_window_minutes"] == {"@@assign": "480"}
    assert rule["schedule_expression"] == {"@@assign": "cron(0 5 ? * * *)"}
    assert rule["target_backup_vault_name"] == {"@@assign": "orgbackup-member"}
    # And the copy action's key is the central vault ARN in the plan's own Region, with the literal account ID
    central = f"arn:aws:backup:eu-west-1:{CENTRAL_ACCOUNT}:backup-vault:orgbackup-central"
    assert list(rule["copy_actions"]) == [central]
    assert rule["copy_actions"][central] == {
        "target_backup_vault_arn": {"@@assign": central},
        "lifecycle": {"delete_after_days": {"@@assign": "90"}},
    }
    # And the selection uses the backup role in each account through $account
    selection = plan["selections"]["tags"]["orgbackup-daily"]
    assert selection == {
        "iam_role_arn": {"@@assign": "arn:aws:iam::$account:role/orgbackup-backup"},
        "tag_key": {"@@assign": "backup-plan"},
        "tag_value": {"@@assign": ["daily"]},
    }
    # And plan and recovery points are tagged as managed by orgbackup, with Windows VSS on
    assert plan["backup_plan_tags"]["managed-by"]["tag_value"] == {"@@assign": "orgbackup"}
    assert rule["recovery_point_tags"]["managed-by"]["tag_value"] == {"@@assign": "orgbackup"}
    assert rule["recovery_point_tags"]["backup-rule"] == {
        "tag_key": {"@@assign": "backup-plan"},
        "tag_value": {"@@assign": "daily"},
    }
    assert plan["advanced_backup_settings"] == {"ec2": {"windows_vss": {"@@assign": "enabled"}}}


def test_parameters_reach_the_documents() -> None:
    # Given non-default tags, schedules, windows and retention
    custom = params(
        policy_name_prefix="acme",
        backup_tag_key="acme:backup",
        daily_tag_value="nightly",
        monthly_tag_value="archive",
        daily_schedule="cron(30 1 ? * MON-FRI *)",
        monthly_schedule="cron(0 3 L * ? *)",
        daily_retention_days=14,
        monthly_retention_days=400,
        start_window_minutes=120,
        completion_window_minutes=720,
        central_copy_retention_days=30,
    )
    # When rendering
    policies = by_name(render_policies(settings(), custom))
    # Then every value appears where it belongs
    assert set(policies) == {"acme-daily", "acme-monthly"}
    monthly = policies["acme-monthly"].document["plans"]["acme-monthly-eu-west-1"]
    rule = monthly["rules"]["monthly"]
    assert rule["schedule_expression"] == {"@@assign": "cron(0 3 L * ? *)"}
    assert rule["start_backup_window_minutes"] == {"@@assign": "120"}
    assert rule["complete_backup_window_minutes"] == {"@@assign": "720"}
    assert rule["lifecycle"] == {"delete_after_days": {"@@assign": "400"}}
    (copy,) = rule["copy_actions"].values()
    assert copy["lifecycle"] == {"delete_after_days": {"@@assign": "30"}}
    assert monthly["selections"]["tags"]["acme-monthly"]["tag_key"] == {"@@assign": "acme:backup"}
    assert monthly["selections"]["tags"]["acme-monthly"]["tag_value"] == {"@@assign": ["archive"]}
    daily_rule = policies["acme-daily"].document["plans"]["acme-daily-eu-central-1"]["rules"]["daily"]
    assert daily_rule["lifecycle"] == {"delete_after_days": {"@@assign": "14"}}


def test_other_partitions_reach_every_arn() -> None:
    # Given a GovCloud deployment
    govcloud = settings(Partition="aws-us-gov", BackupRegions="us-gov-west-1,us-gov-east-1")
    # When rendering
    daily = render_policies(govcloud, params())[0].document["plans"]["orgbackup-daily-us-gov-west-1"]
    # Then the role and the central vault ARNs name the partition
    role = daily["selections"]["tags"]["orgbackup-daily"]["iam_role_arn"]["@@assign"]
    assert role == "arn:aws-us-gov:iam::$account:role/orgbackup-backup"
    assert list(daily["rules"]["daily"]["copy_actions"]) == [
        f"arn:aws-us-gov:backup:us-gov-west-1:{CENTRAL_ACCOUNT}:backup-vault:orgbackup-central"
    ]


def test_cold_storage_off_leaves_no_cold_storage_setting() -> None:
    # Given cold storage turned off (0, the default)
    # When rendering
    monthly = by_name(render_policies(settings(), params()))["orgbackup-monthly"]
    # Then the monthly lifecycle only deletes, and the description does not mention cold storage
    assert monthly_rule(monthly)["lifecycle"] == {"delete_after_days": {"@@assign": "365"}}
    assert "move_to_cold_storage_after_days" not in monthly.content
    assert "cold storage" not in monthly.description


def test_cold_storage_on_moves_monthly_backups_to_cold_storage() -> None:
    # Given cold storage after 30 days and a retention that keeps them 90 days there
    # When rendering
    monthly = by_name(render_policies(settings(), params(monthly_cold_storage_after_days=30)))["orgbackup-monthly"]
    # Then the monthly lifecycle moves to cold storage, and the central copy is unaffected
    assert monthly_rule(monthly)["lifecycle"] == {
        "move_to_cold_storage_after_days": {"@@assign": "30"},
        "delete_after_days": {"@@assign": "365"},
    }
    (copy,) = monthly_rule(monthly)["copy_actions"].values()
    assert copy["lifecycle"] == {"delete_after_days": {"@@assign": "90"}}
    assert "cold storage after 30 days" in monthly.description
    assert validate_policy(monthly.document, standalone=True) == []


def test_cold_storage_at_exactly_retention_minus_90_is_allowed() -> None:
    # Given a retention of exactly cold storage + 90 days
    # When rendering
    policies = render_policies(settings(), params(monthly_cold_storage_after_days=275, monthly_retention_days=365))
    # Then it renders
    assert monthly_rule(by_name(policies)["orgbackup-monthly"])["lifecycle"]["move_to_cold_storage_after_days"] == {
        "@@assign": "275"
    }


@pytest.mark.parametrize(
    ("overrides", "says"),
    [
        (
            {"monthly_cold_storage_after_days": 300, "monthly_retention_days": 365},
            "MonthlyRetentionDays=365 is too short for MonthlyColdStorageAfterDays=300",
        ),
        ({"monthly_cold_storage_after_days": 300, "monthly_retention_days": 365}, "at least 390 days"),
        ({"monthly_cold_storage_after_days": -1}, "MonthlyColdStorageAfterDays=-1 must be 0 (off)"),
        ({"daily_retention_days": 0}, "DailyRetentionDays=0 must be at least 1 day"),
        ({"central_copy_retention_days": 0}, "CentralCopyRetentionDays=0 must be at least 1 day"),
        ({"start_window_minutes": 30}, "StartWindowMinutes=30 is too short"),
        ({"completion_window_minutes": 0}, "CompletionWindowMinutes=0 must be positive"),
        ({"daily_schedule": "cron(0 5 * * * *)"}, "DailySchedule='cron(0 5 * * * *)' is not a schedule"),
        ({"monthly_schedule": "rate(1 months)"}, "MonthlySchedule='rate(1 months)' is not a schedule"),
        ({"daily_schedule": "rate(30 minutes)"}, "DailySchedule='rate(30 minutes)' is not a schedule AWS Backup runs"),
        ({"monthly_schedule": "cron(0/20 * 1 * ? *)"}, "starts a backup 3 times an hour; AWS Backup runs snapshot"),
    ],
)
def test_invalid_parameters_give_a_clear_error(overrides: dict[str, Any], says: str) -> None:
    # Given parameters from which no valid policy can be made
    # When rendering
    with pytest.raises(ConfigurationError) as raised:
        render_policies(settings(), params(**overrides))
    # Then the error names the parameter, its value and the rule
    assert says in str(raised.value)


def test_every_invalid_parameter_is_named_at_once() -> None:
    # Given two bad parameters
    # When rendering
    with pytest.raises(ConfigurationError) as raised:
        render_policies(settings(), params(daily_retention_days=0, start_window_minutes=10))
    # Then both are reported in one error
    assert "DailyRetentionDays=0" in str(raised.value)
    assert "StartWindowMinutes=10" in str(raised.value)


def test_a_prefix_too_long_for_the_regional_plan_names_is_named() -> None:
    # Given a prefix that makes "<prefix>-monthly-eu-central-1" longer than AWS's 50 characters
    long_prefix = "p" * 30
    # When rendering
    with pytest.raises(ConfigurationError) as raised:
        render_policies(settings(), params(policy_name_prefix=long_prefix))
    # Then the error names the parameter, the plan name, the limit and by how much to shorten it
    message = str(raised.value)
    assert f"PolicyNamePrefix='{long_prefix}' is too long" in message
    assert f"'{long_prefix}-daily-eu-central-1' has 49 characters" not in message  # 49 fits: monthly is the one
    assert f"'{long_prefix}-monthly-eu-central-1' has 51 characters and AWS Backup allows 50" in message
    assert "shorten the prefix by 1" in message


def test_a_document_that_breaks_the_language_is_a_policy_validation_error(tmp_path: Path) -> None:
    # Given a template whose schedule is more frequent than AWS Backup runs
    (tmp_path / "often.json").write_text(
        (TEMPLATES_DIR / "daily.json").read_text(encoding="utf-8").replace("{{daily_schedule}}", "cron(0/5 * ? * * *)"),
        encoding="utf-8",
    )
    # When rendering
    with pytest.raises(PolicyValidationError) as raised:
        render_policies(settings(), params(), templates_dir=tmp_path)
    # Then the error names the policy, the JSON path and the rule
    error = raised.value
    assert error.name == "orgbackup-often"
    paths = [path for path, _ in error.errors]
    assert "$.plans['orgbackup-daily-eu-west-1'].rules.daily.schedule_expression" in paths
    assert "at most hourly" in str(error)


def test_descriptions_fit_organizations_limit() -> None:
    # Given the default render
    for policy in render_policies(settings(), params()):
        # When reading the description
        # Then it says what the policy does and fits in 512 characters
        assert policy.description.startswith(("Daily backup", "Monthly backup"))
        assert "central vault" in policy.description
        assert len(policy.description) <= 512


def test_template_values_name_the_cross_account_target_literally() -> None:
    # Given the deployment settings
    # When computing the template values
    values = template_values(settings(), params())
    # Then the central vault ARN has the central account's literal ID and the primary Region
    assert values["central_vault_arn"] == f"arn:aws:backup:eu-west-1:{CENTRAL_ACCOUNT}:backup-vault:orgbackup-central"
    assert values["backup_regions"] == ["eu-west-1", "eu-central-1"]
    assert values["monthly_cold_storage_after_days"] is None


def test_rendered_content_is_computed_from_the_document() -> None:
    # Given a rendered policy built by hand
    policy = RenderedPolicy(name="p", description="d", document={"plans": {}})
    # When reading its content and size
    # Then they are the minified document
    assert policy.content == '{"plans":{}}'
    assert policy.size == 12


# ------------------------------------------------------------------------------------------------------------------
# The substitution engine.
# ------------------------------------------------------------------------------------------------------------------


def test_a_whole_placeholder_keeps_the_values_type() -> None:
    # Given a template whose strings are exactly one placeholder
    template = {"list": "{{regions}}", "number": "{{days}}", "flag": "{{on}}", "text": "{{name}}"}
    # When filling it
    filled = fill_template(template, {"regions": ["a", "b"], "days": 35, "on": True, "name": "x"})
    # Then lists, numbers and booleans keep their type
    assert filled == {"list": ["a", "b"], "number": 35, "flag": True, "text": "x"}


def test_placeholders_inside_strings_are_spliced_and_aws_variables_pass_through() -> None:
    # Given an ARN template with AWS's $account variable
    template = {"arn": "arn:{{partition}}:iam::$account:role/{{role}}-{{n}}"}
    # When filling it
    filled = fill_template(template, {"partition": "aws", "role": "backup", "n": 2})
    # Then the placeholders are replaced and $account is left for AWS
    assert filled == {"arn": "arn:aws:iam::$account:role/backup-2"}


def test_keys_are_substituted_too() -> None:
    # Given a template whose keys hold placeholders
    template = {"{{vault}}": {"target": "{{vault}}"}, "{{prefix}}-plan": {}}
    # When filling it
    filled = fill_template(template, {"vault": "arn:aws:backup:eu-west-1:1:backup-vault:v", "prefix": "acme"})
    # Then the keys are filled like the values
    assert filled == {
        "arn:aws:backup:eu-west-1:1:backup-vault:v": {"target": "arn:aws:backup:eu-west-1:1:backup-vault:v"},
        "acme-plan": {},
    }


def test_the_template_itself_is_not_changed() -> None:
    # Given a template
    template = {"{{k}}": ["{{v}}"]}
    # When filling it twice with different values
    first = fill_template(template, {"k": "a", "v": "1"})
    second = fill_template(template, {"k": "b", "v": "2"})
    # Then each result has its own values and the template is intact
    assert (first, second) == ({"a": ["1"]}, {"b": ["2"]})
    assert template == {"{{k}}": ["{{v}}"]}


def test_an_omitted_optional_value_removes_its_setting_and_emptied_parents() -> None:
    # Given a lifecycle whose cold storage setting is optional
    template = {
        "lifecycle": {"cold": {"@@assign": "{{cold?}}"}, "delete": {"@@assign": "{{delete}}"}},
        "only_cold": {"cold": {"@@assign": "{{cold?}}"}},
        "items": ["{{cold?}}", "{{delete}}"],
        "empty_already": {},
    }
    # When the optional value is None
    filled = fill_template(template, {"cold": None, "delete": "35"})
    # Then the setting goes, an object left empty by that goes too, and objects empty in the template stay
    assert filled == {"lifecycle": {"delete": {"@@assign": "35"}}, "items": ["35"], "empty_already": {}}


def test_an_optional_value_that_is_set_is_used() -> None:
    # Given the same optional placeholder
    # When it has a value
    filled = fill_template({"cold": {"@@assign": "{{cold?}}"}}, {"cold": "30"})
    # Then it is filled like any other
    assert filled == {"cold": {"@@assign": "30"}}


def test_an_optional_key_that_is_none_drops_its_entry() -> None:
    # Given an optional placeholder as a key
    # When its value is None
    filled = fill_template({"{{extra?}}": {"a": "b"}, "kept": "x"}, {"extra": None})
    # Then the entry is dropped
    assert filled == {"kept": "x"}


@pytest.mark.parametrize(
    ("template", "values", "says"),
    [
        ({"a": "{{missing}}"}, {}, "at $.a: unknown placeholder {{missing}}"),
        ({"a": ["x", "{{cold}}"]}, {"cold": None}, "at $.a[1]: placeholder {{cold}} has no value"),
        ({"a": "x{{cold?}}"}, {"cold": "1"}, "optional placeholder {{cold?}} must be the whole string"),
        ({"a": "arn:{{regions}}"}, {"regions": ["a"]}, "only text and numbers fit inside a string"),
        ({"a": "arn:{{flag}}"}, {"flag": True}, "only text and numbers fit inside a string"),
        ({"a": "{{ spaced }}"}, {"spaced": "x"}, "malformed placeholder"),
        ({"a": "{{Upper}}"}, {"Upper": "x"}, "malformed placeholder"),
        ({"a": "half}}"}, {}, "malformed placeholder"),
        ({"{{n}}": "x"}, {"n": 3}, "keys must be text"),
        ({"{{a}}": 1, "{{b}}": 2}, {"a": "same", "b": "same"}, "two keys became 'same'"),
        ({"a": "{{x?}}"}, {"x": None}, "every part of it was omitted"),
    ],
)
def test_template_mistakes_are_configuration_errors_naming_the_path(
    template: object, values: dict[str, Any], says: str
) -> None:
    # Given a template or values that cannot be filled
    # When filling
    with pytest.raises(ConfigurationError) as raised:
        fill_template(template, values, name="broken")
    # Then the error names the template, the path and the mistake
    assert "policy template 'broken'" in str(raised.value)
    assert says in str(raised.value)


def test_shipped_templates_only_use_known_placeholders() -> None:
    # Given the shipped templates and the values render provides
    known = set(template_values(settings(), params()))
    # When listing the placeholders the templates use
    used = set()
    for path in TEMPLATES_DIR.glob("*.json"):
        text = path.read_text(encoding="utf-8")
        used |= {name.rstrip("?") for name in re.findall(r"\{\{([a-z0-9_?]+)\}\}", text)}
    # Then every one of them has a value
    assert used <= known
    assert used  # the templates do use placeholders


def test_custom_template_folders_render_each_file(tmp_path: Path) -> None:
    # Given a folder with one extra template
    (tmp_path / "weekly.json").write_text(
        (TEMPLATES_DIR / "daily.json").read_text(encoding="utf-8").replace("-daily", "-weekly"), encoding="utf-8"
    )
    # When rendering from it
    policies = render_policies(settings(), params(), templates_dir=tmp_path)
    # Then the policy is named after the file and gets a generic description
    assert [policy.name for policy in policies] == ["orgbackup-weekly"]
    assert policies[0].description == "Backup policy orgbackup-weekly managed by orgbackup, eu-west-1, eu-central-1"


@pytest.mark.parametrize(
    ("files", "says"),
    [
        ({}, "no policy templates"),
        ({"bad.json": "{"}, "cannot be read"),
        ({"Bad Name.json": "{}"}, "name it with lower-case letters"),
        ({"list.json": "[]"}, "is not a JSON object"),
        ({"unknown.json": '{"plans": "{{nope}}"}'}, "unknown placeholder {{nope}}"),
        ({"empty.json": '{"plans": {}}'}, "'empty' has no plan"),
        ({"same.json": '{"plans": {"p": {"x": "{{region}}"}}}'}, "put {{region}} in the plan's name"),
        ({"extra.json": '{"plans": {"p-{{region}}": {}}, "other": 1}'}, "must be an object whose only key is plans"),
    ],
)
def test_broken_template_folders_are_configuration_errors(tmp_path: Path, files: dict[str, str], says: str) -> None:
    # Given a template folder with a problem
    for name, text in files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    # When rendering from it
    with pytest.raises(ConfigurationError) as raised:
        render_policies(settings(), params(), templates_dir=tmp_path)
    # Then the error says what is wrong
    assert says in str(raised.value)


def test_load_templates_reads_the_shipped_folder_in_name_order() -> None:
    # Given the shipped templates
    # When loading them
    templates = load_templates()
    # Then they parse as policies with a plans key
    assert list(templates) == ["daily", "monthly"]
    assert all(isinstance(template, dict) and "plans" in template for template in templates.values())


def test_rendering_is_deterministic() -> None:
    # Given the same inputs twice
    # When rendering both
    first = [policy.content for policy in render_policies(settings(), params())]
    second = [policy.content for policy in render_policies(settings(), params())]
    # Then the content is byte-for-byte the same (the apply function compares content to skip updates)
    assert first == second
    assert first[0] == minify(json.loads(first[0]))
