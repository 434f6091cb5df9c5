"""No traceback on any input (issue 14, part 3), as properties over generated inputs (Hypothesis):

- every `orgbackup` command that reads a file (found by walking the CLI's registered commands, so a new command is
  covered as soon as it is registered) answers any file - JSON of every shape, sample events with a field replaced
  or removed, arbitrary bytes, the hostile shapes of ``hostile_inputs.NAMED_SHAPES`` - with a message and a
  documented exit status (0 ok, 1 invalid input, 2 unusable file or arguments), never a Python traceback;
- every handler answers any event by returning or by raising one of orgbackup's classified errors
  (``orgbackup.exceptions``, the class names the state machine's Retry and Catch know);
- what a command or handler rejects changes nothing in the emulated organization.

One emulated organization serves every example (building one takes seconds): the commands that build their own
(`simulate`, `invoke`) are handed the shared one, which is how "nothing changed" can be checked at all.
"""

import argparse
import contextlib
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hostile_inputs import NAMED_SHAPES, PROPERTY_SETTINGS, file_bytes, json_values, mutated_samples
from hypothesis import given
from sample_events import EVENTS

from orgbackup import custom_resource
from orgbackup.exceptions import OrgBackupError
from orgbackup_tools import cli, emulation, simulation
from orgbackup_tools.commands import invoke as invoke_command

EXIT_STATUSES = {0, 1, 2}
# Values for a command's required arguments that are not files.
ARGUMENT_VALUES = {"function": "ResolveAccountsFunction"}
# Commands that read no file, or whose only input is too slow to feed here; each with the reason.
NOT_FED = {
    ("policy", "render"): "reads template.yaml and samconfig.toml only (its --out is a directory it writes)",
    ("bench",): "takes burst sizes, no file (argparse checks them); minutes per run",
    (
        "doctor",
    ): "reads samconfig.toml and the organization; its overrides are checked in tests/integration/test_doctor.py",
    ("coverage",): "reads the (emulated) organization only; --html names a file it writes",
    ("recover",): "takes a recovery point ARN and an account ID, no file (tests/workflow/test_recover_cli.py)",
}


