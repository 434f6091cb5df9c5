"""Static checks of the state machine definitions, beyond what cfn-lint and `sam validate` look at (neither reads
a SAM ``DefinitionUri``): every ``${...}`` has a DefinitionSubstitution and every substitution is used; after
substitution the definition is valid ASL (asl-validator, from npm); every ``Next`` names a state; every state is
reachable; every Task has ``TimeoutSeconds``, ``Retry``, and a ``Catch`` (its own, or its enclosing Map's); a
generated definition is what its generator writes (``onboarding_definition``); every path the onboarding
definition reads or writes is a field of the workflow state's model (``state_paths``).

`python -m orgbackup_tools.asl_check statemachine/*.asl.json` exits 1 and names each problem. Development-only.
"""

import json
import re
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orgbackup_tools import onboarding_definition, state_paths
from orgbackup_tools.deployment import PROJECT_ROOT, load_template

PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_]+)\}")
VALIDATOR = PROJECT_ROOT / "node_modules" / ".bin" / "asl-validator"


@dataclass(frozen=True)
class StateMachineSource:
    logical_id: str
    path: Path
    substitutions: Mapping[str, Any]


def state_machines(template: Mapping[str, Any] | None = None) -> list[StateMachineSource]:
    template = template or load_template()
    found = []
    for logical_id, resource in template.get("Resources", {}).items():
        if resource.get("Type") == "AWS::Serverless::StateMachine" and "DefinitionUri" in resource["Properties"]:
            properties = resource["Properties"]
            found.append(
                StateMachineSource(
                    logical_id,
                    PROJECT_ROOT / properties["DefinitionUri"],
                    properties.get("DefinitionSubstitutions", {}),
                )
            )
    return found


def stand_in(name: str) -> str:
    """A well-formed value for a substitution, so the substituted definition can be schema-checked."""
    if name == "Partition":
        return "aws"
    if name.endswith("FunctionArn"):
        return f"arn:aws:lambda:us-east-1:111111111111:function:{name.removesuffix('Arn')}"
    if name.endswith("TopicArn"):
        return "arn:aws:sns:us-east-1:111111111111:orgbackup-notifications"
    if name.endswith("Arn"):
        return f"arn:aws:states:us-east-1:111111111111:stateMachine:{name}"
    return f"orgbackup-{name}"


def substitute(text: str, values: Mapping[str, str]) -> str:
    return PLACEHOLDER.sub(lambda match: values[match.group(1)], text)


def _walk(states: Mapping[str, Any], enclosing_catch: bool) -> Iterator[tuple[str, Mapping[str, Any], bool]]:
    for name, state in states.items():
        yield name, state, enclosing_catch
        for key in ("ItemProcessor", "Iterator"):
            if key in state:
                yield from _walk(state[key]["States"], enclosing_catch or bool(state.get("Catch")))
        for branch in state.get("Branches", []):
            yield from _walk(branch["States"], enclosing_catch or bool(state.get("Catch")))


def _targets(state: Mapping[str, Any]) -> list[str]:
    targets = [state[key] for key in ("Next", "Default") if key in state]
    targets += [choice["Next"] for choice in state.get("Choices", []) if "Next" in choice]
    targets += [catch["Next"] for catch in state.get("Catch", [])]
    return targets


def _graph_problems(machine: Mapping[str, Any], where: str) -> list[str]:
    problems: list[str] = []
    states = machine.get("States", {})
    start = machine.get("StartAt")
    if start not in states:
        problems.append(f"{where}: StartAt {start!r} is not a state")
    reached, frontier = set(), [start]
    while frontier:
        name = frontier.pop()
        if name in reached or name not in states:
            continue
        reached.add(name)
        for target in _targets(states[name]):
            if target not in states:
                problems.append(f"{where}.{name}: Next {target!r} is not a state")
            frontier.append(target)
    problems += [f"{where}.{name}: unreachable from StartAt" for name in states if name not in reached]
    for name, state in states.items():
        for key in ("ItemProcessor", "Iterator"):
            if key in state:
                problems += _graph_problems(state[key], f"{where}.{name}.{key}")
        for index, branch in enumerate(state.get("Branches", [])):
            problems += _graph_problems(branch, f"{where}.{name}.Branches[{index}]")
    return problems


