"""Issue 12, the pure parts of orgbackup.changes: which Regions an account loses, how removals are grouped into
StackSet operations, and when the Resolve step sends a run through the Offboard branch."""

from orgbackup.accounts import AccountOutcome, Resolution
from orgbackup.baseline import InstanceState
from orgbackup.changes import _groups, dropped_regions, may_need_offboarding

CURRENT = InstanceState("CURRENT", "SUCCEEDED")


def test_dropped_regions_are_those_outside_the_deployment() -> None:
    states = {
        "333333333333": {"us-east-1": CURRENT, "eu-west-1": CURRENT, "eu-central-1": CURRENT},
        "444444444444": {"us-east-1": CURRENT},
    }
    assert dropped_regions(states, ("us-east-1", "eu-west-1"), ["333333333333", "444444444444"]) == {
        "333333333333": ["eu-central-1"]
    }


def test_removals_with_the_same_regions_are_one_operation() -> None:
    removals = {
        "333333333333": ["us-east-1", "eu-west-1"],
        "555555555555": ["eu-west-1", "us-east-1"],
        "444444444444": ["eu-central-1"],
        "666666666666": [],
    }
    assert _groups(removals) == [
        (["333333333333", "555555555555"], ["eu-west-1", "us-east-1"]),
        (["444444444444"], ["eu-central-1"]),
    ]


def test_only_a_departing_account_with_instances_needs_the_offboard_branch() -> None:
    out = AccountOutcome("333333333333", "out-of-scope", "out of scope")
    current = AccountOutcome("555555555555", "baseline-current", "baseline already current")
    states = {"333333333333": {"us-east-1": CURRENT}, "555555555555": {"us-east-1": CURRENT}}
    assert may_need_offboarding(Resolution(mode="events", skipped=[out]), states)
    assert not may_need_offboarding(Resolution(mode="events", skipped=[out]), {})
    assert not may_need_offboarding(Resolution(mode="events", skipped=[current]), states)
    # An account Organizations no longer knows is invalid, and offboarded when it still holds instances
    gone = AccountOutcome("333333333333", "unknown-account", "unknown account")
    assert may_need_offboarding(Resolution(mode="events", invalid=[gone]), states)
    # Reconcile always looks for drift
    assert may_need_offboarding(Resolution(mode="reconcile"), {})
