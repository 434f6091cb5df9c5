"""Report: the subject and message of the run's notification (or of its failure)."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from orgbackup.observability import logger, metrics
from orgbackup.report import build_report
from orgbackup.workflow_state import WorkflowState, check_state


@metrics.log_metrics
@logger.inject_lambda_context(correlation_id_path="execution")
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> WorkflowState:
    state = build_report(check_state(event))
    metrics.add_metric(name="OnboardingRuns", unit="Count", value=1)
    return state
