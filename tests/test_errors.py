"""Every signkd error is one printable line, whatever a file put into it."""
from signkd.errors import CheckpointError, DataError


def test_error_messages_escape_what_a_file_could_use_to_break_the_line_or_the_terminal():
    for cls in (DataError, CheckpointError):
        text = str(cls("train.csv:3: id 'a\x1b[2Jb\nc\u2028d' is not unique"))
        assert text.isprintable() and "\x1b" not in text and "\n" not in text
        assert text == "train.csv:3: id 'a\\x1b[2Jb\\nc\\u2028d' is not unique"
