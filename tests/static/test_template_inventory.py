"""The template refactor (issue 11 part 7) keeps what is deployed: after SAM's transform, every role's effective
permissions (managed policies expanded), every rule, target and Lambda permission, every alarm and every function's
settings equal the snapshot taken from the template before the refactor (tests/template_inventory.py says how it is
computed and regenerated)."""

import json
from typing import Any

import pytest
from template_inventory import SNAPSHOT, inventory


@pytest.fixture(scope="module")
def current() -> dict[str, Any]:
    return inventory()


@pytest.fixture(scope="module")
def snapshot() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(SNAPSHOT.read_text(encoding="utf-8"))
    return loaded


@pytest.mark.parametrize("section", ["roles", "rules", "lambda_permissions", "alarms", "functions"])
def test_the_deployed_section_equals_the_snapshot(
    section: str, current: dict[str, Any], snapshot: dict[str, Any]
) -> None:
    # Given the snapshot and the current template, both through SAM's transform
    # When comparing one section
    # Then it is the same (role by role, rule by rule: the failure names which one differs)
    if isinstance(snapshot[section], dict):
        assert sorted(current[section]) == sorted(snapshot[section])
        for name, expected in snapshot[section].items():
            assert current[section][name] == expected, name
    else:
        assert current[section] == snapshot[section]


def test_the_snapshot_covers_every_role_rule_and_permission(snapshot: dict[str, Any]) -> None:
    # A snapshot that lost its content would compare equal to an empty template
    assert len(snapshot["roles"]) >= 13
    assert len(snapshot["rules"]) >= 7
    assert len(snapshot["lambda_permissions"]) >= 4
    assert all(role["grants"] or role["aws_managed_policies"] for role in snapshot["roles"].values())
