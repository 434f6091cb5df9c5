"""The ``backup_copy_jobs`` emulation extension: recovery points and copy jobs as AWS Backup documents them."""

import json
from collections.abc import Iterator

import boto3
import pytest
from botocore.exceptions import ClientError
from emulated_accounts import organization
from emulated_accounts import session_in as session
from moto import mock_aws

from orgbackup_tools import emulation

CENTRAL, MEMBER, OTHER = "222222222222", "333333333333", "444444444444"
REGION, OTHER_REGION = "us-east-1", "eu-west-1"


def vault_with_key(account_id: str, region: str, name: str, key_policy: dict | None = None) -> str:
    kms = session(account_id).client("kms", region_name=region)
    key = kms.create_key(**({"Policy": json.dumps(key_policy)} if key_policy else {}))["KeyMetadata"]["Arn"]
    session(account_id).client("backup", region_name=region).create_backup_vault(
        BackupVaultName=name, EncryptionKeyArn=key
    )
    return key


def allow_copy_from(account_id: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "AllowCopyBack",
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{account_id}:root"},
                    "Action": "backup:CopyIntoBackupVault",
                    "Resource": "*",
                }
            ],
        }
    )


def shared_with(account_id: str) -> dict:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": "arn:aws:iam::111111111111:root"},
                "Action": "kms:*",
                "Resource": "*",
            },
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{account_id}:root"},
                "Action": ["kms:Decrypt", "kms:CreateGrant"],
                "Resource": "*",
            },
        ],
    }


@pytest.fixture
def world() -> Iterator[dict]:
    with mock_aws(), emulation.aws_extensions():
        organization(CENTRAL, MEMBER)
        central = session(CENTRAL)
        central.client("iam").create_role(RoleName="CopyBack", AssumeRolePolicyDocument="{}")
        central_key = vault_with_key(CENTRAL, REGION, "central", shared_with(MEMBER))
        member_key = vault_with_key(MEMBER, REGION, "member")
        member = session(MEMBER).client("backup", region_name=REGION)
        member.put_backup_vault_access_policy(BackupVaultName="member", Policy=allow_copy_from(CENTRAL))
        yield {
            "central": central.client("backup", region_name=REGION),
            "member": member,
            "central_key": central_key,
            "member_key": member_key,
            "role": f"arn:aws:iam::{CENTRAL}:role/CopyBack",
        }


def copy_back(world: dict, point: str, destination: str | None = None) -> dict:
    started = world["central"].start_copy_job(
        RecoveryPointArn=point,
        SourceBackupVaultName="central",
        DestinationBackupVaultArn=destination or f"arn:aws:backup:{REGION}:{MEMBER}:backup-vault:member",
        IamRoleArn=world["role"],
    )
    states = []
    while True:
        job = world["central"].describe_copy_job(CopyJobId=started["CopyJobId"])["CopyJob"]
        states.append(job["State"])
        if job["State"] in ("COMPLETED", "FAILED"):
            return {**job, "states": states}


def test_recovery_points_are_described_and_listed_per_vault(world) -> None:
    arn = emulation.add_recovery_point(
        CENTRAL, REGION, "central", resource_arn=f"arn:aws:ec2:{REGION}:{MEMBER}:volume/vol-1", resource_type="EBS"
    )
    described = world["central"].describe_recovery_point(BackupVaultName="central", RecoveryPointArn=arn)
    assert described["ResourceType"] == "EBS"
    assert described["EncryptionKeyArn"] == world["central_key"]
    assert described["Status"] == "COMPLETED"
    listed = world["central"].list_recovery_points_by_backup_vault(BackupVaultName="central")["RecoveryPoints"]
    assert [point["RecoveryPointArn"] for point in listed] == [arn]
    with pytest.raises(ClientError) as raised:
        world["central"].describe_recovery_point(BackupVaultName="central", RecoveryPointArn=arn + "x")
    assert raised.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_a_copy_the_destination_vault_allows_runs_through_its_states_and_lands_re_encrypted(world) -> None:
    point = emulation.add_recovery_point(
        CENTRAL, REGION, "central", resource_arn=f"arn:aws:rds:{REGION}:{MEMBER}:db:orders", resource_type="RDS"
    )
    job = copy_back(world, point)
    assert job["states"] == ["CREATED", "RUNNING", "COMPLETED"]
    copied = world["member"].describe_recovery_point(
        BackupVaultName="member", RecoveryPointArn=job["DestinationRecoveryPointArn"]
    )
    assert copied["ResourceArn"].endswith(":db:orders")
    assert copied["EncryptionKeyArn"] == world["member_key"]
    assert copied["SourceBackupVaultArn"].endswith(f"{CENTRAL}:backup-vault:central")


