"""One way to read fields of untrusted JSON (events, the workflow's input and state) and one definition of each
identifier pattern the product checks.

Every error names the field's path, the value (quoted and cut, see ``show``) and the rule, as
``"<path>: <rule>"``. ``Fields`` raises ``InvalidInputError`` unless given another error factory (the workflow
input parser collects its errors per record instead of failing the run).

Patterns are matched in full (``re.fullmatch``) and spell their character classes out in ASCII (``[0-9]``,
never ``\\d``; ``[A-Za-z0-9_]``, never ``\\w``): Python's ``\\d`` and ``\\w`` also match other scripts' digits and
letters, which AWS identifiers never contain (tests/unit/test_fields.py checks every pattern here).

Stdlib only: every function imports this module on its cold start. Powertools' parser models (pydantic) were
measured as the alternative: importing ``aws_lambda_powertools.utilities.parser`` in a fresh Python 3.13 costs about
190 ms here, this module about 15 ms, and pydantic is not in the layer (layers/shared/requirements.txt).
"""

import json
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Final

from orgbackup.exceptions import InvalidInputError

# ---------------------------------------------------------------------------------------------------------------
# Identifier patterns

# "The regex pattern for an account ID string requires exactly 12 digits" (Organizations API reference,
# DescribeAccount AccountId: https://docs.aws.amazon.com/organizations/latest/APIReference/API_DescribeAccount.html).
ACCOUNT_ID: Final = r"[0-9]{12}"
# Organization and root IDs (Organizations API reference, Organization.Id and Root.Id:
# https://docs.aws.amazon.com/organizations/latest/APIReference/API_Organization.html,
# https://docs.aws.amazon.com/organizations/latest/APIReference/API_Root.html).
ORGANIZATION_ID: Final = r"o-[a-z0-9]{10,32}"
# Organizations' OU ID pattern (API reference, Child.Id: https://docs.aws.amazon.com/organizations/latest/APIReference/API_Child.html).
OU_ID: Final = r"ou-[0-9a-z]{4,32}-[a-z0-9]{8,32}"
ROOT_ID: Final = r"r-[0-9a-z]{4,32}"
# AWS publishes no general Region pattern; the one it documents for Region names is DataZone's
# ``[a-z]{2}-?(iso|gov)?-{1}[a-z]*-{1}[0-9]`` (https://docs.aws.amazon.com/datazone/latest/APIReference/API_Region.html).
# That one rejects Regions botocore lists (us-isob-east-1, eu-isoe-west-1, eusc-de-east-1), so this is its shape
# with the ISO partitions' letter and the European Sovereign Cloud's prefix added; tests/unit/test_fields.py checks
# it against every Region botocore knows. Whether a Region exists is ``orgbackup.regions``' question.
REGION: Final = r"(?:[a-z]{2}(?:-gov|-iso[a-z]?)?-[a-z]+-[0-9]|eusc-[a-z]{2}-[a-z]+-[0-9])"
# AWS Backup vault names: ``^[a-zA-Z0-9\-\_]{2,50}$`` (AWS Backup API reference, BackupVaultName:
# https://docs.aws.amazon.com/aws-backup/latest/devguide/API_GetBackupVaultAccessPolicy.html).
VAULT_NAME: Final = r"[a-zA-Z0-9\-_]{2,50}"
PARTITION: Final = r"aws|aws-cn|aws-us-gov|aws-iso|aws-iso-b|aws-iso-e|aws-iso-f|aws-eusc"
# IAM names: "Names of users, groups, roles, policies, instance profiles, server certificates, and paths must be
# alphanumeric, including the following common characters: plus (+), equals (=), comma (,), period (.), at (@),
# underscore (_), and hyphen (-). Path names must begin and end with a forward slash (/)"; role and user names are
# at most 64 characters, paths 512 (IAM and AWS STS quotas,
# https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html). Spelled out in ASCII: the IAM API
# reference writes ``[\w+=,.@-]``, and Python's ``\w`` also matches other scripts' letters, which IAM refuses.
IAM_NAME_CHAR: Final = r"[A-Za-z0-9+=,.@_-]"
IAM_ROLE_NAME: Final = rf"{IAM_NAME_CHAR}{{1,64}}"
# A role or user ARN: ``arn:<partition>:iam::<account>:role<path><name>``, the path ``/`` or ``/<segments>/``, so
# its segments hold at most 510 characters (the lookahead). The IAM API reference allows any printable ASCII in a
# path (``[\u0021-\u007E]``); the quotas page's set above is kept, the safe side: a ``*`` or ``?`` in an ARN is
# a wildcard to ``ArnNotEquals`` and would widen the break-glass exception of the vault policy.
IAM_PRINCIPAL_ARN: Final = (
    rf"arn:(?:{PARTITION}):iam::{ACCOUNT_ID}:(?:role|user)/"
    rf"(?:(?=[A-Za-z0-9+=,.@_/-]{{1,510}}/{IAM_ROLE_NAME}$)(?:{IAM_NAME_CHAR}+/)+)?{IAM_ROLE_NAME}"
)
# StackSet names: "can contain only alphanumeric characters (case-sensitive) and hyphens. It must start with an
# alphabetic character and can't be longer than 128 characters" (CloudFormation API reference, CreateStackSet
# StackSetName: https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_CreateStackSet.html).
STACKSET_NAME: Final = r"[a-zA-Z][-a-zA-Z0-9]{0,127}"
# SNS topic names: "uppercase and lowercase ASCII letters, numbers, underscores, and hyphens, and must be between 1
# and 256 characters long" (SNS API reference, CreateTopic Name, https://docs.aws.amazon.com/sns/latest/api/API_CreateTopic.html).
# A FIFO topic's ".fifo" suffix is not accepted: the notification topics here are standard topics (template.yaml).
SNS_TOPIC_ARN: Final = r"arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]{1,256}"
ARN_PARTITION: Final = r"arn:(aws[a-z-]*):"


