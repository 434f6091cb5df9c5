"""Does a resource policy (a backup vault's access policy, a KMS key policy) let a principal do an action?

Enough of IAM's evaluation logic for the copies this product makes (IAM User Guide, *Policy evaluation logic*:
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html): an explicit Deny wins,
then any Allow; ``Action`` with ``*``/``?`` wildcards; ``Principal`` ``*``, an account ID, an account root ARN or the
principal's own ARN; conditions with the String/Arn/Bool operators (``...Like``, ``...Not...``, ``ForAnyValue:``,
``ForAllValues:``) on the keys these copies carry: ``aws:PrincipalAccount``, ``aws:PrincipalArn``,
``aws:PrincipalOrgID``, ``aws:PrincipalOrgPaths``, ``kms:CallerAccount``, ``kms:ViaService``,
``kms:GrantIsForAWSResource`` (true: AWS Backup creates its grants for AWS resources). A condition on any other key,
or a ``NotPrincipal``, never makes an Allow apply and always makes a Deny apply: the safe side. Pure.
"""

import fnmatch
import json
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Principal:
    """Who makes the request: the account, the principal's ARN, the Region of the service it goes through, and
    (when known) its organization ID and organization paths (``o-.../r-.../ou-.../``)."""

    account_id: str
    arn: str
    region: str
    org_id: str | None = None
    org_paths: tuple[str, ...] = ()


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _values(key: str, principal: Principal) -> list[str] | None:
    known: dict[str, list[str]] = {
        "aws:principalaccount": [principal.account_id],
        "aws:principalarn": [principal.arn],
        "aws:principalorgid": [principal.org_id] if principal.org_id else [],
        "aws:principalorgpaths": list(principal.org_paths),
        "kms:calleraccount": [principal.account_id],
        "kms:viaservice": [f"backup.{principal.region}.amazonaws.com"],
        "kms:grantisforawsresource": ["true"],
    }
    return known.get(key.lower())


def _condition_holds(operator: str, key: str, expected: Any, principal: Principal) -> bool | None:
    actual = _values(key, principal)
    if actual is None:
        return None
    qualifier, _, base = operator.rpartition(":")
    wanted = [str(item) for item in _as_list(expected)]
    if base.startswith("Bool"):
        return any(value.lower() in [item.lower() for item in wanted] for value in actual)
    like = base.endswith("Like")

    def one(value: str) -> bool:
        return any(fnmatch.fnmatchcase(value, item) if like else value == item for item in wanted)

    combine = all if qualifier == "ForAllValues" else any
    hit = combine(one(value) for value in actual)
    return not hit if "Not" in base else hit


def _applies(statement: dict[str, Any], action: str, principal: Principal, *, deny: bool) -> bool:
    actions = [str(item).lower() for item in _as_list(statement.get("Action"))]
    if not any(fnmatch.fnmatchcase(action.lower(), item) for item in actions):
        return False
    if "NotPrincipal" in statement:
        return deny
    named = statement.get("Principal")
    names = _as_list(named.get("AWS", [])) if isinstance(named, dict) else _as_list(named)
    tails = (f":iam::{principal.account_id}:root", principal.arn.split(":", 2)[-1])
    if not any(name in ("*", principal.account_id) or str(name).endswith(tails) for name in names):
        return False
    for operator, pairs in (statement.get("Condition") or {}).items():
        for key, expected in (pairs or {}).items():
            holds = _condition_holds(operator, key, expected, principal)
            if holds is None:
                return deny
            if not holds:
                return False
    return True


def policy_allows(policy: str | dict[str, Any] | None, action: str, principal: Principal) -> tuple[bool, str]:
    """(allowed, why) for ``action`` by ``principal`` under ``policy`` (JSON text or a parsed document)."""
    if not policy:
        return False, "there is no policy"
    try:
        document = json.loads(policy) if isinstance(policy, str) else policy
    except ValueError:
        return False, "the policy is not JSON"
    statements = [item for item in _as_list(document.get("Statement", [])) if isinstance(item, dict)]
    for statement in statements:
        if statement.get("Effect") == "Deny" and _applies(statement, action, principal, deny=True):
            return False, f"statement {statement.get('Sid', '(no Sid)')} denies it"
    for statement in statements:
        if statement.get("Effect") == "Allow" and _applies(statement, action, principal, deny=False):
            return True, f"statement {statement.get('Sid', '(no Sid)')} allows it"
    return False, f"no statement allows {action} to account {principal.account_id}"