def test_a_copy_the_destination_vault_policy_does_not_allow_fails(world) -> None:
    world["member"].put_backup_vault_access_policy(BackupVaultName="member", Policy=allow_copy_from(OTHER))
    point = emulation.add_recovery_point(
        CENTRAL, REGION, "central", resource_arn="arn:aws:s3:::bucket", resource_type="S3"
    )
    job = copy_back(world, point)
    assert job["State"] == "FAILED"
    assert "does not allow backup:CopyIntoBackupVault from account 222222222222" in job["StatusMessage"]
    assert world["member"].list_recovery_points_by_backup_vault(BackupVaultName="member")["RecoveryPoints"] == []


def test_a_copy_to_an_account_outside_the_organization_fails(world) -> None:
    vault_with_key(OTHER, REGION, "member")
    session(OTHER).client("backup", region_name=REGION).put_backup_vault_access_policy(
        BackupVaultName="member", Policy=allow_copy_from(CENTRAL)
    )
    point = emulation.add_recovery_point(CENTRAL, REGION, "central", resource_arn="arn:aws:s3:::b", resource_type="S3")
    job = copy_back(world, point, f"arn:aws:backup:{REGION}:{OTHER}:backup-vault:member")
    assert job["State"] == "FAILED"
    assert "must be a member of the same organization" in job["StatusMessage"]


def test_an_explicit_deny_in_the_destination_policy_wins(world) -> None:
    policy = json.loads(allow_copy_from(CENTRAL))
    policy["Statement"].append(
        {"Sid": "NoCopies", "Effect": "Deny", "Principal": "*", "Action": "backup:CopyIntoBackupVault", "Resource": "*"}
    )
    world["member"].put_backup_vault_access_policy(BackupVaultName="member", Policy=json.dumps(policy))
    point = emulation.add_recovery_point(CENTRAL, REGION, "central", resource_arn="arn:aws:s3:::b", resource_type="S3")
    assert "statement NoCopies denies it" in copy_back(world, point)["StatusMessage"]


def test_a_copy_whose_source_key_does_not_let_the_destination_use_it_fails(world) -> None:
    unshared = session(CENTRAL).client("kms", region_name=REGION).create_key()["KeyMetadata"]["Arn"]
    point = emulation.add_recovery_point(
        CENTRAL, REGION, "central", resource_arn="arn:aws:s3:::b", resource_type="S3", encryption_key_arn=unshared
    )
    job = copy_back(world, point)
    assert job["State"] == "FAILED"
    assert job["StatusMessage"].startswith("Given key ID is not accessible")


def test_rds_cannot_be_copied_cross_account_and_cross_region_in_one_step(world) -> None:
    vault_with_key(MEMBER, OTHER_REGION, "member")
    session(MEMBER).client("backup", region_name=OTHER_REGION).put_backup_vault_access_policy(
        BackupVaultName="member", Policy=allow_copy_from(CENTRAL)
    )
    point = emulation.add_recovery_point(
        CENTRAL, REGION, "central", resource_arn=f"arn:aws:rds:{REGION}:{MEMBER}:db:orders", resource_type="RDS"
    )
    job = copy_back(world, point, f"arn:aws:backup:{OTHER_REGION}:{MEMBER}:backup-vault:member")
    assert job["State"] == "FAILED"
    assert "cannot be both cross-account and cross-Region" in job["StatusMessage"]


def test_an_aws_managed_source_key_cannot_be_copied_to_another_account(world) -> None:
    point = emulation.add_recovery_point(
        CENTRAL,
        REGION,
        "central",
        resource_arn=f"arn:aws:ec2:{REGION}:{CENTRAL}:volume/vol-1",
        resource_type="EBS",
        encryption_key_arn=f"arn:aws:kms:{REGION}:{CENTRAL}:alias/aws/ebs",
    )
    job = copy_back(world, point)
    assert job["State"] == "FAILED"
    assert "AWS managed key" in job["StatusMessage"]


def test_start_copy_job_refuses_unknown_points_and_malformed_arns_and_a_missing_role_fails_the_job(world) -> None:
    with pytest.raises(ClientError) as raised:
        copy_back(world, "arn:aws:backup:us-east-1:222222222222:recovery-point:nope")
    assert raised.value.response["Error"]["Code"] == "ResourceNotFoundException"
    point = emulation.add_recovery_point(CENTRAL, REGION, "central", resource_arn="arn:aws:s3:::b", resource_type="S3")
    with pytest.raises(ClientError) as raised:
        copy_back(world, point, "arn:aws:backup:us-east-1:333333333333:vault/member")
    assert raised.value.response["Error"]["Code"] == "InvalidParameterValueException"
    world["role"] = f"arn:aws:iam::{CENTRAL}:role/Missing"
    job = copy_back(world, point)
    assert job["State"] == "FAILED"
    assert "cannot be assumed" in job["StatusMessage"]
    with pytest.raises(ClientError) as raised:
        world["central"].describe_copy_job(CopyJobId="NOPE")
    assert raised.value.response["Error"]["Code"] == "ResourceNotFoundException"


