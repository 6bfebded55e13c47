"""The PHOENIX hypothesis clean-up rules, as the RWTH evaluation script applies them before sclite."""
from __future__ import annotations

import re
from itertools import groupby

from signkd.errors import SignkdError

# The RWTH evaluation script for PHOENIX-2014 rewrites hypotheses with sed before sclite; signjoey
# (clean_phoenix_2014_trans) and VAC use a variant for PHOENIX-2014-T. The rules below are those
# rewrites stated on gloss sequences, one named function each, in the original order.
# Note: RWTH runs its sed over CTM *lines* (one gloss per line), where the rules spanning two
# glosses (WIE AUSSEHEN, spelled letters, repeats) cannot fire; signjoey runs them on the whole
# sentence. We follow signjoey (the rules as written), which is what the PHOENIX-2014-T
# literature reports.

def _replace_in_tokens(tokens, pairs):
    out = []
    for tok in tokens:
        for old, new in pairs:
            tok = tok.replace(old, new)
        if tok:
            out.append(tok)
    return out


def strip_annotation_prefixes(tokens):
    """PHOENIX-2014: drop the annotation prefixes loc- cl- qu- poss- lh- (loc-REGION -> REGION)."""
    return _replace_in_tokens(tokens, [(p, "") for p in ("loc-", "cl-", "qu-", "poss-", "lh-")])


def fix_gloss_typos(tokens):
    """PHOENIX-2014: S0NNE (with a zero) -> SONNE, HABEN2 -> HABEN."""
    return _replace_in_tokens(tokens, [("S0NNE", "SONNE"), ("HABEN2", "HABEN")])


def drop_markers_2014(tokens):
    """PHOENIX-2014: remove __EMOTION__, __PU__, __LEFTHAND__ (not __ON__/__OFF__)."""
    return _replace_in_tokens(tokens, [(m, "") for m in ("__EMOTION__", "__PU__", "__LEFTHAND__")])


_MARKER = re.compile(r"^__[^_]*__$")


def drop_markers_2014t(tokens):
    """PHOENIX-2014-T: remove __LEFTHAND__, __EPENTHESIS__, __EMOTION__ and every other
    ``__X__`` marker token (__ON__, __OFF__, __PU__, ...)."""
    tokens = _replace_in_tokens(tokens, [(m, "") for m in ("__LEFTHAND__", "__EPENTHESIS__", "__EMOTION__")])
    return [t for t in tokens if not _MARKER.match(t)]


_LOC_CL = re.compile(r"\b(?:loc|cl)-")


def strip_loc_cl_prefixes(tokens):
    """PHOENIX-2014-T: drop the loc- and cl- prefixes at a word start (loc-SUED -> SUED)."""
    return [t for t in (_LOC_CL.sub("", tok) for tok in tokens) if t]


def join_wie_aussehen(tokens):
    """WIE AUSSEHEN -> WIE-AUSSEHEN (the gloss the annotation uses)."""
    out = []
    for tok in tokens:
        if tok == "AUSSEHEN" and out and out[-1] == "WIE":
            out[-1] = "WIE-AUSSEHEN"
        else:
            out.append(tok)
    return out


def zeigen_bildschirm(tokens):
    """PHOENIX-2014: ZEIGEN -> ZEIGEN-BILDSCHIRM."""
    return ["ZEIGEN-BILDSCHIRM" if t == "ZEIGEN" else t for t in tokens]


_LETTER = re.compile(r"^[A-Z]$")


def _joinable(left_piece: str, right_piece: str) -> bool:
    # the sed rules join letter+letter, SCH+letter, NN+letter and letter+NN
    if _LETTER.match(right_piece):
        return bool(_LETTER.match(left_piece)) or left_piece in ("SCH", "NN")
    return right_piece == "NN" and bool(_LETTER.match(left_piece))


def join_spelled_letters(tokens):
    """Finger-spelled letters become one '+'-joined gloss: A B C -> A+B+C, SCH E -> SCH+E,
    A+B C -> A+B+C (the pieces touching the gap decide)."""
    out = []
    for tok in tokens:
        if out and _joinable(out[-1].split("+")[-1], tok.split("+")[0]):
            out[-1] = out[-1] + "+" + tok
        else:
            out.append(tok)
    return out


