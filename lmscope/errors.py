"""Errors a user fixes by changing their config or their data, told as one paragraph instead of a traceback.

Code that finds bad input raises `InputError` with a message naming the config key, file or sample; a job's
`lmscope.logs.log_to` prints such errors (and a full disk) as that paragraph. Anything else is a bug in lmscope
and keeps its traceback.
"""

from __future__ import annotations

import errno


class InputError(ValueError):
    """Bad input: a config value, a file or a sample. The message names it and says what is wrong."""


def user_facing(error: BaseException | None) -> BaseException | None:
    """The input error or full disk (the message is the whole story, a traceback would hide it) behind `error`:
    itself, or one it was raised while handling (matplotlib, writing to a full disk, fails again in cleanup)."""
    while error is not None:
        if isinstance(error, InputError) or (isinstance(error, OSError) and error.errno in (errno.ENOSPC,
                                                                                           errno.EDQUOT)):
            return error
        error = error.__cause__ or error.__context__
    return None


def paragraph(error: BaseException) -> str:
    """The message of a user-facing error: an OSError's text and file, without its "[Errno 28]" prefix."""
    if isinstance(error, OSError) and error.strerror:
        return error.strerror + (f": {error.filename}" if error.filename else "")
    return str(error)
