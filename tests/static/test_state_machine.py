"""The onboarding definition, statically: valid ASL after the template's substitutions, placeholders and
substitutions in step, every Next exists, every Task has Retry, Catch and TimeoutSeconds; and the checks catch
what they claim to (each is shown a broken definition)."""

import copy
import inspect
import json
import re

import pytest

from orgbackup_tools import asl_check
from orgbackup_tools.deployment import PROJECT_ROOT

ASL = PROJECT_ROOT / "statemachine" / "onboarding.asl.json"


@pytest.fixture(scope="module")
def source() -> asl_check.StateMachineSource:
    (found,) = [s for s in asl_check.state_machines() if s.path == ASL]
    return found


@pytest.fixture
def definition() -> dict:
    text = ASL.read_text(encoding="utf-8")
    values = {name: asl_check.stand_in(name) for name in asl_check.PLACEHOLDER.findall(text)}
    return json.loads(asl_check.substitute(text, values))


def test_the_onboarding_definition_passes_every_check(source) -> None:
    assert asl_check.check(ASL, [source]) == []


def test_placeholders_and_substitutions_match_both_ways(source) -> None:
    text = ASL.read_text(encoding="utf-8")
    assert set(asl_check.PLACEHOLDER.findall(text)) == set(source.substitutions)
    problems = asl_check.placeholder_problems(text + "${Unknown}", {**source.substitutions, "Extra": "x"}, "asl")
    assert problems == ["asl: ${Unknown} has no DefinitionSubstitution", "asl: substitution Extra is never used"]


def test_every_task_has_retry_catch_and_timeout(definition) -> None:
    tasks = [(n, s, c) for n, s, c in asl_check._walk(definition["States"], False) if s["Type"] == "Task"]
    assert len(tasks) >= 10
    for name, state, enclosing_catch in tasks:
        assert "TimeoutSeconds" in state, name
        assert state["Retry"], name
        assert state.get("Catch") or enclosing_catch, name


def test_a_missing_next_an_unreachable_state_and_a_bare_task_are_reported(definition) -> None:
    broken = copy.deepcopy(definition)
    broken["States"]["Resolve"]["Next"] = "Nowhere"
    broken["States"]["Orphan"] = {"Type": "Task", "Resource": "arn:aws:states:::sns:publish", "End": True}
    problems = asl_check.structural_problems(broken)
    assert "States.Resolve: Next 'Nowhere' is not a state" in problems
    assert "States.Orphan: unreachable from StartAt" in problems
    assert "Task Orphan: no TimeoutSeconds" in problems
    assert "Task Orphan: no Retry for transient errors" in problems
    assert "Task Orphan: no Catch (and no enclosing Map or Parallel with one)" in problems


def test_the_schema_validator_rejects_an_invalid_definition(definition) -> None:
    broken = copy.deepcopy(definition)
    broken["States"]["Done"]["Type"] = "Finish"
    assert asl_check.schema_problems(json.dumps(broken), "asl")


def test_lambda_error_names_in_the_definition_are_domain_exceptions(definition) -> None:
    """Retry/Catch name exception classes; a renamed class must not silently stop matching."""
    from orgbackup import exceptions

    names = {
        error
        for _, state, _ in asl_check._walk(definition["States"], False)
        for clause in [*state.get("Retry", []), *state.get("Catch", [])]
        for error in clause["ErrorEquals"]
        if "." not in error
    }
    assert names
    for name in names:
        assert hasattr(exceptions, name), name


def test_every_domain_exception_is_raised_somewhere() -> None:
    """The exceptions module is the ASL contract: a class nothing raises would promise an error that never comes."""
    from orgbackup import exceptions

    code = "\n".join(
        path.read_text(encoding="utf-8")
        for folder in ("layers/shared/orgbackup", "functions")
        for path in (PROJECT_ROOT / folder).rglob("*.py")
        if path.name != "exceptions.py"
    )
    classes = [name for name, cls in inspect.getmembers(exceptions, inspect.isclass) if issubclass(cls, Exception)]
    never_raised = [name for name in classes if name != "OrgBackupError" and not re.search(rf"\b{name}\(", code)]
    assert never_raised == []


