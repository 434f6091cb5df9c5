"""`orgbackup simulate`: the onboarding workflow end to end against an emulated organization."""

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from orgbackup.exceptions import InvalidInputError
from orgbackup.fields import got
from orgbackup_tools.commands.alerts import read_event
from orgbackup_tools.deployment import PROJECT_ROOT
from orgbackup_tools.scenarios import DEFAULT_EVENT, burst_events, plan_world


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "simulate",
        help="run the onboarding workflow against an emulated organization",
        description=__doc__,
    )
    source = parser.add_mutually_exclusive_group()
    source.add_argument(
        "--event",
        type=Path,
        action="append",
        help=(
            "an event file (default: events/controltower/create-managed-account.json); give it several times to put "
            "the events on the bus in that order, each run to completion before the next. An AWS Organizations "
            "event (events/organizations/) first makes its change in the emulated organization"
        ),
        default=None,
    )
    source.add_argument("--accounts", type=int, metavar="N", help="simulate a burst of N new accounts")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.set_defaults(handler=run)


# What PutEvents takes (EventBridge API reference, PutEventsRequestEntry): Source, DetailType and Detail (a JSON
# object) are required; Time and Resources (ARNs) are optional.
def bus_event(event: dict[str, Any], path: Path) -> dict[str, Any]:
    """``event`` if Control Tower could put it on a bus; InvalidInputError naming the field otherwise (a workflow
    input such as events/workflow/*.json is no event: run it with `orgbackup invoke ResolveAccountsFunction`)."""
    for key in ("source", "detail-type"):
        if not isinstance(event.get(key), str) or not event[key]:
            raise InvalidInputError(
                f"{path}: {key}: must be a non-empty string (an EventBridge event), got {got(event.get(key))}"
            )
    if not isinstance(event.get("detail"), dict):
        raise InvalidInputError(
            f"{path}: detail: must be an object (an EventBridge event), got {got(event.get('detail'))}"
        )
    if "time" in event and not isinstance(event["time"], str):
        raise InvalidInputError(f"{path}: time: must be a string (a timestamp), got {got(event['time'])}")
    resources = event.get("resources", [])
    if not isinstance(resources, list) or not all(isinstance(item, str) for item in resources):
        raise InvalidInputError(f"{path}: resources: must be a list of ARN strings, got {got(resources)}")
    return event


