"""The coverage report's emulation extensions (orgbackup_tools.emulation) behave as AWS documents:
cross-account job monitoring (ListBackupJobs, ListCopyJobs, ListRestoreJobs) and DescribeEffectivePolicy."""

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from orgbackup_tools import emulation

NOW = datetime.now(UTC)


@pytest.fixture
def org() -> Iterator[dict[str, Any]]:
    """An organization (management account = moto's default) with one member account in an OU."""
    with mock_aws(), emulation.aws_extensions():
        client = boto3.client("organizations", region_name="us-east-1")
        client.create_organization(FeatureSet="ALL")
        root_id = client.list_roots()["Roots"][0]["Id"]
        client.enable_policy_type(RootId=root_id, PolicyType="BACKUP_POLICY")
        ou_id = client.create_organizational_unit(ParentId=root_id, Name="Workloads")["OrganizationalUnit"]["Id"]
        member = client.create_account(AccountName="member", Email="m@example.com")["CreateAccountStatus"]["AccountId"]
        client.move_account(AccountId=member, SourceParentId=root_id, DestinationParentId=ou_id)
        yield {"client": client, "root": root_id, "ou": ou_id, "member": member}


def member_session(member: str) -> Any:
    sts = boto3.client("sts", region_name="us-east-1")
    credentials = sts.assume_role(RoleArn=f"arn:aws:iam::{member}:role/x", RoleSessionName="session")["Credentials"]
    return boto3.session.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        region_name="us-east-1",
    )


# ---------------------------------------------------------------------------------------------------------------
# Job monitoring


def test_without_the_extension_moto_lists_no_jobs() -> None:
    with mock_aws(), pytest.raises(ClientError, match="Not yet implemented"):
        boto3.client("backup", region_name="us-east-1").list_backup_jobs()


def test_the_management_account_lists_a_member_accounts_jobs_by_account_id(org: dict[str, Any]) -> None:
    member = org["member"]
    emulation.BACKUP_JOBS.record("backup", member, "us-east-1", "COMPLETED", CreationDate=NOW - timedelta(hours=2))
    emulation.BACKUP_JOBS.record("backup", member, "eu-west-1", "FAILED", CreationDate=NOW - timedelta(hours=2))
    backup = boto3.client("backup", region_name="us-east-1")
    jobs = backup.list_backup_jobs(ByAccountId=member)["BackupJobs"]
    # Only the Region asked, with the documented member fields
    assert [(job["AccountId"], job["State"]) for job in jobs] == [(member, "COMPLETED")]
    assert isinstance(jobs[0]["CreationDate"], datetime)
    # The caller's own account has none
    assert backup.list_backup_jobs()["BackupJobs"] == []


def test_a_member_account_sees_its_own_jobs_and_not_another_accounts(org: dict[str, Any]) -> None:
    member = org["member"]
    emulation.BACKUP_JOBS.record("copy", member, "us-east-1", "COMPLETED")
    emulation.BACKUP_JOBS.record("copy", "123456789012", "us-east-1", "COMPLETED")
    own = member_session(member).client("backup")
    assert [job["AccountId"] for job in own.list_copy_jobs()["CopyJobs"]] == [member]
    assert own.list_copy_jobs(ByAccountId="123456789012")["CopyJobs"] == []


def test_listings_filter_by_creation_time_state_and_the_30_day_window(org: dict[str, Any]) -> None:
    member = org["member"]
    for hours, state in ((1, "COMPLETED"), (30, "FAILED"), (24 * 31, "COMPLETED")):
        emulation.BACKUP_JOBS.record("backup", member, "us-east-1", state, CreationDate=NOW - timedelta(hours=hours))
    backup = boto3.client("backup", region_name="us-east-1")
    assert len(backup.list_backup_jobs(ByAccountId=member)["BackupJobs"]) == 2
    recent = backup.list_backup_jobs(ByAccountId=member, ByCreatedAfter=NOW - timedelta(hours=24))["BackupJobs"]
    assert [job["State"] for job in recent] == ["COMPLETED"]
    assert [job["State"] for job in backup.list_backup_jobs(ByAccountId=member, ByState="FAILED")["BackupJobs"]] == [
        "FAILED"
    ]


