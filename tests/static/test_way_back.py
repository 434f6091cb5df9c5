"""The way back, in the StackSet templates: the central backup role AWS Backup uses to copy a recovery point from the
central vault into a member vault, and the member vault's statement that lets only the central account do it.
(The KMS key policies are checked where they are owned; the copy back's key needs are in the README.)"""

from functools import cache
from pathlib import Path
from typing import Any

from orgbackup import settings_loader
from orgbackup.protection.access import Principal, policy_allows
from orgbackup.settings import Settings
from orgbackup_tools.deployment import deployment_parameters, load_template
from orgbackup_tools.protection_check import Baselines, stackset_values

ROOT = Path(__file__).resolve().parents[2]
CENTRAL = ROOT / "stacksets" / "central-backup-account.yaml"
MEMBER = ROOT / "stacksets" / "member-account.yaml"
COPY = "backup:CopyIntoBackupVault"


@cache
def template(path: Path) -> dict[str, Any]:
    return load_template(path)


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def role() -> dict[str, Any]:
    return template(CENTRAL)["Resources"]["CentralBackupRole"]


def test_the_central_backup_role_exists_once_and_only_aws_backup_may_assume_it() -> None:
    resource = role()
    assert resource["Type"] == "AWS::IAM::Role"
    assert resource["Condition"] == "IsPrimaryRegion"
    properties = resource["Properties"]
    assert properties["RoleName"] == {"Ref": "CentralBackupRoleName"}
    (statement,) = properties["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "backup.amazonaws.com"}
    assert statement["Action"] == "sts:AssumeRole"
    # No aws:SourceAccount: AWS Backup does not document sending it when it assumes a role (see the template).
    assert "Condition" not in statement
    outputs = template(CENTRAL)["Outputs"]
    assert "CentralBackupRoleArn" in outputs


def test_the_central_backup_role_copies_into_member_vaults_only_and_uses_only_the_central_vault_keys() -> None:
    properties = role()["Properties"]
    assert properties["ManagedPolicyArns"] == [
        {"Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForBackup"}
    ]
    statements = [s for policy in properties["Policies"] for s in policy["PolicyDocument"]["Statement"]]
    by_sid = {statement["Sid"]: statement for statement in statements}
    copy = by_sid["CopyIntoMemberVaults"]
    assert as_list(copy["Action"]) == [COPY]
    assert copy["Resource"] == {"Fn::Sub": "arn:${AWS::Partition}:backup:*:*:backup-vault:${MemberVaultName}"}
    for statement in statements:
        assert all(not str(action).endswith("*") for action in as_list(statement["Action"])), statement
        if any(str(action).startswith("kms:") for action in as_list(statement["Action"])):
            assert statement["Condition"]["ForAnyValue:StringEquals"] == {
                "kms:ResourceAliases": {"Ref": "CentralKeyAlias"}
            }
        if any(
            action in ("kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant")
            for action in as_list(statement["Action"])
        ):
            assert statement["Condition"]["Bool"] == {"kms:GrantIsForAWSResource": "true"}
    assert not any(COPY in as_list(s["Action"]) for sid, s in by_sid.items() if sid != "CopyIntoMemberVaults")


def test_the_member_vault_allows_copy_into_from_the_central_account_only() -> None:
    policy = template(MEMBER)["Resources"]["MemberVault"]["Properties"]["AccessPolicy"]
    allows = [statement for statement in policy["Statement"] if statement["Effect"] == "Allow"]
    assert allows == [
        {
            "Sid": "AllowCentralBackupAccountToCopyBack",
            "Effect": "Allow",
            "Principal": {"AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${CentralBackupAccountId}:root"}},
            "Action": COPY,
            "Resource": "*",
        }
    ]
    denies = [s for s in policy["Statement"] if s["Effect"] == "Deny"]
    assert all(COPY not in as_list(statement["Action"]) for statement in denies)


def test_resolved_for_a_deployment_the_member_vault_lets_the_central_role_copy_in_and_no_one_else() -> None:
    parameters = {**deployment_parameters(), "ManagementAccountId": "111111111111"}
    settings = settings_loader.load(Settings, parameters, naming="cfn")
    base = Baselines.load(settings, stackset_values(load_template(), parameters))
    central = settings.central_backup_account_id
    role_arn = f"arn:aws:iam::{central}:role/{base.central_role_name}"
    assert policy_allows(base.member_vault_policy, COPY, Principal(central, role_arn, "us-east-1"))[0]
    stranger = Principal("999999999999", "arn:aws:iam::999999999999:role/OrgBackupCentralBackupRole", "us-east-1")
    assert not policy_allows(base.member_vault_policy, COPY, stranger)[0]
    # Nor does it let the central account do anything else to the vault
    assert not policy_allows(
        base.member_vault_policy, "backup:DeleteRecoveryPoint", Principal(central, role_arn, "us-east-1")
    )[0]


def test_the_central_stackset_passes_the_member_vault_name_the_role_is_scoped_to() -> None:
    parameters = template(ROOT / "template.yaml")["Resources"]["CentralStackSet"]["Properties"]["Parameters"]
    assert {"ParameterKey": "MemberVaultName", "ParameterValue": {"Ref": "MemberVaultName"}} in parameters
