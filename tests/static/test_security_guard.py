"""Policy as code: the security review's findings (issue 10) as rules over every template, so none can come back.

Run by `make lint` (and by `make test`). Each rule names its finding. Policies are read from the parsed templates
and resolved for concrete deployments (parameters substituted, ``Fn::If`` decided), then evaluated the way IAM
evaluates them for the cases that matter: an explicit Deny wins, an Allow must match principal, action and every
condition (IAM User Guide, "Policy evaluation logic",
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html). The evaluator knows only
the condition operators these templates use, and fails on any other, so it can never pass a policy by ignoring it.
"""

import fnmatch
import json
import re
from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from orgbackup import vault_policy
from orgbackup_tools.deployment import load_template

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
MEMBER = ROOT / "stacksets/member-account.yaml"
CENTRAL = ROOT / "stacksets/central-backup-account.yaml"
FORWARDER = ROOT / "forwarder/organizations-events.yaml"
ALL_TEMPLATES = [TEMPLATE, MEMBER, CENTRAL, FORWARDER]

ORG = "o-a1b2c3d4e5"
OTHER_ORG = "o-zzzzzzzzzz"
MGMT, CENTRAL_ID, MEMBER_ID = "111111111111", "222222222222", "333333333333"
BREAK_GLASS = f"arn:aws:iam::{MEMBER_ID}:role/BreakGlass"
SLR = "aws-service-role/backup.amazonaws.com/AWSServiceRoleForBackup"


@cache
def template(path: Path) -> dict[str, Any]:
    return load_template(path)


# ---------------------------------------------------------------------------------------------------------------
# Resolving a template's intrinsic functions for one deployment


def defaults(document: dict[str, Any]) -> dict[str, Any]:
    return {name: spec.get("Default") for name, spec in document.get("Parameters", {}).items()}


def resolve(node: Any, values: Mapping[str, Any], conditions: Mapping[str, bool]) -> Any:
    """``node`` with Ref, Fn::Sub, Fn::If and AWS::NoValue resolved (other intrinsics are left as they are)."""
    if isinstance(node, list):
        items = [resolve(item, values, conditions) for item in node]
        return [item for item in items if item is not NO_VALUE]
    if not isinstance(node, dict):
        return node
    if set(node) == {"Ref"}:
        return NO_VALUE if node["Ref"] == "AWS::NoValue" else values.get(node["Ref"], node)
    if set(node) == {"Fn::Sub"}:
        text, extra = (node["Fn::Sub"], {}) if isinstance(node["Fn::Sub"], str) else node["Fn::Sub"]
        scope = {**values, **{key: resolve(value, values, conditions) for key, value in extra.items()}}
        return re.sub(r"\$\{([^}!]+)\}", lambda match: str(scope[match[1]]), text)
    if set(node) == {"Fn::If"}:
        name, when_true, when_false = node["Fn::If"]
        return resolve(when_true if conditions[name] else when_false, values, conditions)
    resolved = {key: resolve(value, values, conditions) for key, value in node.items()}
    return {key: value for key, value in resolved.items() if value is not NO_VALUE}


NO_VALUE = object()


def stackset_values(path: Path, account: str, break_glass: str = "NONE", **overrides: Any) -> dict[str, Any]:
    values = {
        **defaults(template(path)),
        "AWS::Partition": "aws",
        "AWS::AccountId": account,
        "AWS::Region": "eu-west-1",
        "OrganizationId": ORG,
        "CentralBackupAccountId": CENTRAL_ID,
        "PrimaryRegion": "eu-west-1",
        "BreakGlassPrincipalArn": break_glass,
        **overrides,
    }
    return values


def key_policy(path: Path, account: str, break_glass: str = "NONE") -> list[dict[str, Any]]:
    (key,) = [spec for spec in template(path)["Resources"].values() if spec["Type"] == "AWS::KMS::Key"]
    conditions = {"HasBreakGlassPrincipal": break_glass != "NONE"}
    policy = resolve(key["Properties"]["KeyPolicy"], stackset_values(path, account, break_glass), conditions)
    statements: list[dict[str, Any]] = policy["Statement"]
    return statements


# ---------------------------------------------------------------------------------------------------------------
# Evaluating a resource policy for one request


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