def test_restore_jobs_report_status_and_filter_by_restore_testing_plan(org: dict[str, Any]) -> None:
    member = org["member"]
    plan = f"arn:aws:backup:us-east-1:{member}:restore-testing-plan:p-1"
    emulation.BACKUP_JOBS.record("restore", member, "us-east-1", "COMPLETED", CreatedBy={"RestoreTestingPlanArn": plan})
    emulation.BACKUP_JOBS.record("restore", member, "us-east-1", "FAILED")
    backup = boto3.client("backup", region_name="us-east-1")
    everything = backup.list_restore_jobs(ByAccountId=member)["RestoreJobs"]
    assert sorted(job["Status"] for job in everything) == ["COMPLETED", "FAILED"]
    tests = backup.list_restore_jobs(ByAccountId=member, ByRestoreTestingPlanArn=plan)["RestoreJobs"]
    assert [job["CreatedBy"]["RestoreTestingPlanArn"] for job in tests] == [plan]


def test_the_ledger_refuses_an_unknown_job_kind() -> None:
    with pytest.raises(ValueError, match="must be backup, copy or restore"):
        emulation.BACKUP_JOBS.record("scan", "1", "us-east-1", "COMPLETED")


# ---------------------------------------------------------------------------------------------------------------
# Effective backup policy


def attach(org: dict[str, Any], target: str, document: dict[str, Any], name: str) -> None:
    client = org["client"]
    policy_id = client.create_policy(Name=name, Description=name, Content=json.dumps(document), Type="BACKUP_POLICY")[
        "Policy"
    ]["PolicySummary"]["Id"]
    client.attach_policy(PolicyId=policy_id, TargetId=target)


def effective(org: dict[str, Any]) -> dict[str, Any]:
    response = org["client"].describe_effective_policy(PolicyType="BACKUP_POLICY", TargetId=org["member"])
    assert response["EffectivePolicy"]["TargetId"] == org["member"]
    return json.loads(response["EffectivePolicy"]["PolicyContent"])  # type: ignore[no-any-return]


def test_the_effective_policy_merges_root_ou_and_account_policies_without_operators(org: dict[str, Any]) -> None:
    attach(
        org,
        org["root"],
        {
            "plans": {
                "daily": {
                    "regions": {"@@assign": ["us-east-1"]},
                    "rules": {"r": {"lifecycle": {"delete_after_days": {"@@assign": "35"}}}},
                    "@@operators_allowed_for_child_policies": ["@@all"],
                }
            }
        },
        "root",
    )
    attach(org, org["ou"], {"plans": {"daily": {"regions": {"@@assign": ["us-east-1", "eu-west-1"]}}}}, "ou")
    attach(org, org["member"], {"plans": {"monthly": {"regions": {"@@assign": ["us-east-1"]}}}}, "acct")
    assert effective(org) == {
        "plans": {
            "daily": {
                "regions": ["us-east-1", "eu-west-1"],
                "rules": {"r": {"lifecycle": {"delete_after_days": "35"}}},
            },
            "monthly": {"regions": ["us-east-1"]},
        }
    }


def test_no_backup_policy_on_the_path_is_effective_policy_not_found(org: dict[str, Any]) -> None:
    with pytest.raises(ClientError) as raised:
        effective(org)
    assert raised.value.response["Error"]["Code"] == "EffectivePolicyNotFoundException"


@pytest.mark.parametrize(
    ("target", "code"), [("ou", "InvalidInputException"), ("999999999999", "TargetNotFoundException")]
)
def test_an_ou_or_unknown_account_as_target_is_refused(org: dict[str, Any], target: str, code: str) -> None:
    with pytest.raises(ClientError) as raised:
        org["client"].describe_effective_policy(PolicyType="BACKUP_POLICY", TargetId=org.get(target, target))
    assert raised.value.response["Error"]["Code"] == code


def test_operators_the_emulation_does_not_model_fail_loudly(org: dict[str, Any]) -> None:
    attach(org, org["root"], {"plans": {"daily": {"regions": {"@@append": ["us-east-1"]}}}}, "append")
    with pytest.raises(NotImplementedError, match="@@append"):
        effective(org)


def test_other_policy_types_are_not_emulated(org: dict[str, Any]) -> None:
    with pytest.raises(NotImplementedError, match="TAG_POLICY"):
        org["client"].describe_effective_policy(PolicyType="TAG_POLICY", TargetId=org["member"])
