"""The exceptions that mean "bad input or set-up", reported to users without a traceback."""

from mtst.config import ConfigError
from mtst.data.files import DataFileError
from mtst.data.sources import SourceError


USER_ERRORS: tuple[type[BaseException], ...] = (DataFileError, SourceError, ConfigError, FileNotFoundError)
