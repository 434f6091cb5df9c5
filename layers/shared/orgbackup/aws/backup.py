"""The AWS Backup adapter: every AWS Backup call the product makes goes through this module.

- vault access policies (the central vault's, through the client of the assumed vault-policy role);
- the organization's backup, copy and restore jobs (listings, from the management account);
- recovery points and copy jobs of a recovery (``BackupCopies``: one Region, one account's client).

Calls go through ``retry.call``, listings through ``orgbackup.aws.pages``. The domain decides what an error means
(``vault_policy`` names the central vault in its errors); here "no policy" is None.
"""

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from orgbackup import retry
from orgbackup.aws import pages
from orgbackup.retry import Backoff

if TYPE_CHECKING:
    from mypy_boto3_backup import BackupClient


def vault_access_policy(client: "BackupClient", vault_name: str, *, backoff: Backoff | None = None) -> str | None:
    """The vault's access policy text; None when it has none. GetBackupVaultAccessPolicy answers
    ResourceNotFoundException, "A resource that is required for the action doesn't exist" (AWS Backup API reference,
    https://docs.aws.amazon.com/aws-backup/latest/devguide/API_GetBackupVaultAccessPolicy.html), for a vault without
    a policy and for a vault that does not exist alike: the reference does not tell them apart. None is the safe
    reading here: the caller then writes the policy, and that put fails naming the missing vault."""
    try:
        response = retry.call(client.get_backup_vault_access_policy, BackupVaultName=vault_name, backoff=backoff)
    except ClientError as error:
        if retry.error_code(error) == "ResourceNotFoundException":
            return None
        raise
    policy = response.get("Policy")
    return None if policy is None else str(policy)


def put_vault_access_policy(
    client: "BackupClient", vault_name: str, policy: str, *, backoff: Backoff | None = None
) -> None:
    retry.call(client.put_backup_vault_access_policy, BackupVaultName=vault_name, Policy=policy, backoff=backoff)


# Job listing -> (the response key that holds the jobs).
JOB_LISTINGS: dict[str, str] = {
    "list_backup_jobs": "BackupJobs",
    "list_copy_jobs": "CopyJobs",
    "list_restore_jobs": "RestoreJobs",
}


def jobs(client: "BackupClient", operation: str, *, backoff: Backoff | None = None, **kwargs: Any) -> Iterator[Any]:
    """Every job of one listing (``JOB_LISTINGS``), page after page."""
    key = JOB_LISTINGS[operation]
    for page in pages(getattr(client, operation), backoff=backoff, **kwargs):
        yield from page.get(key, [])


class BackupCopies:
    """The AWS Backup calls of a recovery (one Region, one account's client)."""

    def __init__(self, client: "BackupClient") -> None:
        self.client = client

    def describe_recovery_point(self, vault_name: str, arn: str) -> dict[str, Any]:
        return dict(retry.call(self.client.describe_recovery_point, BackupVaultName=vault_name, RecoveryPointArn=arn))

    def describe_vault(self, vault_name: str) -> dict[str, Any]:
        return dict(retry.call(self.client.describe_backup_vault, BackupVaultName=vault_name))

    def vault_access_policy(self, vault_name: str) -> str | None:
        return vault_access_policy(self.client, vault_name)

    def start_copy_job(self, arn: str, source_vault: str, destination_vault_arn: str, role_arn: str) -> str:
        return str(
            retry.call(
                self.client.start_copy_job,
                RecoveryPointArn=arn,
                SourceBackupVaultName=source_vault,
                DestinationBackupVaultArn=destination_vault_arn,
                IamRoleArn=role_arn,
            )["CopyJobId"]
        )

    def describe_copy_job(self, job_id: str) -> dict[str, Any]:
        return dict(retry.call(self.client.describe_copy_job, CopyJobId=job_id)["CopyJob"])
