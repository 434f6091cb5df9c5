"""The onboarding state machine, written once: ``statemachine/onboarding.asl.json`` is generated from this module.

Amazon States Language has no way to share a Retry or Catch between states, so by hand every Task repeated the
same retry policy and every Catch needed a Pass state of its own to record which step failed. Here each policy is
one constant, each kind of step one function, and the Pass state that records a failed step is written from its Catch.
The JSON file stays the deployed artifact (SAM's ``DefinitionUri``, moto, asl-validator read it); ``make lint``
(``asl_check``) and ``tests/static/test_state_machine.py`` fail when it is not what this module generates.

Edit here, then ``python -m orgbackup_tools.onboarding_definition`` (rewrites the file; ``--check`` only compares).
Development-only, like the rest of ``orgbackup_tools``.
"""

import json
import sys
from pathlib import Path
from typing import Any

from orgbackup.accounts import RECONCILE_MAX_CHUNKS
from orgbackup_tools.deployment import PROJECT_ROOT

ASL_PATH = PROJECT_ROOT / "statemachine" / "onboarding.asl.json"
State = dict[str, Any]

LAMBDA_INVOKE = "arn:${Partition}:states:::lambda:invoke"
SNS_PUBLISH = "arn:${Partition}:states:::sns:publish"

# Step Functions developer guide, "Handle Lambda service exceptions"
# (https://docs.aws.amazon.com/step-functions/latest/dg/bp-lambda-serviceexception.html): transient Lambda errors.
# RetryableConflictError: the handlers' own retry layer gave up on an Organizations or StackSets conflict.
LAMBDA_RETRY: list[State] = [
    {
        "ErrorEquals": [
            "Lambda.ServiceException",
            "Lambda.AWSLambdaException",
            "Lambda.SdkClientException",
            "Lambda.TooManyRequestsException",
            "Lambda.Unknown",
        ],
        "IntervalSeconds": 2,
        "MaxAttempts": 4,
        "BackoffRate": 2,
        "JitterStrategy": "FULL",
    },
    {
        "ErrorEquals": ["RetryableConflictError"],
        "IntervalSeconds": 30,
        "MaxAttempts": 4,
        "BackoffRate": 2,
        "JitterStrategy": "FULL",
    },
    {"ErrorEquals": ["States.Timeout"], "IntervalSeconds": 5, "MaxAttempts": 1},
]
SNS_RETRY: list[State] = [
    {
        "ErrorEquals": [
            "SNS.ThrottledException",
            "SNS.InternalErrorException",
            "SNS.KmsThrottlingException",
            "SNS.SnsException",
            "States.Timeout",
        ],
        "IntervalSeconds": 2,
        "MaxAttempts": 5,
        "BackoffRate": 2,
        "JitterStrategy": "FULL",
    }
]
DESCRIBE_OPERATION_RETRY: list[State] = [
    {
        "ErrorEquals": [
            "CloudFormation.CloudFormationException",
            "CloudFormation.ThrottlingException",
            "States.Timeout",
        ],
        "IntervalSeconds": 5,
        "MaxAttempts": 5,
        "BackoffRate": 2,
        "JitterStrategy": "FULL",
    }
]

# Where a Catch records what failed, for the report: the error output at FAILURE_ERROR_PATH, then a Pass state of
# its own (``FailedAt<step>``) writes the step's name at FAILURE_STEP_PATH. Step Functions offers ``Assign`` in a
# Catch (developer guide, "Passing data between states with variables":
# https://docs.aws.amazon.com/step-functions/latest/dg/workflow-variables.html), which would let one shared Pass
# state read the step's name back from a variable; moto 5.2.5's interpreter stores such a variable but cannot read
# one (it evaluates ``$name`` through JSONata, which it lacks: tests/workflow/test_workflow_variables.py), and the
# workflow tests run this definition on it. So the Pass states stay, generated here from the Catch that names them.
FAILED_AT = "FailedAt"
FAILURE_ERROR_PATH = "$.failure.error"
FAILURE_STEP_PATH = "$.failure.step"

# One StackSet operation's poll: every POLL_SECONDS, at most POLL_BOUND times (an hour).
POLL_SECONDS = 30
POLL_BOUND = 120
# DescribeStackSetOperation's final statuses (API reference, StackSetOperation:
# https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_StackSetOperation.html).
OPERATION_FINAL = ("SUCCEEDED", "FAILED", "STOPPED")


def catch_failure() -> list[State]:
    """Any error of the step: its error output in ``failure.error``, then FailedAt<step> (``with_failed_at`` names
    it after the state) and the failure report."""
    return [{"ErrorEquals": ["States.ALL"], "ResultPath": FAILURE_ERROR_PATH, "Next": FAILED_AT}]