# ------------------------------------------------------------------------------------------------------------------
# Retry per task and per error, and the operation's terminal states (issue 9: each of these was a surviving mutant)

# Step Functions developer guide, "Handle Lambda service exceptions"
# (https://docs.aws.amazon.com/step-functions/latest/dg/bp-lambda-serviceexception.html): transient Lambda service
# errors surface as Lambda.ServiceException, Lambda.AWSLambdaException, Lambda.SdkClientException; throttling as
# Lambda.TooManyRequestsException. Every Lambda task must retry each of them, and RetryableConflictError, which the
# shared retry layer raises when Organizations or StackSets conflicts outlast its own bounded backoff.
LAMBDA_TRANSIENT = (
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
)
LAMBDA_TASK_RETRIES = (*LAMBDA_TRANSIENT, "RetryableConflictError")


def _retried(state: dict) -> dict[str, int]:
    """Error name -> attempts of the first Retry clause matching it (the one Step Functions applies)."""
    retried: dict[str, int] = {}
    for clause in state.get("Retry", []):
        for error in clause["ErrorEquals"]:
            retried.setdefault(error, clause.get("MaxAttempts", 3))
    return retried


def _lambda_tasks(definition: dict) -> list[tuple[str, dict]]:
    return [
        (name, state)
        for name, state, _ in asl_check._walk(definition["States"], False)
        if state["Type"] == "Task" and state["Resource"].endswith(":states:::lambda:invoke")
    ]


def test_every_lambda_task_retries_each_transient_lambda_error_and_conflicts(definition) -> None:
    tasks = _lambda_tasks(definition)
    assert {name for name, _ in tasks} >= {"Resolve", "StartBaseline", "ReattachBackupPolicies", "ReportFailure"}
    for name, state in tasks:
        retried = _retried(state)
        for error in LAMBDA_TASK_RETRIES:
            # Retried by its own clause (States.ALL would also retry bugs), at least once.
            assert retried.get(error, 0) >= 1, f"{name} does not retry {error}"


def test_the_retry_contract_notices_a_missing_error(definition) -> None:
    broken = copy.deepcopy(definition)
    for clause in broken["States"]["StartBaseline"]["Retry"]:
        clause["ErrorEquals"] = [e for e in clause["ErrorEquals"] if e != "RetryableConflictError"]
    retried = _retried(broken["States"]["StartBaseline"])
    assert "RetryableConflictError" not in retried


# DescribeStackSetOperation's Status (API reference, StackSetOperation:
# https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_StackSetOperation.html): RUNNING, QUEUED and
# STOPPING go on; SUCCEEDED, FAILED (failure tolerance exceeded) and STOPPED (cancelled) are final.
OPERATION_GOES_ON = {"RUNNING", "QUEUED", "STOPPING"}


def _operation_statuses() -> set[str]:
    import botocore.session

    model = botocore.session.get_session().get_service_model("cloudformation")
    return set(model.shape_for("StackSetOperationStatus").enum)


def _choose(choice_state: dict, data: dict) -> str:
    """The Next of a Choice state for ``data``: the StringEquals / Or / NumericGreaterThanEquals rules it uses."""

    def value(path: str) -> object:
        current: object = data
        for part in path.removeprefix("$.").split("."):
            current = current[part] if isinstance(current, dict) else None
        return current

    def holds(rule: dict) -> bool:
        if "Or" in rule:
            return any(holds(item) for item in rule["Or"])
        if "StringEquals" in rule:
            return bool(value(rule["Variable"]) == rule["StringEquals"])
        if "NumericGreaterThanEquals" in rule:
            return bool(value(rule["Variable"]) >= rule["NumericGreaterThanEquals"])
        raise AssertionError(f"rule not understood by this test: {rule}")

    for rule in choice_state["Choices"]:
        if holds(rule):
            return str(rule["Next"])
    return str(choice_state["Default"])


