"""`orgbackup doctor` against the emulated organization: all good, each prerequisite missing in turn, parameters that do
not match the organization, and the state after a deploy (``orgbackup_tools.simulation.World``)."""

import json
from typing import Any

import pytest
from doctor_helpers import OUTPUTS, check, not_ok, results, run_doctor, world

from orgbackup_tools import cli, deployment, doctor
from orgbackup_tools.simulation import CENTRAL_ACCOUNT, Prerequisites

BEFORE_DEPLOY_CHECKS = {
    "management-account",
    "all-features",
    "organization-id",
    "parameter-names",
    "backup-policy-parameters",
    "vault-lock",
    "backup-trusted-access",
    "backup-policy-type",
    "scp-policy-type",
    "cross-account-backup",
    "stackset-administration-role",
    "central-account",
    "central-account-enrolled",
    "in-scope-ous",
    "excluded-accounts",
    "policy-targets",
    "region:us-east-1",
    "region:eu-west-1",
}


def test_all_prerequisites_in_place_before_the_first_deploy() -> None:
    # Given an organization with every prerequisite and nothing deployed yet
    with world() as running:
        report = run_doctor(running)
    # Then every check holds, the after-deploy part says the stack is not there yet, and the exit would be 0
    assert not_ok(report) == {}
    assert report.ok
    assert set(results(report)) == {*BEFORE_DEPLOY_CHECKS, "stack"}
    assert "not deployed yet" in check(report, "stack").found
    assert report.organization_id == "o-ab12cd34ef"
    assert report.management_account_id == "111111111111"


@pytest.mark.parametrize(
    ("left_out", "regions", "name", "result", "fix"),
    [
        ("backup_trusted_access", None, "backup-trusted-access", doctor.MISSING, "enable-aws-service-access"),
        ("backup_policy_type", None, "backup-policy-type", doctor.MISSING, "enable-policy-type"),
        ("scp_policy_type", None, "scp-policy-type", doctor.MISSING, "--policy-type SERVICE_CONTROL_POLICY"),
        ("cross_account_backup", None, "cross-account-backup", doctor.MISSING, "isCrossAccountBackupEnabled=true"),
        ("stackset_administration_role", None, "stackset-administration-role", doctor.MISSING, "Control Tower"),
        ("central_account_enrolled", None, "central-account-enrolled", doctor.MISSING, "Control Tower console"),
        ("opt_in_regions_enabled", ("us-east-1", "eu-south-1"), "region:eu-south-1", doctor.WRONG, "enable-region"),
        (
            "account_management_trusted_access",
            ("us-east-1", "eu-south-1"),
            "region:eu-south-1",
            doctor.CANNOT_TELL,
            "account.amazonaws.com",
        ),
    ],
)
def test_each_prerequisite_missing_is_the_one_check_that_fails(
    left_out: str, regions: tuple[str, ...] | None, name: str, result: str, fix: str
) -> None:
    # Given an organization without one prerequisite
    changes: dict[str, Any] = {"prerequisites": Prerequisites(**{left_out: False})}
    if regions:
        changes["regions"] = regions
    with world(**changes) as running:
        report = run_doctor(running)
    # Then exactly that check fails, with why it matters and the fix
    assert not_ok(report) == {name: result}
    assert not report.ok
    failing = check(report, name)
    assert fix in failing.fix
    assert failing.why
    assert failing.found


def test_without_the_central_role_guard_service_control_policies_are_not_needed() -> None:
    # Given an organization without SCPs, deployed with ProtectCentralVaultPolicyRole=false
    with world(prerequisites=Prerequisites(scp_policy_type=False)) as running:
        report = run_doctor(running, ProtectCentralVaultPolicyRole="false")
    # Then the SCP check is not run and everything holds
    assert "scp-policy-type" not in results(report)
    assert not_ok(report) == {}


def test_an_opt_in_region_disabled_in_one_member_account_names_that_account() -> None:
    from orgbackup_tools import emulation

    with world(regions=("us-east-1", "eu-south-1")) as running:
        emulation.set_region_opt_status("555555555555", "eu-south-1", "DISABLED")
        report = run_doctor(running)
    region = check(report, "region:eu-south-1")
    assert region.result == doctor.WRONG
    assert region.found == "opt-in Region, not enabled in: 555555555555 (DISABLED)"
    assert "--region-name eu-south-1" in region.fix


def test_after_a_deploy_every_check_holds() -> None:
    # Given the product deployed into a complete organization
    with world(deploy=True) as running:
        report = run_doctor(running)
    # Then the after-deploy checks run and hold too
    assert not_ok(report) == {}
    after = {item.name for item in report.checks if item.phase == doctor.AFTER}
    assert after == {
        "stack",
        "member-stackset",
        "central-stackset",
        "central-instances",
        "backup-policies",
        "policy-attachments",
    }
    assert check(report, "stack").found == f"CREATE_COMPLETE; {len(OUTPUTS)} outputs"


