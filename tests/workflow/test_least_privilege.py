"""The least-privilege contract (issue 9): every AWS call the product makes in an emulated run is allowed by the
policies the templates give the principal that makes it, every granted action and every resource-policy statement
is used by some call or has a written reason (tests/workflow/data/least_privilege_reasons.json), and no resource
policy lets a principal outside the organization in. See orgbackup_tools.least_privilege for what is modelled.

One emulated run (module scope) covers every principal: the custom resource (create, update, delete), an
onboarding through the lifecycle rule, queue and Pipe, the daily reconcile started by the schedule, a run that
fails and notifies, and backup failures forwarded from a member, the central and the management account, one of
them with a failing formatter (the OnFailure destination), and an account moved out of scope (offboarding)."""

import copy
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sample_events import read_event

from orgbackup import custom_resource
from orgbackup_tools import call_log, coverage_demo, emulation, least_privilege, simulation

# The module-scoped fixture is built once: under xdist every test of this module runs on one worker.
pytestmark = pytest.mark.xdist_group("least_privilege_run")

REASONS_FILE = Path(__file__).parent / "data" / "least_privilege_reasons.json"
MEMBERS = ("333333333333", "555555555555")
SANDBOX = "ou-ab12-22222222"  # out of scope in the emulated organization


def _custom_resource(world: simulation.World, request_type: str) -> None:
    event = {
        "RequestType": request_type,
        "ResponseURL": "https://cloudformation-custom-resource-response.example/response",
        "StackId": "arn:aws:cloudformation:us-east-1:111111111111:stack/orgbackup/1",
        "RequestId": "contract",
        "LogicalResourceId": "BackupPolicies",
        "ResourceType": "Custom::BackupPolicies",
        "PhysicalResourceId": world.policy_resource["PhysicalResourceId"],
        "ResourceProperties": {},
        "OldResourceProperties": {},
    }
    answers: list[Any] = []
    original = custom_resource._put
    custom_resource._put = lambda url, body: answers.append(json.loads(body))  # type: ignore[assignment]
    try:
        world.handlers["ApplyBackupPoliciesFunction"](
            event,
            emulation.FakeLambdaContext("ApplyBackupPoliciesFunction", simulation.MANAGEMENT_ACCOUNT, "us-east-1"),
        )
    finally:
        custom_resource._put = original  # type: ignore[assignment]
    assert answers, request_type
    assert answers[0]["Status"] == "SUCCESS", answers


@pytest.fixture(scope="module")
def run() -> Iterator[tuple[simulation.World, least_privilege.Contract]]:
    with simulation.World.emulate() as world:
        world.process_events([read_event("controltower/create-managed-account.json")])
        with call_log.playing(world.role_of("ReconcileSchedule"), "scheduler.amazonaws.com"):
            arn = world.start_execution(read_event("workflow/reconcile.json"))
        world.wait(arn)
        world.execute(read_event("workflow/invalid-batch.json"))
        failure = read_event("backup/backup-job-failed.json")
        world.emit_backup_event(MEMBERS[0], "eu-west-1", failure)
        world.emit_backup_event(simulation.CENTRAL_ACCOUNT, "us-east-1", failure)
        world.emit_backup_event(simulation.MANAGEMENT_ACCOUNT, "us-east-1", read_event("backup/copy-job-failed.json"))

        def broken(event: Any, context: Any) -> Any:
            raise RuntimeError("formatter bug")

        formatter = world.handlers["FormatBackupAlertFunction"]
        world.handlers["FormatBackupAlertFunction"] = broken
        world.emit_backup_event(MEMBERS[0], "us-east-1", read_event("backup/restore-job-failed.json"))
        world.handlers["FormatBackupAlertFunction"] = formatter
        # The daily coverage report, started by its schedule, over seeded jobs
        coverage_demo.seed_jobs(world, datetime.now(UTC))
        with call_log.playing(world.role_of("CoverageReportSchedule"), "scheduler.amazonaws.com"):
            response = world.client("lambda").invoke(
                FunctionName=world.resources["CoverageReportFunction"]["Arn"],
                Payload=json.dumps(read_event("functions/coverage-report.json")).encode(),
            )
        assert "FunctionError" not in response, response["Payload"].read()
        _custom_resource(world, "Update")
        templates = least_privilege.Templates.load(world, MEMBERS)
        # An account leaving the scope (after the templates are read: its stacks are retained, its instances go):
        # Organizations' MoveAccount event, emitted after the move, through the rule, queue, Pipe and Offboard steps
        move_out = read_event("organizations/move-account-out-of-scope.json")
        assert world.apply_organization_change(move_out)
        world.process_events([move_out])
        # And one whose move never reached the product: the daily reconcile finds it holding instances out of scope
        org = world.client("organizations")
        (parent,) = org.list_parents(ChildId=MEMBERS[1])["Parents"]
        org.move_account(AccountId=MEMBERS[1], SourceParentId=parent["Id"], DestinationParentId=SANDBOX)
        with call_log.playing(world.role_of("ReconcileSchedule"), "scheduler.amazonaws.com"):
            arn = world.start_execution(read_event("workflow/reconcile.json"))
        world.wait(arn)
        _custom_resource(world, "Delete")
        yield world, least_privilege.Contract(world, templates)


