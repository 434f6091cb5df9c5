"""Custom::BackupPolicies: every deploy renders, upserts and attaches the backup policies; stack deletion
detaches and deletes them. Answers CloudFormation on success and on failure."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from orgbackup import aws, custom_resource
from orgbackup.observability import logger, metrics
from orgbackup.policies.converge import handle_policy_resource
from orgbackup.policies.parameters import PolicyParameters
from orgbackup.settings import Settings
from orgbackup.settings_loader import from_environment


def read_configuration() -> tuple[Settings, PolicyParameters]:
    # Read only for the requests that render policies: a Delete must succeed even with settings a Create rejected.
    return from_environment(Settings), from_environment(PolicyParameters)


@metrics.log_metrics
@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return custom_resource.run(
        event, lambda request: handle_policy_resource(request, aws.client("organizations"), read_configuration)
    )
