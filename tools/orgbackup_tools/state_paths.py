"""Every JSONPath the onboarding state machine reads or writes is a field of the workflow state's model
(``orgbackup.workflow_state``), of a type that can be used there: the Choice states' Variables (a BooleanEquals
reads a bool), ItemsPath (a list), InputPath, OutputPath, ResultPath, a Catch's ResultPath (an error output),
the ``.$`` values of Parameters, ItemSelector and ResultSelector (and the paths inside intrinsic functions), the
keys a Pass state or an ItemSelector writes, and a Pass state's Result.

Which document a path is read from: the execution input for Start, what Start writes (``ResolveRequest``) for
Resolve, an ``OperationPoll`` inside a polling Map, the workflow state everywhere else; a Lambda task's OutputPath
reads the Invoke result, whose ``Payload`` is the state the handler returned; an AWS SDK task's ResultSelector reads
the API's response, checked against botocore's model of it. ``$$`` paths (the context object) and ``$name``
workflow variables are not the state and are left to asl-validator. Development-only.
"""

import re
import typing
from collections.abc import Iterator, Mapping
from typing import Any, NotRequired, TypedDict

import botocore.session

from orgbackup import workflow_state as model
from orgbackup.exceptions import InvalidInputError


class LambdaInvokeResult(TypedDict):
    """What the Lambda Invoke integration returns (Step Functions developer guide, "Invoke an AWS Lambda function
    with Step Functions": https://docs.aws.amazon.com/step-functions/latest/dg/connect-lambda.html): the function's
    response in ``Payload`` (here always the workflow state), with the Invoke API's status fields."""

    Payload: model.WorkflowState
    StatusCode: int
    ExecutedVersion: NotRequired[str]


# The document each state reads, where it is not the workflow state.
INPUT_MODELS: Mapping[str, Any] = {"Start": Any, "Resolve": model.ResolveRequest}
OUTPUT_MODELS: Mapping[str, Any] = {"Start": model.ResolveRequest, "NextChunk": model.ResolveRequest}
ITERATION_MODEL = model.OperationPoll  # every Map of the definition polls StackSet operations

PATH = re.compile(r"\$(?:\.[A-Za-z_][A-Za-z0-9_]*)*")
SIMPLE_PATH = re.compile(rf"^{PATH.pattern}$")
# Choice comparators and the JSON type the Variable must hold for each.
COMPARATOR_TYPES: Mapping[str, Any] = {
    "BooleanEquals": bool,
    "StringEquals": str,
    "StringMatches": str,
    "NumericEquals": int,
    "NumericGreaterThan": int,
    "NumericGreaterThanEquals": int,
    "NumericLessThan": int,
    "NumericLessThanEquals": int,
}
MISSING = object()


def _strip(kind: Any) -> Any:
    """The JSON type under ``Annotated`` and ``| None``."""
    while True:
        if typing.get_origin(kind) is typing.Annotated:
            kind = typing.get_args(kind)[0]
        elif model.optional_of(kind) is not None:
            kind = model.optional_of(kind)
        else:
            return kind


def resolve(kind: Any, path: str) -> Any:
    """The type at ``path`` (``$.a.b``) in ``kind``; MISSING when the model has no such field."""
    for part in path.split(".")[1:]:
        kind = _strip(kind)
        if kind is Any:
            return Any
        if typing.is_typeddict(kind):
            fields = model.fields(kind)
            if part not in fields:
                return MISSING
            kind = fields[part]
        elif typing.get_origin(kind) is dict:
            kind = typing.get_args(kind)[1]
        else:
            return MISSING
    return kind


def _name(kind: Any) -> str:
    kind = _strip(kind)
    return kind.__name__ if isinstance(kind, type) else str(kind).replace("typing.", "")


def _is(kind: Any, wanted: Any) -> bool:
    kind = _strip(kind)
    if kind is Any:
        return True
    if wanted is list:
        return typing.get_origin(kind) is list
    return bool(kind is wanted)


