"""The one exception a user can cause and fix, which the CLI prints as a single line."""


class UserError(Exception):
    """An error the user can fix (bad video, bad config, missing weights).

    The CLI prints its message alone, without a traceback, and exits with status 2.
    """
