"""CloudFormation's intrinsic functions, evaluated offline: what a template's values become for one deployment.

One evaluator, ``Intrinsics``: it resolves whole template fragments (Ref, Fn::GetAtt, Fn::Join, Fn::If, Fn::Select,
Fn::Sub and the condition functions) against parameters, pseudo parameters and the resources already created. The
simulation deploys `template.yaml` with it; the least-privilege contract reads every policy through it.
``evaluate_condition`` is its entry for the offline checks that have no deployment (`orgbackup alerts`, the
protection check): one template Condition from the deployment parameters alone.

Anything a template uses that this does not model is refused with ConfigurationError naming it, never guessed.
Development-only (the Lambda functions never read a template).
"""

from collections.abc import Callable, Mapping
from typing import Any

from orgbackup import settings_loader
from orgbackup.exceptions import ConfigurationError

# ---------------------------------------------------------------------------------------------------------------
# Resolving template fragments


def pseudo_parameters(account_id: str, region: str, stack_name: str) -> dict[str, str]:
    """The pseudo parameters CloudFormation gives a stack in ``account_id`` and ``region`` (commercial partition)."""
    return {
        "AWS::AccountId": account_id,
        "AWS::Region": region,
        "AWS::Partition": "aws",
        "AWS::URLSuffix": "amazonaws.com",
        "AWS::StackName": stack_name,
    }


class Intrinsics:
    """Resolves CloudFormation intrinsic functions against parameters, pseudo parameters and known resources."""

    def __init__(
        self,
        parameters: Mapping[str, str],
        resources: Mapping[str, Mapping[str, str]],
        conditions: Mapping[str, Any] | None = None,
        list_parameters: frozenset[str] = frozenset(),
        *,
        pseudo: Mapping[str, str],
    ) -> None:
        self.parameters = dict(parameters)
        self.list_parameters = list_parameters  # CommaDelimitedList: Ref gives a list
        self.resources = resources  # logical ID -> {"Ref": value, "Arn": value, ...}
        self.conditions = dict(conditions or {})
        self.pseudo = dict(pseudo)

    def ref(self, name: str) -> Any:
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.parameters:
            value = self.parameters[name]
            return list(settings_loader.split_list(value)) if name in self.list_parameters else value
        if name in self.resources and "Ref" in self.resources[name]:
            return self.resources[name]["Ref"]
        raise ConfigurationError(
            f"template: Ref {name!r} has no value (no such parameter, pseudo parameter or resource)"
        )

    def get_att(self, resource: str, attribute: str) -> Any:
        try:
            return self.resources[resource][attribute]
        except KeyError:
            raise ConfigurationError(
                f"template: GetAtt {resource}.{attribute} has no value (no such resource)"
            ) from None

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self.resolve(item) for item in value]
        if not isinstance(value, dict):
            return value
        if len(value) != 1:
            return {key: self.resolve(item) for key, item in value.items()}
        ((key, arg),) = value.items()
        if key == "Ref":
            ref = self.ref(arg)
            return ref
        if key == "Fn::GetAtt":
            resource, attribute = arg.split(".", 1) if isinstance(arg, str) else arg
            return self.get_att(resource, attribute)
        if key == "Fn::Join":
            separator, items = arg
            resolved = self.resolve(items)
            flat = [part for item in resolved for part in (item if isinstance(item, list) else [item])]
            return separator.join(str(part) for part in flat)
        if key == "Fn::If":
            name, when_true, when_false = arg
            return self.resolve(when_true if self.condition(name) else when_false)
        if key == "Fn::Select":
            index, items = arg
            resolved = self.resolve(items)
            resolved = settings_loader.split_list(resolved) if isinstance(resolved, str) else resolved
            return resolved[int(index)]
        if key == "Fn::Sub":
            text, extra = (arg, {}) if isinstance(arg, str) else (arg[0], self.resolve(arg[1]))
            return substitute(text, lambda name: extra[name] if name in extra else self._sub_name(name))
        if key.startswith("Fn::"):
            raise ConfigurationError(f"template: {key} is not supported offline")
        return {key: self.resolve(arg)}

    def condition(self, name: str) -> bool:
        if name not in self.conditions:
            raise ConfigurationError(f"template: condition {name!r} is not defined")
        return self.evaluate(self.conditions[name])

    def evaluate(self, expression: Any) -> bool:
        if not isinstance(expression, dict) or len(expression) != 1:
            raise ConfigurationError(f"template: not a condition function: {expression!r}")
        ((key, arg),) = expression.items()
        # A condition naming another: {"Condition": name} in JSON, !Condition name (read as Fn::Condition) in YAML.
        if key in ("Condition", "Fn::Condition"):
            return self.condition(arg)
        if key == "Fn::Equals":
            # CloudFormation compares the two values as strings (a parameter is a string; YAML's `true` is "true").
            left, right = (_as_text(self.resolve(item)) for item in arg)
            return left == right
        if key == "Fn::Not":
            return not self.evaluate(arg[0])
        if key == "Fn::And":
            return all(self.evaluate(item) for item in arg)
        if key == "Fn::Or":
            return any(self.evaluate(item) for item in arg)
        raise ConfigurationError(f"template: condition function {key} is not supported offline")

    def _sub_name(self, name: str) -> str:
        if "." in name:
            resource, attribute = name.split(".", 1)
            return str(self.get_att(resource, attribute))
        value = self.ref(name)
        return ",".join(value) if isinstance(value, list) else str(value)


def substitute(text: str, lookup: Callable[[str], Any]) -> str:
    """Fn::Sub's text: each ``${Name}`` replaced by ``lookup(Name)``; ``${!Literal}`` written as ``${Literal}``.
    Step Functions' DefinitionSubstitutions use the same syntax."""
    out, index = [], 0
    while True:
        start = text.find("${", index)
        if start < 0:
            out.append(text[index:])
            return "".join(out)
        end = text.index("}", start)
        out.append(text[index:start])
        name = text[start + 2 : end]
        out.append("${" + name[1:] + "}" if name.startswith("!") else str(lookup(name)))
        index = end + 1


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(_as_text(item) for item in value)
    return str(value)


def evaluate_condition(name: str, template: Mapping[str, Any], parameters: Mapping[str, str]) -> bool:
    """A template Condition's value for these parameters alone (no pseudo parameters, no resources)."""
    conditions = template.get("Conditions") or {}
    if name not in conditions:
        raise ConfigurationError(f"Conditions.{name}: not defined in the template")
    try:
        return Intrinsics(parameters, {}, conditions, pseudo={}).condition(name)
    except ConfigurationError as error:
        raise ConfigurationError(f"Conditions.{name}: {str(error).removeprefix('template: ')}") from None
