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


def os_error_message(e: OSError) -> str:
    """An operating-system refusal (a full disk, permissions, a missing file) in plain words,
    with what to do."""
    import errno

    where = f" ({e.filename})" if getattr(e, "filename", None) else ""
    if e.errno in (errno.ENOSPC, errno.EFBIG, getattr(errno, "EDQUOT", -1)):
        return (f"The disk is full{where}. Free some space (or choose another folder) and run the command again; "
                "work finished before this is stored.")
    if e.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"Permission denied{where}. Choose a folder you can write to, or fix its permissions."
    return f"The system refused: {e.strerror or e}{where}. Check the path and try again."