@pytest.fixture(scope="module")
def reasons() -> dict[str, dict[str, str]]:
    return least_privilege.load_reasons(REASONS_FILE)


def test_every_recorded_call_is_allowed(run) -> None:
    world, contract = run
    assert least_privilege.refused(contract, world.calls.calls) == []


def test_every_principal_of_the_templates_made_calls(run) -> None:
    world, _ = run
    acting = {call.principal.arn for call in world.calls.calls if call.principal and call.principal.arn}
    expected = {
        world.role_of(logical_id)
        for logical_id, resource in world.template["Resources"].items()
        if resource["Type"] in ("AWS::Serverless::Function", "AWS::Pipes::Pipe", "AWS::Scheduler::Schedule")
        or logical_id == "OnboardingStateMachine"
    } - {world.role_of("ReportOnboardingFunction")}  # formats the report: no AWS call at all
    assert expected - acting == set()
    stackset_roles = {arn for arn in acting if ":role/OrgBackup" in arn}
    assert any(MEMBERS[0] in arn for arn in stackset_roles)
    assert any(simulation.CENTRAL_ACCOUNT in arn for arn in stackset_roles)


def test_every_granted_action_is_used_or_has_a_reason(run, reasons) -> None:
    world, contract = run
    used, _ = least_privilege.usage(contract, world.calls.calls)
    why = reasons["grants"]
    unused = [
        f"{role}: {action}"
        for role, action in least_privilege.grants(contract.templates)
        if not least_privilege.iam_eval.used(action, used.get(role, set())) and action not in why.get(role, {})
    ]
    assert unused == [], "\n".join(unused)


def test_every_resource_policy_statement_is_used_or_has_a_reason(run, reasons) -> None:
    world, contract = run
    _, used = least_privilege.usage(contract, world.calls.calls)
    unused = [
        least_privilege.statement_label(holder, index, statement)
        for holder, index, statement in least_privilege.resource_statements(contract.templates)
        if (holder.key, index) not in used
        and least_privilege.statement_label(holder, index, statement) not in reasons["statements"]
    ]
    assert unused == [], "\n".join(unused)


def test_no_reason_is_stale(run, reasons) -> None:
    # A reason for a grant that is used, or that no longer exists, would hide the next unused one.
    world, contract = run
    used_actions, used_statements = least_privilege.usage(contract, world.calls.calls)
    granted = set(least_privilege.grants(contract.templates))
    for role, actions in reasons["grants"].items():
        for action in actions:
            assert (role, action) in granted, f"reason for {role} {action}, which is not granted"
            assert not least_privilege.iam_eval.used(action, used_actions.get(role, set())), f"{role} {action} is used"
    labels = {
        least_privilege.statement_label(holder, index, statement): (holder.key, index)
        for holder, index, statement in least_privilege.resource_statements(contract.templates)
    }
    for label in reasons["statements"]:
        assert label in labels, f"reason for {label}, which does not exist"
        assert labels[label] not in used_statements, f"{label} is used"


