"""`orgbackup invoke FUNCTION -e FILE [--json]`: one of the product's Lambda handlers, run in this process against
the emulated organization `make demo` builds (no Docker, no AWS account), with the environment `template.yaml`
gives the function; prints what the function returns.

Exit status: 0 the function returned; 1 it raised (its error type and message are printed, as Lambda reports
them); 2 the file is unusable (unreadable, not UTF-8, not JSON) or FUNCTION is not a function of template.yaml.

An onboarding step's input is the workflow state, which records the steps that ran before it (``operations``,
``baseline``, ...). The emulated organization starts fresh, so those steps are replayed first from the same state
(reported on stderr): the StackSet operation an InspectBaseline input names then exists, as it would in AWS. An
InspectOffboarding input names accounts that had their baseline and the operation that removed it: their baseline is
deployed first (StartBaseline), then the Offboard step runs, which starts that removal under the same operation ID.
"""

import argparse
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from orgbackup.exceptions import InvalidInputError, OrgBackupError
from orgbackup_tools import deployment

# A Lambda request payload is at most 6 MB (Lambda quotas: "Invocation payload (request and response)").
MAX_EVENT_BYTES: Final = 6 * 1024 * 1024
# The onboarding steps after Resolve, with the state key each adds (orgbackup.onboarding's docstring).
WORKFLOW_STEPS: Final = (
    ("StartBaselineFunction", "operations"),
    ("InspectBaselineFunction", "baseline"),
    ("RefreshVaultPolicyFunction", "vault_policy"),
    ("ReattachBackupPoliciesFunction", "backup_policies"),
    ("ReportOnboardingFunction", "report"),
)


