"""The way back: copy a recovery point from the central vault into a member account's vault, ready for a restore.

AWS Backup Developer Guide, *Creating backup copies across AWS accounts*
(https://docs.aws.amazon.com/aws-backup/latest/devguide/create-cross-account-backup.html): "If your original backup
is inadvertently deleted, you can copy the backup from its destination account to its source account, and then
start the restore." The copy is a StartCopyJob in the account of the SOURCE vault (the central account), naming
the role AWS Backup uses there (the central baseline's CentralBackupRole) and the destination vault's ARN; its
progress is read with DescribeCopyJob (states CREATED, RUNNING, COMPLETED, FAILED, PARTIAL: API reference, CopyJob).

It works only when (each checked by ``preconditions``): the recovery point is in the central vault and complete;
the central backup role exists and AWS Backup may assume it; AWS Backup copies the resource type to another account
(and not also to another Region in the same step for RDS and Aurora: ``copy_rules.json``); the member vault exists
and its access policy allows ``backup:CopyIntoBackupVault`` from the central account; the recovery point's key (the
central vault key: a cross-account copy is re-encrypted with the destination vault's key) lets the member account
use it.

The AWS Backup calls go through ``orgbackup.aws.backup.BackupCopies``; the IAM and KMS reads (a role's trust policy, a
key's policy) through ``AccountReader``, which calls the ``orgbackup.aws.iam`` and ``orgbackup.aws.kms`` adapters.
Both take injected clients.
"""

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from botocore.exceptions import ClientError

from orgbackup import fields
from orgbackup.aws import iam, kms
from orgbackup.aws.backup import BackupCopies
from orgbackup.exceptions import InvalidInputError
from orgbackup.protection.access import Principal, policy_allows
from orgbackup.protection.rules import RuleBook, load_rule_book

if TYPE_CHECKING:
    from mypy_boto3_iam import IAMClient
    from mypy_boto3_kms import KMSClient

COPY_INTO: Final = "backup:CopyIntoBackupVault"
FINAL_STATES: Final = ("COMPLETED", "FAILED", "PARTIAL")
RECOVERY_POINT_ARN: Final = re.compile(rf"arn:aws[a-z-]*:[a-z0-9-]+:[a-z0-9-]*:({fields.ACCOUNT_ID})?:\S+")
# The service-linked role AWS Backup acts as in the destination account (AWS Backup Developer Guide, *Using
# service-linked roles for AWS Backup*): the principal that uses the source key for a copy into that account.
BACKUP_SERVICE_LINKED_ROLE: Final = "role/aws-service-role/backup.amazonaws.com/AWSServiceRoleForBackup"


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool | None  # None: could not be checked (says why)
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return {"check": self.name, "ok": self.ok, "detail": self.detail}


@dataclass(frozen=True)
class RecoveryPlan:
    recovery_point_arn: str
    source_vault_arn: str
    destination_vault_arn: str
    role_arn: str
    source_region: str
    region: str
    to_account: str
    resource_arn: str | None = None
    resource_type: str | None = None
    checks: tuple[Check, ...] = field(default=())

    @property
    def ready(self) -> bool:
        """No check failed (an unchecked precondition does not block; the copy job would say)."""
        return all(check.ok is not False for check in self.checks)

    def as_dict(self) -> dict[str, Any]:
        return {
            "recovery_point_arn": self.recovery_point_arn,
            "source_vault_arn": self.source_vault_arn,
            "destination_vault_arn": self.destination_vault_arn,
            "role_arn": self.role_arn,
            "region": self.region,
            "to_account": self.to_account,
            "resource_arn": self.resource_arn,
            "resource_type": self.resource_type,
            "checks": [check.as_dict() for check in self.checks],
            "ready": self.ready,
        }


@dataclass(frozen=True)
class Layout:
    """Where things are: from the deployment (names are the baselines' parameters)."""

    partition: str
    central_account_id: str
    central_vault_name: str
    central_backup_role_name: str
    member_vault_name: str
    backup_regions: tuple[str, ...]

    def vault_arn(self, region: str, account_id: str, name: str) -> str:
        return f"arn:{self.partition}:backup:{region}:{account_id}:backup-vault:{name}"

    @property
    def role_arn(self) -> str:
        return f"arn:{self.partition}:iam::{self.central_account_id}:role/{self.central_backup_role_name}"


def _error_text(error: ClientError) -> str:
    details = error.response.get("Error", {})
    return f"{details.get('Code', 'Error')}: {details.get('Message', '')}".strip()