def test_after_a_deploy_an_account_with_a_baseline_but_no_policies_is_named() -> None:
    with world(deploy=True) as running:
        # Given an account whose baseline exists in every Region but which has no backup policy attached yet
        cfn = running.client("cloudformation")
        cfn.create_stack_instances(
            StackSetName=running.settings.member_stackset_name,
            Accounts=["333333333333"],
            Regions=list(running.settings.backup_regions),
        )
        report = run_doctor(running)
        attachments = check(report, "policy-attachments")
        # Then the doctor names each missing attachment and how to converge them
        assert attachments.result == doctor.WRONG
        assert "orgbackup-daily -> 333333333333" in attachments.found
        assert "orgbackup-monthly -> 333333333333" in attachments.found
        assert '"mode": "reconcile"' in attachments.fix
        # When the policies are attached
        org = running.client("organizations")
        for summary in org.list_policies(Filter="BACKUP_POLICY")["Policies"]:
            org.attach_policy(PolicyId=summary["Id"], TargetId="333333333333")
        # Then it holds
        assert check(run_doctor(running), "policy-attachments").result == doctor.OK


def test_after_a_deploy_a_missing_central_instance_is_reported() -> None:
    with world(deploy=True) as running:
        running.client("cloudformation").delete_stack_instances(
            StackSetName=running.parameters["CentralStacksetName"],
            Accounts=[CENTRAL_ACCOUNT],
            Regions=["eu-west-1"],
            RetainStacks=False,
        )
        report = run_doctor(running)
    instances = check(report, "central-instances")
    assert instances.result == doctor.MISSING
    assert instances.found == "eu-west-1: no instance"
    assert not_ok(report) == {"central-instances": doctor.MISSING}


@pytest.mark.parametrize(
    ("overrides", "outputs", "name", "result"),
    [
        ({"CentralStacksetName": "orgbackup-central-renamed"}, OUTPUTS, "central-stackset", doctor.MISSING),
        ({"PolicyNamePrefix": "renamed"}, OUTPUTS, "backup-policies", doctor.MISSING),
        ({}, (*OUTPUTS, "OutputAddedLater"), "stack", doctor.WRONG),
    ],
)
def test_after_a_deploy_what_the_stack_should_have_made_is_checked(
    overrides: dict[str, str], outputs: tuple[str, ...], name: str, result: str
) -> None:
    with world(deploy=True) as running:
        report = run_doctor(running, outputs=outputs, **overrides)
    assert check(report, name).result == result


def test_the_doctor_only_reads_and_only_what_the_readme_lists() -> None:
    called: set[str] = set()

    def record(model: Any, **_: Any) -> None:
        called.add(f"{model.service_model.signing_name}:{model.name}")

    with world(deploy=True, regions=("us-east-1", "eu-south-1")) as running:
        running.session.events.register("before-call", record)
        try:
            run_doctor(running)
        finally:
            running.session.events.unregister("before-call", record)
    # Every call is a documented read-only action, and the run exercised the list (nothing stale in it)
    assert called <= set(doctor.READ_ONLY_ACTIONS)
    assert all(action.split(":")[1].startswith(("Get", "List", "Describe")) for action in doctor.READ_ONLY_ACTIONS)
    unused = set(doctor.READ_ONLY_ACTIONS) - called
    # ListAccounts: only when every OU is in scope; ListParents: only when an OU walk did not learn the parent
    assert unused <= {"organizations:ListAccounts", "organizations:ListParents"}
    readme = (deployment.PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    for action in doctor.READ_ONLY_ACTIONS:
        assert action in readme


def test_the_command_prints_json_and_exits_1_when_a_check_fails(capsys: pytest.CaptureFixture[str]) -> None:
    arguments = [
        "doctor",
        "--json",
        "--parameter-overrides",
        "OrganizationId=o-ab12cd34ef CentralBackupAccountId=222222222222",
        "BackupRegions=us-east-1,eu-west-1",
    ]
    with world(prerequisites=Prerequisites(cross_account_backup=False)) as running:
        code = cli.main(arguments)
        printed = json.loads(capsys.readouterr().out)
        assert code == 1
        assert printed["ok"] is False
        failing = [item for item in printed["checks"] if item["result"] != "ok"]
        assert [item["name"] for item in failing] == ["cross-account-backup"]
        assert set(failing[0]) == {"name", "phase", "checked", "result", "found", "why", "fix"}
        # When the setting is turned on, the same command exits 0 and says so in text
        running.client("backup").update_global_settings(GlobalSettings={"isCrossAccountBackupEnabled": "true"})
        assert cli.main(arguments[:1] + arguments[2:]) == 0
        assert capsys.readouterr().out.rstrip().endswith("Everything holds.")


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--parameter-overrides", "OrganizationId"], "'OrganizationId' is not Key=Value"),
        (["--parameter-overrides", "NoSuchParameter=1"], "NoSuchParameter is not a parameter of template.yaml"),
    ],
)
def test_unusable_arguments_exit_2_and_read_nothing(
    arguments: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["doctor", *arguments]) == 2
    captured = capsys.readouterr()
    assert message in captured.err
    assert captured.out == ""


