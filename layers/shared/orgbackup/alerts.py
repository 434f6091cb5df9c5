"""AWS Backup job failures as a message a person can act on: typed models of the three job events, the formatter,
the account-name cache and the publisher the FormatBackupAlert function runs.

The events are those of the AWS Backup Developer Guide, "Monitoring AWS Backup events using Amazon EventBridge"
(https://docs.aws.amazon.com/aws-backup/latest/devguide/eventbridge.html), whose examples are kept verbatim in
``tests/unit/data/backup_events_aws/``. What those examples show, and this module therefore accepts:

- ``Backup Job State Change`` and ``Copy Job State Change`` report ``detail.state``; ``Restore Job State Change``
  reports ``detail.status`` (except the guide's CREATED restore example, which says ``state``: accepted as well);
- numbers arrive as JSON numbers or as strings (``"backupSizeInBytes": "36048"`` next to ``22548578304``);
- a copy job that has no destination yet reports ``"destinationRecoveryPointArn": {}`` (read as absent);
- status messages may carry literal quotes (``"\\"Backup job was stopped by user.\\""``), shown without them;
- the guide's ``account`` is 13 digits (``1112233445566``): any string of digits is accepted, and only 12-digit IDs
  are looked up in Organizations;
- ``completionDate`` may be missing from a FAILED event: the event's ``time`` stands in as the failure time.

Which events reach the formatter is decided by the EventBridge rules in ``template.yaml`` (``orgbackup alerts check``
evaluates them); this module never repeats their patterns. Anything it cannot format raises: the function then
fails, and once Lambda's asynchronous retries run out its OnFailure destination (the same SNS topic) receives the
invocation record with the raw event, so a failure is never lost.
"""

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar, Final, Literal
from urllib.parse import quote

from botocore.exceptions import ClientError

from orgbackup import fields, retry, text
from orgbackup.aws.organizations import Organizations
from orgbackup.aws.sns import publish
from orgbackup.exceptions import InvalidInputError
from orgbackup.fields import Fields, got, show
from orgbackup.observability import logger
from orgbackup.retry import Backoff
from orgbackup.settings_loader import pattern

if TYPE_CHECKING:
    from mypy_boto3_organizations import OrganizationsClient
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_sns.type_defs import MessageAttributeValueTypeDef

JobKind = Literal["backup", "copy", "restore"]

SOURCE: Final = "aws.backup"
DETAIL_TYPES: Final[Mapping[str, JobKind]] = {
    "Backup Job State Change": "backup",
    "Copy Job State Change": "copy",
    "Restore Job State Change": "restore",
}
UNKNOWN_ACCOUNT: Final = "unknown account"
NOT_IN_EVENT: Final = "(not in the event)"
# The guide's example accounts have 13 digits: any string of digits is an account here (see the module docstring).
DIGITS: Final = r"[0-9]+"
# A status message is quoted in full up to this length; SNS messages may be 256 KB, people read far less.
MAX_STATUS_MESSAGE_CHARS: Final = 4000

# The console's sign-in domain per partition.
CONSOLE_DOMAINS: Final[Mapping[str, str]] = {
    "aws": "console.aws.amazon.com",
    "aws-us-gov": "console.amazonaws-us-gov.com",
    "aws-cn": "console.amazonaws.cn",
}
# Region prefixes outside the commercial partition, for events that carry no ARN to read the partition from.
REGION_PARTITIONS: Final = (
    ("cn-", "aws-cn"),
    ("us-gov-", "aws-us-gov"),
    ("us-isob-", "aws-iso-b"),
    ("us-iso-", "aws-iso"),
)
# AWS Backup console routes (hash paths of https://<console>/backup/home?region=<region>). The copy and restore job
# detail paths are the ones third-party inventory tools link to (e.g. fixinventory's AwsBackupCopyJob and
# AwsBackupRestoreJob "provider_link_tpl"); the restore job list path is linked the same way elsewhere. No source
# confirmed a backup job detail path, so backup alerts link the backup job list and name the job ID to look for.
CONSOLE_JOB_DETAILS: Final[Mapping[JobKind, str]] = {
    "copy": "#/jobs/copy/details/",
    "restore": "#/jobs/restore/details/",
}
CONSOLE_JOB_LISTS: Final[Mapping[JobKind, str]] = {
    "backup": "#/jobs/backup",
    "copy": "#/jobs/copy",
    "restore": "#/jobs/restore",
}
# Organizations answers these for an account it does not know or will not describe to this role.
UNKNOWN_ACCOUNT_CODES: Final = frozenset(
    {"AccountNotFoundException", "AccessDeniedException", "AccessDenied", "AWSOrganizationsNotInUseException"}
)


