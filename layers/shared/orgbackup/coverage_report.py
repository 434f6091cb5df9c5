"""The CoverageReport function's work: read the organization's protection through the adapters, build the report
(``coverage``, pure), write it as JSON and HTML to the report bucket, and tell people only when it got worse.

Reads, all from the management account (home Region for Organizations and StackSets, each backup Region for AWS
Backup): the in-scope active accounts (``accounts``), their member baseline instances (``baseline``), each account's
effective backup policy (``orgbackup.aws.organizations``) and the jobs of the last week (``backup_jobs``). The
central backup account is not a cell: it holds copies, it has no backup policy of its own.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

from orgbackup import accounts, backup_jobs, baseline, coverage, coverage_html, fields
from orgbackup.aws.organizations import Organizations
from orgbackup.aws.sns import publish
from orgbackup.observability import logger
from orgbackup.report_store import ReportStore
from orgbackup.settings import Settings
from orgbackup.settings_loader import pattern

if TYPE_CHECKING:
    from mypy_boto3_backup import BackupClient
    from mypy_boto3_cloudformation import CloudFormationClient
    from mypy_boto3_organizations import OrganizationsClient
    from mypy_boto3_sns import SNSClient

# The CloudWatch metrics the function emits (namespace OrgBackup, dimension service=orgbackup); the dashboard in
# template.yaml charts them by these names.
METRIC_NAMES: Final = {"protected": "CellsProtected", "at_risk": "CellsAtRisk", "silent": "CellsSilent"}
WORSENED_METRIC: Final = "CellsWorsened"

# S3 bucket names: 3-63 lowercase letters, digits, dots and hyphens
# (https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html).
BUCKET_NAME: Final = r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]"


@dataclass(frozen=True)
class CoverageSettings:
    """The CoverageReport function's own environment, read at handler entry."""

    report_bucket_name: str = pattern(BUCKET_NAME, why="must be an S3 bucket name")
    notification_topic_arn: str = pattern(fields.SNS_TOPIC_ARN, why="must be an SNS topic ARN")
    report_prefix: str = pattern(r"([\w.-]+/)*", default="coverage/", why="must be empty or end with /")


def scope_of(settings: Settings) -> coverage.Scope:
    return coverage.Scope(
        organization_id=settings.organization_id,
        management_account_id=settings.management_account_id,
        central_backup_account_id=settings.central_backup_account_id,
        central_vault_name=settings.central_vault_name,
        regions=settings.backup_regions,
        partition=settings.partition,
        member_vault_name=settings.member_vault_name,
    )


def gather(
    settings: Settings,
    organizations: "Organizations | OrganizationsClient",
    cfn: "CloudFormationClient",
    backup_clients: Mapping[str, "BackupClient"],
    now: datetime,
) -> coverage.Inputs:
    # One adapter for the run: the parents learned walking the scope serve every later lookup.
    view = Organizations.of(organizations)
    refs = accounts.list_in_scope_active_accounts(view, settings)
    policies: dict[str, Mapping[str, coverage.RegionPolicy] | None] = {}
    for ref in refs:
        content = view.effective_backup_policy(ref.account_id)
        policies[ref.account_id] = None if content is None else coverage.region_policies(content)
    return coverage.Inputs(
        accounts=[coverage.Account(ref.account_id, ref.name or ref.account_id) for ref in refs],
        instances=baseline.instance_states(cfn, settings.member_stackset_name),
        policies=policies,
        jobs=backup_jobs.list_jobs(backup_clients, [ref.account_id for ref in refs], now, since=coverage.WEEK),
        now=now,
    )


def produce(settings: Settings, inputs: coverage.Inputs) -> tuple[dict[str, Any], str]:
    """The report's JSON form and its HTML page."""
    document = coverage.build_report(inputs, scope_of(settings)).to_dict()
    return document, coverage_html.render(document)


def run(
    settings: Settings,
    own: CoverageSettings,
    *,
    organizations: "OrganizationsClient",
    cfn: "CloudFormationClient",
    backup_clients: Mapping[str, "BackupClient"],
    store: ReportStore,
    sns: "SNSClient",
    now: datetime,
) -> dict[str, Any]:
    """One report: gather, build, compare with the previous one, save, and publish only what got worse."""
    document, page = produce(settings, gather(settings, organizations, cfn, backup_clients, now))
    previous = store.previous()
    changes = coverage.worsened(previous, document)
    keys = store.save(now.strftime("%Y-%m-%dT%H%M%SZ"), document, page)
    message_id = None
    if changes:
        subject, message = coverage.notification(changes, document, store.location(keys["html"]))
        message_id = publish(sns, own.notification_topic_arn, subject, message)
    result = {
        "totals": document["totals"],
        "worsened": [f"{change.account_id}/{change.region}" for change in changes],
        "keys": keys,
        "message_id": message_id,
    }
    logger.info("coverage report written", extra=result)
    return result
