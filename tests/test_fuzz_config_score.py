"""Property-based fuzzing (issue #20) of the two readers of files users share: the config loader
(YAML files with `base:` chains, `--set` overrides) and the inputs of `signkd score` (STM, CTM and
hypothesis-line files). Each input either parses or raises the project's one-line error
(ConfigError / SignkdError), never any other exception and never a message of several lines.

Files are written under `tempfile` directories inside each example (hypothesis reuses a test's
fixtures across examples); `database=None` keeps hypothesis from writing a .hypothesis folder
into the checkout. SIGNKD_FUZZ_EXAMPLES=5000 runs a deeper search locally (default 100 per property).
"""
from __future__ import annotations

import contextlib
import dataclasses
import io
import os
import tempfile
import typing
from pathlib import Path

import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from signkd import metrics as M
from signkd.cli import main
from signkd.commands.score_cmd import read_references
from signkd.config import Config, ConfigError, load_config
from signkd.errors import SignkdError

FUZZ = settings(max_examples=int(os.environ.get("SIGNKD_FUZZ_EXAMPLES", "100")), deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def assert_one_line(exc: BaseException) -> None:
    message = str(exc)
    assert message, f"{type(exc).__name__} without a message"
    assert len(message.splitlines()) == 1 and "\n" not in message and "\r" not in message, repr(message)


def parses_or_one_line(fn, error=SignkdError):
    """Run fn(); an exception other than `error` fails the property, and so does a message of
    several lines."""
    try:
        return fn()
    except error as exc:
        assert_one_line(exc)
        return None


# ------------------------------------------------------------------------------------------------
# Config loader
# ------------------------------------------------------------------------------------------------

def _leaf_fields(cls=Config, prefix: str = "") -> dict[str, object]:
    """{dotted key: annotation} of every config field, descending into nested dataclasses."""
    out = {}
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        key, tp = f"{prefix}{f.name}", hints[f.name]
        inner = [a for a in typing.get_args(tp) if dataclasses.is_dataclass(a)]
        if dataclasses.is_dataclass(tp) or inner:
            out.update(_leaf_fields(tp if dataclasses.is_dataclass(tp) else inner[0], key + "."))
        else:
            out[key] = tp
    return out


LEAVES = _leaf_fields()
KEYS = sorted(LEAVES)

scalars = st.one_of(
    st.none(), st.booleans(),
    st.integers(min_value=-3, max_value=100), st.integers(),
    st.integers(min_value=10 ** 300, max_value=10 ** 320),           # past float range
    st.floats(), st.floats(min_value=-2, max_value=2),
    st.text(max_size=12), st.sampled_from(["", "K5", "P2", "bilstm", "adam", "wer", "bleu4", "1e-4", "-3",
                                           "\u00b2", "nan", "student", "2020-13-01", "\ufeff", "a\nb", "\x1b[2J"]),
)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                      | st.dictionaries(st.one_of(st.text(max_size=8), st.integers(-2, 50)), inner, max_size=4),
                      max_leaves=12)
odd_keys = st.one_of(st.text(max_size=10), st.integers(-5, 5), st.none(), st.booleans(), st.sampled_from(KEYS))


