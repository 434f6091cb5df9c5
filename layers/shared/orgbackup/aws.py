"""boto3 clients, created lazily and configured once.

Functions create clients on first use, not at import, to keep cold starts cheap; tests and the local
simulation pass their own (moto-backed) clients to the domain functions instead.
"""

from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import boto3

# botocore's standard mode retries throttling and transient errors with backoff, bounded at 5 attempts.
RETRY_CONFIG: dict[str, Any] = {"retries": {"mode": "standard", "max_attempts": 5}}


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
