"""orgbackup_tools.intrinsics: CloudFormation's intrinsic functions as CloudFormation documents them, for the
template fragments the simulation and the least-privilege contract resolve.

https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/intrinsic-function-reference.html
"""

from typing import Any

import pytest

from orgbackup.exceptions import ConfigurationError
from orgbackup_tools.intrinsics import Intrinsics, evaluate_condition, pseudo_parameters, substitute

PARAMETERS = {"Env": "prod", "Regions": "us-east-1, eu-west-1", "Empty": ""}
RESOURCES = {"Topic": {"Ref": "arn:aws:sns:us-east-1:111111111111:t", "TopicName": "t"}, "Role": {"Arn": "arn:r"}}
CONDITIONS = {
    "IsProd": {"Fn::Equals": [{"Ref": "Env"}, "prod"]},
    "IsDev": {"Fn::Not": [{"Condition": "IsProd"}]},
    "ProdAndEmpty": {"Fn::And": [{"Condition": "IsProd"}, {"Fn::Equals": [{"Ref": "Empty"}, ""]}]},
    "DevOrProd": {"Fn::Or": [{"Condition": "IsDev"}, {"Fn::Condition": "IsProd"}]},
}


def intrinsics() -> Intrinsics:
    return Intrinsics(
        PARAMETERS,
        RESOURCES,
        CONDITIONS,
        frozenset({"Regions"}),
        pseudo=pseudo_parameters("111111111111", "us-east-1", "orgbackup"),
    )


