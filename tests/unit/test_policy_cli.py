"""`orgbackup policy validate` and `orgbackup policy render`, run through the real command line entry point."""

import json
from pathlib import Path
from typing import Any

import pytest

from orgbackup_tools import cli, deployment

EXAMPLES = Path(__file__).parent / "data" / "policy_examples"
VALID = EXAMPLES / "policies" / "example1_parent.json"
CHILD = EXAMPLES / "policies" / "example5_child.json"
ERRATUM = EXAMPLES / "errata" / "example5_parent.json"

PARAMETERS = {
    "OrganizationId": "o-a1b2c3d4e5",
    "ManagementAccountId": "111111111111",
    "CentralBackupAccountId": "222222222222",
    "BackupRegions": "eu-west-1,eu-central-1",
    "MemberVaultName": "orgbackup-member",
    "CentralVaultName": "orgbackup-central",
    "BackupRoleName": "orgbackup-backup",
    "MemberStacksetName": "orgbackup-member-baseline",
    "CentralVaultPolicyRoleName": "orgbackup-vault-policy",
}


def run(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> tuple[int, str, str]:
    code = cli.main([str(arg) for arg in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def deployment_parameters(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Serve PARAMETERS as the deployment parameters; records the environments asked for."""
    asked: list[str] = []

    def fake(
        template: Path | None = None, samconfig: Path | None = None, environment: str = "default"
    ) -> dict[str, str]:
        asked.append(environment)
        return dict(PARAMETERS)

    monkeypatch.setattr(deployment, "deployment_parameters", fake)
    return asked


# ------------------------------------------------------------------------------------------------------------------
# validate
# ------------------------------------------------------------------------------------------------------------------


def test_validate_accepts_every_documented_example(capsys: pytest.CaptureFixture[str]) -> None:
    # Given all of AWS's complete example policies
    files = sorted((EXAMPLES / "policies").glob("*.json"))
    # When validating them in one call
    code, out, _ = run(capsys, "policy", "validate", *files)
    # Then the exit status is 0 and each file is reported valid
    assert code == 0
    assert out.splitlines() == [f"{path}: valid" for path in files]


def test_validate_reports_each_error_on_its_own_line(capsys: pytest.CaptureFixture[str]) -> None:
    # Given a valid file and one that breaks the cold storage rule
    # When validating both
    code, out, _ = run(capsys, "policy", "validate", VALID, ERRATUM)
    # Then the exit status is 1 and the error line names the file, the path and the rule
    assert code == 1
    lines = out.splitlines()
    assert lines[0] == f"{VALID}: valid"
    assert lines[1].startswith(f"{ERRATUM}: $.plans.PII_Backup_Plan.rules.Hourly.lifecycle.delete_after_days: ")
    assert "must be at least 270" in lines[1]
    assert len(lines) == 2


def test_validate_json_output(capsys: pytest.CaptureFixture[str]) -> None:
    # Given a valid and an invalid file
    # When validating with --json
    code, out, _ = run(capsys, "policy", "validate", "--json", VALID, ERRATUM)
    # Then a JSON list says which file is valid, with path and message for each error
    assert code == 1
    report = json.loads(out)
    assert report[0] == {"file": str(VALID), "valid": True, "errors": []}
    assert report[1]["file"] == str(ERRATUM)
    assert report[1]["valid"] is False
    assert report[1]["errors"] == [
        {
            "path": "$.plans.PII_Backup_Plan.rules.Hourly.lifecycle.delete_after_days",
            "message": report[1]["errors"][0]["message"],
        }
    ]
    assert "cold storage" in report[1]["errors"][0]["message"]


def test_validate_json_output_when_all_are_valid(capsys: pytest.CaptureFixture[str]) -> None:
    # Given one valid file
    # When validating with --json
    code, out, _ = run(capsys, "policy", "validate", VALID, "--json")
    # Then the exit status is 0
    assert code == 0
    assert json.loads(out) == [{"file": str(VALID), "valid": True, "errors": []}]


def test_validate_reports_bad_json_at_the_root(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    # Given a file that is not JSON
    broken = tmp_path / "broken.json"
    broken.write_text('{"plans": ', encoding="utf-8")
    # When validating it
    code, out, _ = run(capsys, "policy", "validate", "--json", broken)
    # Then the parser's message is the error, at $
    assert code == 1
    (entry,) = json.loads(out)
    assert entry["valid"] is False
    assert entry["errors"][0]["path"] == "$"
    assert "not valid JSON" in entry["errors"][0]["message"]


def test_validate_reports_a_missing_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    # Given a path with no file
    missing = tmp_path / "missing.json"
    # When validating it
    code, out, _ = run(capsys, "policy", "validate", missing)
    # Then it is an error for that file, not a crash, and the exit status says the file is unusable (2)
    assert code == 2
    assert out.startswith(f"{missing}: $: cannot read the file")


def test_validate_reports_a_file_that_is_not_utf8_as_unusable(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # Given a binary file next to a valid policy
    binary = tmp_path / "binary.json"
    binary.write_bytes(b"\xff\xfe\x00{")
    # When validating both
    code, out, _ = run(capsys, "policy", "validate", VALID, binary)
    # Then each file gets its line, and the exit status is 2
    assert code == 2
    assert f"{VALID}: valid" in out
    assert f"{binary}: $: cannot read the file: not UTF-8 text" in out


def test_validate_standalone_requires_complete_plans(capsys: pytest.CaptureFixture[str]) -> None:
    # Given Example 5's child policy, which has no selections of its own
    # When validating it as a child policy, then as a standalone one
    as_child, _, _ = run(capsys, "policy", "validate", CHILD)
    standalone, out, _ = run(capsys, "policy", "validate", "--standalone", CHILD)
    # Then only the standalone check fails, naming the missing selections
    assert as_child == 0
    assert standalone == 1
    assert "$.plans.PII_Backup_Plan.selections: selections is missing" in out


def test_validate_refuses_an_unknown_region_unless_allowed(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    # Given a documented example whose Region is changed to one botocore does not know
    policy = json.loads(VALID.read_text(encoding="utf-8"))
    text = json.dumps(policy).replace("ap-northeast-2", "ap-nrotheast-2")
    assert text != json.dumps(policy)
    path = tmp_path / "typo.json"
    path.write_text(text, encoding="utf-8")
    # When validating it, then validating it with the Region allowed
    refused = run(capsys, "policy", "validate", path)
    allowed = run(capsys, "policy", "validate", "--extra-regions", "ap-nrotheast-2", path)
    # Then the typo is refused with the Region named, and accepted when allowed
    assert refused[0] == 1
    assert "'ap-nrotheast-2'" in refused[1] or '"ap-nrotheast-2"' in refused[1]
    assert "not a Region AWS publishes" in refused[1]
    assert allowed[0] == 0


def test_validate_needs_at_least_one_file(capsys: pytest.CaptureFixture[str]) -> None:
    # Given no file argument
    # When parsing the command line
    with pytest.raises(SystemExit) as raised:
        cli.main(["policy", "validate"])
    # Then argparse refuses it
    assert raised.value.code == 2


# ------------------------------------------------------------------------------------------------------------------
# render
# ------------------------------------------------------------------------------------------------------------------


def test_render_prints_each_policy_and_its_size(
    capsys: pytest.CaptureFixture[str], deployment_parameters: list[str]
) -> None:
    # Given the deployment parameters of the default environment
    # When rendering without --out
    code, out, _ = run(capsys, "policy", "render")
    # Then each policy's size is shown against the limit, followed by the document
    assert code == 0
    assert deployment_parameters == ["default"]
    headers = [line for line in out.splitlines() if line.startswith("# orgbackup-")]
    assert [header.split(":")[0] for header in headers] == ["# orgbackup-daily", "# orgbackup-monthly"]
    assert all(" of 10,000 characters (" in header for header in headers)
    assert all(header.endswith("; plans for eu-west-1, eu-central-1") for header in headers)
    assert '"orgbackup-daily-eu-west-1": {' in out
    assert "# 2 of the 10 backup policies AWS Organizations attaches to one target" in out


def test_render_writes_minified_files(
    capsys: pytest.CaptureFixture[str], deployment_parameters: list[str], tmp_path: Path
) -> None:
    # Given an output folder that does not exist yet
    out_dir = tmp_path / "rendered"
    # When rendering with --out
    code, out, _ = run(capsys, "policy", "render", "--out", out_dir)
    # Then one minified file per policy is written and each line shows the size against the limit
    assert code == 0
    files = sorted(path.name for path in out_dir.iterdir())
    assert files == ["orgbackup-daily.json", "orgbackup-monthly.json"]
    for name in files:
        text = (out_dir / name).read_text(encoding="utf-8")
        assert text == json.dumps(json.loads(text), separators=(",", ":"), ensure_ascii=False)
        assert f"{len(text):,} of 10,000 characters" in out
    assert f"-> {out_dir / 'orgbackup-daily.json'}" in out
    # And the written files pass the validator as standalone policies
    code, _, _ = run(capsys, "policy", "validate", "--standalone", *sorted(out_dir.iterdir()))
    assert code == 0


def test_render_uses_the_chosen_samconfig_environment(
    capsys: pytest.CaptureFixture[str], deployment_parameters: list[str], tmp_path: Path
) -> None:
    # Given a --config-env
    # When rendering
    code, _, _ = run(capsys, "policy", "render", "--config-env", "prod", "--out", tmp_path)
    # Then the parameters of that environment are read
    assert code == 0
    assert deployment_parameters == ["prod"]


def test_render_with_invalid_parameters_fails_clearly(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given parameters with cold storage longer than retention allows
    bad: dict[str, Any] = {**PARAMETERS, "MonthlyColdStorageAfterDays": "300", "MonthlyRetentionDays": "365"}
    monkeypatch.setattr(deployment, "deployment_parameters", lambda **_: bad)
    # When rendering
    code, out, err = run(capsys, "policy", "render")
    # Then the exit status is 2 and the error names the parameters and the rule
    assert code == 2
    assert out == ""
    assert "MonthlyRetentionDays=365 is too short for MonthlyColdStorageAfterDays=300" in err


def test_render_with_a_missing_required_parameter_names_it(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given deployment parameters without the organization ID
    partial = {key: value for key, value in PARAMETERS.items() if key != "OrganizationId"}
    monkeypatch.setattr(deployment, "deployment_parameters", lambda **_: partial)
    # When rendering
    code, _, err = run(capsys, "policy", "render")
    # Then the missing CloudFormation parameter is named
    assert code == 2
    assert "OrganizationId is required" in err


def test_render_when_the_template_cannot_be_read(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Given a project root without template.yaml
    monkeypatch.setattr(deployment, "PROJECT_ROOT", tmp_path)
    # When rendering
    code, _, err = run(capsys, "policy", "render")
    # Then the error says the deployment parameters cannot be read
    assert code == 2
    assert "cannot read the deployment parameters" in err


TEMPLATE_YAML = """\
AWSTemplateFormatVersion: "2010-09-09"
Parameters:
  OrganizationId: {Type: String}
  ManagementAccountId: {Type: String}
  CentralBackupAccountId: {Type: String}
  BackupRegions: {Type: CommaDelimitedList, Default: "eu-west-1,eu-central-1"}
  MemberVaultName: {Type: String, Default: orgbackup-member}
  CentralVaultName: {Type: String, Default: orgbackup-central}
  BackupRoleName: {Type: String, Default: orgbackup-backup}
  MemberStacksetName: {Type: String, Default: orgbackup-member-baseline}
  CentralVaultPolicyRoleName: {Type: String, Default: orgbackup-vault-policy}
  DailyRetentionDays: {Type: Number, Default: 35}
Resources: {}
"""

SAMCONFIG = """\
version = 0.1
[default.deploy.parameters]
parameter_overrides = "OrganizationId=o-a1b2c3d4e5 ManagementAccountId=111111111111 CentralBackupAccountId=222222222222"
[prod.deploy.parameters]
parameter_overrides = [
  "OrganizationId=o-a1b2c3d4e5",
  "ManagementAccountId=111111111111",
  "CentralBackupAccountId=333333333333",
  "DailyRetentionDays=14",
]
"""


def test_render_reads_template_defaults_overlaid_by_samconfig(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Given a project with template.yaml defaults and two samconfig environments
    (tmp_path / "template.yaml").write_text(TEMPLATE_YAML, encoding="utf-8")
    (tmp_path / "samconfig.toml").write_text(SAMCONFIG, encoding="utf-8")
    monkeypatch.setattr(deployment, "PROJECT_ROOT", tmp_path)
    out_dir = tmp_path / "out"
    # When rendering the prod environment
    code, _, err = run(capsys, "policy", "render", "--config-env", "prod", "--out", out_dir)
    # Then its overrides reach the documents: its central account and its daily retention
    assert code == 0, err
    daily = json.loads((out_dir / "orgbackup-daily.json").read_text(encoding="utf-8"))
    rule = daily["plans"]["orgbackup-daily-eu-west-1"]["rules"]["daily"]
    assert list(rule["copy_actions"]) == ["arn:aws:backup:eu-west-1:333333333333:backup-vault:orgbackup-central"]
    assert rule["lifecycle"]["delete_after_days"] == {"@@assign": "14"}


def test_render_without_a_management_account_parameter(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Given deployment parameters without ManagementAccountId (template.yaml takes it from AWS::AccountId)
    without = {key: value for key, value in PARAMETERS.items() if key != "ManagementAccountId"}
    monkeypatch.setattr(deployment, "deployment_parameters", lambda **_: dict(without))
    # When rendering
    code, _, err = run(capsys, "policy", "render", "--out", tmp_path)
    # Then the policies render, and no management account appears in them
    assert code == 0, err
    for path in tmp_path.iterdir():
        text = path.read_text(encoding="utf-8")
        assert "000000000000" not in text
        assert "111111111111" not in text


def test_render_checks_a_given_management_account(
    capsys: pytest.CaptureFixture[str], deployment_parameters: list[str]
) -> None:
    # Given a management account ID equal to the central backup account
    # When rendering
    code, _, err = run(capsys, "policy", "render", "--management-account-id", "222222222222")
    # Then the settings refuse it, naming the rule
    assert code == 2
    assert "is the management account" in err