def _leaf_commands(
    parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    subparsers = [action for action in parser._actions if isinstance(action, argparse._SubParsersAction)]
    if not subparsers:
        yield prefix, parser
        return
    for name, child in subparsers[0].choices.items():
        yield from _leaf_commands(child, (*prefix, name))


def _argv(command: tuple[str, ...], parser: argparse.ArgumentParser, path: Path) -> list[str] | None:
    """The command line that feeds ``path`` to every file argument of the command (None: it takes no file)."""
    argv = list(command)
    fed = False
    for action in parser._actions:
        if action.dest == "help" or isinstance(action, argparse._StoreTrueAction):
            continue
        takes_file = action.type is Path
        if action.option_strings:
            if takes_file:
                argv += [action.option_strings[0], str(path)]
                fed = True
            elif action.required:
                argv += [action.option_strings[0], _value(command, action)]
        elif takes_file:
            argv.append(str(path))
            fed = True
        else:
            argv.append(_value(command, action))
    return argv if fed else None


def _value(command: tuple[str, ...], action: argparse.Action) -> str:
    """A valid value for a required argument that is not a file: its first choice, or ARGUMENT_VALUES."""
    if action.choices:
        return str(next(iter(action.choices)))
    assert action.dest in ARGUMENT_VALUES, (
        f"{' '.join(command)}: give its required argument {action.dest!r} a value in ARGUMENT_VALUES "
        "(or name the command in NOT_FED with the reason)"
    )
    return ARGUMENT_VALUES[action.dest]


COMMANDS = list(_leaf_commands(cli.build_parser()))
FED = [(command, parser) for command, parser in COMMANDS if command not in NOT_FED]


def test_every_registered_command_is_fed_or_named_with_a_reason(tmp_path) -> None:
    for command, parser in COMMANDS:
        if command in NOT_FED:
            continue
        assert _argv(command, parser, tmp_path / "x.json") is not None, f"{' '.join(command)} takes no file"
    assert {command for command, _ in COMMANDS} >= {("simulate",), ("invoke",), ("alerts", "check")}


# ---------------------------------------------------------------------------------------------------------------
# The shared emulated organization and what "nothing changed" means


@pytest.fixture(scope="module")
def world() -> Iterator[simulation.World]:
    with simulation.World.emulate() as running:
        yield running


@pytest.fixture(autouse=True)
def _shared_world(world: simulation.World, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in world.environment.items():
        monkeypatch.setenv(key, value)

    @contextlib.contextmanager
    def the_shared_world(*_args: Any, **_kwargs: Any) -> Iterator[simulation.World]:
        yield world

    monkeypatch.setattr(simulation.World, "emulate", the_shared_world)
    # A custom resource answers CloudFormation over HTTPS: nothing may leave the machine.
    monkeypatch.setattr(custom_resource, "_put", lambda url, body: None)


def snapshot(world: simulation.World) -> dict[str, Any]:
    """Everything the product can change in the organization: accounts and OUs, backup policies and where they
    are attached, the member StackSet's instances, the central vault's access policy, executions, notifications."""
    org = world.client("organizations")
    observer = simulation.Observer(world)
    policies = org.list_policies(Filter="BACKUP_POLICY")["Policies"]
    return {
        "accounts": sorted((a["Id"], a["Status"]) for a in org.list_accounts()["Accounts"]),
        "policies": sorted(
            (p["Id"], p["Name"], org.describe_policy(PolicyId=p["Id"])["Policy"]["Content"]) for p in policies
        ),
        "attachments": sorted(
            (p["Id"], t["TargetId"]) for p in policies for t in org.list_targets_for_policy(PolicyId=p["Id"])["Targets"]
        ),
        "stack_instances": observer.stack_instances(),
        "central_policy": json.dumps(observer.central_policy(), sort_keys=True),
        "executions": len(world.executions),
        "notifications": len(world.read_notifications()),
    }


# ---------------------------------------------------------------------------------------------------------------
# Every command


def run_cli(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            status = cli.main(argv)
        except SystemExit as exit_:  # argparse's refusal
            status = exit_.code if isinstance(exit_.code, int) else 2
    return status, out.getvalue(), err.getvalue()


def _utf8_json(content: bytes) -> Any:
    try:
        return json.loads(content.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return NotImplemented


def check_command(world: simulation.World, tmp_path: Path, command: tuple[str, ...], content: bytes) -> None:
    parser = dict(COMMANDS)[command]
    path = tmp_path / "input.json"
    path.write_bytes(content)
    argv = _argv(command, parser, path)
    assert argv is not None
    before = snapshot(world)
    status, out, err = run_cli(argv)  # an exception escaping here is the traceback a user would see
    assert status in EXIT_STATUSES, (argv, status, err)
    assert "Traceback" not in out + err
    if status != 0:
        assert err.strip() or out.strip(), f"{argv}: exit {status} without a message"
        if command != ("policy", "validate"):  # validate reports per file, on stdout
            assert str(path) in err or "input" in err or "Error" in out + err, err
    try:
        content.decode("utf-8")
    except UnicodeDecodeError:
        assert status == 2, (argv, status, err)  # not text: an unusable file, for every command
    if _utf8_json(content) is NotImplemented:
        # not JSON or nested too deeply: an unusable file; for validate an invalid policy (exit 1) unless not UTF-8
        assert status in ({1, 2} if command == ("policy", "validate") else {2}), (argv, status, err)
    if status != 0:
        assert snapshot(world) == before, f"{argv}: exit {status} but the organization changed"


@pytest.mark.parametrize("command", [command for command, _ in FED], ids=" ".join)
@pytest.mark.parametrize("shape", sorted(NAMED_SHAPES))
def test_the_hostile_shapes_get_a_message_and_a_documented_exit_status(world, tmp_path, command, shape) -> None:
    check_command(world, tmp_path, command, NAMED_SHAPES[shape].encode("utf-8"))


@pytest.mark.parametrize("command", [command for command, _ in FED], ids=" ".join)
@PROPERTY_SETTINGS
@given(content=file_bytes)
def test_any_file_gets_a_message_and_a_documented_exit_status(world, tmp_path, command, content: bytes) -> None:
    check_command(world, tmp_path, command, content)


# ---------------------------------------------------------------------------------------------------------------
# Every handler


FUNCTIONS = invoke_command.function_names()
# Shapes Lambda's Python runtime cannot hand a handler: not JSON, or JSON that json.loads refuses (nesting deeper
# than its recursion limit, integers of more than 4,300 digits); the runtime rejects those invocations itself.
HANDLER_UNREACHABLE = {"empty", "nan", "deep-list", "deep-object", "huge-number", "huge-number-in-sample"}


def check_handler(world: simulation.World, function: str, event: Any) -> None:
    context = emulation.FakeLambdaContext(function, simulation.MANAGEMENT_ACCOUNT, simulation.HOME_REGION)
    before = snapshot(world)
    try:
        world.handlers[function](event, context)
    except OrgBackupError:
        assert snapshot(world) == before, f"{function} raised, but the organization changed"
    # Any other exception fails the test: it is an unclassified error, a traceback in the function's logs.


@pytest.mark.parametrize("function", FUNCTIONS)
@PROPERTY_SETTINGS
@given(event=json_values)
def test_any_json_value_is_returned_or_refused_with_a_classified_error(world, function, event) -> None:
    check_handler(world, function, event)


@pytest.mark.parametrize("function", FUNCTIONS)
@PROPERTY_SETTINGS
@given(event=mutated_samples(sorted((EVENTS / "functions").glob("*.json"))) | mutated_samples())
def test_a_sample_with_a_field_replaced_is_returned_or_refused_with_a_classified_error(world, function, event) -> None:
    check_handler(world, function, event)


@pytest.mark.parametrize("function", FUNCTIONS)
@pytest.mark.parametrize("shape", sorted(set(NAMED_SHAPES) - HANDLER_UNREACHABLE))
def test_the_hostile_shapes_are_refused_with_a_classified_error(world, function, shape) -> None:
    check_handler(world, function, json.loads(NAMED_SHAPES[shape]))
