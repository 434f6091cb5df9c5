"""The one place that decides which layer retries what (issue 11, part 4). Three layers retry, each a different
kind of failure, and each is bounded. A throttled call is attempted at most
``BOTOCORE_MAX_ATTEMPTS x THROTTLING_ATTEMPTS x (1 + the state machine's MaxAttempts)`` = 3 x 4 x 5 = 60 times in
all; a conflicting call ``CONFLICT_ATTEMPTS x 5`` = 30 times (``tests/unit/test_retry_layers.py`` counts both, with
the real configuration and state machine).

1. **botocore, per request** (``orgbackup.aws``: standard mode, ``BOTOCORE_MAX_ATTEMPTS`` = 3, botocore's own default
   for standard mode): connection errors, 5xx and a throttling blip, within about a second, for EVERY call,
   including those no adapter wraps. Standard mode also has a client-wide retry quota, so a failing service is not
   hammered (Boto3 guide, *Retries*, https://docs.aws.amazon.com/boto3/latest/guide/retries.html).
2. **``retry.call``, per operation, inside one Lambda invocation**: what botocore does not retry or gave up on.
   - Conflicts (``CONFLICT_CODES``: Organizations' ``ConcurrentModificationException``, StackSets'
     ``OperationInProgressException``) are not throttling to botocore, yet routine when several automations touch
     the organization: ``CONFLICT_ATTEMPTS`` (6) with full-jitter backoff (0.5 s x 2^n, at most 20 s).
   - Throttling that outlasted botocore's attempts (``THROTTLING_CODES``) gets only ``THROTTLING_ATTEMPTS`` (4):
     the service is saturated, retrying fast inside the function only adds load; the state machine waits longer.
   Retrying here, not in the state machine, keeps a 2,000-attachment step from starting over for one conflict.
3. **The state machine, per step** (``statemachine/onboarding.asl.json``: ``RetryableConflictError``, 30 s x 2^n,
   MaxAttempts 4): when layer 2 runs out it raises ``RetryableConflictError`` and the whole step runs again minutes
   later; every step re-reads the source of truth, so a re-run is safe. The ``Lambda.*`` retriers there are about
   invoking the function, not about the calls it makes.
"""

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

from botocore.exceptions import ClientError

from orgbackup.exceptions import RetryableConflictError
from orgbackup.observability import logger

# Not retried by botocore (not throttling to it); routine at scale. Organizations: "The target of the operation is
# currently being modified by a different request. Try again later" (ConcurrentModificationException, e.g.
# https://docs.aws.amazon.com/organizations/latest/APIReference/API_AttachPolicy.html); StackSets: "Another
# operation is currently in progress for this StackSet. Only one operation can be performed for a stack set at a
# given time" (OperationInProgressException,
# https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_CreateStackInstances.html).
CONFLICT_CODES = frozenset({"ConcurrentModificationException", "OperationInProgressException"})
# Throttling codes: Organizations' TooManyRequestsException ("You have sent too many requests in too short a period
# of time", https://docs.aws.amazon.com/organizations/latest/APIReference/API_ListAccounts.html), and Throttling and
# ThrottlingException, the other services' names for it. All three are in the throttling list that botocore's
# standard mode retries first (layer 1; Boto3 guide, *Retries*, https://docs.aws.amazon.com/boto3/latest/guide/retries.html).
THROTTLING_CODES = frozenset({"ThrottlingException", "TooManyRequestsException", "Throttling"})
# Layer 1: botocore standard mode's attempts per request (its default for the mode; see the docstring).
BOTOCORE_MAX_ATTEMPTS: Final = 3
# Layer 2: attempts per operation, by kind.
CONFLICT_ATTEMPTS: Final = 6
THROTTLING_ATTEMPTS: Final = 4


@dataclass
class Backoff:
    attempts: int = CONFLICT_ATTEMPTS
    # Throttling gets fewer in-process attempts than conflicts (never more than ``attempts``).
    throttling_attempts: int = THROTTLING_ATTEMPTS
    base_seconds: float = 0.5
    cap_seconds: float = 20.0
    sleep: Callable[[float], None] = field(default=time.sleep)

    def delay(self, attempt: int) -> float:
        return random.uniform(0, min(self.cap_seconds, self.base_seconds * 2**attempt))  # noqa: S311 - jitter


DEFAULT_BACKOFF = Backoff()


def error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def call[T](fn: Callable[..., T], /, *args: object, backoff: Backoff | None = None, **kwargs: object) -> T:
    """Call ``fn`` and retry it on a conflict code (at most ``backoff.attempts`` times in all) or a throttling
    code (at most ``backoff.throttling_attempts`` times); then RetryableConflictError, for the state machine."""
    policy = backoff or DEFAULT_BACKOFF
    for attempt in range(policy.attempts):
        try:
            return fn(*args, **kwargs)
        except ClientError as error:
            code = error_code(error)
            if code in THROTTLING_CODES:
                allowed = min(policy.attempts, policy.throttling_attempts)
            elif code in CONFLICT_CODES:
                allowed = policy.attempts
            else:
                raise
            if attempt >= allowed - 1:
                name = getattr(fn, "__name__", "call")
                raise RetryableConflictError(f"{name} still failed with {code} after {attempt + 1} attempts") from error
            wait = policy.delay(attempt)
            logger.warning("retrying after conflict", extra={"code": code, "attempt": attempt + 1, "wait_s": wait})
            policy.sleep(wait)
    raise AssertionError("unreachable")  # pragma: no cover