@pytest.mark.parametrize(
    ("change", "result", "found"),
    [
        ("no-account-record", doctor.CANNOT_TELL, "lists no baseline for the account itself"),
        ("account-failed", doctor.WRONG, "its Control Tower baseline is FAILED"),
    ],
)
def test_central_enrolment_the_landing_zone_does_not_confirm(change: str, result: str, found: str) -> None:
    from orgbackup_tools import emulation

    with world() as running:
        # Given the central account's OU registered, but its own baseline record absent or failed
        records = emulation.DOCTOR_STATE.enabled_baselines
        own = next(item for item in records if item["targetIdentifier"].endswith(f"/{CENTRAL_ACCOUNT}"))
        if change == "no-account-record":
            records.remove(own)
        else:
            own["statusSummary"]["status"] = "FAILED"
        report = run_doctor(running)
    enrolled = check(report, "central-account-enrolled")
    assert (enrolled.result, not_ok(report)) == (result, {"central-account-enrolled": result})
    assert found in enrolled.found
    assert "Control Tower console" in enrolled.fix


def test_outside_an_organization_the_doctor_says_so_and_reads_no_further() -> None:
    import boto3
    from moto import mock_aws

    with mock_aws():
        session = boto3.session.Session(region_name="us-east-1")
        report = doctor.Doctor(
            session, deployment.deployment_parameters(), stack_name="orgbackup", region="us-east-1"
        ).run()
    assert check(report, "organization").result == doctor.MISSING
    assert "Control Tower" in check(report, "organization").fix
    assert {item.name for item in report.checks} == {
        "organization",
        "parameter-names",
        "backup-policy-parameters",
        "vault-lock",
    }
    assert not report.ok


def test_the_readme_example_is_what_the_doctor_prints(capsys: pytest.CaptureFixture[str]) -> None:
    # Given the README's example: the emulated organization without cross-account backup
    readme = (deployment.PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Before you deploy") :]
    start = section.index("```\norgbackup doctor - ") + len("```\n")
    example = section[start : section.index("\n```", start)]
    with world(prerequisites=Prerequisites(cross_account_backup=False)):
        code = cli.main(
            [
                "doctor",
                "--parameter-overrides",
                "OrganizationId=o-ab12cd34ef CentralBackupAccountId=222222222222",
                "BackupRegions=us-east-1,eu-west-1",
                "InScopeOuIds=ou-ab12-11111111",
            ]
        )
    # Then the doctor prints exactly that, and exits 1
    assert capsys.readouterr().out.rstrip("\n") == example
    assert code == 1


def test_parameter_overrides_in_both_of_sam_deploys_forms() -> None:
    from orgbackup_tools.commands.doctor import parse_overrides

    assert parse_overrides(['OrganizationId=o-ab12cd34ef InScopeOuIds="ou-ab12-11111111,ou-ab12-22222222"']) == {
        "OrganizationId": "o-ab12cd34ef",
        "InScopeOuIds": "ou-ab12-11111111,ou-ab12-22222222",
    }
    assert parse_overrides(["ParameterKey=BackupRegions,ParameterValue=us-east-1,eu-west-1"]) == {
        "BackupRegions": "us-east-1,eu-west-1"
    }


def test_without_overrides_the_command_reads_samconfig_toml(capsys: pytest.CaptureFixture[str]) -> None:
    # samconfig.toml's default environment names the example organization o-a1b2c3d4e5, not the emulated one
    with world():
        code = cli.main(["doctor", "--json"])
    printed = json.loads(capsys.readouterr().out)
    organization_id = next(item for item in printed["checks"] if item["name"] == "organization-id")
    assert code == 1
    assert organization_id["result"] == "wrong"
    assert "OrganizationId='o-a1b2c3d4e5'" in organization_id["found"]
    assert printed["stack_name"] == "orgbackup"
    assert printed["region"] == "us-east-1"