OPERATORS = {
    "StringEquals": lambda value, wanted: value == wanted,
    # IAM's * and ? wildcards (ArnLike applies them per ARN part; the patterns here never span a colon).
    "StringLike": fnmatch.fnmatchcase,
    "ArnEquals": lambda value, wanted: value == wanted,
    "ArnLike": fnmatch.fnmatchcase,
    "Bool": lambda value, wanted: str(value).lower() == str(wanted).lower(),
}
NEGATED = {"ArnNotEquals": "ArnEquals", "StringNotEquals": "StringEquals", "ArnNotLike": "ArnLike"}


def condition_holds(condition: Mapping[str, Any], context: Mapping[str, Any]) -> bool:
    for operator, tests in condition.items():
        positive = NEGATED.get(operator, operator)
        if positive not in OPERATORS:
            raise AssertionError(f"the guard does not know condition operator {operator}")
        for key, wanted in tests.items():
            if key not in context:
                # A key absent from the request: a positive operator fails, a negated one holds (IAM User Guide,
                # "Condition operators": ...IfExists aside, an absent key does not match).
                if positive == operator:
                    return False
                continue
            matched = any(OPERATORS[positive](context[key], item) for item in as_list(wanted))
            if matched == (positive != operator):
                return False
    return True


def principal_matches(principal: Any, caller: Mapping[str, Any]) -> bool:
    if principal == "*":
        return True
    for kind, values in principal.items():
        for value in as_list(values):
            if kind == "AWS" and (value == "*" or value == f"arn:aws:iam::{caller['account']}:root"):
                return True
            if kind == "AWS" and value == caller.get("aws:PrincipalArn"):
                return True
            if kind == "Service" and value == caller.get("service"):
                return True
    return False


def action_matches(actions: Any, action: str) -> bool:
    return any(fnmatch.fnmatchcase(action, pattern) for pattern in as_list(actions))


def decision(statements: list[dict[str, Any]], caller: Mapping[str, Any], action: str) -> str:
    """ "Deny", "Allow" or "Implicit deny" for ``action`` by ``caller`` under a resource policy."""
    matching = [
        statement
        for statement in statements
        if principal_matches(statement["Principal"], caller)
        and action_matches(statement["Action"], action)
        and condition_holds(statement.get("Condition", {}), caller)
    ]
    if any(statement["Effect"] == "Deny" for statement in matching):
        return "Deny"
    return "Allow" if matching else "Implicit deny"


def role(account: str, name: str, org: str = ORG) -> dict[str, Any]:
    return {"account": account, "aws:PrincipalArn": f"arn:aws:iam::{account}:role/{name}", "aws:PrincipalOrgID": org}


KEY_USE = ("kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:ReEncryptFrom", "kms:DescribeKey")


# ---------------------------------------------------------------------------------------------------------------
# Findings 1 and 2: each vault key is usable by exactly the principals of the copies in and out


def test_finding_1_central_key_serves_only_the_backup_roles_of_the_organization() -> None:
    policy = key_policy(CENTRAL, CENTRAL_ID)
    # The copy back into a member vault: that account's AWS Backup and backup role may use the key ...
    for caller in (role(MEMBER_ID, SLR), role(MEMBER_ID, "OrgBackupServiceRole")):
        for action in KEY_USE:
            assert decision(policy, caller, action) == "Allow", (caller, action)
        grant = {**caller, "kms:GrantIsForAWSResource": "true"}
        assert decision(policy, grant, "kms:CreateGrant") == "Allow"
        assert decision(policy, {**caller, "kms:GrantIsForAWSResource": "false"}, "kms:CreateGrant") != "Allow"
    # ... nobody else of the organization, and nobody outside it
    for caller in (role(MEMBER_ID, "Admin"), role(MEMBER_ID, "OrgBackupServiceRole", org=OTHER_ORG)):
        for action in KEY_USE:
            assert decision(policy, caller, action) != "Allow", (caller, action)
    # And no data key pairs for anyone outside the account
    assert decision(policy, role(MEMBER_ID, SLR), "kms:GenerateDataKeyPair") != "Allow"