@dataclass
class AccountReader:
    """IAM and KMS reads in the central account (and Organizations' ID of the organization), through the IAM and
    KMS adapters. Without a client, a read answers None: not checked."""

    iam: "IAMClient | None" = None
    kms: "KMSClient | None" = None
    organization_id: str | None = None

    def role_trust(self, role_name: str) -> dict[str, Any] | None:
        """The role's trust policy; {} when the role does not exist."""
        if self.iam is None:
            return None
        trust = iam.role_trust_policy(self.iam, role_name)
        return {} if trust is None else trust

    def key_policy(self, key_arn: str) -> str | None:
        """The key's policy; "" when the key does not exist."""
        if self.kms is None:
            return None
        policy = kms.key_policy(self.kms, key_arn)
        return "" if policy is None else policy


def parse_request(recovery_point_arn: str, to_account: str, region: str | None, layout: Layout) -> tuple[str, str]:
    """(source Region, destination Region) of a recovery request; InvalidInputError naming the bad argument."""
    if not RECOVERY_POINT_ARN.fullmatch(recovery_point_arn):
        raise InvalidInputError(f"--recovery-point: {recovery_point_arn!r} is not a recovery point ARN")
    if not re.fullmatch(fields.ACCOUNT_ID, to_account):
        raise InvalidInputError(f"--to-account: {to_account!r} is not a 12-digit account ID")
    if to_account == layout.central_account_id:
        raise InvalidInputError(f"--to-account: {to_account} is the central backup account itself")
    arn_region = recovery_point_arn.split(":")[3]
    if region is not None and not re.fullmatch(fields.REGION, region):
        raise InvalidInputError(f"--region: {region!r} is not a Region name like eu-west-1")
    source_region = arn_region or region
    if not source_region:
        raise InvalidInputError("--region: the recovery point ARN names no Region; give the central vault's Region")
    if source_region not in layout.backup_regions:
        raise InvalidInputError(
            f"the recovery point is in {source_region}, not one of the backup Regions "
            f"({', '.join(layout.backup_regions)})"
        )
    destination = region or source_region
    if destination not in layout.backup_regions:
        raise InvalidInputError(f"--region: {destination} is not a backup Region ({', '.join(layout.backup_regions)})")
    return source_region, destination


def plan_recovery(
    recovery_point_arn: str,
    to_account: str,
    region: str | None,
    layout: Layout,
    central: BackupCopies,
    reader: AccountReader,
    member: BackupCopies | None = None,
    rules: RuleBook | None = None,
) -> RecoveryPlan:
    """The copy to make and every precondition, checked (``member``: a Backup client in the member account and
    destination Region, when the caller has one; without it the member-side checks say they were not made)."""
    rules = rules or load_rule_book()
    source_region, destination_region = parse_request(recovery_point_arn, to_account, region, layout)
    source_vault = layout.vault_arn(source_region, layout.central_account_id, layout.central_vault_name)
    destination_vault = layout.vault_arn(destination_region, to_account, layout.member_vault_name)
    checks: list[Check] = []
    point: dict[str, Any] = {}
    try:
        point = central.describe_recovery_point(layout.central_vault_name, recovery_point_arn)
        status = point.get("Status")
        checks.append(
            Check(
                "recovery point",
                status in ("COMPLETED", "AVAILABLE"),
                f"{point.get('ResourceType')} of {point.get('ResourceArn')} in {source_vault}, status {status}",
            )
        )
    except ClientError as error:
        checks.append(Check("recovery point", False, f"not readable in {source_vault}: {_error_text(error)}"))
    checks.append(_role_check(layout, reader))
    resource_type = point.get("ResourceType")
    checks.append(_rule_check(rules, resource_type, to_account, source_region != destination_region))
    checks.extend(_member_checks(layout, member, to_account, destination_region, reader))
    checks.append(_key_check(point.get("EncryptionKeyArn"), to_account, source_region, reader))
    return RecoveryPlan(
        recovery_point_arn=recovery_point_arn,
        source_vault_arn=source_vault,
        destination_vault_arn=destination_vault,
        role_arn=layout.role_arn,
        source_region=source_region,
        region=destination_region,
        to_account=to_account,
        resource_arn=point.get("ResourceArn"),
        resource_type=resource_type,
        checks=tuple(checks),
    )


def _role_check(layout: Layout, reader: AccountReader) -> Check:
    trust = reader.role_trust(layout.central_backup_role_name)
    if trust is None:
        return Check("central backup role", None, f"{layout.role_arn}: not checked (no IAM access)")
    if not trust:
        return Check("central backup role", False, f"{layout.role_arn} does not exist: deploy the central baseline")
    trusted = any(
        statement.get("Effect") == "Allow"
        and "backup.amazonaws.com" in str((statement.get("Principal") or {}).get("Service", ""))
        for statement in trust.get("Statement", [])
        if isinstance(statement, dict)
    )
    return Check(
        "central backup role",
        trusted,
        f"{layout.role_arn} {'is' if trusted else 'is NOT'} assumable by AWS Backup (backup.amazonaws.com)",
    )


