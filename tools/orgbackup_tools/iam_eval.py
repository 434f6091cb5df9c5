"""A small IAM policy evaluator for the least-privilege contract (tests/workflow/test_least_privilege.py).

moto does not enforce IAM, and no maintained Python library evaluates Allow/Deny with conditions and resource
policies (policyuniverse and parliament parse and lint; they do not decide requests). This module decides one
request against identity-based and resource-based policies as AWS documents it, for the policy elements this
product's templates use; anything else raises ``UnsupportedPolicyError`` rather than guessing.

AWS documentation it follows:
- Policy evaluation logic, https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html
  and "How AWS enforcement code logic evaluates requests",
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic_policy-eval-denyallow.html:
  implicit deny by default; an explicit Deny in any policy overrides every Allow; within one account an Allow in
  either the identity-based or the resource-based policy is enough.
- Cross-account policy evaluation logic,
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic-cross-account.html: the
  resource-based policy must allow the principal AND the principal's identity-based policy must allow the request.
  A role trust policy is the role's resource-based policy.
- Two services need their resource policy even within one account: an IAM role's trust policy ("IAM roles" in the
  same page) and a KMS key policy (KMS developer guide, "Key policies",
  https://docs.aws.amazon.com/kms/latest/developerguide/key-policies.html: "Unless the key policy explicitly
  allows it, you cannot use IAM policies to allow access to a KMS key"). A statement naming the account root
  (``arn:aws:iam::<account>:root``) delegates to the account's IAM policies; it does not allow a role by itself.
- IAM JSON policy elements: Action/NotAction and Resource/NotResource with ``*`` and ``?`` wildcards (actions are
  case-insensitive), Principal (AWS account, role ARN, ``*``, Service), Condition,
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements.html.
- Condition operators,
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html: all
  operators of a block, all keys of an operator and any one value of a key must hold (AND, AND, OR); "If the key
  that you specify in a policy condition is not present in the request context, the values do not match and the
  condition is false. If the policy condition requires that the key is not matched, such as StringNotLike or
  ArnNotLike, and the right key is not present, the condition is true"; ...IfExists holds when the key is absent;
  ForAnyValue holds when any request value matches, and is false for an absent key; ForAllValues holds when every
  request value matches one of the policy's, and for an absent key.
"""

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

ALLOW = "Allow"
EXPLICIT_DENY = "ExplicitDeny"
IMPLICIT_DENY = "ImplicitDeny"
# Services whose resource policy must allow even a principal of the resource's own account.
RESOURCE_POLICY_REQUIRED = ("sts:", "kms:")


class UnsupportedPolicyError(ValueError):
    """A policy uses an element or operator this evaluator does not implement."""


@dataclass(frozen=True)
class Request:
    """One request: who (a role ARN, or a service principal such as ``events.amazonaws.com``), what, on what."""

    principal: str
    action: str
    resource: str
    context: Mapping[str, str | list[str]] = field(default_factory=dict)

    @property
    def is_service(self) -> bool:
        return self.principal.endswith(".amazonaws.com")

    @property
    def account(self) -> str:
        return "" if self.is_service else self.principal.split(":")[4]


