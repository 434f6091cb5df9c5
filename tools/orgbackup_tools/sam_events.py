"""SAM's ``EventBridgeRule`` event sources of a function, rendered as the resources SAM's transform generates, so
that the tools reading `template.yaml` (the simulation, the least-privilege contract, `orgbackup alerts`) see the
rules and Lambda permissions CloudFormation deploys.

What SAM generates (AWS SAM developer guide, "EventBridgeRule",
https://docs.aws.amazon.com/serverless-application-model/latest/developerguide/sam-property-function-eventbridgerule.html:
"AWS SAM generates an AWS::Events::Rule resource when this event type is set. AWS SAM also creates an
AWS::Lambda::Permission resource"), as samtranslator (the transform SAM CLI and CloudFormation run) writes them:
the rule is named ``<Function><Event>`` and carries EventBusName, EventPattern (the event's Pattern), Name (its
RuleName) and State; its one target is the function's ARN with the event's Target Id (default
``<Function><Event>LambdaTarget``), Input, InputPath, InputTransformer, DeadLetterConfig and RetryPolicy; the
permission ``<Function><Event>Permission`` lets events.amazonaws.com invoke the function from the rule's ARN. Both
take the function's Condition. tests/static/test_template_inventory.py compares this rendering with samtranslator's
own for the real template.

Only what the templates use is rendered; anything else (another event type, a dead-letter queue SAM would create,
``Enabled``) is refused with a clear error rather than rendered approximately.
"""

import copy
from typing import Any

from orgbackup.exceptions import ConfigurationError

RULE_EVENT_TYPES = ("EventBridgeRule", "CloudWatchEvent")
SUPPORTED = frozenset(
    {"EventBusName", "Pattern", "RuleName", "State", "Target", "Input", "InputPath", "InputTransformer"}
    | {"DeadLetterConfig", "RetryPolicy"}
)
# A rule target's Id: 1-64 characters (EventBridge API reference, Target).
TARGET_ID_MAX_LENGTH = 64
# Copied onto the generated resources (samtranslator's passthrough resource attributes).
PASSTHROUGH = ("Condition", "DeletionPolicy", "UpdateReplacePolicy")


def _rule_and_permission(
    function_id: str, function: dict[str, Any], event_id: str, properties: dict[str, Any]
) -> dict[str, dict[str, Any]]:
    where = f"Resources.{function_id}.Properties.Events.{event_id}.Properties"
    unknown = sorted(set(properties) - SUPPORTED)
    if unknown:
        raise ConfigurationError(f"{where}: {', '.join(unknown)} not rendered by orgbackup_tools.sam_events")
    dead_letter = properties.get("DeadLetterConfig")
    if dead_letter is not None and set(dead_letter) != {"Arn"}:
        raise ConfigurationError(f"{where}.DeadLetterConfig: only Arn is rendered (SAM would create a queue)")
    rule_id = f"{function_id}{event_id}"
    target_id = properties.get("Target", {}).get("Id", f"{rule_id}LambdaTarget")
    if len(target_id) > TARGET_ID_MAX_LENGTH:  # SAM would truncate a default Id: not rendered here
        raise ConfigurationError(f"{where}.Target.Id: {target_id!r} is longer than {TARGET_ID_MAX_LENGTH} characters")
    target: dict[str, Any] = {"Arn": {"Fn::GetAtt": f"{function_id}.Arn"}, "Id": target_id}
    for key in ("Input", "InputPath", "InputTransformer", "DeadLetterConfig", "RetryPolicy"):
        if key in properties:
            target[key] = copy.deepcopy(properties[key])
    rule_properties: dict[str, Any] = {}
    for source, key in (("EventBusName", "EventBusName"), ("Pattern", "EventPattern"), ("RuleName", "Name")):
        if source in properties:
            rule_properties[key] = copy.deepcopy(properties[source])
    if "State" in properties:
        rule_properties["State"] = properties["State"]
    rule_properties["Targets"] = [target]
    attributes = {key: function[key] for key in PASSTHROUGH if key in function}
    return {
        rule_id: {"Type": "AWS::Events::Rule", **attributes, "Properties": rule_properties},
        f"{rule_id}Permission": {
            "Type": "AWS::Lambda::Permission",
            **attributes,
            "Properties": {
                "Action": "lambda:InvokeFunction",
                "FunctionName": {"Ref": function_id},
                "Principal": "events.amazonaws.com",
                "SourceArn": {"Fn::GetAtt": f"{rule_id}.Arn"},
            },
        },
    }


def expand(template: dict[str, Any]) -> dict[str, Any]:
    """``template`` with every function's rule event sources added as resources (in place, and returned); the
    functions keep their other properties. A template without functions' events is returned unchanged."""
    resources = template.get("Resources") or {}
    generated: dict[str, dict[str, Any]] = {}
    for function_id, function in resources.items():
        if not isinstance(function, dict) or function.get("Type") != "AWS::Serverless::Function":
            continue
        events = (function.get("Properties") or {}).pop("Events", None) or {}
        for event_id, event in events.items():
            if event.get("Type") not in RULE_EVENT_TYPES:
                raise ConfigurationError(
                    f"Resources.{function_id}.Properties.Events.{event_id}.Type: {event.get('Type')!r} is not "
                    f"rendered by orgbackup_tools.sam_events (only {', '.join(RULE_EVENT_TYPES)})"
                )
            generated.update(_rule_and_permission(function_id, function, event_id, event.get("Properties") or {}))
    clashes = sorted(set(generated) & set(resources))
    if clashes:
        raise ConfigurationError(f"Resources: {', '.join(clashes)} already defined; SAM would generate them too")
    resources.update(generated)
    return template
