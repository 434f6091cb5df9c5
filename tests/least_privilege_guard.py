"""Every emulated World of the integration and workflow tiers is held to the least-privilege contract: when a
test's World ends, each AWS call it recorded must be allowed by the policies the templates give the principal
that made it (orgbackup_tools.least_privilege). A refused call fails the test at teardown, naming the call."""

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest

from orgbackup_tools import least_privilege, simulation


@pytest.fixture(scope="session", autouse=True)
def _every_world_keeps_least_privilege() -> Iterator[None]:
    original = simulation.World.emulate

    @contextlib.contextmanager
    def emulate(*args: Any, **kwargs: Any) -> Iterator[simulation.World]:
        with original(*args, **kwargs) as world:
            yield world
            if not kwargs.get("deploy", True):
                return  # the organization only (the doctor's tests): no template principal exists to call anything
            refused = least_privilege.check_world(world)
            assert refused == [], "calls the templates' policies do not allow:\n" + "\n".join(refused)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(simulation.World, "emulate", emulate)
        yield
