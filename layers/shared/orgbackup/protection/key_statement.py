"""What a workload's own KMS key must allow so its backups can be copied into the central vault.

Backups of the types AWS Backup does not fully manage (EBS, EC2, RDS, Aurora, DocumentDB, Neptune, FSx, Storage
Gateway: ``backup_key: source`` in ``copy_rules.json``) stay encrypted with the resource's key. A cross-account
copy of such a backup fails ("Given key ID is not accessible") unless that key is customer managed and its policy
lets the destination account use it (AWS Backup Developer Guide, *Creating backup copies across AWS accounts*:
https://docs.aws.amazon.com/aws-backup/latest/devguide/create-cross-account-backup.html, "if your resources are
encrypted with a customer managed key, you must share this customer managed key with the destination account").
The actions are the ones AWS's Knowledge Center lists for that error
(https://repost.aws/knowledge-center/backup-cross-account-copy-error): use of the key, and grants that only an
AWS service may create (``kms:GrantIsForAWSResource``, KMS Developer Guide, *Allowing users in other accounts to
use a KMS key*: https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-modifying-external-accounts.html).
The principal is the central account's root: it delegates to that account's own IAM, so AWS Backup there (not
every principal of it) uses the key, as those pages show.
"""

import re
from typing import Any, Final

from orgbackup import fields
from orgbackup.exceptions import InvalidInputError
from orgbackup.protection.access import Principal, policy_allows

USE_ACTIONS: Final = (
    "kms:DescribeKey",
    "kms:Encrypt",
    "kms:Decrypt",
    "kms:ReEncryptFrom",
    "kms:ReEncryptTo",
    "kms:GenerateDataKey",
    "kms:GenerateDataKeyWithoutPlaintext",
)
GRANT_ACTIONS: Final = ("kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant")
SID_USE: Final = "AllowOrgBackupCentralAccountToCopyBackups"
SID_GRANTS: Final = "AllowOrgBackupCentralAccountGrantsForCopies"


def workload_key_statements(central_backup_account_id: str, partition: str = "aws") -> list[dict[str, Any]]:
    """The two key policy statements to add to a workload's customer managed key."""
    if not re.fullmatch(fields.ACCOUNT_ID, central_backup_account_id):
        raise InvalidInputError(f"central backup account {central_backup_account_id!r} is not a 12-digit account ID")
    if not re.fullmatch(fields.PARTITION, partition):
        raise InvalidInputError(f"partition {partition!r} is not an AWS partition name")
    principal = {"AWS": f"arn:{partition}:iam::{central_backup_account_id}:root"}
    return [
        {"Sid": SID_USE, "Effect": "Allow", "Principal": principal, "Action": list(USE_ACTIONS), "Resource": "*"},
        {
            "Sid": SID_GRANTS,
            "Effect": "Allow",
            "Principal": principal,
            "Action": list(GRANT_ACTIONS),
            "Resource": "*",
            "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}},
        },
    ]


def missing_for_copy(key_policy: Any, central_backup_account_id: str, partition: str = "aws") -> list[str]:
    """The actions a key policy does not give the central account for copies (empty: nothing is missing), as AWS
    Backup in that account would be judged (``orgbackup.protection.access``; a condition on a key it does not know
    counts as not granting)."""
    if not isinstance(key_policy, dict) or not isinstance(key_policy.get("Statement"), list):
        return ["the key policy is not a policy document with a Statement list"]
    backup_there = Principal(
        central_backup_account_id,
        f"arn:{partition}:iam::{central_backup_account_id}:role/aws-service-role/backup.amazonaws.com/"
        "AWSServiceRoleForBackup",
        "us-east-1",
    )
    return [
        f"{action} for account {central_backup_account_id}"
        for action in (*USE_ACTIONS, *GRANT_ACTIONS)
        if not policy_allows(key_policy, action, backup_there)[0]
    ]
