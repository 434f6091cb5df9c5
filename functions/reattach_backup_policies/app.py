"""ReattachBackupPolicies: converge the organization's backup policies now that new accounts have their vault
and role (a policy must not name a role or vault an account lacks)."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from orgbackup import aws, onboarding
from orgbackup.observability import logger, metrics
from orgbackup.policies.parameters import PolicyParameters
from orgbackup.settings import Settings
from orgbackup.settings_loader import from_environment
from orgbackup.workflow_state import WorkflowState


@metrics.log_metrics
@logger.inject_lambda_context(correlation_id_path="execution")
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> WorkflowState:
    settings, params = from_environment(Settings), from_environment(PolicyParameters)
    state = onboarding.reattach_backup_policies(
        event, settings, params, aws.client("organizations"), aws.client("cloudformation")
    )
    metrics.add_metric(name="PolicyAttachments", unit="Count", value=state["backup_policies"]["attached_count"])
    return state