def _reads(value: object) -> Iterator[str]:
    """The state paths a ``.$`` value reads: the path itself, or those inside an intrinsic function."""
    if not isinstance(value, str) or value.startswith("$$") or re.match(r"^\$[A-Za-z_]", value):
        return
    if value.startswith("States."):
        yield from (match for match in PATH.findall(re.sub(r"'[^']*'", "", value)) if match)
        return
    yield value


def _template_reads(template: object) -> Iterator[str]:
    if isinstance(template, dict):
        for key, value in template.items():
            if key.endswith(".$"):
                yield from _reads(value)
            else:
                yield from _template_reads(value)


def _check_read(document: Any, path: str, where: str, wanted: Any = None) -> list[str]:
    if not SIMPLE_PATH.match(path):
        return [f"{where}: {path!r} is not a path of the form $.a.b (the only form the model check reads)"]
    kind = resolve(document, path)
    if kind is MISSING:
        parts = path.split(".")
        found = next(
            end for end in range(len(parts) - 1, 0, -1) if resolve(document, ".".join(parts[:end])) is not MISSING
        )
        parent = resolve(document, ".".join(parts[:found]))
        return [f"{where}: {path} is not in the model ({_name(parent)} has no field {parts[found]!r})"]
    if wanted is not None and not _is(kind, wanted):
        return [f"{where}: {path} is {_name(kind)} in the model, not {_name(wanted)}"]
    return []


def _choice_problems(rule: Mapping[str, Any], document: Any, where: str) -> list[str]:
    problems: list[str] = []
    for nested in [*rule.get("And", []), *rule.get("Or", []), *([rule["Not"]] if "Not" in rule else [])]:
        problems += _choice_problems(nested, document, where)
    if "Variable" in rule:
        wanted = next((kind for key, kind in COMPARATOR_TYPES.items() if key in rule), None)
        problems += _check_read(document, rule["Variable"], f"{where} Variable", wanted)
    return problems


def _written_keys(template: Mapping[str, Any], target: Any, where: str) -> list[str]:
    """The keys a Pass state's Parameters or a Map's ItemSelector write must be fields of the target."""
    target = _strip(target)
    if target is Any:
        return []
    if not typing.is_typeddict(target):
        return [f"{where}: writes an object where the model has {_name(target)}"]
    fields = model.fields(target)
    return [
        f"{where}: writes {key.removesuffix('.$')!r}, not a field of {_name(target)}"
        for key in template
        if key.removesuffix(".$") not in fields
    ]


def _sdk_output_shape(resource: str) -> Any:
    """botocore's output shape of an ``arn:...:states:::aws-sdk:<service>:<apiAction>`` task."""
    service, action = resource.split(":::aws-sdk:")[1].split(":")[:2]
    service_model = botocore.session.get_session().get_service_model(service)
    return service_model.operation_model(action[0].upper() + action[1:]).output_shape


def _sdk_problems(shape: Any, path: str, where: str) -> list[str]:
    for part in path.split(".")[1:]:
        members = getattr(shape, "members", {})
        if part not in members:
            return [f"{where}: {path} is not in the API's response ({shape.name})"]
        shape = members[part]
    return []


def _result_path_problems(state: Mapping[str, Any], output: Any, where: str) -> list[str]:
    """ResultPath, and what lands there: a Pass state's Result or Parameters, a task's ResultSelector."""
    result_path = state.get("ResultPath", "$")
    if result_path is None:
        return []
    problems = _check_read(output, result_path, f"{where} ResultPath")
    if problems:
        return problems
    target = resolve(output, result_path) if result_path != "$" else output
    if state["Type"] == "Pass" and "Result" in state:
        try:
            model.check_value(state["Result"], target, result_path)
        except InvalidInputError as error:
            problems.append(f"{where} Result: {error}")
    if state["Type"] == "Pass" and "Parameters" in state:
        problems += _written_keys(state["Parameters"], target, f"{where} Parameters")
    if "ResultSelector" in state:
        problems += _written_keys(state["ResultSelector"], target, f"{where} ResultSelector")
    return problems