# ---------------------------------------------------------------------------------------------------------------
# Models


@dataclass(frozen=True, slots=True, kw_only=True)
class JobEvent:
    """What the three job events share. ``state`` is ``detail.state`` (backup and copy jobs) or ``detail.status``
    (restore jobs); ``job_id`` is ``backupJobId``, ``copyJobId`` or ``restoreJobId`` (absent from the guide's CREATED
    copy example, so optional)."""

    kind: ClassVar[JobKind]
    state_field: ClassVar[str] = "state"

    event_id: str | None
    account_id: str
    region: str
    event_time: datetime | None
    job_id: str | None
    state: str
    status_message: str | None
    resource_type: str | None
    iam_role_arn: str | None
    creation_date: datetime | None
    completion_date: datetime | None
    backup_size_in_bytes: int | None
    percent_done: float | None
    backup_plan_id: str | None
    backup_plan_arn: str | None
    resources: tuple[str, ...] = ()

    @property
    def completed_with_issues(self) -> bool:
        """The console's "Completed with issues": a COMPLETED backup job with a status message (same guide)."""
        return False

    @property
    def arns(self) -> tuple[str | None, ...]:
        return (self.iam_role_arn, self.backup_plan_arn)

    @property
    def partition(self) -> str:
        """From the first ARN in the event; else from the Region's name."""
        for arn in self.arns:
            match = re.match(fields.ARN_PARTITION, arn or "")
            if match:
                return match.group(1)
        return next((name for prefix, name in REGION_PARTITIONS if self.region.startswith(prefix)), "aws")


@dataclass(frozen=True, slots=True, kw_only=True)
class BackupJobEvent(JobEvent):
    """``Backup Job State Change``."""

    kind: ClassVar[JobKind] = "backup"

    resource_arn: str | None
    backup_vault_name: str | None
    backup_vault_arn: str | None
    recovery_point_arn: str | None
    bytes_transferred: int | None
    start_by: datetime | None

    @property
    def completed_with_issues(self) -> bool:
        return self.state == "COMPLETED" and self.status_message is not None

    @property
    def arns(self) -> tuple[str | None, ...]:
        return (self.resource_arn, self.backup_vault_arn, self.recovery_point_arn, self.iam_role_arn)


@dataclass(frozen=True, slots=True, kw_only=True)
class CopyJobEvent(JobEvent):
    """``Copy Job State Change``."""

    kind: ClassVar[JobKind] = "copy"

    resource_arn: str | None
    source_backup_vault_arn: str | None
    destination_backup_vault_arn: str | None
    source_recovery_point_arn: str | None
    destination_recovery_point_arn: str | None

    @property
    def arns(self) -> tuple[str | None, ...]:
        return (self.resource_arn, self.source_backup_vault_arn, self.destination_backup_vault_arn, self.iam_role_arn)


