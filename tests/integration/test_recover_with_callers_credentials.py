"""`orgbackup recover` the way it runs against AWS: with the caller's credentials (here moto's, signed in to the
central backup account of samconfig.toml's default environment), no emulated organization built around it."""

import json
from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

from orgbackup_tools import cli, emulation

CENTRAL, MEMBER, REGION = "222222222222", "333333333333", "us-east-1"  # samconfig.toml's central account
TRUST = {
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "backup.amazonaws.com"}, "Action": "sts:AssumeRole"}]
}


def credentials(account_id: str) -> dict[str, str]:
    issued = boto3.client("sts", region_name=REGION).assume_role(
        RoleArn=f"arn:aws:iam::{account_id}:role/operator", RoleSessionName="operator"
    )["Credentials"]
    return {
        "AWS_ACCESS_KEY_ID": issued["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": issued["SecretAccessKey"],
        "AWS_SESSION_TOKEN": issued["SessionToken"],
    }


def session(account_id: str) -> boto3.session.Session:
    env = credentials(account_id)
    return boto3.session.Session(
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=env["AWS_SESSION_TOKEN"],
        region_name=REGION,
    )


@pytest.fixture
def accounts(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    with mock_aws(), emulation.aws_extensions():
        org = boto3.client("organizations", region_name=REGION)
        org.create_organization(FeatureSet="ALL")
        for account_id in (CENTRAL, MEMBER):
            status = org.create_account(AccountName=f"a{account_id}", Email=f"{account_id}@example.com")
            emulation.rename_account(status["CreateAccountStatus"]["AccountId"], account_id)
        central, member = session(CENTRAL), session(MEMBER)
        central.client("iam").create_role(
            RoleName="OrgBackupCentralBackupRole", AssumeRolePolicyDocument=json.dumps(TRUST)
        )
        key_policy = {
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{CENTRAL}:root"},
                    "Action": "kms:*",
                    "Resource": "*",
                },
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{MEMBER}:root"},
                    "Action": ["kms:Decrypt", "kms:CreateGrant"],
                    "Resource": "*",
                },
            ]
        }
        key = central.client("kms").create_key(Policy=json.dumps(key_policy))["KeyMetadata"]["Arn"]
        central.client("backup").create_backup_vault(BackupVaultName="orgbackup-central", EncryptionKeyArn=key)
        member.client("backup").create_backup_vault(BackupVaultName="orgbackup-member")
        allow = {
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{CENTRAL}:root"},
                    "Action": "backup:CopyIntoBackupVault",
                    "Resource": "*",
                }
            ]
        }
        member.client("backup").put_backup_vault_access_policy(
            BackupVaultName="orgbackup-member", Policy=json.dumps(allow)
        )
        point = emulation.add_recovery_point(
            CENTRAL, REGION, "orgbackup-central", resource_arn="arn:aws:s3:::orders", resource_type="S3"
        )
        for name, value in credentials(CENTRAL).items():
            monkeypatch.setenv(name, value)
        yield point


def test_recover_copies_back_with_the_central_accounts_credentials(accounts, capsys) -> None:
    capsys.readouterr()
    code = cli.main(["recover", "--recovery-point", accounts, "--to-account", MEMBER, "--json", "--poll-seconds", "0"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0, report
    unchecked = {check["check"] for check in report["plan"]["checks"] if check["ok"] is None}
    assert unchecked == {"member vault", "member vault policy"}  # no --member-profile
    assert report["copy_job"]["state"] == "COMPLETED"
    assert report["copy_job"]["recovery_point_arn"] in emulation.recovery_points(MEMBER, REGION, "orgbackup-member")


def test_recover_refuses_credentials_of_another_account(accounts, capsys, monkeypatch) -> None:
    for name, value in credentials(MEMBER).items():
        monkeypatch.setenv(name, value)
    capsys.readouterr()
    assert cli.main(["recover", "--recovery-point", accounts, "--to-account", MEMBER, "--dry-run"]) == 2
    assert "the credentials are for account 333333333333" in capsys.readouterr().err
