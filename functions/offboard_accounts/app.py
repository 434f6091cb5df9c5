"""Offboard: accounts that left the scope lose the product's policy attachments and their member StackSet
instances (stacks retained unless the deployment says delete); decided from the organization as it is now."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from orgbackup import aws, changes
from orgbackup.changes import OffboardingSettings
from orgbackup.observability import logger, metrics
from orgbackup.policies.parameters import PolicyParameters
from orgbackup.settings import Settings
from orgbackup.settings_loader import from_environment
from orgbackup.workflow_state import WorkflowState


@metrics.log_metrics
@logger.inject_lambda_context(correlation_id_path="execution")
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> WorkflowState:
    settings, params = from_environment(Settings), from_environment(PolicyParameters)
    state = changes.offboard(
        event,
        settings,
        from_environment(OffboardingSettings),
        params.policy_name_prefix,
        aws.client("organizations"),
        aws.client("cloudformation"),
    )
    metrics.add_metric(name="AccountsOffboarding", unit="Count", value=len(state["offboarding"]["departures"]))
    return state
