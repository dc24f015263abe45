"""User-facing errors of evaluation, tracking, comparison and prediction (reported without a traceback,
exit code 2; see ``mtst.errors.USER_ERRORS``). Kept import-light: the CLI loads this on every command."""


class EvaluationError(ValueError):
    """A trained variant and the test data do not fit together (missing files, unknown labels)."""


class TrackingError(RuntimeError):
    """The tracking store cannot be used (unreachable server, unwritable folder, unknown run)."""


class ComparisonError(ValueError):
    """The evaluation folders do not allow a comparison (none given, selection metric missing, ...)."""


class ModelNotFoundError(LookupError):
    """A model reference names nothing loadable (no folder, unknown registered model / alias / run)."""
