"""The AWS adapters: one module per AWS service the product calls, and the boto3 clients they wrap.

- ``organizations``: accounts, parents and paths, the in-scope walk, effective policies, backup policies;
- ``stacksets``: the member StackSet's instances and operations (CloudFormation);
- ``backup``: vault access policies (the central vault, through the assumed role), jobs, recovery points, copies;
- ``sts``: the central account's vault-policy role;
- ``iam`` and ``kms``: a role's trust policy and a key's policy (the checks of a recovery);
- ``sns``: publishing notifications and alerts;
- ``s3``: the coverage report's objects.

A new AWS call goes into its service's module; domain modules take data or an adapter, never a boto3 client's
methods. Every adapter call goes through ``retry.call`` and every listing through ``pages`` (one pagination style:
NextToken, each page retried on its own, so a walk resumes where a conflict stopped it). Which layer retries what:
``orgbackup.retry``.

Functions create clients on first use, not at import, to keep cold starts cheap; tests and the local
simulation pass their own (moto-backed) clients to the domain functions instead.
"""

from collections.abc import Callable, Iterator
from functools import cache
from typing import TYPE_CHECKING, Any

from orgbackup import retry
from orgbackup.retry import BOTOCORE_MAX_ATTEMPTS, Backoff

if TYPE_CHECKING:
    import boto3

# Layer 1 of the retries (orgbackup.retry says which layer retries what): botocore's standard mode, bounded.
# ``total_max_attempts`` counts the first request; botocore's ``max_attempts`` would count retries only (Boto3
# guide, *Retries*, https://docs.aws.amazon.com/boto3/latest/guide/retries.html; test_retry_layers.py counts them).
RETRY_CONFIG: dict[str, Any] = {"retries": {"mode": "standard", "total_max_attempts": BOTOCORE_MAX_ATTEMPTS}}


@cache
def session() -> "boto3.session.Session":
    import boto3  # noqa: PLC0415 - lazy: boto3's import is most of a cold start

    return boto3.session.Session()


def client(service: str, region: str | None = None, *, from_session: Any = None) -> Any:
    """A client with the project's retry configuration, from the default session or ``from_session`` (for
    example an assumed-role session in another account)."""
    from botocore.config import Config  # noqa: PLC0415

    source: Any = from_session or session()
    return source.client(service, region_name=region, config=Config(**RETRY_CONFIG))


def pages(call: Callable[..., Any], /, *, backoff: Backoff | None = None, **kwargs: Any) -> Iterator[Any]:
    """Every page of a NextToken-paginated ``call`` (a client method), each page retried on its own."""
    token: str | None = None
    while True:
        extra = {"NextToken": token} if token else {}
        page = retry.call(call, backoff=backoff, **kwargs, **extra)
        yield page
        token = page.get("NextToken")
        if not token:
            return
