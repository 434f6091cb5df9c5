"""Bounded retries with exponential backoff and full jitter for AWS conflicts that clear by themselves.

Throttling (``ThrottlingException``, ``TooManyRequestsException``, ...) is retried by botocore's standard retry
mode, configured once in ``orgbackup.aws``. Conflicts botocore does not retry are retried here:
Organizations' ``ConcurrentModificationException`` and StackSets' ``OperationInProgressException`` are routine
when several automations touch the organization at once. When the attempts run out the error becomes a
``RetryableConflictError`` so the state machine can retry the whole task later with a longer wait.
"""

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from orgbackup.exceptions import RetryableConflictError
from orgbackup.observability import logger

CONFLICT_CODES = frozenset(
    {
        "ConcurrentModificationException",
        "OperationInProgressException",
        # Throttling that outlasted botocore's own attempts still deserves a slower, bounded retry.
        "ThrottlingException",
        "TooManyRequestsException",
        "Throttling",
    }
)


@dataclass
class Backoff:
    attempts: int = 6
    base_seconds: float = 0.5
    cap_seconds: float = 20.0
    sleep: Callable[[float], None] = field(default=time.sleep)

    def delay(self, attempt: int) -> float:
        return random.uniform(0, min(self.cap_seconds, self.base_seconds * 2**attempt))  # noqa: S311 - jitter


DEFAULT_BACKOFF = Backoff()


def error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def call[T](fn: Callable[..., T], /, *args: object, backoff: Backoff | None = None, **kwargs: object) -> T:
    """Call ``fn`` and retry it on a conflict code, at most ``backoff.attempts`` times in all."""
    policy = backoff or DEFAULT_BACKOFF
    for attempt in range(policy.attempts):
        try:
            return fn(*args, **kwargs)
        except ClientError as error:
            code = error_code(error)
            if code not in CONFLICT_CODES:
                raise
            if attempt == policy.attempts - 1:
                name = getattr(fn, "__name__", "call")
                raise RetryableConflictError(
                    f"{name} still failed with {code} after {policy.attempts} attempts"
                ) from error
            wait = policy.delay(attempt)
            logger.warning("retrying after conflict", extra={"code": code, "attempt": attempt + 1, "wait_s": wait})
            policy.sleep(wait)
    raise AssertionError("unreachable")  # pragma: no cover


def pages(client: Any, operation: str, /, *, backoff: Backoff | None = None, **kwargs: object) -> list[dict[str, Any]]:
    """Every page of a paginated call; the whole walk is retried on a conflict (pages are not resumable)."""
    paginator = client.get_paginator(operation)
    return call(lambda: list(paginator.paginate(**kwargs)), backoff=backoff)
