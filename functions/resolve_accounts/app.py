"""Resolve: parse the workflow input, look every account up, classify it (onboard, skipped, invalid)."""

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
    settings = from_environment(Settings)
    raw_input, execution = onboarding.resolve_request(event)
    state = onboarding.resolve(
        raw_input,
        execution,
        settings,
        aws.client("organizations"),
        aws.client("cloudformation"),
        chunk=onboarding.request_chunk(event),
        failed_earlier=onboarding.request_failed_earlier(event),
    )
    metrics.add_metric(name="AccountsToOnboard", unit="Count", value=state["resolution"]["counts"]["to_onboard"])
    return state
