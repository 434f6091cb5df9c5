"""What moto's Step Functions interpreter (the workflow tier's) does with workflow variables, which decides how
statemachine/onboarding.asl.json records a failed step (orgbackup_tools.onboarding_definition, FAILED_AT).

Step Functions lets a Catch ``Assign`` a variable and a later JSONPath state read it as ``$name`` (developer guide,
"Passing data between states with variables": https://docs.aws.amazon.com/step-functions/latest/dg/workflow-variables.html).
moto 5.2.5 stores the variable but cannot read it: it evaluates ``$name`` through JSONata, which it does not ship.
So the definition keeps one small Pass state per step. When this test fails, the interpreter reads variables: the
FailedAt* states can become one ``Assign`` in each Catch and one shared Pass state reading it.
"""

import json
import time

import boto3
from moto import mock_aws

# A step that fails, a Catch that assigns the step's name, a Pass state that reads it into the state.
DEFINITION = {
    "StartAt": "Fails",
    "States": {
        "Fails": {
            "Type": "Task",
            "Resource": "arn:aws:states:::aws-sdk:cloudformation:describeStackSetOperation",
            "Parameters": {"StackSetName": "no-such-stackset", "OperationId": "op-1"},
            "TimeoutSeconds": 60,
            "Catch": [
                {
                    "ErrorEquals": ["States.ALL"],
                    "Assign": {"failed_step": "Fails"},
                    "ResultPath": "$.failure.error",
                    "Next": "RecordFailedStep",
                }
            ],
            "End": True,
        },
        "RecordFailedStep": {
            "Type": "Pass",
            "Parameters": {"step.$": "$failed_step"},
            "ResultPath": "$.failure.recorded",
            "End": True,
        },
    },
}


def _run(definition: dict) -> tuple[dict, list[dict]]:
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        sfn = boto3.client("stepfunctions", region_name="us-east-1")
        machine = sfn.create_state_machine(
            name="variables", definition=json.dumps(definition), roleArn="arn:aws:iam::111111111111:role/states"
        )["stateMachineArn"]
        arn = sfn.start_execution(stateMachineArn=machine, input="{}")["executionArn"]
        for _ in range(3000):  # a bound on the polls, not a time assertion: a stuck interpreter fails the test
            described = sfn.describe_execution(executionArn=arn)
            if described["status"] != "RUNNING":
                return described, sfn.get_execution_history(executionArn=arn)["events"]
            time.sleep(0.02)
        raise AssertionError(f"execution {arn} still RUNNING after 3,000 polls")


def test_the_interpreter_assigns_a_variable_in_a_catch_but_cannot_read_it_back() -> None:
    # When a step fails and its Catch assigns the step's name
    described, history = _run(DEFINITION)

    # Then the Catch's Assign runs: the variable is recorded as the failed state exits
    exited = next(e for e in history if e["type"] == "TaskStateExited")
    assert exited["stateExitedEventDetails"]["assignedVariables"] == {"failed_step": '"Fails"'}
    # But reading it in the next JSONPath state fails inside the interpreter (a TypeError, not an ASL error)
    assert described["status"] == "FAILED"
    assert described["error"] == "States.Runtime"
    assert "TypeError" in described["cause"]


def test_the_same_machine_with_a_pass_state_per_step_records_the_step() -> None:
    # Given what the onboarding definition does instead: a Pass state that writes the step's name as its Result
    definition = json.loads(json.dumps(DEFINITION))
    del definition["States"]["Fails"]["Catch"][0]["Assign"]
    definition["States"]["RecordFailedStep"] = {
        "Type": "Pass",
        "Result": "Fails",
        "ResultPath": "$.failure.step",
        "End": True,
    }

    described, _ = _run(definition)

    # Then the run ends with the step and its error in the state
    assert described["status"] == "SUCCEEDED"
    output = json.loads(described["output"])
    assert output["failure"]["step"] == "Fails"
    assert output["failure"]["error"]["Error"] == "cloudformation.StackSetNotFoundException"
