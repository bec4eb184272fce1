"""Errors a user can cause. Their message is meant to be read by that user: it says what
went wrong and what to do about it."""


class SuperHFError(Exception):
    """An error whose message is shown to the user as it is."""


class InputError(SuperHFError):
    """A file or value the user gave is malformed or does not fit."""


class NotFoundError(SuperHFError):
    """A named model, prompt set, run or file does not exist."""


class ModelError(SuperHFError):
    """A model cannot be imported or loaded."""


class Cancelled(SuperHFError):
    """Long work was stopped at the user's request."""

    def __init__(self, message: str = "Cancelled."):
        super().__init__(message)