class Progress:
    """Prints each state the execution enters, as it happens."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet

    def say(self, text: str) -> None:
        if not self.quiet:
            print(text, flush=True)

    def on_event(self, event: dict[str, Any]) -> None:
        kind = event["type"]
        if kind.endswith("StateEntered"):
            name = event["stateEnteredEventDetails"]["name"]
            if name not in ("Start", "WaitForOperation", "CountPoll", "OperationEnded"):
                self.say(f"    -> {name}")
        elif kind in ("ExecutionFailed", "ExecutionSucceeded"):
            self.say(f"    == {kind.removeprefix('Execution').lower()}")


def run(args: argparse.Namespace) -> int:
    from orgbackup_tools import simulation  # noqa: PLC0415 - moto loads only when this command runs

    template = json.loads(DEFAULT_EVENT.read_text(encoding="utf-8"))
    paths: list[Path] = []
    if args.accounts is not None:
        if not 1 <= args.accounts <= 1000:
            print("orgbackup simulate: --accounts must be between 1 and 1000", file=sys.stderr)
            return 2
        events = burst_events(args.accounts, template)
    else:
        events = []
        paths = args.event or [DEFAULT_EVENT]
        for path in paths:
            try:
                events.append(bus_event(read_event(path), path))
            except InvalidInputError as error:
                print(f"orgbackup simulate: {error}", file=sys.stderr)
                return 2
    spec, notes = plan_world(events)
    progress = Progress(quiet=args.json)
    progress.say("orgbackup simulate: the onboarding workflow against an emulated organization (moto)")
    with simulation.World.emulate(spec) as world:
        progress.say(
            f"  organization {spec.organization_id}: management 111111111111, central backup 222222222222, "
            f"{len(spec.accounts) - 1} member accounts; in scope: {', '.join(spec.in_scope_ou_ids)}"
        )
        progress.say(
            f"  backup Regions: {', '.join(world.settings.backup_regions)}; StackSets, state machine, "
            "rule and functions deployed from template.yaml"
        )
        for note in notes:
            progress.say(f"  {note}")
        # A burst is one put; given events go one by one, each run to completion before the next.
        batches = [events] if args.accounts is not None else [[event] for event in events]
        histories = []
        for index, batch in enumerate(batches):
            try:
                histories.extend(_run(world, batch, progress))
            except InvalidInputError as error:  # an Organizations event AWS could not have emitted here
                print(f"orgbackup simulate: {paths[index] if paths else 'the burst'}: {error}", file=sys.stderr)
                return 2
        if not histories:
            progress.say("  no execution: the event is not an onboarding trigger (the rule did not match it)")
        report = simulation.build_report(world, histories)
        alert = None if args.json else show_backup_failure(world, report, progress)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print_report(report)
        if alert:
            print_alert(alert)
    return 0


def _run(world: Any, events: list[dict[str, Any]], progress: Progress) -> list[Any]:
    """Put the events on the bus (an Organizations event makes its change first) and run the batches to the end.
    InvalidInputError, before anything is put, for an Organizations event whose call AWS would have refused."""
    for event in events:
        change = world.apply_organization_change(event) if isinstance(event, dict) else None
        if change:
            progress.say(f"  AWS Organizations: {change}")
    delivered = world.put_lifecycle_events(events)
    names = sorted({str(event.get("detail", {}).get("eventName", "?")) for event in events if isinstance(event, dict)})
    progress.say(f"  {len(events)} event(s) ({', '.join(names)}) put on the bus; the rules matched {delivered}")
    histories: list[Any] = world.run_batches(
        on_batch=lambda index, size: progress.say(f"  execution: a Pipes batch of {size} record(s)"),
        on_event=progress.on_event,
    )
    return histories


FAILURE_SAMPLE = PROJECT_ROOT / "events" / "backup" / "backup-job-failed.json"


def show_backup_failure(world: Any, report: dict[str, Any], progress: Progress) -> dict[str, str] | None:
    """After onboarding: AWS Backup fails a job in the new account; the failure travels to the topic."""
    onboarded = [account for account, item in report["accounts"].items() if item["outcome"] == "onboarded"]
    if not onboarded:
        return None
    account, region = onboarded[0], world.settings.backup_regions[-1]
    progress.say(
        f"\n  a backup job fails in {account} ({region}): its default bus -> the baseline's forwarding rule -> "
        "the management account's alerts bus -> the BackupJobFailed rule -> FormatBackupAlertFunction -> the topic"
    )
    before = len(world.notifications)
    world.emit_backup_event(account, region, json.loads(FAILURE_SAMPLE.read_text(encoding="utf-8")))
    arrived = world.read_notifications()[before:]
    return arrived[0] if arrived else {"subject": "(no alert arrived)", "message": ""}


def print_alert(alert: dict[str, str]) -> None:
    print(f"\n  alert received by the topic's subscriber: {alert['subject']}")
    for line in alert["message"].splitlines():
        print(f"    | {line}")


def print_report(report: dict[str, Any]) -> None:
    print("\nReport")
    print(f"  executions: {', '.join(f'{e["name"]} {e["status"]}' for e in report['executions']) or 'none'}")
    print(f"  StackSet operations: {report['stackset_operations']}")
    for account_id, item in report["accounts"].items():
        print(f"  account {account_id}: {item['outcome'].upper()} - {item['reason']}")
        for region, status in item["stack_instances"].items():
            vault = item["vaults"].get(region, "no vault")
            print(f"      {region}: stack instance {status}, vault {vault}")
        if item["outcome"] == "offboarded":
            kept = ", ".join(f"{region}: {vault}" for region, vault in item["vaults"].items()) or "none"
            print(f"      member vaults still in the account: {kept}")
            print(f"      central vault policy allows its copies: {'yes' if item['in_central_vault_policy'] else 'no'}")
            print(f"      backup policies in force: {', '.join(item['backup_policies']) or 'none'}")
        elif item["outcome"] == "onboarded" or item["in_central_vault_policy"]:
            print(f"      central vault policy allows its copies: {'yes' if item['in_central_vault_policy'] else 'no'}")
            print(f"      backup policies in force: {', '.join(item['backup_policies']) or 'none'}")
    for note in report["notifications"]:
        print(f"\n  notification: {note['subject']}")
        for line in note["message"].splitlines():
            print(f"    | {line}")