def test_finding_2_member_key_serves_only_the_central_backup_principals() -> None:
    policy = key_policy(MEMBER, MEMBER_ID)
    # The copy into the central vault (central AWS Backup) and the copy back (central backup role) ...
    for caller in (role(CENTRAL_ID, SLR), role(CENTRAL_ID, "OrgBackupCentralBackupRole")):
        for action in KEY_USE:
            assert decision(policy, caller, action) == "Allow", (caller, action)
        assert decision(policy, {**caller, "kms:GrantIsForAWSResource": "true"}, "kms:CreateGrant") == "Allow"
    # ... and this account's backup role and AWS Backup (the destination of a copy back)
    for caller in (role(MEMBER_ID, "OrgBackupServiceRole"), role(MEMBER_ID, SLR)):
        assert decision(policy, caller, "kms:Decrypt") == "Allow"
    # Not any other principal of the central account, and no data key pairs
    for action in (*KEY_USE, "kms:GenerateDataKeyPair"):
        assert decision(policy, role(CENTRAL_ID, "CentralAdmin"), action) != "Allow", action
    assert decision(policy, role(CENTRAL_ID, SLR), "kms:GenerateDataKeyPair") != "Allow"


# ---------------------------------------------------------------------------------------------------------------
# Finding 3: no administrator can delete, disable or re-key-policy a vault key; CloudFormation still can update it


GUARDED = ("kms:ScheduleKeyDeletion", "kms:DisableKey", "kms:PutKeyPolicy")


@pytest.mark.parametrize(("path", "account"), [(MEMBER, MEMBER_ID), (CENTRAL, CENTRAL_ID)], ids=["member", "central"])
@pytest.mark.parametrize("break_glass", ["NONE", BREAK_GLASS])
def test_finding_3_key_guard(path: Path, account: str, break_glass: str) -> None:
    if break_glass != "NONE":
        break_glass = break_glass.replace(MEMBER_ID, account)
    policy = key_policy(path, account, break_glass)
    # An administrator of the account (the root statement lets IAM grant them kms:*) is denied the guarded actions
    admin = role(account, "Administrator")
    assert decision(policy, admin, "kms:Decrypt") == "Allow"  # IAM decides ordinary use
    for action in GUARDED:
        assert decision(policy, admin, action) == "Deny", action
    # The StackSet execution role may update the key policy (CloudFormation), and so passes KMS's lockout safety
    # check for the policy it sets; it may not delete or disable the key
    execution = role(account, "AWSControlTowerExecution")
    assert decision(policy, execution, "kms:PutKeyPolicy") == "Allow"
    assert decision(policy, execution, "kms:ScheduleKeyDeletion") == "Deny"
    # The break-glass principal, when there is one, may do all three
    if break_glass != "NONE":
        caller = {"account": account, "aws:PrincipalArn": break_glass, "aws:PrincipalOrgID": ORG}
        for action in GUARDED:
            assert decision(policy, caller, action) == "Allow", action


# ---------------------------------------------------------------------------------------------------------------
# Finding 7: the backup role trusts AWS Backup exactly as AWS Backup documents


@pytest.mark.parametrize(("path", "role"), [(MEMBER, "BackupServiceRole"), (CENTRAL, "CentralBackupRole")])
def test_finding_7_backup_role_trust_is_what_aws_backup_documents(path: Any, role: str) -> None:
    trust = template(path)["Resources"][role]["Properties"]["AssumeRolePolicyDocument"]
    assert trust["Statement"] == [
        {"Effect": "Allow", "Principal": {"Service": "backup.amazonaws.com"}, "Action": "sts:AssumeRole"}
    ]


# ---------------------------------------------------------------------------------------------------------------
# Finding 9: no service grant that nothing uses; the rest conditioned


