"""Published checkpoints -> signkd checkpoints (`signkd import {vac,original} CKPT --out OUT.pt`).

Why: VAC's released PHOENIX-2014 model and the original method's checkpoints hold weights we can
evaluate, recognise with and fine-tune from, but in their own key layout, class order and file
format. The converter renames every key by a table read off their model code, permutes the
classifier rows into signkd's gloss order, refuses anything left over or missing, and writes a
normal signkd checkpoint.

- sources.py       the two sources: their parts' key prefixes, default configs, preprocessing
- source_files.py  reading their checkpoint and gloss dictionary (what is trusted, and how)
- key_mapping.py   their keys -> signkd's student (the table, with the file each rule comes from)
- convert.py       the whole import: config, checks, mapping, the payload `write_imported` saves
"""
from signkd.importers.convert import SLR_STUDENT_TERMS, Imported, import_checkpoint, student_config, write_imported
from signkd.importers.key_mapping import CLASSIFIERS, check_architecture, map_state, sequential_positions, their_key
from signkd.importers.source_files import gloss_permutation, read_gloss_dict, read_source_checkpoint, source_state
from signkd.importers.sources import DIALOGUE_TEACHER_CONFIG, SOURCE_PREPROCESSING, SOURCES, TEXT2GLOSS_CONFIG, Source

__all__ = ["CLASSIFIERS", "DIALOGUE_TEACHER_CONFIG", "TEXT2GLOSS_CONFIG", "Imported", "SLR_STUDENT_TERMS", "SOURCES", "SOURCE_PREPROCESSING", "Source",
           "check_architecture", "gloss_permutation", "import_checkpoint", "map_state", "read_gloss_dict",
           "read_source_checkpoint", "sequential_positions", "source_state", "student_config", "their_key",
           "write_imported"]