KEY_TEMPLATE = """
Resources:
  Key:
    Type: AWS::KMS::Key
    Properties:
      KeyPolicy:
        Version: "2012-10-17"
        Statement:
          - Sid: Root
            Effect: Allow
            Principal: {AWS: "arn:aws:iam::123456789012:root"}
            Action: "kms:*"
            Resource: "*"
Outputs:
  Arn:
    Value: !GetAtt Key.Arn
"""


def test_cloudformation_stores_a_key_policy_object_as_json() -> None:
    with mock_aws(), emulation.aws_extensions():
        cfn = boto3.client("cloudformation", region_name=REGION)
        cfn.create_stack(StackName="k", TemplateBody=KEY_TEMPLATE)
        arn = cfn.describe_stacks(StackName="k")["Stacks"][0]["Outputs"][0]["OutputValue"]
        policy = boto3.client("kms", region_name=REGION).get_key_policy(KeyId=arn, PolicyName="default")["Policy"]
        assert json.loads(policy)["Statement"][0]["Sid"] == "Root"


def test_without_the_extension_moto_returns_a_key_policy_that_is_not_json_text() -> None:
    with mock_aws():
        cfn = boto3.client("cloudformation", region_name=REGION)
        cfn.create_stack(
            StackName="k", TemplateBody=KEY_TEMPLATE.replace("    Value: !GetAtt Key.Arn", "    Value: !Ref Key")
        )
        key = cfn.describe_stacks(StackName="k")["Stacks"][0]["Outputs"][0]["OutputValue"]
        policy = boto3.client("kms", region_name=REGION).get_key_policy(KeyId=key, PolicyName="default")["Policy"]
        # The API's Policy is a JSON string; moto hands back the template's object instead
        assert not isinstance(policy, str)


def test_a_copy_into_a_vault_that_does_not_exist_fails(world) -> None:
    point = emulation.add_recovery_point(CENTRAL, REGION, "central", resource_arn="arn:aws:s3:::b", resource_type="S3")
    job = copy_back(world, point, f"arn:aws:backup:{REGION}:{MEMBER}:backup-vault:missing")
    assert job["State"] == "FAILED"
    assert job["StatusMessage"] == f"Backup vault arn:aws:backup:{REGION}:{MEMBER}:backup-vault:missing does not exist"


def test_a_deny_on_the_principal_account_wins_over_an_allow_by_organization_path(world) -> None:
    # Given the copying account in an OU, and a destination vault policy in the central vault's organization form:
    # an Allow by that OU's path (aws:PrincipalOrgPaths) and a Deny by account (aws:PrincipalAccount)
    org = boto3.client("organizations", region_name=REGION)
    root = org.list_roots()["Roots"][0]["Id"]
    org_id = org.describe_organization()["Organization"]["Id"]
    ou = org.create_organizational_unit(ParentId=root, Name="Workloads")["OrganizationalUnit"]["Id"]
    org.move_account(AccountId=CENTRAL, SourceParentId=root, DestinationParentId=ou)

    def org_form(denied: list[str]) -> str:
        allow = {
            "Sid": "AllowCopyIntoFromInScopeOrgPaths",
            "Effect": "Allow",
            "Principal": "*",
            "Action": "backup:CopyIntoBackupVault",
            "Resource": "*",
            "Condition": {"ForAnyValue:StringLike": {"aws:PrincipalOrgPaths": [f"{org_id}/{root}/{ou}/*"]}},
        }
        deny = {
            "Sid": "DenyCopyIntoFromExcludedAccounts",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "backup:CopyIntoBackupVault",
            "Resource": "*",
            "Condition": {"StringEquals": {"aws:PrincipalAccount": denied}},
        }
        return json.dumps({"Version": "2012-10-17", "Statement": [allow, deny]})

    point = emulation.add_recovery_point(CENTRAL, REGION, "central", resource_arn="arn:aws:s3:::b", resource_type="S3")
    # When the Deny names another account, the Allow by path lets the copy through
    world["member"].put_backup_vault_access_policy(BackupVaultName="member", Policy=org_form([OTHER]))
    assert copy_back(world, point)["State"] == "COMPLETED"
    # When it names the copying account, the copy fails on the Deny, the Allow notwithstanding
    world["member"].put_backup_vault_access_policy(BackupVaultName="member", Policy=org_form([OTHER, CENTRAL]))
    job = copy_back(world, point)
    assert job["State"] == "FAILED"
    assert "statement DenyCopyIntoFromExcludedAccounts denies it" in job["StatusMessage"]
    # And an account outside the allowed OU path is not allowed at all (no Deny needed)
    org.move_account(AccountId=CENTRAL, SourceParentId=ou, DestinationParentId=root)
    world["member"].put_backup_vault_access_policy(BackupVaultName="member", Policy=org_form([OTHER]))
    job = copy_back(world, point)
    assert job["State"] == "FAILED"
    assert "no statement allows backup:CopyIntoBackupVault to account 222222222222" in job["StatusMessage"]
