"""Every JSONPath statemachine/onboarding.asl.json reads or writes exists in the workflow state's model
(orgbackup.workflow_state), with a type that fits where it is used; and the check notices each kind of mistake."""

import copy
import json

import pytest

from orgbackup import workflow_state as model
from orgbackup_tools import asl_check, state_paths
from orgbackup_tools.deployment import PROJECT_ROOT

ASL = PROJECT_ROOT / "statemachine" / "onboarding.asl.json"


@pytest.fixture
def definition() -> dict:
    text = ASL.read_text(encoding="utf-8")
    values = {name: asl_check.stand_in(name) for name in asl_check.PLACEHOLDER.findall(text)}
    return json.loads(asl_check.substitute(text, values))


def test_every_path_of_the_definition_is_in_the_model(definition) -> None:
    assert state_paths.path_problems(definition) == []


def test_the_check_sees_the_paths_the_choices_and_catches_use(definition) -> None:
    # The paths the issue names, and one of each place a path can be (so a path the walk skips cannot hide)
    found = set(state_paths.paths(definition))
    assert {
        "$.plan.start_baseline",  # Choice Variable
        "$.plan.converge",
        "$.report.failed",
        "$.report.subject",  # Parameters of the SNS publish
        "$.operations",  # ItemsPath
        "$.failure.error",  # Catch ResultPath
        "$.failure.step",  # ResultPath of the FailedAt* states
        "$.Payload",  # OutputPath of the Lambda tasks
        "$.polls",  # inside an intrinsic function, in the polling Map
        "$.operation.status",
    } <= found
    # And each resolves to the model's type for it
    assert state_paths.resolve(model.WorkflowState, "$.plan.converge") is bool
    assert state_paths.resolve(model.WorkflowState, "$.failure.error") is model.ErrorOutput
    assert state_paths.resolve(model.WorkflowState, "$.report.failed") == model.Count
    assert state_paths.resolve(model.WorkflowState, "$.report.next_chunk") is bool


def _states(definition: dict) -> dict:
    return definition["States"]


@pytest.mark.parametrize(
    ("edit", "problem"),
    [
        (
            lambda d: _states(d)["WhatToDo"]["Choices"][1].update(Variable="$.plan.converged"),
            "WhatToDo Choices[1] Variable: $.plan.converged is not in the model (Plan has no field 'converged')",
        ),
        (
            lambda d: _states(d)["Outcome"]["Choices"][1].update(Variable="$.report.outcome"),
            "Outcome Choices[1] Variable: $.report.outcome is str in the model, not int",
        ),
        (
            lambda d: _states(d)["Outcome"]["Choices"][0].update(Variable="$.report.failed"),
            "Outcome Choices[0] Variable: $.report.failed is int in the model, not bool",
        ),
        (
            lambda d: _states(d)["NextChunk"]["Parameters"].update({"failed_earlier.$": "$.report.failed_ids"}),
            "NextChunk Parameters: $.report.failed_ids is not in the model (Report has no field 'failed_ids')",
        ),
        (
            lambda d: _states(d)["WaitForBaseline"].update(ItemsPath="$.plan"),
            "WaitForBaseline ItemsPath: $.plan is Plan in the model, not list",
        ),
        (
            lambda d: _states(d)["Resolve"]["Catch"][0].update(ResultPath="$.failure"),
            "Resolve Catch[0] ResultPath: $.failure is Failure in the model, not ErrorOutput",
        ),
        (
            lambda d: _states(d)["FailedAtResolve"].update(Result=["Resolve"]),
            'FailedAtResolve Result: workflow state: $.failure.step: must be a string, got array ["Resolve"]',
        ),
        (
            lambda d: _states(d)["Notify"]["Parameters"].update({"Subject.$": "$.report.title"}),
            "Notify Parameters: $.report.title is not in the model (Report has no field 'title')",
        ),
        (
            lambda d: _states(d)["Report"].update(OutputPath="$.Result"),
            "Report OutputPath: $.Result is not in the model (LambdaInvokeResult has no field 'Result')",
        ),
        (
            lambda d: _states(d)["Start"]["Parameters"].update({"name.$": "$$.Execution.Name"}),
            "Start Parameters: writes 'name', not a field of ResolveRequest",
        ),
        (
            lambda d: _states(d)["WaitForBaseline"]["ItemSelector"].update(poll_count=0),
            "WaitForBaseline ItemSelector: writes 'poll_count', not a field of OperationPoll",
        ),
        (
            lambda d: _states(d)["WaitForBaseline"]["ItemProcessor"]["States"]["CountPoll"]["Parameters"].update(
                {"polls.$": "States.MathAdd($.poll, 1)"}
            ),
            "CountPoll Parameters: $.poll is not in the model (OperationPoll has no field 'poll')",
        ),
        (
            lambda d: _states(d)["WaitForBaseline"]["ItemProcessor"]["States"]["DescribeOperation"][
                "ResultSelector"
            ].update({"status.$": "$.StackSetOperation.State"}),
            "DescribeOperation ResultSelector: $.StackSetOperation.State is not in the API's response",
        ),
    ],
)
def test_a_path_the_model_does_not_have_is_reported(definition, edit, problem) -> None:
    # Given the definition with one path (or written key) changed
    broken = copy.deepcopy(definition)
    edit(broken)

    # Then the check names the state, the path and why
    problems = state_paths.path_problems(broken)
    assert any(found.startswith(problem) for found in problems), problems
