"""Static checks of `template.yaml` and the StackSet templates.

The linters (cfn-lint, `sam validate --lint`) check each template on its own; the structural tests here check what
they cannot: that IAM in a StackSet template is created once (primary Region only), that no policy allows every
action on every resource, that the StackSets pass exactly the parameters their templates take, and that every
field of the Settings and PolicyParameters dataclasses reaches the functions under the names `orgbackup.settings_loader`
derives (``organization_id`` <-> ``ORGANIZATION_ID`` <-> ``OrganizationId``).
"""

import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any, get_origin, get_type_hints

import pytest

from orgbackup import settings_loader
from orgbackup.policies.parameters import PolicyParameters
from orgbackup.settings import Settings
from orgbackup_tools import function_settings
from orgbackup_tools.deployment import deployment_parameters, load_template

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
SAMCONFIG = ROOT / "samconfig.toml"
STACKSET_TEMPLATES = sorted((ROOT / "stacksets").glob("*.yaml"))
ALL_TEMPLATES = [TEMPLATE, *STACKSET_TEMPLATES]

# Settings fields that are not deployment choices: CloudFormation pseudo parameters give them.
PSEUDO_PARAMETER_FIELDS = {"management_account_id": "AWS::AccountId", "partition": "AWS::Partition"}
# Settings fields that change the rendered or attached backup policies (besides every PolicyParameters field).
POLICY_AFFECTING_SETTINGS = (
    "organization_id",
    "central_backup_account_id",
    "backup_regions",
    "member_vault_name",
    "central_vault_name",
    "backup_role_name",
    "policy_target_ids",
    "disaster_recovery_region",
    "extra_regions",
)
PRIMARY_REGION_CONDITION = {"Fn::Equals": [{"Ref": "PrimaryRegion"}, {"Ref": "AWS::Region"}]}


@cache
def template(path: Path) -> dict[str, Any]:
    return load_template(path)


@cache
def hints() -> dict[str, Any]:
    return {**get_type_hints(Settings), **get_type_hints(PolicyParameters)}


def fields() -> list[dataclasses.Field[Any]]:
    return [*dataclasses.fields(Settings), *dataclasses.fields(PolicyParameters)]


