"""The coverage report against the emulated organization: onboard it (the real reconcile run), then seed the jobs
AWS Backup would have run in the last days, one story per account:

- workload-a: backups and copies into the central vault completed in both Regions, a restore test passed;
- workload-b-prod: in us-east-1 the copy into the central vault failed ("Given key ID is not accessible"); in
  eu-west-1 a backup completed with issues (still protected) and its copy completed;
- workload-c: onboarded, the backup policy is in force, and no job ran at all (no tagged resource): silent.

Development-only (moto): used by `orgbackup coverage` and the tests.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from orgbackup import coverage_report
from orgbackup_tools import emulation
from orgbackup_tools.simulation import World

PROTECTED = "333333333333"
FAILED_COPY = "444444444444"
SILENT = "555555555555"


def _arn(account: str, region: str, kind: str, name: str) -> str:
    return f"arn:aws:{kind}:{region}:{account}:{name}"


def seed_jobs(world: World, now: datetime) -> None:
    """The jobs of the stories above, relative to ``now``."""
    settings = world.settings
    central = settings.central_vault_arn()
    jobs = emulation.BACKUP_JOBS

    def backup(account: str, region: str, hours_ago: float, message: str | None = None) -> None:
        vault = f"arn:aws:backup:{region}:{account}:backup-vault:{settings.member_vault_name}"
        fields: dict[str, Any] = {
            "CreationDate": now - timedelta(hours=hours_ago + 1),
            "CompletionDate": now - timedelta(hours=hours_ago),
            "BackupVaultName": settings.member_vault_name,
            "BackupVaultArn": vault,
            "ResourceArn": _arn(account, region, "ec2", "volume/vol-0123456789abcdef0"),
            "ResourceType": "EBS",
        }
        if message:
            fields["StatusMessage"] = message
        jobs.record("backup", account, region, "COMPLETED", **fields)

    def copy_job(account: str, region: str, hours_ago: float, state: str, message: str | None = None) -> None:
        fields: dict[str, Any] = {
            "CreationDate": now - timedelta(hours=hours_ago + 0.5),
            "CompletionDate": now - timedelta(hours=hours_ago),
            "SourceBackupVaultArn": f"arn:aws:backup:{region}:{account}:backup-vault:{settings.member_vault_name}",
            "DestinationBackupVaultArn": central,
            "ResourceArn": _arn(account, region, "ec2", "volume/vol-0123456789abcdef0"),
            "ResourceType": "EBS",
        }
        if message:
            fields["StatusMessage"] = message
        jobs.record("copy", account, region, state, **fields)

    for region in settings.backup_regions:
        backup(PROTECTED, region, 2)
        backup(PROTECTED, region, 26)
        copy_job(PROTECTED, region, 1, "COMPLETED")
    jobs.record(
        "restore",
        PROTECTED,
        settings.primary_region,
        "COMPLETED",
        CreationDate=now - timedelta(days=3, hours=1),
        CompletionDate=now - timedelta(days=3),
        SourceResourceArn=_arn(PROTECTED, settings.primary_region, "ec2", "volume/vol-0123456789abcdef0"),
        CreatedBy={
            "RestoreTestingPlanArn": _arn(
                PROTECTED, settings.primary_region, "backup", "restore-testing-plan:orgbackup_restore_tests-1a2b"
            )
        },
    )
    primary, other = settings.backup_regions[0], settings.backup_regions[-1]
    backup(FAILED_COPY, primary, 3)
    copy_job(FAILED_COPY, primary, 2, "FAILED", "Given key ID is not accessible")
    if other != primary:
        backup(FAILED_COPY, other, 4, "Windows VSS Backup Job Error encountered, trying for regular backup")
        copy_job(FAILED_COPY, other, 3, "COMPLETED")


@contextmanager
def emulated_coverage(now: datetime) -> Iterator[tuple[World, dict[str, Any], str]]:
    """An emulated organization, onboarded and seeded; yields the world, the report's JSON form and its page."""
    with World.emulate() as world:
        world.execute({"mode": "reconcile"})
        seed_jobs(world, now)
        backup_clients = {region: world.client("backup", region) for region in world.settings.backup_regions}
        inputs = coverage_report.gather(
            world.settings, world.client("organizations"), world.client("cloudformation"), backup_clients, now
        )
        document, page = coverage_report.produce(world.settings, inputs)
        yield world, document, page
