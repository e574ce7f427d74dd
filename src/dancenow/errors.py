"""The one exception a user can cause and fix, which the CLI prints as a single line."""


class UserError(Exception):
    """An error the user can fix (bad video, bad config, missing weights).

    The CLI prints its message alone, without a traceback, and exits with status 2.
    """


class StorageError(UserError):
    """A write failed on a full or read-only disk. HDF5 cannot close a file it failed to write and crashes at exit
    trying once more, so the CLI leaves without the libraries' exit handlers after saying so."""