@pytest.mark.parametrize(
    ("fragment", "expected"),
    [
        ({"Ref": "Env"}, "prod"),
        ({"Ref": "Regions"}, ["us-east-1", "eu-west-1"]),  # a CommaDelimitedList gives a list
        ({"Ref": "AWS::AccountId"}, "111111111111"),
        ({"Ref": "AWS::Partition"}, "aws"),
        ({"Ref": "Topic"}, "arn:aws:sns:us-east-1:111111111111:t"),
        ({"Fn::GetAtt": "Role.Arn"}, "arn:r"),
        ({"Fn::GetAtt": ["Topic", "TopicName"]}, "t"),
        ({"Fn::Join": ["/", ["a", {"Ref": "Regions"}, "b"]]}, "a/us-east-1/eu-west-1/b"),
        ({"Fn::Select": [1, {"Ref": "Regions"}]}, "eu-west-1"),
        ({"Fn::Select": [0, "x, y"]}, "x"),
        ({"Fn::If": ["IsProd", "yes", "no"]}, "yes"),
        ({"Fn::If": ["IsDev", "yes", {"Ref": "Env"}]}, "prod"),
        (
            {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/${Env}"},
            "arn:aws:iam::111111111111:role/prod",
        ),
        ({"Fn::Sub": "${Regions}|${Role.Arn}|${!Literal}"}, "us-east-1,eu-west-1|arn:r|${Literal}"),
        ({"Fn::Sub": ["${Name}-${Env}", {"Name": {"Ref": "AWS::StackName"}}]}, "orgbackup-prod"),
        ({"Key": {"Ref": "Env"}, "Other": [{"Ref": "AWS::Region"}]}, {"Key": "prod", "Other": ["us-east-1"]}),
        ({"Effect": "Allow"}, {"Effect": "Allow"}),
        ("plain", "plain"),
    ],
)
def test_a_fragment_resolves_as_cloudformation_would(fragment: Any, expected: Any) -> None:
    # Given a template fragment using intrinsic functions
    # When resolved with the deployment's parameters, pseudo parameters and resources
    # Then it has the value CloudFormation gives it
    assert intrinsics().resolve(fragment) == expected


@pytest.mark.parametrize(
    ("name", "expected"), [("IsProd", True), ("IsDev", False), ("ProdAndEmpty", True), ("DevOrProd", True)]
)
def test_conditions_are_evaluated_with_the_parameters(name: str, expected: bool) -> None:
    # Given conditions built from Equals, Not, And, Or and other conditions
    # When one is evaluated
    # Then it has CloudFormation's value
    assert intrinsics().condition(name) is expected


@pytest.mark.parametrize(
    ("fragment", "message"),
    [
        ({"Ref": "Missing"}, r"Ref 'Missing' has no value"),
        ({"Fn::GetAtt": "Topic.Arn"}, r"GetAtt Topic\.Arn has no value"),
        ({"Fn::Base64": "x"}, r"Fn::Base64 is not supported"),
        ({"Fn::If": ["Nowhere", "a", "b"]}, r"condition 'Nowhere' is not defined"),
    ],
)
def test_what_cannot_be_resolved_is_named(fragment: Any, message: str) -> None:
    # Given a fragment naming something without a value, or a function not modelled
    # When resolving it
    # Then the error names it (never a guess)
    with pytest.raises(ConfigurationError, match=message):
        intrinsics().resolve(fragment)


def test_an_unsupported_condition_function_is_named() -> None:
    conditions = {"Odd": {"Fn::Contains": [["a"], "a"]}}
    resolver = Intrinsics({}, {}, conditions, pseudo=pseudo_parameters("1", "r", "s"))
    with pytest.raises(ConfigurationError, match=r"condition function Fn::Contains is not supported"):
        resolver.condition("Odd")


def test_substitute_keeps_text_and_escapes() -> None:
    # Step Functions' DefinitionSubstitutions use Fn::Sub's syntax: ${Name}, and ${!Name} for a literal
    assert substitute('{"A": "${X}", "B": "${!Y}", "C": "$Z"}', {"X": "1"}.__getitem__) == (
        '{"A": "1", "B": "${Y}", "C": "$Z"}'
    )


def test_the_pseudo_parameters_are_copied_not_shared() -> None:
    # Given two resolvers made from one set of pseudo parameters
    shared = pseudo_parameters("111111111111", "us-east-1", "orgbackup")
    first = Intrinsics({}, {}, pseudo=shared)
    # When one changes its Region (a StackSet instance in another Region)
    first.pseudo["AWS::Region"] = "eu-west-1"
    # Then the other, and the original, keep theirs
    assert Intrinsics({}, {}, pseudo=shared).ref("AWS::Region") == "us-east-1"
    assert shared["AWS::Region"] == "us-east-1"


def test_evaluate_condition_reads_only_the_deployment_parameters() -> None:
    # Given a template's conditions and the parameters `sam deploy` would pass (strings)
    template = {"Conditions": CONDITIONS}
    # When evaluating them without any deployment
    # Then each has CloudFormation's value, and a parameter without a value or an unknown condition is named
    assert evaluate_condition("ProdAndEmpty", template, PARAMETERS) is True
    assert evaluate_condition("IsDev", template, PARAMETERS) is False
    with pytest.raises(ConfigurationError, match=r"Conditions\.IsProd: Ref 'Env' has no value"):
        evaluate_condition("IsProd", template, {})
    with pytest.raises(ConfigurationError, match=r"Conditions\.Nowhere: not defined"):
        evaluate_condition("Nowhere", template, PARAMETERS)


def test_the_offline_condition_entry_is_the_same_evaluator() -> None:
    # Given conditions as the YAML loader reads them (!Condition is Fn::Condition) and a YAML boolean literal
    template = {
        "Conditions": {
            "IsOn": {"Fn::Equals": [{"Ref": "Flag"}, True]},
            "OnAndProd": {"Fn::And": [{"Fn::Condition": "IsOn"}, {"Fn::Equals": [{"Ref": "Env"}, "prod"]}]},
        }
    }
    # Then the deployment-only entry decides them as the deploying evaluator does (values compared as strings)
    assert evaluate_condition("OnAndProd", template, {"Flag": "true", "Env": "prod"}) is True
    assert evaluate_condition("OnAndProd", template, {"Flag": "false", "Env": "prod"}) is False
    deploying = Intrinsics({"Flag": "true", "Env": "prod"}, {}, template["Conditions"], pseudo={})
    assert deploying.condition("OnAndProd") is True