def register(subparsers: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    parser = subparsers.add_parser(
        "invoke",
        help="run one of the functions in process against the emulated organization (like sam local invoke)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("function", metavar="FUNCTION", help="a function's logical ID in template.yaml")
    parser.add_argument(
        "-e", "--event", required=True, type=Path, metavar="FILE", help="the event (JSON), e.g. events/functions/..."
    )
    parser.add_argument(
        "--json", action="store_true", help='print only the result (or {"errorType", "errorMessage"}) as JSON'
    )
    parser.set_defaults(handler=run)


def function_names() -> list[str]:
    resources = deployment.load_template().get("Resources", {})
    return [name for name, resource in resources.items() if resource.get("Type") == "AWS::Serverless::Function"]


def read_json_file(path: Path, max_bytes: int = MAX_EVENT_BYTES) -> Any:
    """Any JSON value from ``path``; InvalidInputError naming the file and what is wrong with it."""
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise InvalidInputError(f"{path}: cannot read the file: {error.strerror or error}") from None
    if len(raw) > max_bytes:
        raise InvalidInputError(f"{path}: {len(raw):,} bytes exceeds the {max_bytes:,}-byte limit")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise InvalidInputError(f"{path}: not UTF-8 text ({error.reason} at byte {error.start})") from None
    try:
        return json.loads(text)
    except RecursionError:
        raise InvalidInputError(f"{path}: JSON nested too deeply") from None
    except ValueError as error:
        # ValueError covers JSONDecodeError and Python's limit on the digits of an integer.
        raise InvalidInputError(f"{path}: not valid JSON ({error})") from None


def replay_plan(function: str, event: Any) -> list[tuple[str, dict[str, Any]]]:
    """The earlier steps ``event`` (a workflow state) says ran, each with the state it ran on."""
    if function == "InspectOffboardingFunction":
        return _offboarding_replay(event)
    names = [name for name, _ in WORKFLOW_STEPS]
    if function not in names or not isinstance(event, dict) or "resolution" not in event:
        return []
    keys = [key for _, key in WORKFLOW_STEPS]
    plan = []
    for index, (name, key) in enumerate(WORKFLOW_STEPS[: names.index(function)]):
        if key in event:
            plan.append((name, {k: v for k, v in event.items() if k not in keys[index:] and k != "failure"}))
    return plan


def _offboarding_replay(event: Any) -> list[tuple[str, dict[str, Any]]]:
    """Before InspectOffboarding: the departed accounts' baseline (as it was before they left), then Offboard."""
    if not isinstance(event, dict) or not isinstance(event.get("offboarding"), dict):
        return []
    departures = event["offboarding"].get("departures")
    if not isinstance(departures, list):
        return []
    had_baseline = [
        {"account_id": item["account_id"], **({"name": item["name"]} if isinstance(item.get("name"), str) else {})}
        for item in departures
        if isinstance(item, dict) and isinstance(item.get("account_id"), str) and item.get("regions")
    ]
    before = {key: value for key, value in event.items() if key not in ("offboarding", "failure")}
    plan: list[tuple[str, dict[str, Any]]] = []
    if had_baseline:
        onboarded = {
            "execution": f"{event.get('execution', 'run')}-before",
            "resolution": {"mode": "events", "to_onboard": had_baseline, "skipped": [], "invalid": []},
            "plan": {"start_baseline": True, "converge": True},
        }
        plan.append(("StartBaselineFunction", onboarded))
    if "resolution" in event:
        plan.append(("OffboardAccountsFunction", before))
    return plan


@contextmanager
def _custom_resource_answers() -> Iterator[list[dict[str, Any]]]:
    """The custom resource answers CloudFormation over HTTPS; here nothing leaves the machine: the answer, which the
    handler also returns, is kept instead."""
    from orgbackup import custom_resource  # noqa: PLC0415

    answers: list[dict[str, Any]] = []
    original = custom_resource._put  # the one seam of the protocol
    custom_resource._put = lambda url, body: answers.append(json.loads(body))
    try:
        yield answers
    finally:
        custom_resource._put = original


def _error(error: BaseException) -> dict[str, str]:
    # What Lambda reports for a function error: the exception's class name and message.
    return {"errorType": type(error).__name__, "errorMessage": str(error)}


@dataclass(frozen=True)
class Invocation:
    returned: bool
    # What the function returned, or {"errorType", "errorMessage"} (and "replayedStep" when a replay failed).
    result: Any
    # What reached the notification topic's subscriber meanwhile ({"subject", "message"}).
    notifications: list[dict[str, str]] = field(default_factory=list)


def invoke(function: str, event: Any, progress: Callable[[str], None] = lambda _text: None) -> Invocation:
    """Run ``function`` on ``event`` in a fresh emulated organization."""
    from orgbackup_tools import emulation, simulation  # noqa: PLC0415 - moto loads only when this command runs

    with simulation.World.emulate() as world, _custom_resource_answers():
        before = len(world.read_notifications())
        progress(
            f"orgbackup invoke: {function} in the emulated organization {world.spec.organization_id} "
            f"(management {simulation.MANAGEMENT_ACCOUNT}, backup Regions {', '.join(world.settings.backup_regions)})"
        )

        def call(name: str, payload: Any) -> Any:
            context = emulation.FakeLambdaContext(name, simulation.MANAGEMENT_ACCOUNT, simulation.HOME_REGION)
            return world.handlers[name](payload, context)

        for name, state in replay_plan(function, event):
            progress(f"  replaying {name} first: the input state says it ran")
            try:
                call(name, state)
            except Exception as error:  # reported like the function's own error
                return Invocation(False, {**_error(error), "replayedStep": name})
        try:
            outcome = Invocation(True, call(function, event))
        except Exception as error:  # Lambda reports any exception as the function's error
            outcome = Invocation(False, _error(error))
        return Invocation(outcome.returned, outcome.result, world.read_notifications()[before:])


def run(args: argparse.Namespace) -> int:
    names = function_names()
    if args.function not in names:
        print(
            f"orgbackup invoke: {args.function!r} is not a function of template.yaml; one of: {', '.join(names)}",
            file=sys.stderr,
        )
        return 2
    try:
        event = read_json_file(args.event)
    except InvalidInputError as error:
        print(f"orgbackup invoke: {error}", file=sys.stderr)
        return 2

    def progress(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    outcome = invoke(args.function, event, progress)
    returned, result = outcome.returned, outcome.result
    if args.json:
        print(json.dumps(result, indent=2, ensure_ascii=False, default=str))
    elif returned:
        print(f"{args.function} returned:")
        print(json.dumps(result, indent=2, ensure_ascii=False, default=str))
    else:
        where = f" (replaying {result['replayedStep']})" if "replayedStep" in result else ""
        print(f"{args.function} failed{where}: {result['errorType']}: {result['errorMessage']}")
    if not args.json:
        for note in outcome.notifications:
            print(f"\nthe notification topic's subscriber received: {note['subject']}")
            print("\n".join(f"  | {line}" for line in note["message"].splitlines()))
    if not returned:
        classified = isinstance(result, dict) and result.get("errorType") in _classified_errors()
        if not classified:
            print(
                f"orgbackup invoke: {result['errorType']} is not one of orgbackup's classified errors "
                "(orgbackup.exceptions): please report it",
                file=sys.stderr,
            )
        return 1
    return 0


def _classified_errors() -> set[str]:
    def subclasses(cls: type) -> set[type]:
        found: set[type] = set(cls.__subclasses__())
        for sub in list(found):
            found |= subclasses(sub)
        return found

    return {cls.__name__ for cls in subclasses(OrgBackupError) | {OrgBackupError}}
