"""The comparison's user-facing error (reported without a traceback, exit code 2: ``mtst.errors.USER_ERRORS``)."""


class ComparisonError(ValueError):
    """The evaluation folders do not allow a comparison (none given, selection metric missing, ...)."""
