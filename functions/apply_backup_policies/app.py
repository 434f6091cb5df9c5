"""Custom::BackupPolicies: every deploy renders, upserts and attaches the backup policies; stack deletion
detaches and deletes them. Answers CloudFormation on success and on failure."""

import os
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from orgbackup import aws, custom_resource
from orgbackup.observability import logger, metrics
from orgbackup.policies.service import handle_policy_resource


@metrics.log_metrics
@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return custom_resource.run(
        event, lambda request: handle_policy_resource(request, aws.client("organizations"), os.environ)
    )