@dataclass(frozen=True)
class Decision:
    result: str
    # The statements (policy name, index) that allowed or denied the request: the contract counts them as used.
    allowed_by: tuple[tuple[str, int], ...] = ()
    denied_by: tuple[tuple[str, int], ...] = ()

    @property
    def allowed(self) -> bool:
        return self.result == ALLOW


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def wildcard_match(pattern: str, value: str, ignore_case: bool = False) -> bool:
    """``*`` any run of characters, ``?`` one character; everything else literal."""
    regex = "".join(".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in pattern)
    return re.fullmatch(regex, value, re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL) is not None


def _action_matches(statement: Mapping[str, Any], action: str) -> bool:
    if "Action" in statement:
        return any(wildcard_match(item, action, ignore_case=True) for item in _as_list(statement["Action"]))
    if "NotAction" in statement:
        return not any(wildcard_match(item, action, ignore_case=True) for item in _as_list(statement["NotAction"]))
    raise UnsupportedPolicyError("statement has neither Action nor NotAction")


def _resource_matches(statement: Mapping[str, Any], resource: str) -> bool:
    if "Resource" in statement:
        return any(wildcard_match(item, resource) for item in _as_list(statement["Resource"]))
    if "NotResource" in statement:
        return not any(wildcard_match(item, resource) for item in _as_list(statement["NotResource"]))
    return True  # a trust policy or an EventBridge bus statement may leave it out: the policy's own resource


def principal_matches(principal_element: Any, request: Request) -> bool:
    """Whether a resource policy's Principal names the requester. An account (root ARN or bare ID) matches every
    principal of that account; here the caller decides whether the account's IAM policies must also allow."""
    if principal_element == "*":
        return True
    if not isinstance(principal_element, Mapping):
        raise UnsupportedPolicyError(f"Principal {principal_element!r} is not understood")
    for kind, values in principal_element.items():
        for value in _as_list(values):
            if kind == "Service" and request.is_service and value == request.principal:
                return True
            if kind != "AWS" or request.is_service:
                continue
            if value in {"*", request.principal}:
                return True
            if value in (request.account, f"arn:aws:iam::{request.account}:root"):
                return True
    return False


def names_principal_itself(principal_element: Any, request: Request) -> bool:
    """The statement names the requester itself (its ARN, ``*`` or its service), not only its account."""
    if principal_element == "*":
        return True
    for kind, values in principal_element.items():
        for value in _as_list(values):
            if value in {"*", request.principal} and (kind == "Service") == request.is_service:
                return True
    return False


_BASE_OPERATORS: dict[str, Callable[[str, str], bool]] = {
    "StringEquals": lambda want, have: want == have,
    "StringNotEquals": lambda want, have: want == have,
    "StringEqualsIgnoreCase": lambda want, have: want.lower() == have.lower(),
    # ArnEquals and ArnLike both take wildcards (condition operators page, "Amazon Resource Name (ARN)").
    "StringLike": wildcard_match,
    "StringNotLike": wildcard_match,
    "ArnEquals": wildcard_match,
    "ArnLike": wildcard_match,
    "ArnNotEquals": wildcard_match,
    "ArnNotLike": wildcard_match,
    "Bool": lambda want, have: str(want).lower() == str(have).lower(),
}
_NEGATED = {"StringNotEquals", "StringNotLike", "ArnNotEquals", "ArnNotLike"}


def _operator_holds(operator: str, key: str, wanted: Any, context: Mapping[str, str | list[str]]) -> bool:
    qualifier, _, name = operator.rpartition(":")
    if_exists = name.endswith("IfExists")
    name = name.removesuffix("IfExists")
    if name not in _BASE_OPERATORS or qualifier not in ("", "ForAnyValue", "ForAllValues"):
        raise UnsupportedPolicyError(f"condition operator {operator} is not implemented")
    if qualifier == "ForAllValues" and name in _NEGATED:
        raise UnsupportedPolicyError(f"condition operator {operator} is not implemented")
    compare = _BASE_OPERATORS[name]
    wanted_values = [str(item) if not isinstance(item, bool) else str(item).lower() for item in _as_list(wanted)]
    # Condition key names are not case-sensitive (IAM JSON policy elements: Condition, "Condition key names are
    # not case-sensitive"); their values are, per operator.
    present = {name.lower(): value for name, value in context.items()}
    if key.lower() not in present:
        if if_exists:
            return True
        # ForAllValues "also returns true if there are no keys in the request" (IAM user guide, "Single-valued vs.
        # multivalued context keys", https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-single-vs-multi-valued-context-keys.html).
        return qualifier == "ForAllValues" or (name in _NEGATED and qualifier == "")
    have_values = [str(item) for item in _as_list(present[key.lower()])]
    if qualifier == "" and len(have_values) != 1:
        raise UnsupportedPolicyError(f"{operator} on the multivalued key {key} needs ForAnyValue or ForAllValues")
    if qualifier == "ForAllValues":
        # "true if every key value in the request matches at least one value in the policy" (same page).
        return all(any(compare(want, have) for want in wanted_values) for have in have_values)
    matched = any(compare(want, have) for want in wanted_values for have in have_values)
    return not matched if name in _NEGATED else matched


def conditions_hold(condition: Mapping[str, Any] | None, context: Mapping[str, str | list[str]]) -> bool:
    for operator, keys in (condition or {}).items():
        for key, wanted in keys.items():
            if not _operator_holds(operator, key, wanted, context):
                return False
    return True


def statement_applies(statement: Mapping[str, Any], request: Request, resource_policy: bool) -> bool:
    if "NotPrincipal" in statement:
        raise UnsupportedPolicyError("NotPrincipal is not implemented")
    if resource_policy and not principal_matches(statement.get("Principal"), request):
        return False
    return (
        _action_matches(statement, request.action)
        and _resource_matches(statement, request.resource)
        and conditions_hold(statement.get("Condition"), request.context)
    )


def statements(document: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [item for item in _as_list(document.get("Statement", [])) if item]


def evaluate(  # noqa: PLR0912 - the documented decision, one branch per case
    request: Request,
    identity_policies: Mapping[str, Mapping[str, Any]],
    resource_policy: Mapping[str, Any] | None,
    resource_account: str,
    resource_policy_name: str = "resource policy",
) -> Decision:
    """Decide ``request``. ``identity_policies``: the principal's policies by name (empty for a service);
    ``resource_policy``: the resource's policy, if it has one; ``resource_account``: the resource's account."""
    allows: list[tuple[str, int]] = []
    denies: list[tuple[str, int]] = []
    identity_allows = False
    for name, document in identity_policies.items():
        for index, statement in enumerate(statements(document)):
            if statement_applies(statement, request, resource_policy=False):
                (denies if statement["Effect"] == "Deny" else allows).append((name, index))
                identity_allows = identity_allows or statement["Effect"] == "Allow"
    resource_allows_alone = resource_allows_account = False
    for index, statement in enumerate(statements(resource_policy or {})):
        if statement_applies(statement, request, resource_policy=True):
            (denies if statement["Effect"] == "Deny" else allows).append((resource_policy_name, index))
            if statement["Effect"] == "Allow":
                if names_principal_itself(statement.get("Principal"), request):
                    resource_allows_alone = True
                else:
                    resource_allows_account = True
    if denies:
        return Decision(EXPLICIT_DENY, denied_by=tuple(denies))
    if request.is_service:
        allowed = resource_allows_alone
    elif request.account != resource_account:
        allowed = identity_allows and (resource_allows_alone or resource_allows_account)
    elif request.action.lower().startswith(RESOURCE_POLICY_REQUIRED):
        allowed = resource_allows_alone or (resource_allows_account and identity_allows)
    else:
        allowed = identity_allows or resource_allows_alone
    return Decision(ALLOW, allowed_by=tuple(allows)) if allowed else Decision(IMPLICIT_DENY)


def actions_of(statement: Mapping[str, Any]) -> list[str]:
    if "Action" not in statement:
        raise UnsupportedPolicyError("NotAction grants cannot be listed")
    return [str(item) for item in _as_list(statement["Action"])]


def used(granted: str, recorded: Iterable[str]) -> bool:
    """Whether a granted action (possibly with wildcards) covers any recorded action."""
    return any(wildcard_match(granted, action, ignore_case=True) for action in recorded)
