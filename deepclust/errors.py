"""Exceptions raised by deepclust for problems the user can fix."""


class InputError(ValueError):
    """Bad input: the message says what was wrong and what was expected."""