def test_finding_9_only_the_publishers_that_exist_may_publish_and_use_the_key() -> None:
    resources = template(TEMPLATE)["Resources"]
    topic_policy = resources["NotificationTopicPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    allows = {
        service: statement
        for statement in topic_policy
        if statement["Effect"] == "Allow"
        for service in as_list(statement["Principal"].get("Service", []))
    }
    # CloudWatch (the alarms) and EventBridge (the one rule that targets the topic), nobody else
    assert set(allows) == {"cloudwatch.amazonaws.com", "events.amazonaws.com"}
    publishing_rules = [
        name
        for name, spec in resources.items()
        if spec["Type"] == "AWS::Events::Rule"
        and any(target["Arn"] == {"Ref": "NotificationTopic"} for target in spec["Properties"]["Targets"])
    ]
    assert publishing_rules == ["BaselineAlarmsToTopicRule"]
    assert allows["events.amazonaws.com"]["Condition"]["ArnEquals"] == {
        "aws:SourceArn": {"Fn::GetAtt": "BaselineAlarmsToTopicRule.Arn"}
    }
    assert "alarm:*" in json.dumps(allows["cloudwatch.amazonaws.com"]["Condition"]["ArnLike"]["aws:SourceArn"])
    for statement in allows.values():
        assert statement["Condition"]["StringEquals"]["aws:SourceAccount"] == {"Ref": "AWS::AccountId"}
    key_statements = resources["NotificationKey"]["Properties"]["KeyPolicy"]["Statement"]
    sns_services = {
        service
        for statement in key_statements
        if "kms:EncryptionContext:aws:sns:topicArn" in json.dumps(statement.get("Condition", {}))
        for service in as_list(statement["Principal"]["Service"])
    }
    assert sns_services == {"cloudwatch.amazonaws.com", "events.amazonaws.com"}
    # Every service principal of the key is held to this account by a condition
    for statement in key_statements:
        if "Service" in statement["Principal"]:
            assert statement.get("Condition"), statement["Sid"]


# ---------------------------------------------------------------------------------------------------------------
# Every template: no Allow to every principal without a condition


