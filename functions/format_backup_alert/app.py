"""FormatBackupAlert: one AWS Backup job failure (backup, copy or restore) as a message a person can act on,
published to the notification topic.

Invoked asynchronously by the alert rules on the alerts event bus. Every failure raises: after Lambda's retries the
OnFailure destination (the same topic) receives the invocation record with the raw event, so no failure is lost.
"""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from orgbackup import alerts, aws
from orgbackup.alerts import AlertSettings
from orgbackup.observability import logger, metrics
from orgbackup.settings_loader import from_environment


@metrics.log_metrics
@logger.inject_lambda_context(correlation_id_path="id")
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, str]:
    settings = from_environment(AlertSettings)
    result = alerts.send_alert(
        event,
        alerts.process_account_names(lambda: aws.client("organizations")),
        aws.client("sns"),
        settings.notification_topic_arn,
    )
    metrics.add_metric(name="BackupAlertsPublished", unit="Count", value=1)
    return result