def with_failed_at(states: dict[str, State]) -> tuple[dict[str, State], dict[str, State]]:
    """``states`` with each failure Catch pointed at a Pass state of its step's own, which records the step's name
    and goes on to the failure report; those Pass states come after the states that name them."""
    named: dict[str, State] = {}
    failed_at: dict[str, State] = {}
    for name, state in states.items():
        catches = [
            catch | {"Next": f"{FAILED_AT}{name}"} if catch["Next"] == FAILED_AT else catch
            for catch in state.get("Catch", [])
        ]
        named[name] = state | {"Catch": catches} if catches else state
        if any(catch["Next"] == FAILED_AT for catch in state.get("Catch", [])):
            failed_at[f"{FAILED_AT}{name}"] = {
                "Type": "Pass",
                "Result": name,
                "ResultPath": FAILURE_STEP_PATH,
                "Next": "ReportFailure",
            }
    return named, failed_at


def lambda_step(function: str, timeout: int, next_state: str, comment: str | None = None) -> State:
    """A workflow step: the whole state in, the state the handler returns out."""
    state: State = {"Type": "Task"}
    if comment:
        state["Comment"] = comment
    state |= {
        "Resource": LAMBDA_INVOKE,
        "Parameters": {"FunctionName": f"${{{function}FunctionArn}}", "Payload.$": "$"},
        "OutputPath": "$.Payload",
        "TimeoutSeconds": timeout,
        "Retry": LAMBDA_RETRY,
        "Catch": catch_failure(),
        "Next": next_state,
    }
    return state


def notify(message: State, catch: list[State], next_state: str, comment: str | None = None) -> State:
    """An SNS publish to the notification topic; its result is dropped (the state goes on unchanged)."""
    state: State = {"Type": "Task"}
    if comment:
        state["Comment"] = comment
    return state | {
        "Resource": SNS_PUBLISH,
        "Parameters": {"TopicArn": "${NotificationTopicArn}", **message},
        "ResultPath": None,
        "TimeoutSeconds": 60,
        "Retry": SNS_RETRY,
        "Catch": catch,
        "Next": next_state,
    }