def allow_statements(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        if node.get("Effect") == "Allow" and "Principal" in node:
            yield node
        for value in node.values():
            yield from allow_statements(value)
    elif isinstance(node, list):
        for item in node:
            yield from allow_statements(item)


@pytest.mark.parametrize("path", ALL_TEMPLATES, ids=lambda path: path.name)
def test_no_open_principal_without_a_condition(path: Path) -> None:
    for statement in allow_statements(template(path)):
        principal = statement["Principal"]
        if principal == "*" or (isinstance(principal, dict) and principal.get("AWS") == "*"):
            assert statement.get("Condition"), f"{path.name}: {statement}"


# ---------------------------------------------------------------------------------------------------------------
# Findings 4, 5 and 11: the central vault policy (rendered by the workflow) and the role that writes it


def test_finding_4_the_vault_policy_role_can_write_the_policy_but_not_remove_it() -> None:
    role_spec = template(CENTRAL)["Resources"]["CentralVaultPolicyRole"]["Properties"]
    actions = {
        action
        for policy in role_spec["Policies"]
        for statement in policy["PolicyDocument"]["Statement"]
        for action in as_list(statement["Action"])
    }
    assert actions == {
        "backup:DescribeBackupVault",
        "backup:GetBackupVaultAccessPolicy",
        "backup:PutBackupVaultAccessPolicy",
    }


def test_findings_5_and_11_central_vault_policy_shape() -> None:
    denied = {*vault_policy.PROTECTED_ACTIONS, *vault_policy.POLICY_ACTIONS}
    # An empty vault can be deleted with its stack; what protects recovery points stays denied
    assert "backup:DeleteBackupVault" not in denied
    assert {"backup:DeleteRecoveryPoint", "backup:UpdateRecoveryPointLifecycle"} <= set(vault_policy.PROTECTED_ACTIONS)
    # The Config rule's three actions share one statement
    assert set(vault_policy.POLICY_ACTIONS) == {
        "backup:DeleteRecoveryPoint",
        "backup:UpdateRecoveryPointLifecycle",
        "backup:PutBackupVaultAccessPolicy",
    }


# ---------------------------------------------------------------------------------------------------------------
# Finding 6: Organizations permissions only over the product's own backup policies


def role_statements(name: str) -> list[dict[str, Any]]:
    spec = template(TEMPLATE)["Resources"][name]["Properties"]
    return [statement for policy in spec["Policies"] for statement in policy["PolicyDocument"]["Statement"]]


def granting(statements: list[dict[str, Any]], action: str) -> list[dict[str, Any]]:
    return [statement for statement in statements if action in as_list(statement["Action"])]


POLICY_ARN_PART = ":policy/${OrganizationId}/backup_policy/*"


def test_finding_6_create_policy_only_for_tagged_backup_policies() -> None:
    (create,) = granting(role_statements("ApplyBackupPoliciesRole"), "organizations:CreatePolicy")
    assert create["Condition"]["StringEquals"]["organizations:PolicyType"] == "BACKUP_POLICY"
    assert create["Condition"]["StringEquals"]["aws:RequestTag/managed-by"] == "orgbackup"
    assert create["Condition"]["ForAllValues:StringEquals"]["aws:TagKeys"] == ["managed-by"]
    # The tag the IAM condition names is the tag the code puts on every policy it creates
    from orgbackup.policies.apply import MANAGED_BY_TAG

    assert MANAGED_BY_TAG == {"Key": "managed-by", "Value": "orgbackup"}


@pytest.mark.parametrize(
    "action",
    [
        "organizations:UpdatePolicy",
        "organizations:DeletePolicy",
        "organizations:DetachPolicy",
        "organizations:AttachPolicy",
    ],
)
def test_finding_6_policy_changes_only_on_policies_carrying_the_products_tag(action: str) -> None:
    for role_name in ("ApplyBackupPoliciesRole", "ReattachBackupPoliciesRole"):
        for statement in granting(role_statements(role_name), action):
            resources = json.dumps(statement["Resource"])
            if POLICY_ARN_PART in resources or resources == '"*"':
                assert statement["Condition"] == {"StringEquals": {"aws:ResourceTag/managed-by": "orgbackup"}}, (
                    role_name,
                    statement["Sid"],
                )


def test_finding_6_the_reattach_step_has_its_own_role_that_only_attaches() -> None:
    resources = template(TEMPLATE)["Resources"]
    assert resources["ReattachBackupPoliciesFunction"]["Properties"]["Role"] == {
        "Fn::GetAtt": "ReattachBackupPoliciesRole.Arn"
    }
    actions = {
        action for statement in role_statements("ReattachBackupPoliciesRole") for action in as_list(statement["Action"])
    }
    forbidden = {
        "organizations:CreatePolicy",
        "organizations:UpdatePolicy",
        "organizations:DeletePolicy",
        "organizations:DetachPolicy",
        "organizations:TagResource",
        "organizations:UntagResource",
    }
    assert not actions & forbidden
    assert "organizations:AttachPolicy" in actions


# ---------------------------------------------------------------------------------------------------------------
# Finding 12: an optional permissions boundary on every role the product creates


BOUNDARY = {
    "Fn::If": [
        "HasPermissionsBoundary",
        {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:policy/${PermissionsBoundaryPolicyName}"},
        {"Ref": "AWS::NoValue"},
    ]
}


@pytest.mark.parametrize("path", ALL_TEMPLATES, ids=lambda path: path.name)
def test_finding_12_every_role_carries_the_optional_permissions_boundary(path: Path) -> None:
    resources = template(path)["Resources"]
    roles = {name: spec for name, spec in resources.items() if spec["Type"] == "AWS::IAM::Role"}
    assert roles
    for name, spec in roles.items():
        assert spec["Properties"].get("PermissionsBoundary") == BOUNDARY, name
    # And no role is generated by SAM (which would not carry it): every function and state machine names its role
    for name, spec in resources.items():
        if spec["Type"] in ("AWS::Serverless::Function", "AWS::Serverless::StateMachine"):
            assert "Fn::GetAtt" in spec["Properties"].get("Role", {}), name
            assert "Policies" not in spec["Properties"], name


def test_finding_12_the_boundary_reaches_both_stacksets() -> None:
    resources = template(TEMPLATE)["Resources"]
    for name in ("MemberStackSet", "CentralStackSet"):
        passed = {item["ParameterKey"]: item["ParameterValue"] for item in resources[name]["Properties"]["Parameters"]}
        assert passed["PermissionsBoundaryPolicyName"] == {
            "Fn::If": ["HasPermissionsBoundary", {"Ref": "PermissionsBoundaryPolicyName"}, "NONE"]
        }, name
    for path in (MEMBER, CENTRAL):
        conditions = template(path)["Conditions"]
        assert conditions["HasPermissionsBoundary"] == {
            "Fn::Not": [{"Fn::Equals": [{"Ref": "PermissionsBoundaryPolicyName"}, "NONE"]}]
        }


# ---------------------------------------------------------------------------------------------------------------
# Finding 8: every hop of an alert has a dead-letter queue (alarmed) and, where AWS supports it, a retry policy


def queue_of(arn: Any) -> str:
    """The logical ID of a queue referenced as ``!GetAtt Queue.Arn``."""
    value = arn["Fn::GetAtt"]
    return str(value.split(".")[0] if isinstance(value, str) else value[0])


def alarmed_queues(resources: dict[str, Any]) -> set[str]:
    return {
        queue_of({"Fn::GetAtt": dimension["Value"]["Fn::GetAtt"]})
        for spec in resources.values()
        if spec["Type"] == "AWS::CloudWatch::Alarm"
        for dimension in spec["Properties"].get("Dimensions", [])
        if dimension["Name"] == "QueueName"
    }


@pytest.mark.parametrize("path", ALL_TEMPLATES, ids=lambda path: path.name)
def test_finding_8_every_rule_target_has_an_alarmed_dead_letter_queue_and_retries(path: Path) -> None:
    resources = template(path)["Resources"]
    alarmed = alarmed_queues(resources)
    rules = {name: spec for name, spec in resources.items() if spec["Type"] == "AWS::Events::Rule"}
    assert rules
    for name, spec in rules.items():
        for target in spec["Properties"]["Targets"]:
            assert "DeadLetterConfig" in target, f"{path.name}: {name}"
            assert queue_of(target["DeadLetterConfig"]["Arn"]) in alarmed, f"{path.name}: {name}"
            bus_target = "event-bus" in json.dumps(target["Arn"]) or "AlertsEventBus" in json.dumps(target["Arn"])
            # EventBridge retries deliveries to an event bus itself: a RetryPolicy is not supported there
            assert ("RetryPolicy" in target) != bus_target, f"{path.name}: {name}"


def test_finding_8_a_formatter_failure_does_not_go_to_the_topic_it_failed_to_publish_to() -> None:
    resources = template(TEMPLATE)["Resources"]
    destination = resources["FormatBackupAlertFunction"]["Properties"]["EventInvokeConfig"]["DestinationConfig"]
    on_failure = destination["OnFailure"]
    assert on_failure["Type"] == "SQS"
    assert queue_of(on_failure["Destination"]) in alarmed_queues(resources)
    # and the function's role may send to it
    statements = [
        statement
        for policy in resources["FormatBackupAlertRole"]["Properties"]["Policies"]
        for statement in policy["PolicyDocument"]["Statement"]
    ]
    assert any(
        "sqs:SendMessage" in as_list(statement["Action"]) and statement["Resource"] == on_failure["Destination"]
        for statement in statements
    )


def test_finding_4_by_default_an_scp_keeps_central_administrators_off_the_vault_policy_role() -> None:
    document = template(TEMPLATE)
    assert document["Parameters"]["ProtectCentralVaultPolicyRole"]["Default"] == "true"
    guard = document["Resources"]["CentralVaultPolicyRoleGuard"]
    assert guard["Condition"] == "ProtectCentralVaultPolicyRole"
    properties = guard["Properties"]
    assert properties["Type"] == "SERVICE_CONTROL_POLICY"
    assert properties["TargetIds"] == [{"Ref": "CentralBackupAccountId"}]
    (statement,) = properties["Content"]["Statement"]
    assert statement["Effect"] == "Deny"
    # Whoever could take over the role is refused: trust, inline and managed policies, boundary, delete/re-create
    assert {
        "iam:UpdateAssumeRolePolicy",
        "iam:PutRolePolicy",
        "iam:AttachRolePolicy",
        "iam:DeleteRole",
        "iam:CreateRole",
        "iam:DeleteRolePermissionsBoundary",
    } <= set(statement["Action"])
    assert statement["Resource"] == {
        "Fn::Sub": "arn:${AWS::Partition}:iam::${CentralBackupAccountId}:role/${CentralVaultPolicyRoleName}"
    }
    # ... but the StackSet execution role, which deploys the role
    assert statement["Condition"] == {
        "ArnNotLike": {
            "aws:PrincipalArn": {"Fn::Sub": "arn:${AWS::Partition}:iam::*:role/${StackSetExecutionRoleName}"}
        }
    }
