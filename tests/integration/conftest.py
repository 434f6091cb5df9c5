"""tests/integration: every emulated World keeps least privilege (tests/least_privilege_guard.py)."""

from least_privilege_guard import _every_world_keeps_least_privilege  # noqa: F401 - an autouse fixture