def resources_of_type(document: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return {name: spec for name, spec in document["Resources"].items() if spec["Type"] == resource_type}


def tool(name: str) -> str:
    """The console script installed next to this interpreter (the project's .venv), else the one on PATH."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed: run `make setup`")
    return found


def run(command: list[str]) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "AWS_DEFAULT_REGION": "us-east-1", "SAM_CLI_TELEMETRY": "0"}
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False)


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def statements(node: Any) -> Iterator[dict[str, Any]]:
    """Every IAM-style policy statement anywhere in a template (identity, trust, key, topic and vault policies)."""
    if isinstance(node, dict):
        if "Effect" in node and ("Action" in node or "NotAction" in node):
            yield node
        for value in node.values():
            yield from statements(value)
    elif isinstance(node, list):
        for item in node:
            yield from statements(item)


def strings_outside_documentation(node: Any, key: str = "") -> Iterator[tuple[str, str]]:
    """(key, string) for every string value, skipping descriptions and parameter patterns."""
    if key in {"Description", "ConstraintDescription", "AllowedPattern", "AssertDescription", "comment"}:
        return
    if isinstance(node, str):
        yield key, node
    elif isinstance(node, dict):
        for child_key, value in node.items():
            yield from strings_outside_documentation(value, child_key)
    elif isinstance(node, list):
        for item in node:
            yield from strings_outside_documentation(item, key)


def default_text(value: Any) -> str:
    """A dataclass default as CloudFormation (and the environment) spells it."""
    if value is None:
        return ""
    return ",".join(value) if isinstance(value, tuple) else str(value)


def parameter_items(spec: dict[str, Any], value: str) -> list[str]:
    if spec["Type"] == "CommaDelimitedList":
        return [item.strip() for item in value.split(",")]
    return [value]


# ---------------------------------------------------------------------------------------------------------------
# Linters
# ---------------------------------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("path", ALL_TEMPLATES, ids=lambda path: path.name)
def test_every_template_passes_cfn_lint(path: Path) -> None:
    # Given a template of the project
    # When cfn-lint checks it
    result = run([tool("cfn-lint"), str(path.relative_to(ROOT))])
    # Then it reports nothing
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
def test_template_passes_sam_validate_lint() -> None:
    # Given the SAM application template
    # When `sam validate --lint` checks it, offline
    result = run([tool("sam"), "validate", "--lint", "--template", str(TEMPLATE.relative_to(ROOT))])
    # Then it is valid
    assert result.returncode == 0, result.stdout + result.stderr


# ---------------------------------------------------------------------------------------------------------------
# StackSet templates
# ---------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", STACKSET_TEMPLATES, ids=lambda path: path.name)
def test_stackset_templates_are_plain_cloudformation(path: Path) -> None:
    # Given a StackSet template (StackSets cannot run transforms)
    document = template(path)
    # Then it declares no transform and no SAM resource
    assert "Transform" not in document
    assert not [name for name, spec in document["Resources"].items() if spec["Type"].startswith("AWS::Serverless::")]


@pytest.mark.parametrize("path", STACKSET_TEMPLATES, ids=lambda path: path.name)
def test_iam_resources_of_stackset_templates_exist_only_in_the_primary_region(path: Path) -> None:
    # Given a StackSet template, deployed once per backup Region (IAM is global)
    document = template(path)
    conditions = document.get("Conditions", {})
    iam = {name: spec for name, spec in document["Resources"].items() if spec["Type"].startswith("AWS::IAM::")}
    # Then every IAM resource carries a condition that holds in the primary Region only
    assert iam, "expected IAM resources in every StackSet template"
    for name, spec in iam.items():
        condition = spec.get("Condition")
        assert condition, f"{path.name}: {name} has no Condition; a second Region would fail on its duplicate name"
        equals = conditions[condition]
        mirrored = {"Fn::Equals": list(reversed(PRIMARY_REGION_CONDITION["Fn::Equals"]))}
        assert equals in (PRIMARY_REGION_CONDITION, mirrored), f"{path.name}: {name}: {condition} is {equals}"


def test_central_vault_has_no_access_policy() -> None:
    # Given the central baseline (the onboarding workflow owns the central vault's access policy)
    vaults = resources_of_type(template(ROOT / "stacksets/central-backup-account.yaml"), "AWS::Backup::BackupVault")
    # Then CloudFormation does not manage that policy (it would overwrite the workflow's)
    assert vaults
    assert all("AccessPolicy" not in spec["Properties"] for spec in vaults.values())


def test_member_vault_refuses_deletion_of_recovery_points() -> None:
    # Given the member baseline's vault
    (vault,) = resources_of_type(template(ROOT / "stacksets/member-account.yaml"), "AWS::Backup::BackupVault").values()
    policy = vault["Properties"]["AccessPolicy"]
    # Then its access policy denies deleting recovery points and changing the policy, to every principal
    denied = {
        action
        for statement in statements(policy)
        if statement["Effect"] == "Deny" and statement["Principal"] in ("*", {"AWS": "*"})
        for action in as_list(statement["Action"])
    }
    assert {
        "backup:DeleteRecoveryPoint",
        "backup:UpdateRecoveryPointLifecycle",
        "backup:PutBackupVaultAccessPolicy",
        "backup:DeleteBackupVaultAccessPolicy",
    } <= denied


def test_member_key_lets_the_central_account_copy_its_recovery_points() -> None:
    # Given the member baseline's vault key ("Given key ID is not accessible" is the failure to prevent)
    (key,) = resources_of_type(template(ROOT / "stacksets/member-account.yaml"), "AWS::KMS::Key").values()
    central_root = {"Fn::Sub": "arn:${AWS::Partition}:iam::${CentralBackupAccountId}:root"}
    # Then the central backup account may use it as AWS Backup documents for cross-account copies
    granted = {
        action
        for statement in statements(key["Properties"]["KeyPolicy"])
        if statement["Effect"] == "Allow" and central_root in as_list(statement["Principal"].get("AWS"))
        for action in as_list(statement["Action"])
    }
    assert {"kms:DescribeKey", "kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:CreateGrant"} <= granted


# ---------------------------------------------------------------------------------------------------------------
# All templates
# ---------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ALL_TEMPLATES, ids=lambda path: path.name)
def test_no_policy_allows_every_action_on_every_resource(path: Path) -> None:
    # Given every policy statement of a template
    for statement in statements(template(path)):
        if statement["Effect"] != "Allow":
            continue
        # Then none allows Action "*" (or an open NotAction) on Resource "*"
        actions = as_list(statement.get("Action", []))
        resources = as_list(statement.get("Resource", []))
        everything = "*" in actions or "NotAction" in statement
        assert not (everything and "*" in resources), f"{path.name}: {statement}"


@pytest.mark.parametrize("path", ALL_TEMPLATES, ids=lambda path: path.name)
def test_partition_is_never_hard_coded(path: Path) -> None:
    # Given every string a template deploys (descriptions and parameter patterns aside)
    hard_coded = [
        (key, text) for key, text in strings_outside_documentation(template(path)) if re.search(r"arn:aws[:-]", text)
    ]
    # Then ARNs use ${AWS::Partition}, never "aws"
    assert not hard_coded, f"{path.name}: {hard_coded}"


# ---------------------------------------------------------------------------------------------------------------
# template.yaml and its StackSets
# ---------------------------------------------------------------------------------------------------------------


def stacksets() -> dict[str, dict[str, Any]]:
    return resources_of_type(template(TEMPLATE), "AWS::CloudFormation::StackSet")


def passed_parameters(stackset: dict[str, Any]) -> dict[str, Any]:
    return {item["ParameterKey"]: item["ParameterValue"] for item in stackset["Properties"].get("Parameters", [])}


def test_every_stackset_template_is_deployed_by_a_stackset() -> None:
    # Given the StackSet resources of template.yaml (local TemplateURLs, uploaded by `sam package`)
    urls = {(ROOT / spec["Properties"]["TemplateURL"]).resolve() for spec in stacksets().values()}
    # Then they deploy exactly the templates in stacksets/
    assert urls == {path.resolve() for path in STACKSET_TEMPLATES}


@pytest.mark.parametrize("name", sorted(stacksets()))
def test_stackset_passes_exactly_the_parameters_its_template_takes(name: str) -> None:
    # Given a StackSet and the template it deploys
    stackset = stacksets()[name]
    declared = template(ROOT / stackset["Properties"]["TemplateURL"])["Parameters"]
    passed = passed_parameters(stackset)
    # Then every passed parameter exists in the template, and every required one is passed
    assert set(passed) <= set(declared), f"{name} passes unknown parameters {set(passed) - set(declared)}"
    required = {parameter for parameter, spec in declared.items() if "Default" not in spec}
    assert required <= set(passed), f"{name} does not pass required parameters {required - set(passed)}"


@pytest.mark.parametrize("name", sorted(stacksets()))
def test_stackset_parameters_keep_their_names(name: str) -> None:
    # Given a StackSet that passes template.yaml parameters through
    parameters = template(TEMPLATE)["Parameters"]
    passed = passed_parameters(stacksets()[name])
    declared = template(ROOT / stacksets()[name]["Properties"]["TemplateURL"])["Parameters"]
    for key, value in passed.items():
        if not (isinstance(value, dict) and value.get("Ref") in parameters):
            continue
        # Then a value passed straight through keeps the parameter's name ...
        assert key == value["Ref"], f"{name}: {key} is passed {value['Ref']}"
        # ... and has the same rules in both templates
        for rule in ("AllowedPattern", "AllowedValues", "Default", "MinValue", "MaxValue"):
            assert parameters[key].get(rule) == declared[key].get(rule), f"{name}: {key}: {rule} differs"
    # And the primary Region is the first backup Region
    assert passed["PrimaryRegion"] == {"Fn::Select": [0, {"Ref": "BackupRegions"}]}


@pytest.mark.parametrize("name", sorted(stacksets()))
def test_stacksets_are_self_managed_with_the_control_tower_roles(name: str) -> None:
    # Given a StackSet of the application
    properties = stacksets()[name]["Properties"]
    # Then it runs with the Control Tower administration/execution roles and queues conflicting operations
    assert properties["PermissionModel"] == "SELF_MANAGED"
    assert properties["ManagedExecution"] == {"Active": True}
    assert "CAPABILITY_NAMED_IAM" in properties["Capabilities"]
    assert properties["ExecutionRoleName"] == {"Ref": "StackSetExecutionRoleName"}
    assert properties["AdministrationRoleARN"] == {
        "Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/${StackSetAdministrationRoleName}"
    }


def test_central_stackset_targets_the_central_account_in_every_backup_region_and_member_stackset_none() -> None:
    # Given the two StackSets, by the template they deploy
    by_template = {Path(spec["Properties"]["TemplateURL"]).name: spec["Properties"] for spec in stacksets().values()}
    # Then the central baseline goes to the central backup account, in every backup Region
    (group,) = by_template["central-backup-account.yaml"]["StackInstancesGroup"]
    assert group["DeploymentTargets"]["Accounts"] == [{"Ref": "CentralBackupAccountId"}]
    assert group["Regions"] == {"Ref": "BackupRegions"}
    # And the member baseline has no instances in the template (the onboarding workflow creates them)
    assert "StackInstancesGroup" not in by_template["member-account.yaml"]


# ---------------------------------------------------------------------------------------------------------------
# Settings and PolicyParameters <-> template.yaml
# ---------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("field", fields(), ids=lambda field: field.name)
def test_every_settings_field_reaches_the_functions(field: dataclasses.Field[Any]) -> None:
    # Given a field of Settings or PolicyParameters, and the functions whose handlers read its class
    document = template(TEMPLATE)
    env, cfn = settings_loader.key_for(field.name, "env"), settings_loader.key_for(field.name, "cfn")
    readers = [
        name
        for name, function in function_settings.template_functions(document).items()
        if any(
            field in dataclasses.fields(cls)
            for cls in function_settings.settings_classes(function_settings.handler_path(document, function))
        )
    ]
    assert readers, f"no function reads {env}"
    # Then each of their environments carries it under its env name, all with one value ...
    values = [function_settings.environment_of(document, name).get(env) for name in readers]
    assert None not in values, f"a function that reads {env} does not get it: {readers}"
    assert all(value == values[0] for value in values), f"{env} differs between functions"
    value = values[0]
    if field.name in PSEUDO_PARAMETER_FIELDS:
        # ... from a pseudo parameter
        assert value == {"Ref": PSEUDO_PARAMETER_FIELDS[field.name]}
        return
    # ... from a resource of the application (e.g. a topic ARN), or else ...
    if isinstance(value, dict) and ("Fn::GetAtt" in value or value.get("Ref") in document["Resources"]):
        return
    # ... from the template parameter of the same name, of the matching type
    parameter = document["Parameters"].get(cfn)
    assert parameter is not None, f"template.yaml has no parameter {cfn} (for {env})"
    annotation = hints()[field.name]
    if get_origin(annotation) is tuple:
        assert parameter["Type"] == "CommaDelimitedList", f"{cfn} must be a CommaDelimitedList"
        assert value == {"Fn::Join": [",", {"Ref": cfn}]}
    else:
        assert parameter["Type"] == ("Number" if annotation is int else "String"), f"{cfn}: wrong Type"
        assert value == {"Ref": cfn}


def deployment_choices() -> list[dataclasses.Field[Any]]:
    return [field for field in fields() if field.name not in PSEUDO_PARAMETER_FIELDS]


@pytest.mark.parametrize(
    "field",
    [field for field in deployment_choices() if field.default is not dataclasses.MISSING],
    ids=lambda field: field.name,
)
def test_template_defaults_are_the_dataclass_defaults(field: dataclasses.Field[Any]) -> None:
    # Given a deployment choice that the dataclass gives a default
    parameter = template(TEMPLATE)["Parameters"][settings_loader.key_for(field.name, "cfn")]
    # Then template.yaml defaults to the same value
    assert str(parameter.get("Default")) == default_text(field.default)


def test_deployed_values_are_valid_settings_and_policy_parameters() -> None:
    # Given the values `sam deploy` would pass: template defaults overlaid by samconfig.toml's examples
    parameters = template(TEMPLATE)["Parameters"]
    values = deployment_parameters(TEMPLATE, SAMCONFIG)
    # Then every parameter has a value, and each value (each item of a list) passes the parameter's own rules ...
    assert set(values) == set(parameters), f"no value for {set(parameters) - set(values)}"
    for name, value in values.items():
        spec = parameters[name]
        for item in parameter_items(spec, value):
            if "AllowedPattern" in spec:
                assert re.fullmatch(spec["AllowedPattern"], item), f"{name}={item!r} breaks {spec['AllowedPattern']}"
            if "AllowedValues" in spec:
                assert item in spec["AllowedValues"], f"{name}={item!r}"
            if spec["Type"] == "Number":
                assert spec.get("MinValue", float("-inf")) <= int(item) <= spec.get("MaxValue", float("inf")), name
    # ... and the functions' settings load from them (the pseudo parameters as CloudFormation would fill them)
    values |= {"ManagementAccountId": "111111111111", "Partition": "aws"}
    settings = settings_loader.load(Settings, values, naming="cfn")
    settings_loader.load(PolicyParameters, values, naming="cfn")
    assert settings.primary_region == values["BackupRegions"].split(",")[0]


def test_backup_policies_custom_resource_changes_with_every_policy_parameter() -> None:
    # Given the custom resource that applies the backup policies
    document = template(TEMPLATE)
    (resource,) = resources_of_type(document, "Custom::BackupPolicies").values()
    properties = resource["Properties"]
    assert properties["ServiceToken"] in (
        {"Fn::GetAtt": ["ApplyBackupPoliciesFunction", "Arn"]},
        {"Fn::GetAtt": "ApplyBackupPoliciesFunction.Arn"},
    )
    # Then every parameter that changes the policies is one of its properties (a change sends an Update) ...
    names = [*POLICY_AFFECTING_SETTINGS, *(field.name for field in dataclasses.fields(PolicyParameters))]
    for cfn in (settings_loader.key_for(name, "cfn") for name in names):
        assert properties.get(cfn) == {"Ref": cfn}, f"Custom::BackupPolicies does not mirror {cfn}"
    # ... and so is the layer version, which changes with the policy templates
    assert properties["SharedLayerVersion"] == {"Ref": "SharedLayer"}


def test_the_policy_check_runs_before_the_stacksets_with_the_policies_properties() -> None:
    # Given the check resource and the resource that applies the policies
    document = template(TEMPLATE)
    (check,) = resources_of_type(document, "Custom::BackupPolicyCheck").values()
    (apply,) = resources_of_type(document, "Custom::BackupPolicies").values()
    # Then the check is served by the same function and changes whenever the policies would ...
    mirrored = {key: value for key, value in apply["Properties"].items() if key != "ServiceTimeout"}
    assert {key: value for key, value in check["Properties"].items() if key != "ServiceTimeout"} == mirrored
    # ... and both StackSets wait for it, so a bad deployment fails before a baseline or Vault Lock exists
    for stackset in resources_of_type(document, "AWS::CloudFormation::StackSet").values():
        assert "BackupPolicyCheck" in as_list(stackset.get("DependsOn", []))


def test_every_function_s_errors_raise_an_alarm() -> None:
    # Each function's Errors are in FunctionErrorsAlarm, except the coverage report's, which has its own alarm
    document = template(TEMPLATE)
    alarmed = set()
    for alarm in resources_of_type(document, "AWS::CloudWatch::Alarm").values():
        properties = alarm["Properties"]
        for query in properties.get("Metrics", []):
            metric = query.get("MetricStat", {}).get("Metric", {})
            if metric.get("MetricName") == "Errors":
                alarmed |= {json.dumps(d["Value"]) for d in metric.get("Dimensions", []) if d["Name"] == "FunctionName"}
        if properties.get("MetricName") == "Errors":
            alarmed |= {json.dumps(d["Value"]) for d in properties.get("Dimensions", []) if d["Name"] == "FunctionName"}
    functions = resources_of_type(document, "AWS::Serverless::Function")
    assert {json.dumps({"Ref": name}) for name in functions} - alarmed == set()
