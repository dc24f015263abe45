"""The evaluation's user-facing error (reported without a traceback, exit code 2; see ``mtst.errors.USER_ERRORS``).
Kept import-light: the CLI loads this on every command."""


class EvaluationError(ValueError):
    """A trained variant and the test data do not fit together (missing files, unknown labels)."""
