"""The organization's backup, copy and restore-test jobs, read from the management account (through the AWS
Backup adapter, ``orgbackup.aws.backup``).

AWS Backup's cross-account monitoring lets the management account list every member account's jobs: "If used
from an AWS Organizations management account, passing * returns all jobs across the organization" (ListBackupJobs,
ByAccountId, https://docs.aws.amazon.com/aws-backup/latest/devguide/API_ListBackupJobs.html; *Managing AWS Backup
resources across multiple AWS accounts*, https://docs.aws.amazon.com/aws-backup/latest/devguide/manage-cross-account.html,
which needs trusted access for AWS Backup in Organizations). The documented pattern of ``ByAccountId`` is
``^[0-9]{12}$`` though, and ListRestoreJobs documents no ``*`` at all, so each in-scope account is asked for by its
ID (the safe reading), in each backup Region (job listings are Regional).

Restore tests are the restore jobs whose ``CreatedBy.RestoreTestingPlanArn`` is set (ListRestoreJobs response).
"""

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

from orgbackup.aws import backup
from orgbackup.coverage import Job, JobKind
from orgbackup.retry import Backoff

if TYPE_CHECKING:
    from mypy_boto3_backup import BackupClient

# Restore tests run on their own schedule (weekly by default here), so their last success is looked for further
# back than the report's week.
RESTORE_TEST_LOOKBACK: Final = timedelta(days=30)


def _text(item: Mapping[str, Any], key: str) -> str | None:
    value = item.get(key)
    return str(value) if value else None


def job_from_listing(kind: JobKind, region: str, item: Mapping[str, Any]) -> Job:
    """One member of BackupJobs, CopyJobs or RestoreJobs as a ``Job``."""
    id_key, state_key = {
        "backup": ("BackupJobId", "State"),
        "copy": ("CopyJobId", "State"),
        "restore_test": ("RestoreJobId", "Status"),
    }[kind]
    return Job(
        kind=kind,
        account_id=str(item.get("AccountId", "")),
        region=region,
        job_id=str(item.get(id_key, "")),
        state=str(item.get(state_key, "")),
        created=item["CreationDate"],
        completed=item.get("CompletionDate"),
        status_message=_text(item, "StatusMessage"),
        resource_arn=_text(item, "ResourceArn") or _text(item, "SourceResourceArn"),
        destination_vault_arn=_text(item, "DestinationBackupVaultArn"),
        restore_testing_plan_arn=_text(item.get("CreatedBy") or {}, "RestoreTestingPlanArn"),
        vault_name=_text(item, "BackupVaultName"),
    )


def list_jobs(
    clients: Mapping[str, "BackupClient"],
    account_ids: Iterable[str],
    now: datetime,
    *,
    since: timedelta,
    backoff: Backoff | None = None,
) -> list[Job]:
    """Every backup and copy job created in the last ``since``, and every restore test of the last
    ``RESTORE_TEST_LOOKBACK``, of the given accounts in each Region of ``clients`` (Region -> client)."""
    jobs: list[Job] = []
    accounts = sorted(set(account_ids))
    for region, client in clients.items():
        for account_id in accounts:
            listings: list[tuple[JobKind, str, datetime]] = [
                ("backup", "list_backup_jobs", now - since),
                ("copy", "list_copy_jobs", now - since),
                ("restore_test", "list_restore_jobs", now - RESTORE_TEST_LOOKBACK),
            ]
            for kind, operation, after in listings:
                listed = backup.jobs(client, operation, ByAccountId=account_id, ByCreatedAfter=after, backoff=backoff)
                for item in listed:
                    job = job_from_listing(kind, region, item)
                    if kind != "restore_test" or job.restore_testing_plan_arn:
                        jobs.append(job)
    return jobs
