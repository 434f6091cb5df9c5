"""What `template.yaml` deploys, as CloudFormation receives it after SAM's transform, reduced to what a refactor of
the template must keep: every role's effective permissions (each action x resource x condition of its inline
policies and of the template's managed policies attached to it, plus its trust policy, boundary and AWS managed
policies), every EventBridge rule with its targets, every Lambda permission, every alarm and every function's
settings (but its environment, which issue 11 part 5 trims per function, and its code location).

The transform is SAM's own (samtranslator, installed with aws-sam-cli), run offline on the template as SAM CLI
reads it; local code locations are replaced by S3 placeholders, as `sam validate` does. Rules are named by what
they are (bus and pattern), not by logical ID, since SAM names the rules it generates itself.

`python tests/template_inventory.py > tests/static/data/template_inventory.json` writes the snapshot that
tests/static/test_template_inventory.py compares the current template with. Regenerate it only when a change of
permissions, rules or alarms is intended, and review the diff.
"""

import copy
import json
import os
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SNAPSHOT = ROOT / "tests" / "static" / "data" / "template_inventory.json"
PLACEHOLDER = "s3://orgbackup-inventory/placeholder"
# Function properties that are not the function's behaviour under test here: the code location (a placeholder),
# the layer (SAM hashes its logical ID) and the environment (issue 11 part 5 gives each function its own).
IGNORED_FUNCTION_PROPERTIES = ("Code", "Layers", "Environment")


class _NoManagedPolicies:
    """samtranslator asks for AWS managed policy ARNs only when a function names one in `Policies` (none does)."""

    def load(self) -> dict[str, str]:
        return {}


def transformed(path: Path = ROOT / "template.yaml") -> dict[str, Any]:
    """The template after SAM's transform, as `sam deploy` would hand it to CloudFormation."""
    from samcli.yamlhelper import yaml_parse
    from samtranslator.translator.transform import transform

    # SAM fills AWS::Region from the environment; any Region renders the same template here.
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    document: dict[str, Any] = yaml_parse(path.read_text(encoding="utf-8"))
    for resource in document["Resources"].values():
        properties = resource.get("Properties", {})
        for key in ("CodeUri", "ContentUri", "DefinitionUri"):
            if isinstance(properties.get(key), str):
                properties[key] = PLACEHOLDER
    result: dict[str, Any] = transform(document, {}, _NoManagedPolicies())
    return result


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _get_att(value: Any) -> tuple[str, str] | None:
    if isinstance(value, dict) and list(value) == ["Fn::GetAtt"]:
        target = value["Fn::GetAtt"]
        name, _, attribute = target.partition(".") if isinstance(target, str) else (target[0], "", target[1])
        return str(name), str(attribute)
    return None


def _rule_key(properties: dict[str, Any]) -> str:
    bus = json.dumps(properties.get("EventBusName", "default"), sort_keys=True)
    return f"rule(bus={bus}, pattern={json.dumps(properties.get('EventPattern'), sort_keys=True)})"


class Inventory:
    def __init__(self, document: dict[str, Any]) -> None:
        self.resources: dict[str, Any] = document["Resources"]
        self.rule_names = {
            name: _rule_key(spec["Properties"])
            for name, spec in self.resources.items()
            if spec["Type"] == "AWS::Events::Rule"
        }

    def normal(self, value: Any) -> Any:
        """``value`` with every reference to a rule replaced by the rule's key and ``Fn::GetAtt`` in one form."""
        att = _get_att(value)
        if att:
            name, attribute = att
            return {"Fn::GetAtt": f"{self.rule_names.get(name, name)}.{attribute}"}
        if isinstance(value, dict):
            if list(value) == ["Ref"] and value["Ref"] in self.rule_names:
                return {"Ref": self.rule_names[value["Ref"]]}
            return {key: self.normal(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self.normal(item) for item in value]
        return value

    def managed_policies_of(self, role: str, arns: list[Any]) -> tuple[list[dict[str, Any]], list[Any]]:
        """(documents of the template's managed policies attached to ``role``, the other managed policy ARNs)."""
        documents, others = [], []
        for arn in arns:
            if isinstance(arn, dict) and list(arn) == ["Ref"] and arn["Ref"] in self.resources:
                documents.append(self.resources[arn["Ref"]]["Properties"]["PolicyDocument"])
            else:
                others.append(arn)
        for spec in self.resources.values():
            if spec["Type"] == "AWS::IAM::ManagedPolicy" and {"Ref": role} in spec["Properties"].get("Roles", []):
                documents.append(spec["Properties"]["PolicyDocument"])
        return documents, others

    def role(self, name: str, spec: dict[str, Any]) -> dict[str, Any]:
        properties = spec["Properties"]
        documents, aws_managed = self.managed_policies_of(name, properties.get("ManagedPolicyArns", []))
        documents += [policy["PolicyDocument"] for policy in properties.get("Policies", [])]
        grants = set()
        for document in documents:
            for statement in _as_list(document["Statement"]):
                condition = json.dumps(self.normal(statement.get("Condition")), sort_keys=True)
                for action in _as_list(statement["Action"]):
                    for resource in _as_list(statement["Resource"]):
                        resource_text = json.dumps(self.normal(resource), sort_keys=True)
                        grants.add(f"{statement['Effect']} {action} on {resource_text} if {condition}")
        return {
            "condition": spec.get("Condition"),
            "trust": self.normal(properties["AssumeRolePolicyDocument"]),
            "boundary": self.normal(properties.get("PermissionsBoundary")),
            "aws_managed_policies": self.normal(aws_managed),
            "grants": sorted(grants),
        }

    def rule(self, spec: dict[str, Any]) -> dict[str, Any]:
        properties = {key: value for key, value in spec["Properties"].items() if key not in ("Description", "Name")}
        return {"condition": spec.get("Condition"), **self.normal(properties)}

    def permission(self, spec: dict[str, Any]) -> str:
        return json.dumps({"condition": spec.get("Condition"), **self.normal(spec["Properties"])}, sort_keys=True)

    def function(self, spec: dict[str, Any]) -> dict[str, Any]:
        properties = {k: v for k, v in spec["Properties"].items() if k not in IGNORED_FUNCTION_PROPERTIES}
        return {"condition": spec.get("Condition"), **self.normal(properties)}

    def build(self) -> dict[str, Any]:
        by_type: dict[str, dict[str, Any]] = {}
        for name, spec in self.resources.items():
            by_type.setdefault(spec["Type"], {})[name] = spec
        return {
            "roles": {name: self.role(name, spec) for name, spec in sorted(by_type["AWS::IAM::Role"].items())},
            "rules": {
                self.rule_names[name]: self.rule(spec) for name, spec in sorted(by_type["AWS::Events::Rule"].items())
            },
            "lambda_permissions": sorted(
                self.permission(spec) for spec in by_type.get("AWS::Lambda::Permission", {}).values()
            ),
            "alarms": {
                name: self.normal(spec) for name, spec in sorted(by_type.get("AWS::CloudWatch::Alarm", {}).items())
            },
            "functions": {
                name: self.function(spec) for name, spec in sorted(by_type.get("AWS::Lambda::Function", {}).items())
            },
        }


def inventory(path: Path = ROOT / "template.yaml") -> dict[str, Any]:
    return Inventory(copy.deepcopy(transformed(path))).build()


if __name__ == "__main__":
    json.dump(
        inventory(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "template.yaml"),
        sys.stdout,
        indent=1,
        sort_keys=True,
    )
    sys.stdout.write("\n")