@dataclass(frozen=True, slots=True, kw_only=True)
class RestoreJobEvent(JobEvent):
    """``Restore Job State Change`` (its state is ``detail.status``)."""

    kind: ClassVar[JobKind] = "restore"
    state_field: ClassVar[str] = "status"

    created_resource_arn: str | None
    source_resource_arn: str | None
    recovery_point_arn: str | None
    backup_vault_arn: str | None
    restore_testing_plan_arn: str | None

    @property
    def arns(self) -> tuple[str | None, ...]:
        return (
            self.created_resource_arn,
            self.source_resource_arn,
            self.recovery_point_arn,
            self.backup_vault_arn,
            self.iam_role_arn,
        )


AnyJobEvent = BackupJobEvent | CopyJobEvent | RestoreJobEvent


@dataclass(frozen=True, slots=True)
class Alert:
    """One SNS message: ``subject`` fits SNS's rule (under 100 printable ASCII characters, one line)."""

    subject: str
    message: str


@dataclass(frozen=True)
class AlertSettings:
    """The FormatBackupAlert function's environment, read at handler entry."""

    notification_topic_arn: str = pattern(fields.SNS_TOPIC_ARN, why="must be an SNS topic ARN")


# ---------------------------------------------------------------------------------------------------------------
# Parsing: every error names the field path, the value and the rule


def _common(event: Fields, detail: Fields, kind: JobKind) -> dict[str, Any]:
    account_id = event.required_string("account", "the account the job ran in")
    if not re.fullmatch(DIGITS, account_id):
        raise event.fail("account", f"{show(account_id)} is not an AWS account ID (digits only)")
    region = event.required_string("region", "the Region the job ran in")
    if not re.fullmatch(fields.REGION, region):
        raise event.fail("region", f"{show(region)} is not a Region name like us-east-1")
    id_key = f"{kind}JobId"
    if kind == "restore":
        # Restore events report `status`; the guide's own CREATED restore example says `state`.
        key = "status" if "status" in detail.data or "state" not in detail.data else "state"
        state = detail.required_string(key, "restore job events report their status in detail.status")
    else:
        state = detail.required_string("state", f"{kind} job events report their state in detail.state")
    created_by = detail.nested("createdBy")
    return {
        "event_id": event.string("id"),
        "account_id": account_id,
        "region": region,
        "event_time": event.timestamp("time"),
        "job_id": detail.string(id_key) or None,
        "state": state.strip().upper(),
        "status_message": detail.string("statusMessage"),
        "resource_type": detail.string("resourceType") or None,
        "iam_role_arn": detail.arn("iamRoleArn"),
        "creation_date": detail.timestamp("creationDate"),
        "completion_date": detail.timestamp("completionDate"),
        "backup_size_in_bytes": detail.whole_number("backupSizeInBytes"),
        "percent_done": detail.number("percentDone"),
        "backup_plan_id": created_by.string("backupPlanId"),
        "backup_plan_arn": created_by.arn("backupPlanArn"),
        "resources": event.string_list("resources", "ARN strings"),
    }


def parse_job_event(event: object) -> AnyJobEvent:
    """A backup, copy or restore job event as its typed model; raises InvalidInputError naming the field, the
    value and the rule. Optional fields may be missing; present ones must have the documented type."""
    if not isinstance(event, dict):
        raise InvalidInputError(f"event: must be an object (an EventBridge event), got {got(event)}")
    event_fields = Fields(event)
    source = event_fields.required_string("source")
    if source != SOURCE:
        raise event_fields.fail("source", f"{show(source)} is not {SOURCE!r}: not an AWS Backup event")
    detail_type = event_fields.required_string("detail-type")
    kind = DETAIL_TYPES.get(detail_type)
    if kind is None:
        expected = ", ".join(repr(name) for name in DETAIL_TYPES)
        raise event_fields.fail("detail-type", f"{show(detail_type)} is not a job event ({expected})")
    detail = event_fields.object("detail")
    common = _common(event_fields, detail, kind)
    if kind == "backup":
        return BackupJobEvent(
            **common,
            resource_arn=detail.arn("resourceArn"),
            backup_vault_name=detail.string("backupVaultName") or None,
            backup_vault_arn=detail.arn("backupVaultArn"),
            recovery_point_arn=detail.arn("recoveryPointArn"),
            bytes_transferred=detail.whole_number("bytesTransferred"),
            start_by=detail.timestamp("startBy"),
        )
    if kind == "copy":
        return CopyJobEvent(
            **common,
            resource_arn=detail.arn("resourceArn"),
            source_backup_vault_arn=detail.arn("sourceBackupVaultArn"),
            destination_backup_vault_arn=detail.arn("destinationBackupVaultArn"),
            source_recovery_point_arn=detail.arn("sourceRecoveryPointArn"),
            destination_recovery_point_arn=detail.arn("destinationRecoveryPointArn"),
        )
    return RestoreJobEvent(
        **common,
        created_resource_arn=detail.arn("createdResourceArn"),
        source_resource_arn=detail.arn("sourceResourceArn"),
        recovery_point_arn=detail.arn("recoveryPointArn"),
        backup_vault_arn=detail.arn("backupVaultArn"),
        restore_testing_plan_arn=detail.arn("restoreTestingPlanArn"),
    )


