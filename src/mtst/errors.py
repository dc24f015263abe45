"""The exceptions that mean "bad input or set-up", reported to users without a traceback."""

from mtst.config import ConfigError
from mtst.contracts import ContractError
from mtst.data.files import DataFileError
from mtst.data.package_index import SourceError
from mtst.comparison.errors import ComparisonError
from mtst.evaluation.errors import EvaluationError
from mtst.export.errors import ModelNotFoundError
from mtst.augment.wordnet import WordNetMissing
from mtst.validation.report import ValidationFailed
from mtst.io import OutputFolderError
from mtst.locking import FolderLocked
from mtst.tracking.errors import TrackingError
from mtst.training.fingerprint import FingerprintMismatch


USER_ERRORS: tuple[type[BaseException], ...] = (DataFileError, SourceError, ConfigError, FileNotFoundError,
                                                 ValidationFailed, WordNetMissing,
                                                 EvaluationError, TrackingError, ComparisonError, ModelNotFoundError,
                                                 OutputFolderError, FolderLocked, FingerprintMismatch, ContractError)
