"""The AWS STS adapter: assuming a role in another account (the central backup account's vault-policy role)."""

from typing import TYPE_CHECKING

from orgbackup import retry
from orgbackup.retry import Backoff

if TYPE_CHECKING:
    import boto3
    from mypy_boto3_sts import STSClient


def assumed_session(
    sts_client: "STSClient", role_arn: str, session_name: str, region: str, *, backoff: Backoff | None = None
) -> "boto3.session.Session":
    """A boto3 session as ``role_arn`` (AssumeRole), named ``session_name`` (CloudTrail shows it in the
    assumed-role ARN). Refusals propagate as ClientError: the caller names what it needed the role for."""
    import boto3  # noqa: PLC0415 - lazy: only the vault-policy step needs a second session

    response = retry.call(sts_client.assume_role, RoleArn=role_arn, RoleSessionName=session_name, backoff=backoff)
    credentials = response["Credentials"]
    return boto3.session.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        region_name=region,
    )
