"""The AWS IAM adapter: the IAM reads the product's code makes (a role's trust policy, for a recovery's checks).

Calls go through ``retry.call``. The domain decides what an answer means; here "no such role" is None.
"""

import json
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from botocore.exceptions import ClientError

from orgbackup import retry
from orgbackup.retry import Backoff

if TYPE_CHECKING:
    from mypy_boto3_iam import IAMClient


def role_trust_policy(client: "IAMClient", role_name: str, *, backoff: Backoff | None = None) -> dict[str, Any] | None:
    """The role's trust policy (GetRole's ``AssumeRolePolicyDocument``), as a document; None when the role does not
    exist (``NoSuchEntity``). IAM returns policies "URL-encoded compliant with RFC 3986 ... some SDKs do this
    decoding automatically" (IAM API reference, GetRole,
    https://docs.aws.amazon.com/IAM/latest/APIReference/API_GetRole.html): boto3 hands back a dict, a text is
    decoded here."""
    try:
        response = retry.call(client.get_role, RoleName=role_name, backoff=backoff)
    except ClientError as error:
        if retry.error_code(error) == "NoSuchEntity":
            return None
        raise
    document: Any = response["Role"].get("AssumeRolePolicyDocument")
    if isinstance(document, str):
        loaded: dict[str, Any] = json.loads(unquote(document))
        return loaded
    return dict(document or {})
