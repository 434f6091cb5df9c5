"""The way back's domain code (orgbackup.protection.recovery): preconditions read from the accounts, and the bounded
wait for the copy job. The accounts are moto plus the emulation's recovery points and copy jobs."""

import json
from collections.abc import Iterator
from typing import Any

import pytest
from emulated_accounts import organization
from emulated_accounts import session_in as session
from moto import mock_aws

from orgbackup.aws.backup import BackupCopies
from orgbackup.protection.recovery import AccountReader, Layout, copy_back, plan_recovery
from orgbackup_tools import emulation

CENTRAL, MEMBER, REGION = "222222222222", "333333333333", "us-east-1"
LAYOUT = Layout("aws", CENTRAL, "central", "CopyBack", "member", (REGION, "eu-west-1"))
TRUST = {
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "backup.amazonaws.com"}, "Action": "sts:AssumeRole"}]
}


def key_shared_with(account_id: str | None) -> str:
    statements: list[dict[str, Any]] = [
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{CENTRAL}:root"}, "Action": "kms:*", "Resource": "*"}
    ]
    if account_id:
        statements.append(
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{account_id}:root"},
                "Action": ["kms:Decrypt", "kms:CreateGrant"],
                "Resource": "*",
            }
        )
    return json.dumps({"Version": "2012-10-17", "Statement": statements})


@pytest.fixture
def accounts() -> Iterator[dict[str, Any]]:
    with mock_aws(), emulation.aws_extensions():
        organization(CENTRAL, MEMBER)
        central, member = session(CENTRAL), session(MEMBER)
        central.client("iam").create_role(RoleName="CopyBack", AssumeRolePolicyDocument=json.dumps(TRUST))
        key = central.client("kms").create_key(Policy=key_shared_with(MEMBER))["KeyMetadata"]["Arn"]
        central.client("backup").create_backup_vault(BackupVaultName="central", EncryptionKeyArn=key)
        member.client("backup").create_backup_vault(BackupVaultName="member")
        member.client("backup").put_backup_vault_access_policy(
            BackupVaultName="member",
            Policy=json.dumps(
                {
                    "Statement": [
                        {
                            "Sid": "CopyBack",
                            "Effect": "Allow",
                            "Principal": {"AWS": f"arn:aws:iam::{CENTRAL}:root"},
                            "Action": "backup:CopyIntoBackupVault",
                            "Resource": "*",
                        }
                    ]
                }
            ),
        )
        point = emulation.add_recovery_point(
            CENTRAL, REGION, "central", resource_arn="arn:aws:s3:::orders", resource_type="S3"
        )
        yield {"central": central, "member": member, "point": point, "key": key}


def plan(accounts: dict[str, Any]) -> Any:
    central = accounts["central"]
    return plan_recovery(
        accounts["point"],
        MEMBER,
        None,
        LAYOUT,
        BackupCopies(central.client("backup")),
        AccountReader(central.client("iam"), central.client("kms")),
        BackupCopies(accounts["member"].client("backup")),
    )


def failed(result: Any) -> dict[str, str]:
    return {check.name: check.detail for check in result.checks if check.ok is False}


def test_every_precondition_met_plans_the_copy_and_it_completes(accounts) -> None:
    result = plan(accounts)
    assert result.ready, failed(result)
    assert result.destination_vault_arn == f"arn:aws:backup:{REGION}:{MEMBER}:backup-vault:member"
    copied = copy_back(
        result, BackupCopies(accounts["central"].client("backup")), central_vault_name="central", sleep=lambda _: None
    )
    assert copied.state == "COMPLETED"
    assert copied.destination_recovery_point_arn in emulation.recovery_points(MEMBER, REGION, "member")


def test_a_member_vault_policy_without_the_central_account_fails_the_plan(accounts) -> None:
    accounts["member"].client("backup").put_backup_vault_access_policy(
        BackupVaultName="member", Policy='{"Statement": []}'
    )
    assert "member vault policy" in failed(plan(accounts))


def test_a_missing_member_vault_fails_the_plan(accounts) -> None:
    accounts["member"].client("backup").delete_backup_vault(BackupVaultName="member")
    assert set(failed(plan(accounts))) == {"member vault", "member vault policy"}


def test_a_missing_central_role_fails_the_plan(accounts) -> None:
    accounts["central"].client("iam").delete_role(RoleName="CopyBack")
    assert "does not exist" in failed(plan(accounts))["central backup role"]


def test_a_key_the_member_account_cannot_use_fails_the_plan(accounts) -> None:
    accounts["central"].client("kms").put_key_policy(
        KeyId=accounts["key"], PolicyName="default", Policy=key_shared_with(None)
    )
    assert "kms:Decrypt for account 333333333333" in failed(plan(accounts))["recovery point key"]


def test_a_recovery_point_key_that_no_longer_exists_fails_the_plan(accounts) -> None:
    # Given a recovery point encrypted with a key KMS does not know (GetKeyPolicy: NotFoundException)
    gone = f"arn:aws:kms:{REGION}:{CENTRAL}:key/00000000-0000-0000-0000-000000000000"
    accounts["point"] = emulation.add_recovery_point(
        CENTRAL, REGION, "central", resource_arn="arn:aws:s3:::orders", resource_type="S3", encryption_key_arn=gone
    )
    # Then the key check fails, naming it (the plan is made, no traceback)
    assert failed(plan(accounts))["recovery point key"] == f"{gone} does not exist (KMS NotFoundException)"


def test_an_unknown_recovery_point_fails_the_plan(accounts) -> None:
    accounts["point"] = accounts["point"][:-4] + "dead"
    assert "not readable" in failed(plan(accounts))["recovery point"]


def test_without_member_credentials_the_member_checks_are_reported_as_not_made(accounts) -> None:
    central = accounts["central"]
    result = plan_recovery(
        accounts["point"],
        MEMBER,
        None,
        LAYOUT,
        BackupCopies(central.client("backup")),
        AccountReader(central.client("iam"), central.client("kms")),
    )
    unchecked = {check.name for check in result.checks if check.ok is None}
    assert unchecked == {"member vault", "member vault policy"}
    assert result.ready


class StuckCopies(BackupCopies):
    def __init__(self) -> None:
        self.reads = 0

    def start_copy_job(self, arn: str, source_vault: str, destination_vault_arn: str, role_arn: str) -> str:
        return "JOB"

    def describe_copy_job(self, job_id: str) -> dict[str, Any]:
        self.reads += 1
        return {"CopyJobId": job_id, "State": "RUNNING"}


def test_the_wait_for_the_copy_job_is_bounded(accounts) -> None:
    slept: list[float] = []
    stuck = StuckCopies()
    result = copy_back(
        plan(accounts), stuck, central_vault_name="central", poll_seconds=5, max_polls=4, sleep=slept.append
    )
    assert (result.state, stuck.reads, slept) == ("RUNNING", 4, [5, 5, 5])
    assert result.status_message == "still RUNNING after 4 reads"
    assert result.destination_recovery_point_arn is None
