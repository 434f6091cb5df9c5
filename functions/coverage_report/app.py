"""CoverageReport: is everything protected? Runs daily (EventBridge Scheduler) and on demand (invoke it): writes
the organization's coverage report (JSON and HTML) to the report bucket, publishes to the notification topic only
when a cell became silent or at risk, and emits the counts as CloudWatch metrics (the dashboard shows them).
"""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from orgbackup import aws, coverage, coverage_report
from orgbackup.coverage_report import CoverageSettings
from orgbackup.observability import logger, metrics
from orgbackup.report_store import ReportStore
from orgbackup.settings import Settings
from orgbackup.settings_loader import from_environment


@metrics.log_metrics
@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = from_environment(Settings)
    own = from_environment(CoverageSettings)
    result = coverage_report.run(
        settings,
        own,
        organizations=aws.client("organizations"),
        cfn=aws.client("cloudformation"),
        backup_clients={region: aws.client("backup", region) for region in settings.backup_regions},
        store=ReportStore(aws.client("s3"), own.report_bucket_name, own.report_prefix),
        sns=aws.client("sns"),
        now=coverage.now_utc(),
    )
    for state, name in coverage_report.METRIC_NAMES.items():
        metrics.add_metric(name=name, unit="Count", value=result["totals"][state])
    metrics.add_metric(name=coverage_report.WORSENED_METRIC, unit="Count", value=len(result["worsened"]))
    return result
