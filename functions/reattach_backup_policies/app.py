"""ReattachBackupPolicies: converge the organization's backup policies now that new accounts have their vault
and role (a policy must not name a role or vault an account lacks)."""

import os
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from orgbackup import aws, config, onboarding
from orgbackup.observability import logger, metrics
from orgbackup.policies.parameters import PolicyParameters
from orgbackup.settings import load_settings
from orgbackup.workflow_state import WorkflowState


@metrics.log_metrics
@logger.inject_lambda_context(correlation_id_path="execution")
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> WorkflowState:
    params = config.load(PolicyParameters, os.environ)
    state = onboarding.reattach_backup_policies(
        event, load_settings(), params, aws.client("organizations"), aws.client("cloudformation")
    )
    metrics.add_metric(name="PolicyAttachments", unit="Count", value=len(state["backup_policies"]["attached"]))
    return state
