"""Reading the member StackSet's instances: which accounts have a baseline, and which an operation is deploying."""

from orgbackup.baseline import InstanceState, current_accounts, deployed_accounts, in_progress_accounts, plan_baseline

REGIONS = ("us-east-1", "eu-west-1")
CURRENT = InstanceState("CURRENT", "SUCCEEDED")
RUNNING = InstanceState("OUTDATED", "RUNNING")
PENDING = InstanceState("OUTDATED", "PENDING")
FAILED = InstanceState("OUTDATED", "FAILED", "Resource handler returned message: boom")


def test_an_account_with_an_instance_pending_or_running_in_any_region_is_in_progress() -> None:
    # Given instances in every state an account can be in
    states = {
        "333333333333": {"us-east-1": CURRENT, "eu-west-1": RUNNING},
        "444444444444": {"us-east-1": PENDING},
        "555555555555": dict.fromkeys(REGIONS, CURRENT),
        "666666666666": {"us-east-1": CURRENT, "eu-west-1": FAILED},
    }

    # When they are read / Then an operation is deploying exactly the first two, and only one has a baseline
    assert in_progress_accounts(states) == {"333333333333", "444444444444"}
    assert current_accounts(states, REGIONS) == {"555555555555"}
    # And a failed instance is for repair, not in progress
    assert plan_baseline(["666666666666"], states, REGIONS).update == ((("666666666666",), ("eu-west-1",)),)


def test_deployed_accounts_have_an_instance_in_every_region_whatever_its_status() -> None:
    states = {
        "333333333333": {
            "us-east-1": InstanceState("OUTDATED", "RUNNING"),
            "eu-west-1": InstanceState("CURRENT", "SUCCEEDED"),
        },
        "444444444444": {"us-east-1": InstanceState("OUTDATED", "FAILED")},
        "555555555555": {
            "us-east-1": InstanceState("CURRENT", "SUCCEEDED"),
            "eu-west-1": InstanceState("OUTDATED", "FAILED"),
        },
    }
    assert deployed_accounts(states, ["us-east-1", "eu-west-1"]) == {"333333333333", "555555555555"}
    assert current_accounts(states, ["us-east-1", "eu-west-1"]) == set()
