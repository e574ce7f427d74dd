class UserError(Exception):
    """An error the user can fix (bad video, bad config, missing weights).

    The CLI prints its message alone, without a traceback, and exits with status 2.
    """