def test_no_resource_policy_lets_a_principal_outside_the_organization_in(run) -> None:
    _, contract = run
    assert least_privilege.outsider_allowed(contract.templates) == []


# ------------------------------------------------------------------------------------------------------------------
# The contract catches what it claims to


def test_removing_any_action_a_call_needs_is_refused(run) -> None:
    world, contract = run
    used, _ = least_privilege.usage(contract, world.calls.calls)
    for role_key, actions in used.items():
        holder = next(h for h in contract.templates.roles.values() if h.key == role_key)
        for action in actions:
            narrowed = copy.copy(contract.templates)
            narrowed.roles = copy.deepcopy(contract.templates.roles)
            documents = narrowed.roles[holder.arn].documents
            for document in documents.values():
                for statement in least_privilege.iam_eval.statements(document):
                    if statement["Effect"] == "Allow":
                        kept = [a for a in least_privilege.iam_eval.actions_of(statement) if a != action]
                        statement["Action"] = kept or ["none:None"]
            still = least_privilege.Contract(world, narrowed)
            if least_privilege.refused(still, world.calls.calls):
                continue
            # Within one account a resource policy that names the principal allows on its own (AWS's evaluation
            # logic): then, and only then, the identity grant is not what allowed the call.
            for need in still.needs(world.calls.calls):
                if need.request.principal == holder.arn and need.request.action == action:
                    sources = {name for name, _ in still.decide(need).allowed_by}
                    assert sources, f"{role_key} without {action} still passes"
                    assert not sources & set(documents), f"{role_key} without {action} still passes"


def test_an_unused_grant_without_a_reason_is_reported(run, reasons) -> None:
    world, contract = run
    widened = copy.copy(contract.templates)
    widened.roles = copy.deepcopy(contract.templates.roles)
    role = next(h for h in widened.roles.values() if h.logical_id == "ResolveAccountsRole")
    next(iter(role.documents.values()))["Statement"].append(
        {"Effect": "Allow", "Action": "organizations:CloseAccount", "Resource": "*"}
    )
    used, _ = least_privilege.usage(least_privilege.Contract(world, widened), world.calls.calls)
    unused = [
        (key, action)
        for key, action in least_privilege.grants(widened)
        if not least_privilege.iam_eval.used(action, used.get(key, set()))
        and action not in reasons["grants"].get(key, {})
    ]
    assert unused == [(role.key, "organizations:CloseAccount")]


def test_the_templates_managed_policy_grants_to_each_role_that_names_it(run) -> None:
    # Given the emulated deployment and the contract's reading of the template (issue 11 part 7: the reads shared by
    # five roles are one AWS::IAM::ManagedPolicy in their ManagedPolicyArns)
    world, contract = run
    iam = world.client("iam")
    shared = world.template["Resources"]["ListProtectedAccountsPolicy"]["Properties"]["PolicyDocument"]
    for role in (
        "ResolveAccountsRole",
        "VaultPolicyAutomationRole",
        "ReattachBackupPoliciesRole",
        "CoverageReportRole",
        "OffboardAccountsRole",
    ):
        # When reading the role as IAM has it and as the contract evaluates it
        (attached,) = iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"]
        version = iam.get_policy(PolicyArn=attached["PolicyArn"])["Policy"]["DefaultVersionId"]
        document = iam.get_policy_version(PolicyArn=attached["PolicyArn"], VersionId=version)["PolicyVersion"]
        # Then IAM holds the one policy, attached, and the contract counts its statements among the role's grants
        assert attached["PolicyName"] == "ListProtectedAccountsPolicy", role
        assert [s["Sid"] for s in document["Document"]["Statement"]] == [s["Sid"] for s in shared["Statement"]]
        arn = world.resources[role]["Arn"]
        assert "ListProtectedAccountsPolicy" in contract.templates.roles[arn].documents, role
