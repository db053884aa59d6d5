"""Typed errors. Workflows raise them; one handler turns them into what the user sees."""

from __future__ import annotations


class WarroomError(Exception):
    """Base of every error a user may be shown."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        # The form field at fault, so a modal can show the error beside it.
        self.field = field


class ConfigError(WarroomError):
    """A setting or the policy file is wrong; start-up stops with this message."""


class UsageError(WarroomError):
    """The user's command or form was malformed."""


class NotFound(WarroomError):
    """The release or incident named does not exist."""


class PermissionDenied(WarroomError):
    """The user may not do this."""


class InvalidTransition(WarroomError):
    """The object's state does not allow this step."""


class GateBlocked(WarroomError):
    """A policy gate (approvals, freeze, checklist) holds the release back."""


class Conflict(WarroomError):
    """Someone else changed the row first; the caller may retry."""


class NeedsTransaction(Exception):  # noqa: N818 - a request to the caller, not a failure
    """Deferred work (bot.tx) needs what only a transaction gives: an id back, an ORM flush, a change
    to rows it did not read. Database.run runs it again from the top in a transaction."""


class DeliveryFailure(Exception):
    """An outbox delivery did not happen; the sender retries or gives up by its kind."""

    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


class TemporaryFailure(DeliveryFailure):
    """Trying again may work (connection trouble, a timeout, a 5xx, a 429)."""

    def __init__(self, error: str, retry_after: float | None = None) -> None:
        super().__init__(error)
        # Seconds the remote asked us to wait (Retry-After), if it said.
        self.retry_after = retry_after


class PermanentFailure(DeliveryFailure):
    """Trying again cannot help (bad arguments, a missing channel, no permission)."""


class DatabaseUnavailable(WarroomError):
    """The database cannot be reached (restarting, partitioned); nothing was changed."""

    def __init__(self) -> None:
        super().__init__("warroom cannot reach its database; nothing was changed, try again in a moment.")


class Unauthorized(WarroomError):
    """A hook's token or signature is missing or wrong (HTTP 401)."""


class DeploymentFinished(InvalidTransition):
    """A report arrived for a deployment that has finished already; ``state`` is where it ended."""

    def __init__(self, message: str, *, state: str) -> None:
        super().__init__(message)
        self.state = state