# ---------------------------------------------------------------------------------------------------------------
# Account names


class AccountNames:
    """Account ID -> account name through the Organizations adapter's ``describe_account``, each account
    looked up at most once per instance. An account Organizations does not know, or will not describe, is
    ``UNKNOWN_ACCOUNT``; any other error propagates (the alert then fails and its raw event is delivered)."""

    def __init__(self, organizations: "Organizations | OrganizationsClient", backoff: Backoff | None = None) -> None:
        self.organizations = Organizations.of(organizations, backoff)
        self.names: dict[str, str] = {}
        self.lookups = 0

    def __call__(self, account_id: str) -> str:
        if account_id not in self.names:
            self.names[account_id] = self._look_up(account_id)
        return self.names[account_id]

    def _look_up(self, account_id: str) -> str:
        if not fields.is_account_id(account_id):
            # Not a 12-digit ID (the guide's examples use 13 digits): Organizations would reject the request.
            return UNKNOWN_ACCOUNT
        self.lookups += 1
        try:
            account = self.organizations.describe_account(account_id)
        except ClientError as error:
            code = retry.error_code(error)
            if code not in UNKNOWN_ACCOUNT_CODES:
                raise
            logger.warning("account name unknown", extra={"account_id": account_id, "code": code})
            return UNKNOWN_ACCOUNT
        if account is None:
            logger.warning("account name unknown", extra={"account_id": account_id, "code": "AccountNotFoundException"})
            return UNKNOWN_ACCOUNT
        return account.get("Name") or UNKNOWN_ACCOUNT


# One AccountNames per process: a warm Lambda container formats many alerts and looks each account up once.
_process_names: list[AccountNames] = []


def process_account_names(make_client: Callable[[], "OrganizationsClient"]) -> AccountNames:
    """The process-wide AccountNames, created with ``make_client()`` on first use."""
    if not _process_names:
        _process_names.append(AccountNames(make_client()))
    return _process_names[0]


def reset_process_account_names() -> None:
    """Forget the process-wide cache (tests; a long-lived process that wants fresh names)."""
    _process_names.clear()


# ---------------------------------------------------------------------------------------------------------------
# Formatting


def iso(moment: datetime) -> str:
    """UTC ISO 8601 with a Z, milliseconds only when the source had sub-second precision."""
    moment = moment.astimezone(UTC)
    text = moment.isoformat(timespec="milliseconds" if moment.microsecond else "seconds")
    return text.replace("+00:00", "Z")


def _size(size: int) -> str:
    value = float(size)
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{size:,} bytes" if unit == "bytes" else f"{size:,} bytes ({value:.1f} {unit})"
        value /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


def _vault(name: str | None, arn: str | None) -> str:
    """``name (arn)``; copy events carry only ARNs, whose last part is the vault name."""
    if name is None and arn and ":backup-vault:" in arn:
        name = arn.split(":backup-vault:", 1)[1]
    if name and arn:
        return f"{name} ({arn})"
    return name or arn or NOT_IN_EVENT


