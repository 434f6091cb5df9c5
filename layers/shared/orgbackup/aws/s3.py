"""The Amazon S3 adapter: the report bucket's objects (the coverage report)."""

from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from orgbackup import retry

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


def read(client: "S3Client", bucket: str, key: str) -> bytes | None:
    """The object's bytes, or None when there is no such object."""
    try:
        body = retry.call(client.get_object, Bucket=bucket, Key=key)["Body"]
    except ClientError as error:
        if retry.error_code(error) in {"NoSuchKey", "404"}:
            return None
        raise
    return bytes(body.read())


def write(client: "S3Client", bucket: str, key: str, body: bytes, content_type: str) -> None:
    retry.call(client.put_object, Bucket=bucket, Key=key, Body=body, ContentType=content_type)
