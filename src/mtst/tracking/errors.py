"""The error of the tracking package: the store cannot be used. Kept import-light (no MLflow), because
``mtst.errors.USER_ERRORS`` names it for every command."""


class TrackingError(RuntimeError):
    """The tracking store cannot be used (unreachable server, unwritable folder, unknown run); the message
    names the store's URI and what was being logged, and the CLI reports it with exit code 2."""