# A failed failure notification still ends the run as failed (the execution's status is the last word).
NOTIFY_FAILED: list[State] = [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.notify_error", "Next": "Failed"}]
REPORT_MESSAGE: State = {"Subject.$": "$.report.subject", "Message.$": "$.report.message"}


def poll_operations(
    items_path: str, names: tuple[str, str, str, str, str, str], comment: str, timeout_cause: str
) -> State:
    """A Map that polls each StackSet operation in ``items_path`` until it ends; ``names`` are its inner states:
    wait, describe, count, ended?, done, timed out."""
    wait, describe, count, ended, done, timed_out = names
    return {
        "Type": "Map",
        "Comment": comment,
        "ItemsPath": items_path,
        "MaxConcurrency": 1,
        "ItemSelector": {"operation_id.$": "$$.Map.Item.Value", "polls": 0},
        "ItemProcessor": {
            "ProcessorConfig": {"Mode": "INLINE"},
            "StartAt": wait,
            "States": {
                wait: {"Type": "Wait", "Seconds": POLL_SECONDS, "Next": describe},
                describe: {
                    "Type": "Task",
                    "Resource": "arn:${Partition}:states:::aws-sdk:cloudformation:describeStackSetOperation",
                    "Parameters": {"StackSetName": "${MemberStackSetName}", "OperationId.$": "$.operation_id"},
                    "ResultSelector": {"status.$": "$.StackSetOperation.Status"},
                    "ResultPath": "$.operation",
                    "TimeoutSeconds": 60,
                    "Retry": DESCRIBE_OPERATION_RETRY,
                    "Next": count,
                },
                count: {
                    "Type": "Pass",
                    "Parameters": {
                        "operation_id.$": "$.operation_id",
                        "operation.$": "$.operation",
                        "polls.$": "States.MathAdd($.polls, 1)",
                    },
                    "Next": ended,
                },
                ended: {
                    "Type": "Choice",
                    "Choices": [
                        {
                            "Or": [
                                {"Variable": "$.operation.status", "StringEquals": status} for status in OPERATION_FINAL
                            ],
                            "Next": done,
                        },
                        {"Variable": "$.polls", "NumericGreaterThanEquals": POLL_BOUND, "Next": timed_out},
                    ],
                    "Default": wait,
                },
                done: {"Type": "Succeed"},
                timed_out: {"Type": "Fail", "Error": "StackSetOperationTimedOut", "Cause": timeout_cause},
            },
        },
        "ResultPath": None,
        "Catch": catch_failure(),
    }


def present_and(path: str, comparator: str, value: Any) -> State:
    """A Choice rule on a key only some runs have (a missing Variable is an error in a Choice, not false)."""
    return {"And": [{"Variable": path, "IsPresent": True}, {"Variable": path, comparator: value}]}


def definition() -> State:
    states: dict[str, State] = {
        "Start": {
            "Type": "Pass",
            "Comment": "Wrap the input (a Pipes batch is a JSON array) so every later state is an object.",
            "Parameters": {"input.$": "$", "execution.$": "$$.Execution.Name"},
            "Next": "Resolve",
        },
        "Resolve": lambda_step(
            "ResolveAccounts",
            900,
            "WhatToDo",
            "Parse the events or request, look every account up in Organizations, classify it.",
        ),
        "WhatToDo": {
            "Type": "Choice",
            "Choices": [
                present_and("$.plan.offboard", "BooleanEquals", True) | {"Next": "Offboard"},
                {"Variable": "$.plan.start_baseline", "BooleanEquals": True, "Next": "StartBaseline"},
                {"Variable": "$.plan.converge", "BooleanEquals": True, "Next": "RefreshVaultPolicy"},
            ],
            "Default": "Report",
        },
        "StartBaseline": lambda_step(
            "StartBaseline",
            300,
            "WaitForBaseline",
            "One StackSet operation for every account and Region of the batch.",
        ),
        "WaitForBaseline": poll_operations(
            "$.operations",
            (
                "WaitForOperation",
                "DescribeOperation",
                "CountPoll",
                "OperationEnded",
                "OperationDone",
                "OperationTimedOut",
            ),
            f"Poll each StackSet operation until it ends: every {POLL_SECONDS} s, at most {POLL_BOUND} times "
            "(an hour).",
            f"The StackSet operation was still running after {POLL_BOUND} polls (one hour). It goes on in "
            "CloudFormation; the next run or the daily reconcile finishes the onboarding without duplicates.",
        )
        | {"Next": "InspectBaseline"},
        "InspectBaseline": lambda_step(
            "InspectBaseline",
            120,
            "RefreshVaultPolicy",
            "Per account and Region: what the operations did; failed pairs are reported, the rest carry on.",
        ),
        "RefreshVaultPolicy": lambda_step(
            "RefreshVaultPolicy",
            120,
            "ReattachBackupPolicies",
            "Central vault access policy from the source of truth, written only where it changed.",
        ),
        "ReattachBackupPolicies": lambda_step("ReattachBackupPolicies", 900, "Report"),
        "Report": lambda_step("ReportOnboarding", 60, "Notify"),
        "Notify": notify(REPORT_MESSAGE, catch_failure(), "Outcome"),
        "NextChunk": {
            "Type": "Pass",
            "Comment": f"Resolve again in reconcile mode (at most {RECONCILE_MAX_CHUNKS} chunks a run), leaving out "
            "the accounts that failed so far.",
            "Parameters": {
                "input": {"mode": "reconcile"},
                "execution.$": "$.execution",
                "chunk.$": "States.MathAdd($.chunk, 1)",
                "failed_earlier.$": "$.report.failed_accounts",
            },
            "Next": "Resolve",
        },
        # A reconcile onboards one chunk of accounts per round (accounts.RECONCILE_CHUNK_ACCOUNTS), so its state
        # stays inside Step Functions' 262,144 bytes
        # (https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html); each round recomputes from the
        # organization. Whether another round follows is decided once, by the Report step (report.next_chunk, which
        # its message words): accounts remain, the bound is not reached, no offboarding failed, and not more than
        # accounts.RECONCILE_CARRIED_FAILURES accounts failed (those that did are carried to the next round and left
        # out of it). Once no round follows, failed accounts of any round end the run failed.
        "Outcome": {
            "Type": "Choice",
            "Choices": [
                {"Variable": "$.report.next_chunk", "BooleanEquals": True, "Next": "NextChunk"},
                {"Variable": "$.report.failed", "NumericGreaterThan": 0, "Next": "SomeAccountsFailed"},
                present_and("$.report.offboarding_failed", "NumericGreaterThan", 0)
                | {"Next": "SomeOffboardingsFailed"},
            ],
            "Default": "Done",
        },
        "Offboard": lambda_step(
            "OffboardAccounts",
            # The function's Timeout (Lambda's maximum): in reconcile mode it walks the whole in-scope organization.
            900,
            "OffboardingStarted",
            "Accounts that left the scope (decided from the organization now): detach the product's policies, remove "
            "their member StackSet instances retaining the stacks (one operation).",
        ),
        "OffboardingStarted": {
            "Type": "Choice",
            "Choices": [{"Variable": "$.offboarding.wait", "BooleanEquals": True, "Next": "WaitForOffboarding"}],
            "Default": "WhatToDo",
        },
        "WaitForOffboarding": poll_operations(
            "$.offboarding.operations",
            (
                "WaitForOffboardOperation",
                "DescribeOffboardOperation",
                "CountOffboardPoll",
                "OffboardOperationEnded",
                "OffboardOperationDone",
                "OffboardOperationTimedOut",
            ),
            f"Poll each offboarding StackSet operation until it ends: every {POLL_SECONDS} s, at most {POLL_BOUND} "
            "times (an hour).",
            f"The offboarding StackSet operation was still running after {POLL_BOUND} polls (one hour). It goes on "
            "in CloudFormation; the daily reconcile finishes the offboarding.",
        )
        | {"Next": "InspectOffboarding"},
        "InspectOffboarding": lambda_step(
            "InspectOffboarding",
            120,
            "WhatToDo",
            "Per departing account: which instances are gone and what was kept; then on to onboarding and convergence.",
        ),
        "Done": {"Type": "Succeed"},
        "SomeAccountsFailed": {
            "Type": "Fail",
            "Error": "AccountsNotOnboarded",
            "Cause": "Some accounts did not get their baseline; the notification names them and why.",
        },
        "SomeOffboardingsFailed": {
            "Type": "Fail",
            "Error": "AccountsNotOffboarded",
            "Cause": "Some accounts that left the scope still hold their stack instances; the notification names "
            "them and why. The daily reconcile retries.",
        },
        "ReportFailure": lambda_step("ReportOnboarding", 60, "NotifyFailure")
        | {"Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.report_error", "Next": "NotifyRawFailure"}]},
        "NotifyFailure": notify(REPORT_MESSAGE, NOTIFY_FAILED, "Failed"),
        "NotifyRawFailure": notify(
            {
                "Subject": "orgbackup: onboarding FAILED (raw state attached)",
                "Message.$": "States.JsonToString($)",
            },
            NOTIFY_FAILED,
            "Failed",
            "The report itself failed: send the raw state so the failure is still heard.",
        ),
        "Failed": {
            "Type": "Fail",
            "Error": "OnboardingFailed",
            "Cause": "A step failed; the notification says which, for which accounts, and why.",
        },
    }
    # After the states whose Catch names them, before the failure report (the order the file always had).
    failure_path = ("ReportFailure", "NotifyFailure", "NotifyRawFailure", "Failed")
    named, failed_at = with_failed_at(states)
    ordered = {name: state for name, state in named.items() if name not in failure_path}
    ordered |= failed_at | {name: named[name] for name in failure_path}
    return {
        "Comment": "orgbackup onboarding: resolve accounts, offboard those that left the scope, give the new ones the "
        "member baseline through one StackSet operation, refresh the central vault policy, reattach the backup "
        "policies, notify. Every failure ends in "
        "a notification. Generated by tools/orgbackup_tools/onboarding_definition.py: edit it there.",
        "StartAt": "Start",
        "TimeoutSeconds": 7200,
        "States": ordered,
    }


