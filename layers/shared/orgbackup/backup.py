"""The AWS Backup adapter for recovery points and copy jobs: every such call the product makes goes through
``BackupCopies`` (one Region, one account's injected client; botocore's standard retry mode from ``orgbackup.aws``
handles throttling). The central vault's access policy has its own functions in ``orgbackup.vault_policy``."""

from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

if TYPE_CHECKING:
    from mypy_boto3_backup import BackupClient


class BackupCopies:
    """The AWS Backup calls of a recovery (one Region, one account's client)."""

    def __init__(self, client: "BackupClient") -> None:
        self.client = client

    def describe_recovery_point(self, vault_name: str, arn: str) -> dict[str, Any]:
        return dict(self.client.describe_recovery_point(BackupVaultName=vault_name, RecoveryPointArn=arn))

    def describe_vault(self, vault_name: str) -> dict[str, Any]:
        return dict(self.client.describe_backup_vault(BackupVaultName=vault_name))

    def vault_access_policy(self, vault_name: str) -> str | None:
        try:
            return self.client.get_backup_vault_access_policy(BackupVaultName=vault_name).get("Policy")
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                return None
            raise

    def start_copy_job(self, arn: str, source_vault: str, destination_vault_arn: str, role_arn: str) -> str:
        return self.client.start_copy_job(
            RecoveryPointArn=arn,
            SourceBackupVaultName=source_vault,
            DestinationBackupVaultArn=destination_vault_arn,
            IamRoleArn=role_arn,
        )["CopyJobId"]

    def describe_copy_job(self, job_id: str) -> dict[str, Any]:
        return dict(self.client.describe_copy_job(CopyJobId=job_id)["CopyJob"])