def _arn_account(arn: str | None) -> str | None:
    parts = (arn or "").split(":")
    return parts[4] if len(parts) > 5 and parts[4] else None


def clean_status_message(message: str) -> str:
    """AWS sometimes wraps the message in literal double quotes; long ones are cut."""
    text = message.strip()
    if len(text) >= 2 and text.startswith('"') and text.endswith('"'):
        text = text[1:-1].strip()
    if len(text) > MAX_STATUS_MESSAGE_CHARS:
        text = f"{text[:MAX_STATUS_MESSAGE_CHARS]}... ({len(text)} characters)"
    return text


def console_url(kind: JobKind, job_id: str | None, region: str, partition: str) -> tuple[str | None, str]:
    """The AWS Backup console page for the job, and what it shows; (None, why) for a partition without a
    known console domain."""
    domain = CONSOLE_DOMAINS.get(partition)
    if domain is None:
        return None, f"no console link: no known console domain for partition {partition!r}"
    base = f"https://{domain}/backup/home?region={quote(region, safe='')}"
    detail_path = CONSOLE_JOB_DETAILS.get(kind)
    if job_id and detail_path:
        return f"{base}{detail_path}{quote(job_id, safe='')}", "job details"
    what = f"{kind} jobs in {region}"
    return f"{base}{CONSOLE_JOB_LISTS[kind]}", f"{what}; look for job ID {job_id}" if job_id else what


def status_label(job: JobEvent) -> str:
    return "COMPLETED WITH ISSUES" if job.completed_with_issues else job.state


def _outcome_label(job: JobEvent) -> str:
    """The label of the ``completionDate`` line: when it failed (or ended)."""
    labels = {"FAILED": "Failed", "ABORTED": "Aborted", "EXPIRED": "Expired", "COMPLETED": "Completed"}
    return labels.get(job.state, "Ended")


NEXT_STEPS: Final[Mapping[tuple[JobKind, str], str]] = {
    ("backup", "FAILED"): (
        "Read the status message and fix its cause (usually the backup role's permissions, the vault or its KMS key, "
        "or the resource's own state), then start an on-demand backup of the resource or let the next scheduled "
        "run take it."
    ),
    ("backup", "ABORTED"): (
        "The job was stopped before it finished: by a person, or by AWS Backup when the rule's completion window "
        "ran out. If nobody stopped it, lengthen complete_backup_window_minutes in the backup policy, then start an "
        "on-demand backup so the resource is not left without a recent recovery point."
    ),
    ("backup", "EXPIRED"): (
        "The job did not start within the rule's start window (often another job for the same resource was still "
        "running). Check for overlapping schedules or lengthen start_backup_window_minutes in the backup policy, "
        "and start an on-demand backup to close the gap."
    ),
    ("backup", "COMPLETED WITH ISSUES"): (
        "The recovery point was created, but AWS Backup reported an issue (for example an application-consistent "
        "snapshot that fell back to crash-consistent). Read the status message and check the recovery point in the "
        "vault before you rely on it."
    ),
    ("copy", "FAILED"): (
        "The recovery point was not copied, so it has no copy in the destination vault. For a cross-account copy, "
        "check that the destination vault's access policy admits this account and that the destination account may "
        'use the source vault\'s KMS key ("Given key ID is not accessible"); then copy the recovery point again '
        "from the source vault."
    ),
    ("restore", "FAILED"): (
        "Nothing usable was restored. Read the status message, fix the restore metadata or the role's permissions, "
        "delete any half-created resource, and start the restore again from the recovery point."
    ),
}