_RAUM_2014 = re.compile(r"([A-Z][A-Z])RAUM")
_RAUM_2014T = re.compile(r"\b([A-Z]+)RAUM\b")


def strip_raum_2014(tokens):
    """PHOENIX-2014: a RAUM ('area') suffix after two letters goes: SUEDRAUM -> SUED."""
    return [t for t in (_RAUM_2014.sub(r"\1", tok) for tok in tokens) if t]


def strip_raum_2014t(tokens):
    """PHOENIX-2014-T: a word ending in RAUM after at least one letter loses it: OSTRAUM -> OST."""
    return [t for t in (_RAUM_2014T.sub(r"\1", tok) for tok in tokens) if t]


_PLUSPLUS_2014T = re.compile(r"-PLUSPLUS\b")


def strip_plusplus(tokens):
    """PHOENIX-2014: drop the -PLUSPLUS repetition mark (REGEN-PLUSPLUS -> REGEN)."""
    return _replace_in_tokens(tokens, [("-PLUSPLUS", "")])


def strip_plusplus_2014t(tokens):
    """PHOENIX-2014-T: drop -PLUSPLUS where it ends a word part."""
    return [t for t in (_PLUSPLUS_2014T.sub("", tok) for tok in tokens) if t]


def collapse_repeats(tokens):
    """Immediate repetitions of a gloss count once: A A B -> A B."""
    return [k for k, _ in groupby(tokens)]


CLEANUP_RULES = {
    "phoenix2014": (strip_annotation_prefixes, fix_gloss_typos, drop_markers_2014,
                    join_wie_aussehen, zeigen_bildschirm, join_spelled_letters,
                    strip_raum_2014, strip_plusplus, collapse_repeats),
    "phoenix2014t": (drop_markers_2014t, strip_loc_cl_prefixes, strip_plusplus_2014t,
                     strip_raum_2014t, join_wie_aussehen, join_spelled_letters, collapse_repeats),
    "csl-daily": (),
    "none": (),
}
# Which side the clean-up rules apply to (`eval.cleanup_side`, `signkd score --cleanup-side`): "hyp",
# the hypotheses only, as RWTH's scripts and VAC's evaluation (the original's; the references are the
# annotation as released), or "both", as signjoey cleans PHOENIX-2014-T references too.
CLEANUP_SIDES = ("hyp", "both")


def cleanup_for_scoring(refs: dict, hyps: dict, corpus: str, side: str = "hyp") -> tuple[dict, dict]:
    """({id: glosses}, {id: glosses}) as they are scored: the clean-up rules of `corpus` applied
    to the hypotheses, and to the references too when `side` is "both"."""
    if side not in CLEANUP_SIDES:
        raise SignkdError(f"eval.cleanup_side: expected one of {', '.join(CLEANUP_SIDES)}, got {side!r}")
    hyps = {k: cleanup_glosses(v, corpus) for k, v in hyps.items()}
    if side == "both":
        refs = {k: cleanup_glosses(v, corpus) for k, v in refs.items()}
    return refs, hyps


def cleanup_glosses(glosses: list[str], corpus: str) -> list[str]:
    """Apply the clean-up rules of ``corpus`` (phoenix2014 | phoenix2014t | csl-daily | none)."""
    if corpus not in CLEANUP_RULES:
        raise SignkdError(f"eval.cleanup: unknown corpus '{corpus}'; expected one of "
                          f"{', '.join(CLEANUP_RULES)}")
    tokens = [t for g in glosses for t in str(g).split()]
    for rule in CLEANUP_RULES[corpus]:
        tokens = rule(tokens)
    return tokens


def cleanup_for_format(cleanup: str, data_format: str) -> str:
    """Resolve ``eval.cleanup: auto`` from ``data.format``."""
    from signkd.data.corpora import FORMATS, corpus_format

    if cleanup != "auto":
        return cleanup
    return corpus_format(data_format).cleanup if data_format in FORMATS else "none"
