"""Evaluation metrics the field trusts: sclite-exact WER, the PHOENIX hypothesis clean-up, and
BLEU/chrF/ROUGE-L for translation.

Why our own WER: published recognition numbers come from NIST sclite, which needs a compiled
binary. ``sclite_align`` reproduces sclite's word alignment exactly (its dynamic programming with
weights correct 0 / substitution 4 / insertion 3 / deletion 3, case-insensitive word comparison,
and its tie-breaking: substitution-or-match first, then deletion, and insertion only when it is
strictly cheaper than deletion), so that not only the error total but the split into
substitutions, deletions and insertions is identical (tests/metrics/test_sclite_equality.py checks this
against the real binary). ``run_sclite`` runs the real binary where it is installed.

Modules: `wer` (alignment and WER), `files` (CTM/STM/hypothesis files), `sclite` (the real
binary), `cleanup` (PHOENIX clean-up), `translation` (BLEU/chrF/ROUGE-L).
"""
from signkd.metrics.wer import (SUB_COST, INS_COST, DEL_COST, sclite_align, UtteranceScore, WerResult, sort_ids,
                                sclite_wer, format_alignment_report)
from signkd.metrics.files import (STM_OPEN_SEGMENT, text_lines, read_stm, write_stm, read_ctm, write_ctm,
                                  read_id_lines, read_hypotheses)
from signkd.metrics.sclite import (SCLITE_FALLBACK, find_sclite, parse_sclite_rsum, parse_sclite_pra,
                                   run_sclite_files, run_sclite)
from signkd.metrics.cleanup import (strip_annotation_prefixes, fix_gloss_typos, drop_markers_2014, drop_markers_2014t,
                                    strip_loc_cl_prefixes, join_wie_aussehen, zeigen_bildschirm, join_spelled_letters,
                                    strip_raum_2014, strip_raum_2014t, strip_plusplus, strip_plusplus_2014t,
                                    collapse_repeats, CLEANUP_RULES, CLEANUP_SIDES, cleanup_for_scoring,
                                    cleanup_glosses, cleanup_for_format)
from signkd.metrics.translation import (rouge_l_sentence, rouge_l, translation_metrics)

__all__ = ['SUB_COST', 'INS_COST', 'DEL_COST', 'sclite_align', 'UtteranceScore', 'WerResult', 'sort_ids',
    'sclite_wer', 'format_alignment_report', 'STM_OPEN_SEGMENT', 'text_lines', 'read_stm', 'write_stm', 'read_ctm',
    'write_ctm', 'read_id_lines', 'read_hypotheses', 'SCLITE_FALLBACK', 'find_sclite', 'parse_sclite_rsum',
    'parse_sclite_pra', 'run_sclite_files', 'run_sclite', 'strip_annotation_prefixes', 'fix_gloss_typos',
    'drop_markers_2014', 'drop_markers_2014t', 'strip_loc_cl_prefixes', 'join_wie_aussehen', 'zeigen_bildschirm',
    'join_spelled_letters', 'strip_raum_2014', 'strip_raum_2014t', 'strip_plusplus', 'strip_plusplus_2014t',
    'collapse_repeats', 'CLEANUP_RULES', 'CLEANUP_SIDES', 'cleanup_for_scoring', 'cleanup_glosses',
    'cleanup_for_format', 'rouge_l_sentence', 'rouge_l', 'translation_metrics']
