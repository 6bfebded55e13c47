"""CTM / STM / hypothesis-line files: reading and writing what sclite and the field's tools exchange."""
from __future__ import annotations

import math
import re
from pathlib import Path

from signkd.errors import DataError
from signkd.metrics.wer import sort_ids

STM_OPEN_SEGMENT = "0.0 1.79769e+308"  # PHOENIX's STM segments span the whole recording


def _excerpt(line: str) -> str:
    """The start of an offending line, quoted and escaped so that the message stays one line
    whatever the file holds (control characters, terminal escapes, odd line separators)."""
    return repr(line[:60] + ("..." if len(line) > 60 else ""))


_LINE_END = re.compile(r"\r\n|\r|\n")
_LINE_END_BYTES = re.compile(rb"\r\n|\r|\n")


def text_lines(path: str | Path):
    """(path, line number, stripped line) of every non-blank, non-``;;`` line of a UTF-8 text
    file. A BOM before the first id is dropped and CRLF and CR end lines as LF does; bytes
    that are not UTF-8 or a NUL byte (a binary file) are a one-line DataError naming file:line."""
    path = Path(path)
    try:
        if not path.is_file():
            raise DataError(f"{path}: file not found")
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror or exc})") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:   # exc.object is the input after a BOM
        lineno = len(_LINE_END_BYTES.findall(exc.object, 0, exc.start)) + 1
        raise DataError(f"{path}:{lineno}: not UTF-8 text (bad byte 0x{exc.object[exc.start]:02x}); "
                        f"expected a UTF-8 text file") from None
    if "\0" in text:
        lineno = len(_LINE_END.findall(text, 0, text.index("\0"))) + 1
        raise DataError(f"{path}:{lineno}: NUL byte; expected a text file, not binary data")
    for lineno, line in enumerate(_LINE_END.split(text), 1):
        line = line.strip()
        if line and not line.startswith(";;"):
            yield path, lineno, line


def _is_number(text: str) -> bool:
    """A time field: any float but NaN (which would make the order of CTM words arbitrary)."""
    try:
        value = float(text)
    except ValueError:
        return False
    return not math.isnan(value)


def read_stm(path: str | Path, speakers: dict | None = None) -> dict[str, list[str]]:
    """``FILE CHANNEL SPEAKER START END [<LABELS>] WORDS...`` -> {id: words}. One segment per id
    (PHOENIX style); fills ``speakers`` {id: speaker} when given."""
    refs: dict[str, list[str]] = {}
    for p, lineno, line in text_lines(path):
        parts = line.split()
        if len(parts) < 5 or not (_is_number(parts[3]) and _is_number(parts[4])):
            raise DataError(f"{p}:{lineno}: expected 'FILE CHANNEL SPEAKER START END WORDS...' "
                            f"in an STM file, got {_excerpt(line)}")
        words = parts[5:]
        if words and words[0].startswith("<") and words[0].endswith(">"):
            words = words[1:]
        if parts[0] in refs:
            raise DataError(f"{p}:{lineno}: utterance {parts[0]!r} has a second segment; "
                            f"expected one STM line per utterance")
        refs[parts[0]] = words
        if speakers is not None:
            speakers[parts[0]] = parts[2]
    return refs


def write_stm(path: str | Path, refs: dict[str, list[str]], speakers: dict | None = None) -> Path:
    """One open-ended segment per utterance, sorted as sclite needs (case-insensitive ids)."""
    path = Path(path)
    with open(path, "w", encoding="utf-8") as f:
        for uid in sort_ids(refs):
            spk = (speakers or {}).get(uid, "signer")
            f.write(f"{uid} 1 {spk} {STM_OPEN_SEGMENT} {' '.join(refs[uid])}".rstrip() + "\n")
    return path


def read_ctm(path: str | Path) -> dict[str, list[str]]:
    """``FILE CHANNEL START DURATION WORD [CONFIDENCE]`` -> {id: words ordered by start time}."""
    rows: dict[str, list[tuple[float, int, str]]] = {}
    for p, lineno, line in text_lines(path):
        parts = line.split()
        if len(parts) not in (5, 6) or not (_is_number(parts[2]) and _is_number(parts[3])):
            raise DataError(f"{p}:{lineno}: expected 'FILE CHANNEL START DURATION WORD "
                            f"[CONFIDENCE]' in a CTM file, got {_excerpt(line)}")
        rows.setdefault(parts[0], []).append((float(parts[2]), lineno, parts[4]))
    return {uid: [w for _, _, w in sorted(words)] for uid, words in rows.items()}


def write_ctm(path: str | Path, hyps: dict[str, list[str]]) -> Path:
    """The CTM the original evaluation writes (word k at k/100 s), sorted case-insensitively.
    An empty hypothesis writes no line: sclite then scores the utterance as all deletions."""
    path = Path(path)
    with open(path, "w", encoding="utf-8") as f:
        for uid in sort_ids(hyps):
            for k, word in enumerate(hyps[uid]):
                f.write(f"{uid} 1 {k / 100:.2f} 0.01 {word}\n")
    return path


def read_id_lines(path: str | Path) -> dict[str, list[str]]:
    """``ID WORD WORD ...`` lines (an id alone is an empty hypothesis) -> {id: words}."""
    out: dict[str, list[str]] = {}
    for p, lineno, line in text_lines(path):
        uid, *words = line.split()
        if uid in out:
            raise DataError(f"{p}:{lineno}: utterance {uid!r} appears twice; expected one line per id")
        out[uid] = words
    return out


def read_hypotheses(path: str | Path) -> dict[str, list[str]]:
    """A ``.ctm`` file, or ``ID GLOSS GLOSS ...`` lines."""
    return read_ctm(path) if str(path).lower().endswith(".ctm") else read_id_lines(path)
