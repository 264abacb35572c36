"""Errors a user fixes by changing their config or their data, told as one paragraph instead of a traceback.

Code that finds bad input raises `InputError` with a message naming the config key, file or sample; a job's
`lmscope.logs.log_to` prints such errors (and a full disk) as that paragraph. Anything else is a bug in lmscope
and keeps its traceback.
"""

from __future__ import annotations

import errno


class InputError(ValueError):
    """Bad input: a config value, a file or a sample. The message names it and says what is wrong."""


def is_user_facing(error: BaseException) -> bool:
    """Input errors and a full disk or quota: the message is the whole story, a traceback would hide it."""
    return isinstance(error, InputError) or (isinstance(error, OSError) and error.errno in (errno.ENOSPC,
                                                                                            errno.EDQUOT))


def paragraph(error: BaseException) -> str:
    """The message of a user-facing error: an OSError's text and file, without its "[Errno 28]" prefix."""
    if isinstance(error, OSError) and error.strerror:
        return error.strerror + (f": {error.filename}" if error.filename else "")
    return str(error)
