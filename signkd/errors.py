"""Errors a user can fix. Each message is one line naming the file/field and what was expected."""


class SignkdError(Exception):
    """Base class: the CLI prints `signkd CMD: error: <message>` and exits 2 (no traceback).

    Ids, keys and names in a message often come from an untrusted file, so anything
    non-printable in it (line breaks, terminal escapes, U+2028) is escaped here: the message
    stays one line, and a file cannot write to the user's terminal through it."""

    def __init__(self, message: str = ""):
        super().__init__(printable(str(message)))


def printable(text: object, limit: int = 0) -> str:
    """`text` as one printable line (non-printable characters escaped), cut to `limit` characters
    when one is given."""
    text = str(text)
    out = text if text.isprintable() else "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    return out if not limit or len(out) <= limit else out[:limit] + "..."


class ConfigError(SignkdError, ValueError):
    """A config problem, always one line naming the key (non-printable characters from the file
    are escaped by SignkdError)."""


class DataError(SignkdError):
    """Bad corpus input: malformed line, missing frame folder, empty gloss sequence, duplicate id."""


class CheckpointError(SignkdError):
    """A checkpoint that does not fit the model/command it is used with."""


class TrainingDiverged(SignkdError):
    """Training stopped because the loss or the weights stopped being finite; the last good
    checkpoint is kept."""
