"""`orgbackup invoke FUNCTION -e FILE [--json]`: every handler in process against the emulated organization, driven
by the same samples `sam local invoke -e` takes. Exit status 0 returned, 1 the function raised, 2 unusable file or
unknown function."""

import json
import re
from pathlib import Path
from typing import Any

import pytest
from sample_events import EVENTS

from orgbackup_tools import cli
from orgbackup_tools.commands.invoke import function_names, replay_plan


def _kebab(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "-", name.removesuffix("Function")).lower()


def function_for(sample: Path) -> str:
    """The function a sample of events/functions/ is for: its file name starts with the function's name."""
    candidates = [name for name in function_names() if sample.stem.startswith(_kebab(name))]
    assert candidates, f"{sample.name}: no function of template.yaml matches its name"
    return max(candidates, key=len)


SAMPLES = sorted((EVENTS / "functions").glob("*.json"))


def invoke(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, Any, str]:
    capsys.readouterr()
    status = cli.main(["invoke", *args, "--json"])
    captured = capsys.readouterr()
    return status, json.loads(captured.out) if captured.out.strip() else None, captured.err


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda path: path.name)
def test_every_function_sample_works(capsys, sample: Path) -> None:
    status, result, err = invoke(capsys, function_for(sample), "-e", str(sample))
    assert status == 0, err
    assert "Traceback" not in err
    assert isinstance(result, dict)
    if sample.stem.startswith("apply-backup-policies"):
        assert result["Status"] == "SUCCESS", result  # the answer CloudFormation would receive
    else:
        assert "errorType" not in result


def test_the_inspect_sample_replays_the_operation_its_state_names(capsys) -> None:
    status, result, err = invoke(
        capsys, "InspectBaselineFunction", "-e", str(EVENTS / "functions/inspect-baseline.json")
    )
    assert status == 0
    assert "replaying StartBaselineFunction" in err
    assert sorted(result["baseline"]["onboarded"]) == ["333333333333", "444444444444"]


def test_the_alert_formatter_publishes_and_the_text_output_shows_the_alert(capsys) -> None:
    capsys.readouterr()
    assert cli.main(["invoke", "FormatBackupAlertFunction", "-e", str(EVENTS / "backup/backup-job-failed.json")]) == 0
    out = capsys.readouterr().out
    assert "FormatBackupAlertFunction returned:" in out
    assert "the notification topic's subscriber received: AWS Backup: backup job FAILED" in out


def test_a_function_error_is_reported_as_lambda_reports_it_with_exit_1(capsys) -> None:
    sample = EVENTS / "controltower/create-managed-account.json"
    status, result, err = invoke(capsys, "FormatBackupAlertFunction", "-e", str(sample))
    assert status == 1
    assert result["errorType"] == "InvalidInputError"
    assert "source" in result["errorMessage"]
    assert "Traceback" not in err


def test_an_unknown_function_exits_2_and_lists_the_functions(capsys) -> None:
    status, result, err = invoke(capsys, "NoSuchFunction", "-e", str(SAMPLES[0]))
    assert (status, result) == (2, None)
    assert "'NoSuchFunction' is not a function of template.yaml" in err
    assert "ResolveAccountsFunction" in err


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"\xff\xfe", "not UTF-8"), (b"{", "not valid JSON"), (b"[" * 100_000, "nested too deeply")],
)
def test_an_unusable_file_exits_2_naming_it(capsys, tmp_path, content: bytes, message: str) -> None:
    path = tmp_path / "event.json"
    path.write_bytes(content)
    status, result, err = invoke(capsys, "ResolveAccountsFunction", "-e", str(path))
    assert (status, result) == (2, None)
    assert str(path) in err
    assert message in err


def test_a_missing_file_exits_2(capsys, tmp_path) -> None:
    status, _, err = invoke(capsys, "ResolveAccountsFunction", "-e", str(tmp_path / "missing.json"))
    assert status == 2
    assert "cannot read the file" in err


def test_replay_follows_the_keys_the_state_holds() -> None:
    state = json.loads((EVENTS / "functions/reattach-backup-policies.json").read_text(encoding="utf-8"))
    plan = replay_plan("ReattachBackupPoliciesFunction", state)
    assert [name for name, _ in plan] == [
        "StartBaselineFunction",
        "InspectBaselineFunction",
        "RefreshVaultPolicyFunction",
    ]
    # each replayed step gets the state as it was before that step ran
    assert "operations" not in plan[0][1]
    assert "baseline" not in plan[1][1]
    assert "vault_policy" not in plan[2][1]
    assert replay_plan("ResolveAccountsFunction", state) == []
    assert replay_plan("InspectBaselineFunction", ["not", "a", "state"]) == []


def test_the_offboarding_replay_protects_the_departed_accounts_then_offboards_them() -> None:
    # Given the InspectOffboarding sample's state
    state = json.loads((EVENTS / "functions/inspect-offboarding.json").read_text(encoding="utf-8"))
    departed = [item["account_id"] for item in state["offboarding"]["departures"] if item.get("regions")]
    plan = replay_plan("InspectOffboardingFunction", state)
    # Then the departed accounts get their baseline first, then Offboard runs on the state before it ran
    assert [name for name, _ in plan] == ["StartBaselineFunction", "OffboardAccountsFunction"]
    assert departed
    assert [item["account_id"] for item in plan[0][1]["resolution"]["to_onboard"]] == departed
    assert "offboarding" not in plan[1][1]
    assert plan[1][1]["resolution"] == state["resolution"]


@pytest.mark.parametrize(
    ("offboarding", "replayed"),
    [
        ({"departures": "333333333333"}, []),
        ([], []),
        ({"departures": [{"account_id": "333333333333"}]}, ["OffboardAccountsFunction"]),
        ({"departures": [7]}, ["OffboardAccountsFunction"]),
    ],
    ids=["departures-not-a-list", "offboarding-not-an-object", "departure-without-regions", "departure-not-an-object"],
)
def test_malformed_departures_replay_no_baseline(offboarding: Any, replayed: list[str]) -> None:
    # Given an offboarding state whose departures are malformed
    state = {"execution": "run-1", "resolution": {"mode": "events"}, "offboarding": offboarding}
    # Then no departed account is protected first: only Offboard is replayed, when the state is one it can read
    assert [name for name, _ in replay_plan("InspectOffboardingFunction", state)] == replayed
