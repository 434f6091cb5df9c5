"""The Amazon SNS adapter: publishing to the notification topic (alerts, coverage)."""

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from orgbackup import retry
from orgbackup.retry import Backoff

if TYPE_CHECKING:
    from mypy_boto3_sns import SNSClient


def publish(
    sns: "SNSClient",
    topic_arn: str,
    subject: str,
    message: str,
    attributes: Mapping[str, Any] | None = None,
    *,
    backoff: Backoff | None = None,
) -> str:
    """Publish one message; returns its SNS message ID."""
    extra = {"MessageAttributes": dict(attributes)} if attributes else {}
    response = retry.call(sns.publish, TopicArn=topic_arn, Subject=subject, Message=message, backoff=backoff, **extra)
    return str(response["MessageId"])
