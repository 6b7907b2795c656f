"""Errors the UI turns into messages; none of them reveal whether an account exists."""


class AuthError(Exception):
    """Base for refusals that reach the user as their message."""


class InvalidCredentials(AuthError):
    def __init__(self) -> None:
        super().__init__("Wrong email or password.")


class AccountLocked(AuthError):
    def __init__(self, minutes: int) -> None:
        super().__init__(
            f"Too many failed sign-ins. This account is locked for {minutes} more minute(s)."
        )
        self.minutes = minutes


class AccessDenied(AuthError):
    """No valid session, or the session's role may not do this."""

    def __init__(self, message: str = "Please sign in.", *, signed_in: bool = False) -> None:
        super().__init__(message)
        self.signed_in = signed_in


class ValidationError(AuthError):
    """Bad input from a form: the message says what to fix."""