def _state_problems(name: str, state: Mapping[str, Any], document: Any, output: Any) -> list[str]:
    where = name
    problems: list[str] = []
    for key in ("InputPath", "ItemsPath"):
        if state.get(key) is not None:
            problems += _check_read(document, state[key], f"{where} {key}", list if key == "ItemsPath" else None)
    for path in _template_reads(state.get("Parameters", {})):
        problems += _check_read(document, path, f"{where} Parameters")
    for path in _template_reads(state.get("ItemSelector", {})):
        problems += _check_read(document, path, f"{where} ItemSelector")
    if "ItemSelector" in state:
        problems += _written_keys(state["ItemSelector"], ITERATION_MODEL, f"{where} ItemSelector")
    resource = state.get("Resource", "")
    if "ResultSelector" in state and ":::aws-sdk:" in resource:
        shape = _sdk_output_shape(resource)
        for path in _template_reads(state["ResultSelector"]):
            problems += _sdk_problems(shape, path, f"{where} ResultSelector")
    for index, rule in enumerate(state.get("Choices", [])):
        problems += _choice_problems(rule, document, f"{where} Choices[{index}]")
    return problems + _result_path_problems(state, output, where) + _output_problems(state, output, where)


def _output_problems(state: Mapping[str, Any], output: Any, where: str) -> list[str]:
    """OutputPath, and each Catch's ResultPath (an error output, in the workflow state)."""
    problems: list[str] = []
    if state.get("OutputPath") is not None:
        # A Lambda task with no ResultPath: its output is the Invoke result, whose Payload is the next state.
        if state.get("Resource", "").endswith(":states:::lambda:invoke") and "ResultPath" not in state:
            problems += _check_read(LambdaInvokeResult, state["OutputPath"], f"{where} OutputPath", model.WorkflowState)
        else:
            problems += _check_read(output, state["OutputPath"], f"{where} OutputPath")
    for index, catch in enumerate(state.get("Catch", [])):
        if catch.get("ResultPath", "$") is not None:
            problems += _check_read(
                model.WorkflowState,
                catch.get("ResultPath", "$"),
                f"{where} Catch[{index}] ResultPath",
                model.ErrorOutput,
            )
    return problems


def path_problems(definition: Mapping[str, Any], iteration: bool = False) -> list[str]:
    """Every path of ``definition`` (and of its Maps' processors) checked against the model; the problems found."""
    problems: list[str] = []
    for name, state in definition.get("States", {}).items():
        if iteration:
            document = output = ITERATION_MODEL
        else:
            document = INPUT_MODELS.get(name, model.WorkflowState)
            output = OUTPUT_MODELS.get(name, model.WorkflowState)
        problems += _state_problems(name, state, document, output)
        for key in ("ItemProcessor", "Iterator"):
            if key in state:
                problems += path_problems(state[key], iteration=True)
    return problems


def paths(definition: Mapping[str, Any]) -> list[str]:
    """Every state path the definition names (for the test that shows the check sees them all)."""
    found: list[str] = []
    for state in definition.get("States", {}).values():
        found += [state[key] for key in ("InputPath", "ItemsPath", "OutputPath", "ResultPath") if state.get(key)]
        for key in ("Parameters", "ItemSelector"):
            found += list(_template_reads(state.get(key, {})))
        stack = list(state.get("Choices", []))
        while stack:
            rule = stack.pop()
            stack += [*rule.get("And", []), *rule.get("Or", []), *([rule["Not"]] if "Not" in rule else [])]
            found += [rule["Variable"]] if "Variable" in rule else []
        found += [catch["ResultPath"] for catch in state.get("Catch", []) if catch.get("ResultPath")]
        for key in ("ItemProcessor", "Iterator"):
            if key in state:
                found += paths(state[key])
    return found
