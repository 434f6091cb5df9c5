"""`orgbackup recover` against the emulated organization: the account is onboarded by the real workflow from the
real templates, the central vault holds the recovery point, and the copy back runs through the emulated AWS Backup
(which refuses what AWS refuses)."""

import json
from typing import Any

import pytest

from orgbackup_tools import cli

EBS_POINT = "arn:aws:ec2:us-east-1::snapshot/snap-0123456789abcdef0"
RDS_POINT = "arn:aws:rds:us-east-1:222222222222:snapshot:awsbackup:job-1"
CENTRAL_VAULT = "arn:aws:backup:us-east-1:222222222222:backup-vault:orgbackup-central"


def recover(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any]]:
    capsys.readouterr()
    code = cli.main(["recover", "--emulated", "--json", *args])
    return code, json.loads(capsys.readouterr().out)


def test_copies_a_central_recovery_point_back_to_the_member_vault(capsys) -> None:
    # Given an onboarded account and a copy of its EBS volume's backup in the central vault
    # When it is recovered to the account
    code, report = recover(capsys, "--recovery-point", EBS_POINT, "--to-account", "333333333333")
    # Then every precondition holds, the copy job completes, and a recovery point is in the member vault
    assert code == 0
    assert report["plan"]["source_vault_arn"] == CENTRAL_VAULT
    assert (
        report["plan"]["destination_vault_arn"] == "arn:aws:backup:us-east-1:333333333333:backup-vault:orgbackup-member"
    )
    assert report["plan"]["role_arn"] == "arn:aws:iam::222222222222:role/OrgBackupCentralBackupRole"
    assert [check["ok"] for check in report["plan"]["checks"]] == [True] * 6
    assert report["copy_job"]["state"] == "COMPLETED"
    copied = report["copy_job"]["recovery_point_arn"]
    assert copied.startswith("arn:aws:ec2:us-east-1::snapshot/snap-")
    assert copied != EBS_POINT


def test_dry_run_checks_the_preconditions_and_copies_nothing(capsys) -> None:
    code, report = recover(capsys, "--recovery-point", EBS_POINT, "--to-account", "555555555555", "--dry-run")
    assert code == 0
    assert report["dry_run"] is True
    assert report["copy_job"] is None
    checks = {check["check"]: check for check in report["plan"]["checks"]}
    assert set(checks) == {
        "recovery point",
        "central backup role",
        "copy rules",
        "member vault",
        "member vault policy",
        "recovery point key",
    }
    assert all(check["ok"] for check in checks.values())
    assert "AllowCentralBackupAccountToCopyBack allows it" in checks["member vault policy"]["detail"]


def test_an_rds_copy_back_into_another_region_is_refused_before_anything_is_copied(capsys) -> None:
    code, report = recover(
        capsys, "--recovery-point", RDS_POINT, "--to-account", "333333333333", "--region", "eu-west-1"
    )
    assert code == 1
    assert report["copy_job"] is None
    rules = next(check for check in report["plan"]["checks"] if check["check"] == "copy rules")
    assert rules["ok"] is False
    assert "cannot be both cross-account and cross-Region" in rules["detail"]
    assert "recov-point-create-a-copy.html" in rules["detail"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--recovery-point", "snap-123", "--to-account", "333333333333"], "--recovery-point: 'snap-123'"),
        (["--recovery-point", EBS_POINT, "--to-account", "33333"], "--to-account: '33333'"),
        (["--recovery-point", EBS_POINT, "--to-account", "222222222222"], "is the central backup account"),
        (["--recovery-point", EBS_POINT, "--to-account", "333333333333", "--region", "mars-1"], "--region: 'mars-1'"),
        (
            ["--recovery-point", EBS_POINT, "--to-account", "333333333333", "--region", "ap-south-1"],
            "not a backup Region",
        ),
        (["--recovery-point", EBS_POINT, "--to-account", "999999999999"], "not a member account of the emulated"),
    ],
)
def test_bad_arguments_are_named_and_exit_2(capsys, args: list[str], message: str) -> None:
    capsys.readouterr()
    assert cli.main(["recover", "--emulated", *args]) == 2
    assert message in capsys.readouterr().err
