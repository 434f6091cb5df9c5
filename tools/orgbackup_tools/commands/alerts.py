"""`orgbackup alerts check EVENT_FILE [--json] [--config-env NAME]`: would the deployed alert rules route this
event to the notification topic, and what message would be sent?

The rules are read from `template.yaml` (every ``AWS::Events::Rule`` whose target is the FormatBackupAlert
function, including those SAM generates from the function's EventBridgeRule events), never copied; a rule's
``Condition`` is evaluated with the deployment parameters `sam deploy` would pass (`template.yaml` defaults overlaid
by `samconfig.toml`). Patterns are matched with moto's EventBridge matcher, the code moto runs when it delivers
events to targets (moto 5.2's ``TestEventPattern`` API is a stub that matches nothing).
Development-only: it needs PyYAML and moto, which the Lambda runtime does not ship.
"""

import argparse
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, cast

from orgbackup.alerts import format_alert, parse_job_event
from orgbackup.exceptions import ConfigurationError, InvalidInputError
from orgbackup_tools import deployment
from orgbackup_tools.intrinsics import evaluate_condition

ALERT_FUNCTION: Final = "FormatBackupAlertFunction"
# Offline there is no Organizations to ask; the function looks the name up when it runs.
OFFLINE_ACCOUNT_NAME: Final = "(name looked up at run time)"
MAX_EVENT_BYTES: Final = 1024 * 1024


@dataclass(frozen=True)
class AlertRule:
    """One rule on the alerts bus that targets the formatter; ``enabled`` is false when its template Condition is
    false for these parameters (the rule is then not deployed) or its State is DISABLED."""

    logical_id: str
    pattern: dict[str, Any]
    enabled: bool
    why_off: str | None = None


@dataclass(frozen=True)
class CheckResult:
    matched: bool
    rule: str | None
    subject: str | None
    message: str | None
    also_matched: tuple[str, ...] = ()
    matched_if_enabled: tuple[AlertRule, ...] = ()
    rules: tuple[AlertRule, ...] = field(default=())

    def as_dict(self) -> dict[str, Any]:
        return {"matched": self.matched, "rule": self.rule, "subject": self.subject, "message": self.message}


# ---------------------------------------------------------------------------------------------------------------
# Reading the rules from the template


def _targets_formatter(properties: Mapping[str, Any]) -> bool:
    for target in properties.get("Targets") or []:
        arn = target.get("Arn") if isinstance(target, dict) else None
        attribute = arn.get("Fn::GetAtt") if isinstance(arn, dict) else None
        # !GetAtt X.Arn reads as "X.Arn"; the long form is [X, Arn].
        if attribute in (f"{ALERT_FUNCTION}.Arn", [ALERT_FUNCTION, "Arn"]):
            return True
    return False


def alert_rules(template: Mapping[str, Any], parameters: Mapping[str, str]) -> list[AlertRule]:
    """Every EventBridge rule of ``template`` that targets the formatter, in template order."""
    rules: list[AlertRule] = []
    for logical_id, resource in (template.get("Resources") or {}).items():
        if not isinstance(resource, dict) or resource.get("Type") != "AWS::Events::Rule":
            continue
        properties = resource.get("Properties") or {}
        if not _targets_formatter(properties):
            continue
        pattern = properties.get("EventPattern")
        if not isinstance(pattern, dict):
            raise ConfigurationError(f"Resources.{logical_id}.Properties.EventPattern: must be an object")
        condition = resource.get("Condition")
        why_off = None
        if condition and not evaluate_condition(str(condition), template, parameters):
            why_off = f"condition {condition} is false for these parameters"
        elif properties.get("State") == "DISABLED":
            why_off = "its State is DISABLED"
        rules.append(AlertRule(logical_id, pattern, why_off is None, why_off))
    if not rules:
        raise ConfigurationError(f"the template has no EventBridge rule that targets {ALERT_FUNCTION}")
    return rules


def deployed_alert_rules(environment: str = "default", template: Path | None = None) -> list[AlertRule]:
    try:
        document = deployment.load_template(template)
        parameters = deployment.deployment_parameters(template, environment=environment)
    except OSError as error:
        raise ConfigurationError(f"cannot read the template or samconfig.toml: {error}") from error
    return alert_rules(document, parameters)


# ---------------------------------------------------------------------------------------------------------------
# Matching and the message


