"""`orgbackup alerts check`, run through the real command line entry point against the real `template.yaml`."""

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from orgbackup_tools import cli, deployment

ROOT = Path(__file__).resolve().parents[2]
EXPECTED: dict[str, str | None] = json.loads(
    (Path(__file__).parent / "data" / "backup_events_expected.json").read_text(encoding="utf-8")
)["expected_rule"]
COMPLETED_WITH_ISSUES = "BackupJobCompletedWithIssuesRule"
WITH_ISSUES_SAMPLE = "events/backup/backup-job-completed-with-issues.json"


def run(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> tuple[int, str, str]:
    code = cli.main([str(arg) for arg in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


_PARSED: dict[Path | None, dict[str, Any]] = {}


@pytest.fixture(autouse=True)
def _parse_the_template_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every check reads template.yaml twice; parsing it once per test module keeps these tests fast."""
    real = deployment.load_template

    def cached(path: Path | None = None) -> dict[str, Any]:
        if path not in _PARSED:
            _PARSED[path] = real(path)
        return copy.deepcopy(_PARSED[path])

    monkeypatch.setattr(deployment, "load_template", cached)


@pytest.fixture
def completed_with_issues_on(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The deployment parameters with AlertOnCompletedWithIssues=true; records the environments asked for."""
    real = deployment.deployment_parameters
    asked: list[str] = []

    def with_flag(
        template: Path | None = None, samconfig: Path | None = None, environment: str = "default"
    ) -> dict[str, str]:
        asked.append(environment)
        return {**real(template, samconfig, "default"), "AlertOnCompletedWithIssues": "true"}

    monkeypatch.setattr(deployment, "deployment_parameters", with_flag)
    return asked


def default_rule(relative: str) -> str | None:
    """The rule that routes a sample as deployed by default (the completed-with-issues rule is off)."""
    expected = EXPECTED[relative]
    return None if expected == COMPLETED_WITH_ISSUES else expected


@pytest.mark.parametrize("relative", sorted(EXPECTED))
def test_json_answer_for_every_sample(capsys: pytest.CaptureFixture[str], relative: str) -> None:
    # Given a sample from events/backup/ or AWS's documented samples, and the default deployment parameters
    # When checking it with --json
    code, out, err = run(capsys, "alerts", "check", "--json", ROOT / relative)
    # Then the exit status is 0 and the answer has exactly the four keys, with the expected rule
    answer: dict[str, Any] = json.loads(out)
    assert code == 0, err
    assert list(answer) == ["matched", "rule", "subject", "message"]
    rule = default_rule(relative)
    assert answer["matched"] is (rule is not None)
    assert answer["rule"] == rule
    if rule is None:
        assert answer["subject"] is None
        assert answer["message"] is None
    else:
        # A matched event shows the alert as it would be sent; the name is only known at run time
        assert answer["subject"].startswith("AWS Backup: ")
        assert len(answer["subject"]) <= 100
        assert f"({json.loads((ROOT / relative).read_text())['account']})" in answer["subject"]
        assert "(name looked up at run time)" in answer["message"]
        assert "What to do next:" in answer["message"]


def test_text_answer_for_a_failure(capsys: pytest.CaptureFixture[str]) -> None:
    # Given the failed copy job sample
    sample = ROOT / "events" / "backup" / "copy-job-failed.json"
    # When checking it
    code, out, _ = run(capsys, "alerts", "check", sample)
    # Then the rule, the subject and the message are printed
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == f"{sample}: matched by FormatBackupAlertFunctionCopyJobFailed"
    assert "Subject: AWS Backup: copy job FAILED in (name looked up at run time) (333333333333) us-west-2" in lines
    assert any(line.startswith("To vault:") and line.endswith("), account 222222222222") for line in lines)
    assert any(line.startswith("Console (job details): https://console.aws.amazon.com/backup/home") for line in lines)


def test_text_answer_for_a_non_failure(capsys: pytest.CaptureFixture[str]) -> None:
    # Given a running restore job
    sample = ROOT / "events" / "backup" / "restore-job-running.json"
    # When checking it
    code, out, _ = run(capsys, "alerts", "check", sample)
    # Then it says nothing is sent, and which rules were checked
    assert code == 0
    assert out.splitlines() == [
        f"{sample}: not matched: no alert rule routes this event, so nothing is sent",
        "rules checked: FormatBackupAlertFunctionBackupJobFailed, FormatBackupAlertFunctionCopyJobFailed, "
        "FormatBackupAlertFunctionRestoreJobFailed",
    ]


def test_completed_with_issues_is_off_by_default_and_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    # Given the completed-with-issues sample and the default parameters
    # When checking it
    code, out, _ = run(capsys, "alerts", "check", ROOT / WITH_ISSUES_SAMPLE)
    # Then it is not matched, and the output names the rule that would match if it were deployed
    assert code == 0
    assert "not matched" in out.splitlines()[0]
    assert (
        "BackupJobCompletedWithIssuesRule would match, but it is off in this deployment: "
        "condition AlertOnCompletedWithIssues is false for these parameters" in out
    )


def test_completed_with_issues_matches_when_opted_in(
    capsys: pytest.CaptureFixture[str], completed_with_issues_on: list[str]
) -> None:
    # Given AlertOnCompletedWithIssues=true in the deployment parameters of environment "prod"
    # When checking the completed-with-issues sample
    code, out, _ = run(capsys, "alerts", "check", "--json", "--config-env", "prod", ROOT / WITH_ISSUES_SAMPLE)
    # Then it matches its rule, with its own wording, and the parameters of the named environment were used
    answer = json.loads(out)
    assert code == 0
    assert answer["rule"] == COMPLETED_WITH_ISSUES
    assert answer["subject"].startswith("AWS Backup: backup job COMPLETED WITH ISSUES in ")
    assert completed_with_issues_on == ["prod"]


@pytest.mark.parametrize("relative", sorted(EXPECTED))
def test_with_the_option_on_every_sample_gets_its_rule(
    capsys: pytest.CaptureFixture[str], completed_with_issues_on: list[str], relative: str
) -> None:
    # Given every rule deployed
    # When checking a sample
    code, out, _ = run(capsys, "alerts", "check", "--json", ROOT / relative)
    # Then the rule is the expected one
    assert code == 0
    assert json.loads(out)["rule"] == EXPECTED[relative]


def test_a_matching_event_the_formatter_rejects(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    # Given a failed restore job event without its Region: the rule matches, the formatter cannot format it
    event = json.loads((ROOT / "events" / "backup" / "restore-job-failed.json").read_text())
    del event["region"]
    path = tmp_path / "no-region.json"
    path.write_text(json.dumps(event))
    # When checking it
    code, out, _ = run(capsys, "alerts", "check", "--json", path)
    # Then it is matched, has no subject, and the message explains that the raw event is delivered instead
    answer = json.loads(out)
    assert code == 0
    assert answer["matched"] is True
    assert answer["rule"] == "FormatBackupAlertFunctionRestoreJobFailed"
    assert answer["subject"] is None
    assert answer["message"].startswith("The formatter rejects this event (region: missing")
    assert "OnFailure destination publishes the invocation record, which carries the raw event" in answer["message"]


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"{not json", "not valid JSON"),
        (b"[]", "must hold one EventBridge event (a JSON object), got list"),
        (b"\xff\xfe\x00", "not UTF-8 text"),
    ],
)
def test_an_invalid_file_exits_2_with_the_reason(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, content: bytes, expected: str
) -> None:
    # Given a file that holds no event
    path = tmp_path / "event.json"
    path.write_bytes(content)
    # When checking it
    code, out, err = run(capsys, "alerts", "check", "--json", path)
    # Then the exit status is 2 and the error names the file and the reason
    assert code == 2
    assert out == ""
    assert err.startswith(f"orgbackup: {path}: ")
    assert expected in err


def test_a_missing_file_exits_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    # Given a path with no file
    path = tmp_path / "missing.json"
    # When checking it
    code, _, err = run(capsys, "alerts", "check", path)
    # Then the exit status is 2 and the error says the file cannot be read
    assert code == 2
    assert err.startswith(f"orgbackup: {path}: cannot read the file: ")