@st.composite
def config_mappings(draw):
    """A nested mapping of known dotted keys (mostly) and unknown ones, with random values; a
    `base:` now and then (another file, a missing one, or garbage)."""
    data: dict = {}
    for _ in range(draw(st.integers(0, 6))):
        key = draw(st.sampled_from(KEYS)) if draw(st.integers(0, 4)) else draw(st.text(min_size=1, max_size=10))
        parts = key.split(".")
        node = data
        for part in parts[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        node[parts[-1]] = draw(values)
    if draw(st.integers(0, 3)) == 0:
        data[draw(odd_keys)] = draw(values)
    if draw(st.integers(0, 5)) == 0:
        data["base"] = draw(st.one_of(st.sampled_from(["base.yaml", "list.yaml", "binary.yaml", "missing.yaml",
                                                       "self.yaml", "/", ".."]), values))
    return data


def _with_sibling_files(folder: Path) -> None:
    (folder / "base.yaml").write_text("train:\n  epochs: 3\n  optim: {lr: 0.5}\n", encoding="utf-8")
    (folder / "list.yaml").write_text("- 1\n- 2\n", encoding="utf-8")
    (folder / "binary.yaml").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff")
    (folder / "self.yaml").write_text("base: self.yaml\n", encoding="utf-8")


def load_text(data: bytes | str, overrides=None):
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        _with_sibling_files(folder)
        path = folder / "config.yaml"
        path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8", "surrogatepass"))
        return parses_or_one_line(lambda: load_config(path, overrides), ConfigError)


@FUZZ
@given(config_mappings())
@example({"base": 5})
@example({"name": {"x": [1] * 3}, 7: None})
def test_random_config_mappings_load_or_fail_in_one_line(data):
    try:
        text = yaml.safe_dump(data, allow_unicode=True)
    except yaml.YAMLError:
        return
    cfg = load_text(text)
    if cfg is not None:
        assert isinstance(cfg, Config)


yaml_alphabet = st.sampled_from(list("abcdefgkKP0123456789 :-_.,[]{}&*!|>'\"#%@`?~\n\t\\")
                                + ["\u00e9", "\ufeff", "\x00"])


@FUZZ
@given(st.one_of(st.binary(max_size=200), st.text(yaml_alphabet, max_size=200),
                 st.builds(lambda prefix, tail: prefix + tail,
                           st.sampled_from([b"train:\n  ", b"model:\n  visual:\n    temporal: ", b"base: ",
                                            b"\xef\xbb\xbf", b"loss:\n  weights:\n    SeqCTCSign: ", b"a: &a "]),
                           st.binary(max_size=60))))
@example(b"train:\n  epochs: 3\n  seed: \xff\n")
@example(b"name: " + b"[" * 600)
def test_random_bytes_and_yaml_like_text_load_or_fail_in_one_line(data):
    load_text(data)


# raw values that trip yaml.safe_load itself: an impossible date, an int past Python's digit
# limit, nesting past the recursion limit, a self-referencing alias, an alias bomb
TRICKY_YAML = ["2020-13-01", "9" * 5000, "[" * 600, "&a [*a]", "&a {x: *a}", "\u00b2", "!!python/name:os.system",
               "[" + ", ".join(["&l0 [x, x, x, x, x, x, x, x, x, x]"]
                               + [f"&l{i} [" + ", ".join([f"*l{i - 1}"] * 10) + "]" for i in range(1, 8)]) + "]"]

override_text = st.one_of(
    st.builds(lambda k, v: f"{k}={v}", st.sampled_from(KEYS), st.text(yaml_alphabet, max_size=30)),
    st.builds(lambda k, v: f"{k}={v}", st.sampled_from(KEYS), st.sampled_from(TRICKY_YAML)),
    st.builds(lambda k, v: f"{k}={yaml.safe_dump(v, default_flow_style=True, width=1 << 20).strip()}",
              st.sampled_from(KEYS), values),
    st.text(max_size=30),
)


@FUZZ
@given(st.lists(override_text, max_size=4), st.sampled_from([b"", b"train:\n  epochs: 3\n", b"base: base.yaml\n"]))
@example(["train.seed=2020-13-01"], b"")
def test_random_set_overrides_load_or_fail_in_one_line(overrides, file_text):
    load_text(file_text, overrides)
    parses_or_one_line(lambda: load_config(None, overrides), ConfigError)


# ------------------------------------------------------------------------------------------------
# `signkd score` inputs
# ------------------------------------------------------------------------------------------------

ids = st.text("abuU0123_-/", min_size=1, max_size=6)
words = st.lists(st.sampled_from(["REGEN", "SONNE", "loc-NORD", "__ON__", "A", "B", "WIE", "AUSSEHEN", "x"]),
                 max_size=5)
# what replaces one field of a valid line: other tokens, numbers of every kind, odd whitespace and
# line separators, control characters, nothing at all
mutations = st.one_of(st.text(max_size=8), st.sampled_from(
    ["", " ", "nan", "inf", "-0", "1e999", "0x10", "1_0", "\u00b2", "\ufeff", "\x00", "\x1b[2J", "\r", "\x85",
     "\u2028", "\x0c", ";;", "<o,f0,male>", "<", "a b", "\t"]))


@st.composite
def stm_ctm_pairs(draw):
    """Valid STM and CTM lines for some utterances, then one field of one line replaced."""
    utts = draw(st.dictionaries(ids, words, min_size=1, max_size=4))
    stm = [[uid, "1", "Signer01", "0.0", "1.79769e+308", *glosses] for uid, glosses in utts.items()]
    ctm = [[uid, "1", f"{k / 100:.2f}", "0.01", w] for uid, glosses in utts.items()
           for k, w in enumerate(draw(words) or glosses)]
    lines = draw(st.sampled_from([stm, ctm])) if ctm else stm
    row = draw(st.integers(0, len(lines) - 1))
    col = draw(st.integers(0, len(lines[row])))
    value = draw(mutations)
    if col < len(lines[row]):
        lines[row][col] = value
    else:
        lines[row].append(value)
    end = draw(st.sampled_from(["\n", "\r\n"]))
    bom = draw(st.sampled_from(["", "\ufeff"]))
    encode = lambda rows: (bom + "".join(" ".join(r) + end for r in rows)).encode("utf-8", "surrogatepass")
    return encode(stm), encode(ctm)


def run_score(*argv: str) -> None:
    """`signkd score ARGS` in-process: exit 0, or exit 2 with one `signkd score: error:` line."""
    err, out = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        rc = main(["score", *argv])
    assert rc in (0, 2), rc
    if rc == 2:
        assert err.getvalue().startswith("signkd score: error: ") and err.getvalue().count("\n") == 1, err.getvalue()
        assert "\x1b" not in err.getvalue()


@FUZZ
@given(stm_ctm_pairs(), st.sampled_from(["hyp.ctm", "hyp.txt"]),
       st.sampled_from(["none", "phoenix2014", "phoenix2014t"]))
@example((b"u1 1 S 0.0 1.79769e+308 A\n", b"u1 1 0.00 0.01 A\n\x1b[2J 1 0.01 0.01 B\n"), "hyp.ctm", "none")
@example((b"\xef\xbb\xbfu1 1 S 0.0 1.79769e+308 A\r\n", b"\xef\xbb\xbfu1 A\r\n"), "hyp.txt", "none")
def test_score_with_one_field_mutated_scores_or_fails_in_one_line(files, hyp_name, corpus):
    stm, ctm = files
    with tempfile.TemporaryDirectory() as tmp:
        ref, hyp = Path(tmp) / "ref.stm", Path(tmp) / hyp_name
        ref.write_bytes(stm)
        hyp.write_bytes(ctm)
        run_score("--ref", str(ref), "--hyp", str(hyp), "--corpus", corpus, "--json")


score_bytes = st.one_of(
    st.binary(max_size=200),
    st.text(st.sampled_from(list("u1 2.05-;<>|%/\n\r\tAB") + ["\ufeff", "\x00", "\x85", "\u2028", "\xe9"]),
            max_size=120).map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.builds(lambda head, tail: head + tail,
              st.sampled_from([b"\xef\xbb\xbf", b"u1 1 S 0.0 1.0 A B\n", b"u1 1 0.00 0.01 A\n", b"u1 A B\r\n"]),
              st.binary(max_size=80)),
)


@FUZZ
@given(score_bytes, st.sampled_from(["recognition", "translation"]))
@example(b"\xef\xbb\xbfu1 A\r\nu2 \xe9\r\n", "recognition")
def test_random_bytes_in_every_score_reader_parse_or_fail_in_one_line(data, task):
    with tempfile.TemporaryDirectory() as tmp:
        for suffix in (".stm", ".ctm", ".txt"):
            path = Path(tmp) / f"file{suffix}"
            path.write_bytes(data)
            parses_or_one_line(lambda: M.read_stm(path))
            parses_or_one_line(lambda: M.read_ctm(path))
            parses_or_one_line(lambda: M.read_hypotheses(path))
            parses_or_one_line(lambda: read_references(path, task))
        ok = Path(tmp) / "ok.stm"
        ok.write_text("u1 1 S 0.0 1.0 A B\n", encoding="utf-8")
        run_score("--ref", str(ok), "--hyp", str(Path(tmp) / "file.txt"))
        run_score("--ref", str(Path(tmp) / "file.stm"), "--hyp", str(Path(tmp) / "file.ctm"))
        run_score("--task", "translation", "--ref", str(Path(tmp) / "file.txt"), "--hyp", str(Path(tmp) / "file.txt"))
