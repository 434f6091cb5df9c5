"""Every function's handler driven by its sample from events/functions/ (the files `sam local invoke -e` takes),
in order, against the emulated organization, with the environment template.yaml gives each function."""

import json
from collections.abc import Iterator
from typing import Any

import pytest
from sample_events import read_event

from orgbackup import custom_resource, onboarding, settings_loader
from orgbackup.exceptions import InvalidInputError
from orgbackup.observability import metrics
from orgbackup.policies.converge import handle_policy_resource
from orgbackup.policies.parameters import PolicyParameters
from orgbackup.settings import Settings
from orgbackup_tools import emulation, simulation

# The module-scoped fixture is built once: under xdist every test of this module runs on one worker.
pytestmark = pytest.mark.xdist_group("handlers_world")


@pytest.fixture(scope="module")
def world() -> Iterator[simulation.World]:
    with simulation.World.emulate() as running:
        yield running


@pytest.fixture(autouse=True)
def _signed_in(world: simulation.World, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in world.environment.items():
        monkeypatch.setenv(key, value)


def invoke(world: simulation.World, function: str, sample: str) -> Any:
    context = emulation.FakeLambdaContext(function, simulation.MANAGEMENT_ACCOUNT, simulation.HOME_REGION)
    return world.handlers[function](read_event(f"functions/{sample}"), context)


def test_the_onboarding_steps_run_from_their_samples_in_order(world) -> None:
    # Resolve: the Pipes batch of the sample names two accounts and one redelivered duplicate
    resolved = invoke(world, "ResolveAccountsFunction", "resolve-accounts.json")
    assert sorted(item["account_id"] for item in resolved["resolution"]["to_onboard"]) == [
        "333333333333",
        "444444444444",
    ]
    assert resolved["plan"] == {"start_baseline": True, "converge": True}
    # StartBaseline: one operation, named after the execution
    started = invoke(world, "StartBaselineFunction", "start-baseline.json")
    assert started["operations"] == ["sample-run-create"]
    # InspectBaseline: both accounts have their baseline in every Region
    inspected = invoke(world, "InspectBaselineFunction", "inspect-baseline.json")
    assert sorted(inspected["baseline"]["onboarded"]) == ["333333333333", "444444444444"]
    assert inspected["baseline"]["failed"] == {}
    # RefreshVaultPolicy: the central vault policy lets both copy in, in both Regions
    refreshed = invoke(world, "RefreshVaultPolicyFunction", "refresh-vault-policy.json")
    assert refreshed["vault_policy"] == {
        "accounts": 2,
        "mode": "accounts",
        "written_regions": ["eu-west-1", "us-east-1"],
    }
    # ReattachBackupPolicies: both policies attached to both accounts
    reattached = invoke(world, "ReattachBackupPoliciesFunction", "reattach-backup-policies.json")
    assert len(reattached["backup_policies"]["attached"]) == 4
    # Report: one message naming both accounts
    reported = invoke(world, "ReportOnboardingFunction", "report-onboarding.json")
    assert reported["report"]["subject"] == "orgbackup: 2 onboarded"
    assert "333333333333" in reported["report"]["message"]


def test_the_policy_attachments_metric_counts_every_attachment_not_only_the_listed_ones(
    world: simulation.World, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given the sample's two accounts without the product's backup policies, a state that lists one attachment
    # (the rest are counted), and metrics switched on (the emulation switches them off)
    org = world.client("organizations")
    for account_id in ("333333333333", "444444444444"):
        for policy in org.list_policies_for_target(TargetId=account_id, Filter="BACKUP_POLICY")["Policies"]:
            org.detach_policy(PolicyId=policy["Id"], TargetId=account_id)
    monkeypatch.setattr(onboarding, "ATTACHMENTS_LISTED", 1)
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    metrics.clear_metrics()
    capsys.readouterr()
    # When ReattachBackupPolicies attaches both policies to both accounts
    reattached = invoke(world, "ReattachBackupPoliciesFunction", "reattach-backup-policies.json")
    # Then the state lists one attachment and counts four, and the metric counts four
    assert len(reattached["backup_policies"]["attached"]) == 1
    assert reattached["backup_policies"]["attached_count"] == 4
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    (record,) = [r for r in records if "PolicyAttachments" in r]
    assert record["PolicyAttachments"] == [4.0]


def test_the_failure_report_sample_names_step_account_and_cause(world) -> None:
    report = invoke(world, "ReportOnboardingFunction", "report-onboarding-failure.json")["report"]
    assert report["subject"] == "orgbackup: onboarding FAILED at RefreshVaultPolicy: CentralAccountAccessError"
    assert "AccessDenied" in report["message"]


def test_the_custom_resource_samples_create_update_and_delete(world, monkeypatch) -> None:
    answers: list[dict[str, Any]] = []
    monkeypatch.setattr(custom_resource, "_put", lambda url, body: answers.append(json.loads(body)))
    org = world.client("organizations")
    for sample in ("apply-backup-policies-create.json", "apply-backup-policies-update.json"):
        invoke(world, "ApplyBackupPoliciesFunction", sample)
    assert [answer["Status"] for answer in answers] == ["SUCCESS", "SUCCESS"]
    assert answers[-1]["PhysicalResourceId"] == "orgbackup-backup-policies/orgbackup"
    assert {p["Name"] for p in org.list_policies(Filter="BACKUP_POLICY")["Policies"]} == {
        "orgbackup-daily",
        "orgbackup-monthly",
    }
    invoke(world, "ApplyBackupPoliciesFunction", "apply-backup-policies-delete.json")
    assert answers[-1]["Status"] == "SUCCESS"
    assert org.list_policies(Filter="BACKUP_POLICY")["Policies"] == []


def test_the_policy_check_sample_renders_everything_and_changes_nothing(world, monkeypatch) -> None:
    # Given the check resource's Create sample, and the policies as the deployment left them
    answers: list[dict[str, Any]] = []
    monkeypatch.setattr(custom_resource, "_put", lambda url, body: answers.append(json.loads(body)))
    org = world.client("organizations")
    before = org.list_policies(Filter="BACKUP_POLICY")["Policies"]
    # When it runs with the deployment's settings
    invoke(world, "ApplyBackupPoliciesFunction", "apply-backup-policies-check.json")
    # Then it succeeds, reports each document and its size, and creates or changes no policy
    assert answers[-1]["Status"] == "SUCCESS", answers[-1]
    assert answers[-1]["PhysicalResourceId"] == "orgbackup-backup-policy-check"
    assert "orgbackup-daily (" in answers[-1]["Data"]["Policies"]
    assert org.list_policies(Filter="BACKUP_POLICY")["Policies"] == before


def test_the_policy_check_fails_a_copy_retention_outside_the_central_vault_lock(world, monkeypatch) -> None:
    # Given a central Vault Lock whose minimum is longer than the central copies are kept
    answers: list[dict[str, Any]] = []
    monkeypatch.setattr(custom_resource, "_put", lambda url, body: answers.append(json.loads(body)))
    environment = {
        **world.function_environment("ApplyBackupPoliciesFunction"),
        "VAULT_LOCK_MODE": "COMPLIANCE",
        "VAULT_LOCK_MIN_RETENTION_DAYS": "3650",
        "CENTRAL_COPY_RETENTION_DAYS": "90",
    }
    org = world.client("organizations")
    # When the check runs (before the StackSets, so before the lock exists), as the handler runs it
    custom_resource.run(
        read_event("functions/apply-backup-policies-check.json"),
        lambda request: handle_policy_resource(
            request,
            org,
            lambda: (settings_loader.load(Settings, environment), settings_loader.load(PolicyParameters, environment)),
        ),
    )
    # Then the deployment fails with both values and the rule named
    assert answers[-1]["Status"] == "FAILED"
    assert "CentralCopyRetentionDays=90 is shorter than VaultLockMinRetentionDays=3650" in answers[-1]["Reason"]


def test_the_formatter_takes_a_backup_event_as_eventbridge_delivers_it(world) -> None:
    context = emulation.FakeLambdaContext("FormatBackupAlertFunction", simulation.MANAGEMENT_ACCOUNT, "us-east-1")
    result = world.handlers["FormatBackupAlertFunction"](read_event("backup/backup-job-failed.json"), context)
    assert "FAILED" in result["subject"]
    assert result["message_id"]


def test_the_offboarding_steps_run_from_their_samples_in_order(world) -> None:
    # Given 333333333333 holding its baseline, then moved out of scope (Sandbox)
    cfn, org = world.client("cloudformation"), world.client("organizations")
    cfn.create_stack_instances(
        StackSetName=world.settings.member_stackset_name, Accounts=["333333333333"], Regions=["us-east-1", "eu-west-1"]
    )
    org.move_account(
        AccountId="333333333333", SourceParentId="ou-ab12-11111111", DestinationParentId="ou-ab12-22222222"
    )
    # Offboard: the departure is found from the organization, one operation removes its instances
    started = invoke(world, "OffboardAccountsFunction", "offboard-accounts.json")
    assert [item["account_id"] for item in started["offboarding"]["departures"]] == ["333333333333"]
    assert started["offboarding"]["operations"] == ["sample-offboard-run-offboard0"]
    assert started["offboarding"]["retain_stacks"] is True
    assert "offboard" not in started["plan"]
    assert started["plan"]["converge"] is True
    # InspectOffboarding: the instances are gone, the stacks kept
    inspected = invoke(world, "InspectOffboardingFunction", "inspect-offboarding.json")
    assert list(inspected["offboarding"]["offboarded"]) == ["333333333333"]
    assert inspected["offboarding"]["offboarded"]["333333333333"]["stacks"] == "retained"
    assert inspected["offboarding"]["failed"] == {}


def test_inspect_offboarding_names_an_operation_that_does_not_exist(world) -> None:
    # Given a state naming a removal the StackSet never ran: a classified error naming it, not a ClientError
    state = read_event("functions/inspect-offboarding.json")
    state["offboarding"]["operations"] = ["never-started"]
    context = emulation.FakeLambdaContext("InspectOffboardingFunction", simulation.MANAGEMENT_ACCOUNT, "us-east-1")
    with pytest.raises(InvalidInputError, match="'never-started' does not exist in StackSet"):
        world.handlers["InspectOffboardingFunction"](state, context)
