"""InspectBaseline: per account and Region, what the StackSet operations did; failures are kept for the report."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from orgbackup import aws, onboarding
from orgbackup.observability import logger, metrics
from orgbackup.settings import Settings
from orgbackup.settings_loader import from_environment
from orgbackup.workflow_state import WorkflowState


@metrics.log_metrics
@logger.inject_lambda_context(correlation_id_path="execution")
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> WorkflowState:
    state = onboarding.inspect_baseline(event, from_environment(Settings), aws.client("cloudformation"))
    metrics.add_metric(name="AccountsOnboarded", unit="Count", value=len(state["baseline"]["onboarded"]))
    metrics.add_metric(name="AccountsFailed", unit="Count", value=len(state["baseline"]["failed"]))
    return state
