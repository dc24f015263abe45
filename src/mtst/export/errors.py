"""The deployment formats' user-facing error (reported without a traceback, exit code 2: ``mtst.errors.USER_ERRORS``).
Import-light: the CLI loads it on every command."""


class ModelNotFoundError(LookupError):
    """A model reference names nothing loadable (no folder, unknown registered model / alias / run)."""
