"""The AWS KMS adapter: the KMS reads the product's code makes (a key's policy, for a recovery's checks).

Calls go through ``retry.call``. The domain decides what an answer means; here "no such key" is None.
"""

from typing import TYPE_CHECKING, Final

from botocore.exceptions import ClientError

from orgbackup import retry
from orgbackup.retry import Backoff

if TYPE_CHECKING:
    from mypy_boto3_kms import KMSClient

# "The only valid name is default" (KMS API reference, GetKeyPolicy,
# https://docs.aws.amazon.com/kms/latest/APIReference/API_GetKeyPolicy.html).
KEY_POLICY_NAME: Final = "default"


def key_policy(client: "KMSClient", key_id: str, *, backoff: Backoff | None = None) -> str | None:
    """The key's policy text (GetKeyPolicy, in the key's own account: no cross-account use, same page); None when
    the key does not exist (``NotFoundException``)."""
    try:
        response = retry.call(client.get_key_policy, KeyId=key_id, PolicyName=KEY_POLICY_NAME, backoff=backoff)
    except ClientError as error:
        if retry.error_code(error) == "NotFoundException":
            return None
        raise
    policy = response.get("Policy")
    return None if policy is None else str(policy)
