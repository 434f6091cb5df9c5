"""The retry layers (orgbackup.retry's docstring): each bounded, and their product bounds one call's attempts."""

import json
import types
from pathlib import Path
from typing import Any

import botocore.endpoint
import pytest
from botocore.awsrequest import AWSResponse

from orgbackup import aws, retry
from orgbackup.exceptions import RetryableConflictError

ASL = Path(__file__).resolve().parents[2] / "statemachine" / "onboarding.asl.json"


def state_machine_runs_per_step() -> int:
    """1 + the largest MaxAttempts any Task gives RetryableConflictError (what runs a step again)."""
    definition = json.loads(ASL.read_text(encoding="utf-8"))
    attempts = [
        retrier["MaxAttempts"]
        for state in definition["States"].values()
        for retrier in state.get("Retry", [])
        if "RetryableConflictError" in retrier["ErrorEquals"]
    ]
    assert attempts, "no state retries RetryableConflictError"
    return 1 + max(attempts)


@pytest.fixture
def answers(monkeypatch: pytest.MonkeyPatch) -> Any:
    """A real client of the product (orgbackup.aws, its retry configuration) whose every HTTP request AWS answers
    with ``code``: the answer is given at ``before-send``, inside botocore's own retry loop, so botocore's retries
    count. Nothing leaves the machine; no sleep is real."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setattr(botocore.endpoint, "time", types.SimpleNamespace(sleep=lambda _seconds: None))
    aws.session.cache_clear()

    def make(code: str, status: int) -> tuple[Any, list[str]]:
        sent: list[str] = []
        client = aws.client("organizations", "us-east-1")

        def answer(request: Any, **_: Any) -> AWSResponse:
            sent.append(request.url)
            body = json.dumps({"__type": code, "message": "injected"}).encode()
            return AWSResponse(
                request.url,
                status,
                {"x-amzn-query-error": f"{code};Sender"},
                types.SimpleNamespace(stream=lambda **_: [body], read=lambda: body),
            )

        client.meta.events.register("before-send.organizations", answer)
        return client, sent

    yield make
    aws.session.cache_clear()


def test_one_throttled_call_is_attempted_a_bounded_number_of_times(answers: Any) -> None:
    # Given Organizations throttles every request
    client, sent = answers("TooManyRequestsException", 400)
    slept: list[float] = []
    # When the product calls it through retry.call (what every adapter does)
    with pytest.raises(RetryableConflictError, match="TooManyRequestsException after 4 attempts"):
        retry.call(client.describe_account, AccountId="123456789012", backoff=retry.Backoff(sleep=slept.append))
    # Then one Lambda invocation sent it botocore's attempts times retry.call's throttling attempts, no more
    assert len(sent) == retry.BOTOCORE_MAX_ATTEMPTS * retry.THROTTLING_ATTEMPTS == 12
    assert len(slept) == retry.THROTTLING_ATTEMPTS - 1
    # And the state machine runs the step again at most 4 times: 60 requests in all, down from 180
    assert len(sent) * state_machine_runs_per_step() == 60


def test_one_conflicting_call_is_retried_in_process_only(answers: Any) -> None:
    # Given Organizations answers every request with a conflict (not throttling: botocore does not retry it)
    client, sent = answers("ConcurrentModificationException", 400)
    slept: list[float] = []
    with pytest.raises(RetryableConflictError, match="ConcurrentModificationException after 6 attempts"):
        retry.call(client.describe_account, AccountId="123456789012", backoff=retry.Backoff(sleep=slept.append))
    # Then each attempt was one request, and the whole is bounded with the state machine's re-runs
    assert len(sent) == retry.CONFLICT_ATTEMPTS == 6
    assert len(sent) * state_machine_runs_per_step() == 30


def test_an_error_that_is_neither_is_not_retried_by_retry_call(answers: Any) -> None:
    client, sent = answers("AccessDeniedException", 400)
    with pytest.raises(Exception, match="AccessDeniedException"):
        retry.call(client.describe_account, AccountId="123456789012")
    assert len(sent) == 1


def test_every_backoff_is_bounded() -> None:
    backoff = retry.Backoff()
    assert all(0 <= backoff.delay(attempt) <= backoff.cap_seconds for attempt in range(backoff.attempts))
    assert backoff.throttling_attempts <= backoff.attempts
    assert aws.RETRY_CONFIG == {"retries": {"mode": "standard", "total_max_attempts": retry.BOTOCORE_MAX_ATTEMPTS}}
