"""The onboarding definition, statically: valid ASL after the template's substitutions, placeholders and
substitutions in step, every Next exists, every Task has Retry, Catch and TimeoutSeconds; and the checks catch
what they claim to (each is shown a broken definition)."""

import copy
import json

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
