"""Errors a user can cause. Each carries one clear sentence; the CLI prints it and exits with status 2."""


class UserError(ValueError):
    """Bad input from the user (sequence, file, model name, option): the message says what and what to do."""
