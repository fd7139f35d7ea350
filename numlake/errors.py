"""Errors that reach a user as one line (CLI exit 2), never as a traceback."""


class UsageError(Exception):
    """A bad CLI argument, registry entry or configuration value; the message names what is wrong."""