def test_the_poll_ends_on_every_final_operation_status_and_only_on_those(definition) -> None:
    states = definition["States"]["WaitForBaseline"]["ItemProcessor"]["States"]
    statuses = _operation_statuses()
    assert statuses >= OPERATION_GOES_ON | {"SUCCEEDED", "FAILED", "STOPPED"}
    for status in statuses:
        # Given the first poll reads this status
        next_state = _choose(states["OperationEnded"], {"operation": {"status": status}, "polls": 1})
        # Then a final status ends the wait at once and a running one polls again
        expected = "WaitForOperation" if status in OPERATION_GOES_ON else "OperationDone"
        assert next_state == expected, status
    assert states["OperationDone"]["Type"] == "Succeed"


# ------------------------------------------------------------------------------------------------------------------
# Generated, not hand-written (issue 11, part 8): the committed file is what orgbackup_tools.onboarding_definition
# writes, and what that module writes once (a retry policy, the failure Catch, the poll) is the same everywhere.


def test_the_committed_definition_is_what_its_generator_writes() -> None:
    from orgbackup_tools import onboarding_definition

    assert ASL.read_text(encoding="utf-8") == onboarding_definition.render()
    assert onboarding_definition.main(["--check"]) == 0


def test_a_hand_edit_of_the_generated_definition_is_reported(tmp_path, monkeypatch) -> None:
    from orgbackup_tools import onboarding_definition

    edited = tmp_path / "onboarding.asl.json"
    edited.write_text(ASL.read_text(encoding="utf-8").replace('"MaxAttempts": 4', '"MaxAttempts": 9', 1))
    monkeypatch.setitem(asl_check.GENERATORS, edited.resolve(), onboarding_definition)
    (problem,) = asl_check.generated_problems(edited, edited.read_text(encoding="utf-8"), "asl")
    assert problem.startswith("asl: differs from what orgbackup_tools.onboarding_definition generates")
    monkeypatch.setattr(onboarding_definition, "ASL_PATH", edited)
    assert onboarding_definition.main(["--check"]) == 1
    assert onboarding_definition.main([]) == 0
    assert edited.read_text(encoding="utf-8") == onboarding_definition.render()


def test_every_failure_catch_records_its_own_step_and_reports_it(definition) -> None:
    from orgbackup_tools import onboarding_definition as source

    caught = {}
    for name, state in definition["States"].items():
        for catch in state.get("Catch", []):
            if catch["ResultPath"] == "$.failure.error":
                caught[name] = catch["Next"]
    # Every state that can fail a run, and only those, records itself
    assert set(caught) == {name for name, state in definition["States"].items() if state["Type"] in ("Task", "Map")} - {
        "ReportFailure",
        "NotifyFailure",
        "NotifyRawFailure",
    }
    for step, pass_state in caught.items():
        assert definition["States"][pass_state] == {
            "Type": "Pass",
            "Result": step,
            "ResultPath": "$.failure.step",
            "Next": "ReportFailure",
        }
    recorders = {name for name in definition["States"] if name.startswith(source.FAILED_AT)}
    assert recorders == set(caught.values())


def test_each_retry_policy_is_the_same_object_wherever_it_is_used(definition) -> None:
    from orgbackup_tools import onboarding_definition as source

    lambda_tasks = _lambda_tasks(definition)
    assert len(lambda_tasks) >= 7
    for _, state in lambda_tasks:
        assert state["Retry"] == source.LAMBDA_RETRY
    publishes = [
        s
        for _, s, _ in asl_check._walk(definition["States"], False)
        if s.get("Resource", "").endswith(":states:::sns:publish")
    ]
    assert len(publishes) == 3
    for state in publishes:
        assert state["Retry"] == source.SNS_RETRY
