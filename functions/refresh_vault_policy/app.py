"""RefreshVaultPolicy: the central vault's access policy from the organization's protected accounts, written
through the central account's vault-policy role, only where it changed."""

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
    state = onboarding.refresh_vault_policy(
        event,
        from_environment(Settings),
        aws.client("organizations"),
        aws.client("cloudformation"),
        aws.client("sts"),
        lambda session, region: aws.client("backup", region, from_session=session),
    )
    metrics.add_metric(name="VaultPolicyWrites", unit="Count", value=len(state["vault_policy"]["written_regions"]))
    return state
