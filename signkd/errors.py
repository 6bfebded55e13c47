"""Errors a user can fix. Each message is one line naming the file/field and what was expected."""


class SignkdError(Exception):
    """Base class: the CLI prints `signkd CMD: error: <message>` and exits 2 (no traceback)."""


class DataError(SignkdError):
    """Bad corpus input: malformed line, missing frame folder, empty gloss sequence, duplicate id."""


class CheckpointError(SignkdError):
    """A checkpoint that does not fit the model/command it is used with."""


class TrainingDiverged(SignkdError):
    """Training stopped because the loss or the weights stopped being finite; the last good
    checkpoint is kept."""