# A restore job started by a restore testing plan carries detail.restoreTestingPlanArn (AWS Backup Developer Guide,
# *Restore testing validation*, https://docs.aws.amazon.com/aws-backup/latest/devguide/restore-testing-validation.html):
# its failure says the recovery point may not restore, not that someone's restore went wrong.
RESTORE_TEST_FAILED: Final = (
    "A scheduled restore test could not restore this recovery point: treat the recovery point as unproven until a "
    "restore of it succeeds. Read the status message (often the restore metadata the test inferred, or the backup "
    "role's restore permissions), fix it, and start the restore test again or wait for the plan's next run; the "
    "test deletes what it restored by itself."
)


def job_name(job: JobEvent) -> str:
    """ "backup job", "copy job", "restore job", or "restore test job" for a restore testing plan's restore."""
    if isinstance(job, RestoreJobEvent) and job.restore_testing_plan_arn:
        return "restore test job"
    return f"{job.kind} job"


def next_step(job: JobEvent) -> str:
    if job_name(job) == "restore test job" and job.state == "FAILED":
        return RESTORE_TEST_FAILED
    return NEXT_STEPS.get(
        (job.kind, status_label(job)),
        f"{job.state_field} {job.state} is not a failure: nothing to do (orgbackup alerts on failures).",
    )


def _subject(job: JobEvent, account_name: str) -> str:
    """``AWS Backup: <kind> job <STATE> in <name> (<id>) <region>``, the name shortened first to fit SNS's limit."""

    def ascii_only(text: str) -> str:
        return "".join(ch if 32 <= ord(ch) < 127 else "?" for ch in text)

    head = ascii_only(f"AWS Backup: {job_name(job)} {status_label(job)} in ")
    tail = ascii_only(f" ({job.account_id}) {job.region}")
    name = ascii_only(" ".join(account_name.split()))
    room = text.SNS_SUBJECT_MAX_CHARS - len(head) - len(tail)
    if len(name) > room:
        name = name[: max(room - 3, 0)] + "..." if room >= 3 else ""
    subject = f"{head}{name}{tail}"
    return subject if len(subject) <= text.SNS_SUBJECT_MAX_CHARS else subject[: text.SNS_SUBJECT_MAX_CHARS - 3] + "..."


def _resource_lines(job: AnyJobEvent) -> list[tuple[str, str]]:
    resource_type = job.resource_type or NOT_IN_EVENT
    if isinstance(job, BackupJobEvent):
        lines = [
            ("Resource", f"{resource_type} {job.resource_arn or NOT_IN_EVENT}"),
            ("Vault", _vault(job.backup_vault_name, job.backup_vault_arn)),
        ]
        if job.recovery_point_arn:
            lines.append(("Recovery point", job.recovery_point_arn))
        return lines
    if isinstance(job, CopyJobEvent):
        destination = _vault(None, job.destination_backup_vault_arn)
        target_account = _arn_account(job.destination_backup_vault_arn)
        if target_account and target_account != job.account_id:
            destination = f"{destination}, account {target_account}"
        lines = [
            ("Resource", f"{resource_type} {job.resource_arn or NOT_IN_EVENT}"),
            ("From vault", _vault(None, job.source_backup_vault_arn)),
            ("To vault", destination),
        ]
        if job.source_recovery_point_arn:
            lines.append(("Recovery point", job.source_recovery_point_arn))
        if job.destination_recovery_point_arn:
            lines.append(("Copied to", job.destination_recovery_point_arn))
        return lines
    lines = [
        ("Resource", f"{resource_type} {job.source_resource_arn or '(source resource not in the event)'}"),
        ("Created resource", job.created_resource_arn or "none reported"),
        ("Recovery point", job.recovery_point_arn or NOT_IN_EVENT),
        ("Vault", _vault(None, job.backup_vault_arn)),
    ]
    if job.restore_testing_plan_arn:
        lines.append(("Restore testing plan", job.restore_testing_plan_arn))
    return lines