def _rule_check(rules: RuleBook, resource_type: str | None, to_account: str, cross_region: bool) -> Check:
    if not resource_type:
        return Check("copy rules", None, "resource type unknown (the recovery point could not be read)")
    if resource_type not in rules.types:
        return Check("copy rules", None, f"{resource_type}: not in copy_rules.json")
    verdict = rules.judge_copy(resource_type, cross_account=True, cross_region=cross_region, target_account=to_account)
    if verdict.status == "refused":
        return Check("copy rules", False, "; ".join(f"{r.text} ({r.source})" for r in verdict.reasons))
    hop = "cross-account and cross-Region" if cross_region else "cross-account, same Region"
    return Check("copy rules", True, f"{resource_type}: AWS Backup copies it {hop}")


def _member_checks(
    layout: Layout, member: BackupCopies | None, to_account: str, region: str, reader: AccountReader
) -> list[Check]:
    vault_arn = layout.vault_arn(region, to_account, layout.member_vault_name)
    if member is None:
        note = "not checked: needs credentials in the member account (the member baseline's vault policy allows it)"
        return [Check("member vault", None, f"{vault_arn}: {note}"), Check("member vault policy", None, note)]
    try:
        member.describe_vault(layout.member_vault_name)
    except ClientError as error:
        return [
            Check("member vault", False, f"{vault_arn}: {_error_text(error)}: onboard the account first"),
            Check("member vault policy", False, "no vault"),
        ]
    policy = member.vault_access_policy(layout.member_vault_name)
    caller = Principal(layout.central_account_id, layout.role_arn, region, reader.organization_id)
    allowed, why = policy_allows(policy, COPY_INTO, caller)
    return [
        Check("member vault", True, f"{vault_arn} exists"),
        Check(
            "member vault policy",
            allowed,
            f"{COPY_INTO} from the central account {layout.central_account_id}: {why}",
        ),
    ]


def _key_check(key_arn: str | None, to_account: str, region: str, reader: AccountReader) -> Check:
    if not key_arn:
        return Check("recovery point key", None, "no key reported for the recovery point")
    if ":alias/aws/" in key_arn:
        return Check("recovery point key", False, f"{key_arn} is an AWS managed key: it cannot be shared")
    policy = reader.key_policy(key_arn)
    if policy is None:
        return Check("recovery point key", None, f"{key_arn}: not checked (no KMS access)")
    if not policy:
        return Check("recovery point key", False, f"{key_arn} does not exist (KMS NotFoundException)")
    user = Principal(
        to_account, f"arn:aws:iam::{to_account}:{BACKUP_SERVICE_LINKED_ROLE}", region, reader.organization_id
    )
    for action in ("kms:Decrypt", "kms:CreateGrant"):
        allowed, why = policy_allows(policy, action, user)
        if not allowed:
            return Check("recovery point key", False, f"{key_arn}: {action} for account {to_account}: {why}")
    return Check("recovery point key", True, f"{key_arn} lets account {to_account} decrypt and create grants")


@dataclass(frozen=True)
class CopyResult:
    job_id: str
    state: str
    destination_recovery_point_arn: str | None
    status_message: str | None
    polls: int


def copy_back(
    plan: RecoveryPlan,
    central: BackupCopies,
    *,
    central_vault_name: str,
    on_progress: Callable[[dict[str, Any], int], None] | None = None,
    poll_seconds: float = 10.0,
    max_polls: int = 360,
    sleep: Callable[[float], None] = time.sleep,
) -> CopyResult:
    """Start the copy job and wait for it (at most ``max_polls`` reads, ``poll_seconds`` apart)."""
    job_id = central.start_copy_job(
        plan.recovery_point_arn, central_vault_name, plan.destination_vault_arn, plan.role_arn
    )
    job: dict[str, Any] = {"State": "CREATED"}
    for poll in range(1, max_polls + 1):
        job = central.describe_copy_job(job_id)
        if on_progress:
            on_progress(job, poll)
        if job.get("State") in FINAL_STATES:
            return CopyResult(
                job_id, str(job["State"]), job.get("DestinationRecoveryPointArn"), job.get("StatusMessage"), poll
            )
        if poll < max_polls:
            sleep(poll_seconds)
    return CopyResult(
        job_id, str(job.get("State")), None, f"still {job.get('State')} after {max_polls} reads", max_polls
    )