def matches(pattern: Mapping[str, Any], event: Mapping[str, Any]) -> bool:
    """EventBridge's verdict, as moto computes it when it delivers an event to a rule's targets."""
    from moto.events.models import EventPattern  # noqa: PLC0415 - dev-only, slow to import

    # moto types the event as its own TypedDict; it matches any JSON object (it round-trips it through JSON).
    return bool(EventPattern.load(json.dumps(pattern)).matches_event(cast(Any, dict(event))))


def check_event(
    event: Mapping[str, Any],
    rules: list[AlertRule],
    account_names: Callable[[str], str] = lambda _account_id: OFFLINE_ACCOUNT_NAME,
) -> CheckResult:
    """Which enabled rule routes ``event`` (the first in template order) and the alert it would produce."""
    hits = [rule for rule in rules if matches(rule.pattern, event)]
    enabled = [rule.logical_id for rule in hits if rule.enabled]
    off = tuple(rule for rule in hits if not rule.enabled)
    if not enabled:
        return CheckResult(False, None, None, None, matched_if_enabled=off, rules=tuple(rules))
    try:
        alert = format_alert(parse_job_event(dict(event)), account_names)
    except InvalidInputError as error:
        message = (
            f"The formatter rejects this event ({error}). It raises, and after Lambda's asynchronous retries the "
            "function's OnFailure destination publishes the invocation record, which carries the raw event, to the "
            "same topic."
        )
        return CheckResult(True, enabled[0], None, message, tuple(enabled[1:]), off, tuple(rules))
    return CheckResult(True, enabled[0], alert.subject, alert.message, tuple(enabled[1:]), off, tuple(rules))


def read_event(path: Path) -> dict[str, Any]:
    """The event in ``path``; InvalidInputError (exit status 2) when unreadable or not a JSON object."""
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise InvalidInputError(f"{path}: cannot read the file: {error.strerror or error}") from None
    if len(raw) > MAX_EVENT_BYTES:
        raise InvalidInputError(f"{path}: {len(raw)} bytes is too large for an EventBridge event (256 KB at most)")
    try:
        event = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as error:
        raise InvalidInputError(f"{path}: not UTF-8 text ({error.reason} at byte {error.start})") from None
    except (ValueError, RecursionError) as error:
        raise InvalidInputError(f"{path}: not valid JSON ({error})") from None
    if not isinstance(event, dict):
        raise InvalidInputError(f"{path}: must hold one EventBridge event (a JSON object), got {type(event).__name__}")
    return event


# ---------------------------------------------------------------------------------------------------------------
# The command


def register(subparsers: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    parser = subparsers.add_parser("alerts", help="check what the failure alerts would do with an event")
    commands = parser.add_subparsers(dest="alerts_command", required=True)
    check = commands.add_parser(
        "check",
        help="would the deployed alert rules route this event, and what message would be sent?",
        description="Exit status 0 whether or not the event matches; 2 when the file is unreadable or not an event.",
    )
    check.add_argument("event_file", metavar="EVENT_FILE", type=Path, help="an EventBridge event as JSON")
    check.add_argument("--json", action="store_true", help='print {"matched", "rule", "subject", "message"} as JSON')
    check.add_argument(
        "--config-env", default="default", metavar="NAME", help="samconfig.toml environment (default: default)"
    )
    check.set_defaults(handler=run_check)


def _text(path: Path, result: CheckResult) -> str:
    lines: list[str] = []
    if result.matched:
        lines.append(f"{path}: matched by {result.rule}")
        if result.also_matched:
            lines.append(f"also matched by: {', '.join(result.also_matched)} (the topic would get it more than once)")
        if result.subject is None:
            lines += ["", result.message or ""]
        else:
            lines += [
                "The alert the topic would receive (account names are looked up at run time):",
                "",
                f"Subject: {result.subject}",
                "",
                (result.message or "").rstrip("\n"),
            ]
    else:
        lines.append(f"{path}: not matched: no alert rule routes this event, so nothing is sent")
        lines.append(f"rules checked: {', '.join(rule.logical_id for rule in result.rules if rule.enabled)}")
    for rule in result.matched_if_enabled:
        lines.append(f"{rule.logical_id} would match, but it is off in this deployment: {rule.why_off}")
    return "\n".join(lines)


def run_check(args: argparse.Namespace) -> int:
    event = read_event(args.event_file)
    result = check_event(event, deployed_alert_rules(args.config_env))
    if args.json:
        print(json.dumps(result.as_dict(), indent=2, ensure_ascii=False))
    else:
        print(_text(args.event_file, result))
    return 0