def is_account_id(value: object) -> bool:
    return isinstance(value, str) and re.fullmatch(ACCOUNT_ID, value) is not None


# ---------------------------------------------------------------------------------------------------------------
# Values as quoted in reasons

# Values quoted in reasons are cut to this many characters so a huge field cannot bloat a report.
SHOW_CHARS: Final = 64
# Policy documents are JSON: their values are quoted as JSON, a little longer (see ``show_json``).
SHOW_JSON_CHARS: Final = 80


def show(value: object) -> str:
    """A value as quoted in reasons (strings in quotes, anything else as JSON), cut to SHOW_CHARS characters."""
    if isinstance(value, str):
        text = repr(value)
    else:
        try:
            text = json.dumps(value, ensure_ascii=False, default=repr)
        except (ValueError, RecursionError):
            text = repr(value)
    if len(text) <= SHOW_CHARS:
        return text
    return f"{text[:SHOW_CHARS]}... ({len(text)} chars)"


def show_json(value: object) -> str:
    """A value as its JSON text (how a policy document spells it), cut to SHOW_JSON_CHARS characters."""
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= SHOW_JSON_CHARS else text[: SHOW_JSON_CHARS - 3] + "..."


_JSON_TYPES: Final = ((bool, "boolean"), (int | float, "number"), (str, "string"), (list, "array"), (dict, "object"))


def json_type(value: object) -> str:
    """The JSON name of a value's type, for 'must be a string, got number' messages."""
    if value is None:
        return "null"
    return next((name for kind, name in _JSON_TYPES if isinstance(value, kind)), type(value).__name__)


def got(value: object) -> str:
    """'null', or the JSON type and the (truncated) value: the tail of a 'must be a string, got ...' reason."""
    return "null" if value is None else f"{json_type(value)} {show(value)}"


# ---------------------------------------------------------------------------------------------------------------
# Single values

ErrorFactory = Callable[[str], Exception]

# Epoch values above this are milliseconds (1e11 seconds is the year 5138).
EPOCH_MILLISECONDS_ABOVE: Final = 10**11
# Java's medium date format, which AWS Backup uses in some date fields (the guide's RUNNING backup example).
JAVA_MEDIUM_DATE: Final = "%b %d, %Y %I:%M:%S %p"
INT_TEXT: Final = r"-?[0-9]+"
NUMBER_TEXT: Final = r"-?[0-9]+(\.[0-9]+)?"


