"""Fixtures for tests/workflow: the real state machine definition, handlers, rule and templates executed end to
end against an emulated organization (``orgbackup_tools.simulation.World``).

- ``make_world`` builds one small World for the test (the default organization of events/README.md, plus what
  the test adds) and tears it down afterwards: no test shares anything mutable with another.
- ``aws_calls`` records every AWS call the product's code makes through ``orgbackup.aws.client`` (every handler
  creates its clients there, the Backup clients on the central role's session included) and injects faults
  into them. A fault is answered at botocore's ``before-call`` event, as AWS would answer: a 4xx response that
  the caller sees as ``ClientError`` with the given code; moto never sees the call. The same mechanism as
  ``orgbackup_tools.emulation.inject_errors``, but for every client the functions create (each invocation creates its
  own), with one count of the answers shared by all of them. ``aws_calls.on(service, operation, callback)`` runs a
  callback just before each such call, to make something else happen at that moment.
- Backoff sleeps (``retry.DEFAULT_BACKOFF``) are recorded instead of slept, in every test here.
- Events come from events/; ``workflow_helpers.lifecycle_event`` copies a sample and changes only its IDs.
"""

import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

import pytest
from least_privilege_guard import _every_world_keeps_least_privilege  # noqa: F401 - an autouse fixture

from orgbackup import aws
from orgbackup_tools.simulation import Account, OrgSpec, World

# ---------------------------------------------------------------------------------------------------------------
# Fault injection and call counting for the functions' AWS clients


@dataclass
class Fault:
    service: str  # botocore's service id, hyphenized: "sts", "cloudformation", "backup"
    operation: str  # "AssumeRole"
    code: str
    message: str
    times: int | None  # None: every call until removed
    answered: int = 0
    removed: bool = False

    def takes(self, service: str, operation: str) -> bool:
        if self.removed or (service, operation) != (self.service, self.operation):
            return False
        return self.times is None or self.answered < self.times

    def remove(self) -> None:
        self.removed = True


@dataclass
class AwsCalls:
    calls: list[tuple[str, str]] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    hooks: list[tuple[str, str, Callable[[], None]]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, operation: str) -> int:
        return sum(1 for _, name in self.calls if name == operation)

    def mark(self) -> int:
        return len(self.calls)

    def count_since(self, mark: int, operation: str) -> int:
        return sum(1 for _, name in self.calls[mark:] if name == operation)

    def fail(
        self, service: str, operation: str, code: str, *, times: int | None = None, message: str = "injected"
    ) -> Fault:
        """Answer the next ``times`` calls (None: every call until ``remove()``) with ``code``."""
        fault = Fault(service, operation, code, message, times)
        self.faults.append(fault)
        return fault

    def on(self, service: str, operation: str, callback: Callable[[], None]) -> None:
        """Run ``callback`` just before each call of ``operation`` reaches AWS (for something else to happen at
        that exact moment, such as another execution finishing its work)."""
        self.hooks.append((service, operation, callback))

    def before_call(self, model: Any, **_: Any) -> Any:
        service, operation = model.service_model.service_id.hyphenize(), model.name
        for hook_service, hook_operation, callback in list(self.hooks):
            if (hook_service, hook_operation) == (service, operation):
                callback()
        with self._lock:
            self.calls.append((service, operation))
            fault = next((item for item in self.faults if item.takes(service, operation)), None)
            if fault is None:
                return None
            fault.answered += 1
        status = 429 if "Throttl" in fault.code or "TooManyRequests" in fault.code else 400
        response = type("InjectedResponse", (), {"status_code": status, "headers": {}})()
        return response, {
            "Error": {"Code": fault.code, "Message": fault.message},
            "ResponseMetadata": {"HTTPStatusCode": status},
        }

    def wrap(self, create: Callable[..., Any]) -> Callable[..., Any]:
        def client(service: str, region: str | None = None, *, from_session: Any = None) -> Any:
            made = create(service, region, from_session=from_session)
            made.meta.events.register("before-call", self.before_call)
            return made

        return client


@pytest.fixture
def aws_calls(monkeypatch: pytest.MonkeyPatch) -> AwsCalls:
    """Every call the functions make through orgbackup.aws.client, and faults injected into them."""
    calls = AwsCalls()
    monkeypatch.setattr(aws, "client", calls.wrap(aws.client))
    return calls


@pytest.fixture(autouse=True)
def _instant_backoff(no_sleep: list[float]) -> list[float]:
    return no_sleep


@pytest.fixture
def make_world(aws_calls: AwsCalls) -> Iterator[Callable[..., World]]:
    """``make_world(extra_accounts=[...], spec=..., overrides={...})``: the one World of this test."""
    with ExitStack() as stack:
        made: list[World] = []

        def make(
            *,
            spec: OrgSpec | None = None,
            extra_accounts: list[Account] | None = None,
            overrides: dict[str, str] | None = None,
        ) -> World:
            assert not made, "one World per test: moto's backends are process-wide"
            spec = spec or OrgSpec()
            spec.accounts.extend(extra_accounts or [])
            made.append(stack.enter_context(World.emulate(spec=spec, overrides=overrides)))
            return made[0]

        yield make


@pytest.fixture
def world(make_world: Callable[..., World]) -> World:
    """The default organization of events/README.md, with the product deployed into it."""
    return make_world()