def _detail_lines(job: AnyJobEvent) -> list[tuple[str, str]]:
    lines: list[tuple[str, str]] = []
    if job.backup_size_in_bytes is not None:
        lines.append(("Size", _size(job.backup_size_in_bytes)))
    if isinstance(job, BackupJobEvent) and job.bytes_transferred is not None:
        lines.append(("Transferred", _size(job.bytes_transferred)))
    if job.percent_done is not None:
        lines.append(("Percent done", f"{job.percent_done:g}%"))
    if job.backup_plan_id or job.backup_plan_arn:
        lines.append(("Backup plan", job.backup_plan_arn or job.backup_plan_id or ""))
    lines.append(("IAM role", job.iam_role_arn or NOT_IN_EVENT))
    if job.resources:
        lines.append(("Event resources", ", ".join(job.resources)))
    return lines


def format_alert(event: AnyJobEvent | Mapping[str, Any], account_name_lookup: Callable[[str], str]) -> Alert:
    """The subject and message for one job event (a raw event is parsed first; InvalidInputError if malformed)."""
    job = event if isinstance(event, JobEvent) else parse_job_event(dict(event))
    # Names and event fields are untrusted text: one clean line each, so none can forge a line of the message.
    account_name = text.one_line(account_name_lookup(job.account_id))
    label = status_label(job)
    if job.completion_date is not None:
        ended = iso(job.completion_date)
    elif job.event_time is not None:
        ended = f"{iso(job.event_time)} (time of the event; it carries no completion date)"
    else:
        ended = NOT_IN_EVENT
    url, shows = console_url(job.kind, job.job_id, job.region, job.partition)

    fields: list[tuple[str, str]] = [
        ("Account", f"{account_name} ({job.account_id})"),
        ("Region", job.region),
        ("Job", f"{job_name(job)} {job.job_id or '(ID not in the event)'}"),
        (job.state_field.capitalize(), label if label == job.state else f"{label} ({job.state_field} {job.state})"),
        *_resource_lines(job),
        ("Started", iso(job.creation_date) if job.creation_date else NOT_IN_EVENT),
        (_outcome_label(job), ended),
        *_detail_lines(job),
    ]
    width = max(len(name) for name, _ in fields) + 2
    message = job.status_message
    status = NOT_IN_EVENT if message is None else clean_status_message(message) or "(empty)"
    lines = [
        text.one_line(f"AWS Backup: {job_name(job)} {label} in {account_name} ({job.account_id}), {job.region}."),
        "",
        *(f"{name + ':':<{width}}{text.one_line(value)}" for name, value in fields),
        "",
        "Status message:",
        *(f"  {line}" for line in text.lines(status) or ["(empty)"]),
        "",
        "What to do next:",
        f"  {next_step(job)}",
        "",
        f"Console ({shows}): {url}" if url else f"Console: {shows}",
    ]
    if job.event_id:
        lines.append(f"EventBridge event ID: {text.one_line(job.event_id)}")
    return Alert(subject=_subject(job, account_name), message="\n".join(lines) + "\n")


# ---------------------------------------------------------------------------------------------------------------
# Publishing


def _attributes(job: JobEvent) -> "dict[str, MessageAttributeValueTypeDef]":
    """SNS message attributes, so a subscription's filter policy can pick job types, states or accounts."""
    values = {"job_type": job.kind, "state": status_label(job), "account_id": job.account_id, "region": job.region}
    return {name: {"DataType": "String", "StringValue": value} for name, value in values.items()}


def send_alert(event: object, account_names: Callable[[str], str], sns: "SNSClient", topic_arn: str) -> dict[str, str]:
    """Format one job event and publish it to ``topic_arn``; returns the subject and SNS message ID. Raises on
    any failure, so Lambda's OnFailure destination delivers the raw event instead."""
    job = parse_job_event(event)
    alert = format_alert(job, account_names)
    message_id = publish(sns, topic_arn, alert.subject, alert.message, _attributes(job))
    logger.info(
        "alert published",
        extra={"subject": alert.subject, "message_id": message_id, "job_type": job.kind, "job_id": job.job_id},
    )
    return {"subject": alert.subject, "message_id": message_id}