LINE_WIDTH = 120


def _format(value: Any, indent: int = 0) -> str:
    """JSON, indented by 2, with any object or array that fits in the line written on one line."""
    flat = json.dumps(value, ensure_ascii=False, separators=(", ", ": "))
    if not isinstance(value, dict | list) or indent + len(flat) <= LINE_WIDTH - 10 or not value:
        return flat
    inner = " " * (indent + 2)
    if isinstance(value, list):
        items = [inner + _format(item, indent + 2) for item in value]
        return "[\n" + ",\n".join(items) + "\n" + " " * indent + "]"
    members = [f"{inner}{json.dumps(key)}: {_format(item, indent + 2)}" for key, item in value.items()]
    return "{\n" + ",\n".join(members) + "\n" + " " * indent + "}"


def render() -> str:
    return _format(definition()) + "\n"


def out_of_date(path: Path | None = None) -> bool:
    path = path or ASL_PATH
    return not path.exists() or path.read_text(encoding="utf-8") != render()


def _shown(path: Path) -> str:
    return str(path.relative_to(PROJECT_ROOT) if path.is_relative_to(PROJECT_ROOT) else path)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args not in ([], ["--check"]):
        print("usage: python -m orgbackup_tools.onboarding_definition [--check]", file=sys.stderr)
        return 2
    if args == ["--check"]:
        stale = out_of_date()
        print(f"{_shown(ASL_PATH)}: {'differs from' if stale else 'is'} what this module generates")
        return 1 if stale else 0
    ASL_PATH.write_text(render(), encoding="utf-8")
    print(f"wrote {_shown(ASL_PATH)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