def structural_problems(definition: Mapping[str, Any]) -> list[str]:
    problems = _graph_problems(definition, "States")
    for name, state, enclosing_catch in _walk(definition.get("States", {}), False):
        if state.get("Type") != "Task":
            continue
        if "TimeoutSeconds" not in state and "TimeoutSecondsPath" not in state:
            problems.append(f"Task {name}: no TimeoutSeconds")
        if not state.get("Retry"):
            problems.append(f"Task {name}: no Retry for transient errors")
        if not state.get("Catch") and not enclosing_catch:
            problems.append(f"Task {name}: no Catch (and no enclosing Map or Parallel with one)")
    return problems


def placeholder_problems(text: str, substitutions: Mapping[str, Any], where: str) -> list[str]:
    used = set(PLACEHOLDER.findall(text))
    problems = [f"{where}: ${{{name}}} has no DefinitionSubstitution" for name in sorted(used - set(substitutions))]
    problems += [f"{where}: substitution {name} is never used" for name in sorted(set(substitutions) - used)]
    return problems


def schema_problems(definition_text: str, where: str) -> list[str]:
    if not VALIDATOR.exists():
        return [f"{where}: asl-validator is not installed (run `make setup`, which runs `npm ci`)"]
    result = subprocess.run(  # noqa: S603 - our own pinned tool, arguments are not user input
        [str(VALIDATOR), "--json-definition", definition_text], capture_output=True, text=True, check=False
    )
    if result.returncode == 0:
        return []
    return [f"{where}: {line.strip()}" for line in (result.stdout + result.stderr).splitlines() if line.strip()]


# Definitions written by a generator, and the module that writes each (run it to rewrite the file).
GENERATORS: Mapping[Path, Any] = {onboarding_definition.ASL_PATH.resolve(): onboarding_definition}


def generated_problems(path: Path, text: str, where: str) -> list[str]:
    generator = GENERATORS.get(path.resolve())
    if generator is None or text == generator.render():
        return []
    return [
        f"{where}: differs from what {generator.__name__} generates: edit it there, then run `python -m "
        f"{generator.__name__}`"
    ]


def check(path: Path, sources: list[StateMachineSource]) -> list[str]:
    where = str(path.relative_to(PROJECT_ROOT) if path.is_relative_to(PROJECT_ROOT) else path)
    text = path.read_text(encoding="utf-8")
    owners = [source for source in sources if source.path.resolve() == path.resolve()]
    if not owners:
        return [f"{where}: no AWS::Serverless::StateMachine in template.yaml uses it"]
    problems = generated_problems(path, text, where)
    problems += placeholder_problems(text, owners[0].substitutions, where)
    values = {name: stand_in(name) for name in set(PLACEHOLDER.findall(text))}
    substituted = substitute(text, values)
    try:
        definition = json.loads(substituted)
    except json.JSONDecodeError as error:
        return [*problems, f"{where}: not JSON after substitution: {error}"]
    problems += [f"{where}: {problem}" for problem in structural_problems(definition)]
    if path.resolve() == onboarding_definition.ASL_PATH.resolve():  # the definition the workflow state models
        problems += [f"{where}: {problem}" for problem in state_paths.path_problems(definition)]
    problems += schema_problems(substituted, where)
    return problems


def main(argv: list[str] | None = None) -> int:
    paths = [Path(arg).resolve() for arg in (argv if argv is not None else sys.argv[1:])]
    sources = state_machines()
    problems = [problem for path in paths for problem in check(path, sources)]
    for problem in problems:
        print(problem, file=sys.stderr)
    print(f"asl_check: {len(paths)} definition(s), {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