def check_account_id(value: object, path: str, error: ErrorFactory = InvalidInputError) -> str:
    """A 12-digit account ID given as a string; raises ``error`` naming ``path`` otherwise."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        # A JSON number cannot carry an account ID: IDs may start with 0, which numbers drop.
        raise error(
            f"{path}: must be a string, got number {show(value)} (account IDs can start with 0, which numbers lose)"
        )
    if not isinstance(value, str):
        raise error(f"{path}: must be a string, got {got(value)}")
    if not re.fullmatch(ACCOUNT_ID, value):
        raise error(f"{path}: {show(value)} is not a 12-digit account ID")
    return value


def check_ou_id(value: object, path: str, error: ErrorFactory = InvalidInputError) -> str:
    if not isinstance(value, str):
        raise error(f"{path}: must be a string, got {got(value)}")
    if not re.fullmatch(OU_ID, value):
        raise error(f"{path}: {show(value)} is not an OU ID (ou- then 4-32 and 8-32 lowercase letters or digits)")
    return value


def _from_epoch(value: float, path: str, original: object, error: ErrorFactory) -> datetime:
    seconds = value / 1000 if abs(value) > EPOCH_MILLISECONDS_ABOVE else value
    try:
        return datetime.fromtimestamp(seconds, tz=UTC)
    except (OverflowError, OSError, ValueError):
        raise error(f"{path}: {show(original)} is out of range for a timestamp") from None


def parse_timestamp(value: object, path: str, error: ErrorFactory = InvalidInputError) -> datetime:
    """An ISO 8601 string, epoch seconds or milliseconds (number or digits), or Java's medium date format; UTC
    when no offset is given."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise error(f"{path}: must be a timestamp (ISO 8601 text or epoch number), got {got(value)}")
    if isinstance(value, int | float):
        return _from_epoch(float(value), path, value, error)
    text = value.strip()
    if re.fullmatch(NUMBER_TEXT, text):
        return _from_epoch(float(text), path, value, error)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        try:
            parsed = datetime.strptime(text, JAVA_MEDIUM_DATE)  # naive: UTC is applied below
        except ValueError:
            raise error(
                f"{path}: {show(value)} is not a timestamp (ISO 8601 like 2020-07-29T20:13:07.392Z, or epoch time)"
            ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def parse_whole_number(value: object, path: str, error: ErrorFactory = InvalidInputError) -> int:
    """A JSON number or a string of digits (AWS Backup sends both)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(INT_TEXT, value.strip()):
        return int(value.strip())
    raise error(f"{path}: must be a whole number (a JSON number or a string of digits), got {got(value)}")


def parse_number(value: object, path: str, error: ErrorFactory = InvalidInputError) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str) and re.fullmatch(NUMBER_TEXT, value.strip()):
        return float(value.strip())
    raise error(f"{path}: must be a number (a JSON number or numeric text), got {got(value)}")


# ---------------------------------------------------------------------------------------------------------------
# Fields of one JSON object


class Fields:
    """Typed reads from one JSON object. ``prefix`` makes the paths in errors absolute (``detail.state``);
    ``paths`` names the original path of keys that were moved (a slimmed-down copy of an event);
    ``error`` builds the exception from the reason (``"<path>: <rule>"``)."""

    def __init__(
        self,
        data: Mapping[str, Any],
        prefix: str = "",
        error: ErrorFactory = InvalidInputError,
        *,
        paths: Mapping[str, str] | None = None,
    ) -> None:
        self.data = data
        self.prefix = prefix
        self.error = error
        self.paths = paths or {}

    def path(self, key: str) -> str:
        return self.paths.get(key) or f"{self.prefix}{key}"

    def fail(self, key: str, rule: str) -> Exception:
        return self.error(f"{self.path(key)}: {rule}")

    def present(self, key: str) -> bool:
        return self.data.get(key) is not None

    def required(self, key: str, why: str = "required") -> Any:
        if key not in self.data:
            raise self.fail(key, f"missing ({why})")
        return self.data[key]

    def required_string(self, key: str, why: str | None = None, *, allow_empty: bool = False) -> str:
        value = self.required(key, why or "required")
        if not isinstance(value, str):
            raise self.fail(key, f"must be a string, got {got(value)}")
        if not allow_empty and not value.strip():
            raise self.fail(key, f"must not be empty ({why})" if why else "must not be empty")
        return value

    def string(self, key: str) -> str | None:
        value = self.data.get(key)
        if value is None:
            return None
        if not isinstance(value, str):
            raise self.fail(key, f"must be a string, got {got(value)}")
        return value

    def arn(self, key: str) -> str | None:
        """An ARN, or None when absent, empty or ``{}`` (how copy events say "no destination recovery point yet")."""
        value = self.data.get(key)
        if value is None or value in ({}, ""):
            return None
        if not isinstance(value, str):
            raise self.fail(key, f"must be an ARN string, got {got(value)}")
        return value

    def string_list(self, key: str, what: str = "strings") -> tuple[str, ...]:
        """A list of strings; absent is empty."""
        value = self.data.get(key)
        if value is None:
            return ()
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise self.fail(key, f"must be a list of {what}, got {got(value)}")
        return tuple(value)

    def list(self, key: str) -> list[Any]:
        """A list; absent is empty."""
        value = self.data.get(key, [])
        if not isinstance(value, list):
            raise self.fail(key, f"must be a list, got {got(value)}")
        return value

    def account_id(self, key: str) -> str:
        return check_account_id(self.required(key), self.path(key), self.error)

    def ou_id(self, key: str) -> str:
        return check_ou_id(self.required(key), self.path(key), self.error)

    def whole_number(self, key: str) -> int | None:
        return None if not self.present(key) else parse_whole_number(self.data[key], self.path(key), self.error)

    def number(self, key: str) -> float | None:
        return None if not self.present(key) else parse_number(self.data[key], self.path(key), self.error)

    def timestamp(self, key: str) -> datetime | None:
        if not self.present(key) or self.data[key] == "":
            return None
        return parse_timestamp(self.data[key], self.path(key), self.error)

    def object(self, key: str, why: str = "required") -> "Fields":
        """A required object's fields."""
        value = self.required(key, why)
        if not isinstance(value, dict):
            raise self.fail(key, f"must be an object, got {got(value)}")
        return Fields(value, f"{self.path(key)}.", self.error)

    def nested(self, key: str) -> "Fields":
        """An optional object's fields (empty when absent)."""
        if self.data.get(key) is None:
            return Fields({}, f"{self.path(key)}.", self.error)
        return self.object(key)
