"""Domain exceptions. Their class names are the contract with the state machine's Retry and Catch clauses
(a Lambda error's name is the exception class name), so renaming one means changing statemachine/*.asl.json.
"""


class OrgBackupError(Exception):
    """Base class of every error this product raises on purpose."""


class InvalidInputError(OrgBackupError):
    """An event, request or document is malformed: the message names the field, the value and the rule."""


class ConfigurationError(OrgBackupError):
    """A deployment setting (environment variable or parameter) is missing or invalid."""


class PolicyValidationError(InvalidInputError):
    """A backup policy document breaks the Organizations backup policy language or its limits."""

    def __init__(self, name: str, errors: list[tuple[str, str]]) -> None:
        self.name = name
        self.errors = errors
        details = "; ".join(f"{path}: {message}" for path, message in errors)
        super().__init__(f"backup policy {name!r} is invalid: {details}")


class RetryableConflictError(OrgBackupError):
    """A conflict that should clear by itself (concurrent modification, operation in progress) outlasted the
    bounded retries inside the function; the state machine retries the whole task with a longer backoff."""


class CentralAccountAccessError(OrgBackupError):
    """The central backup account's vault-policy role could not be assumed or used."""
