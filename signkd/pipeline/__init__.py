"""`signkd run PIPELINE.yaml`: one runner for every multi-stage experiment.

Why: every experiment of the method is a graph of `signkd train` runs in which later runs load
earlier checkpoints (VAC baseline -> teachers -> students -> SLT). One runner schedules them in
dependency order (side by side up to --jobs), skips a stage whose config and inputs did not change,
resumes an interrupted one, and checks every input of every stage before the first epoch, so a
typo in the last stage's config does not surface days into a run.

A pipeline file (paths relative to it; `${name}` is the run folder of stage `name`, `${out}` the
output folder; neither needs quoting in YAML):

    out: runs/dialogue_phoenix          # default --out; config strings under it follow --out
    set: {data.root: /data/PHOENIX}     # overrides for every stage
    stages:
      teacher:
        config: teacher_slr_bilstm.yaml
      student:
        config: student_slr_2teacher_bilstm.yaml
        needs: [teacher]
        set:
          train.init: [{checkpoint: ${teacher}/best.pt, prefix: dialogue_teacher.}]
      student_test:                     # command: train (default) | test | back-translate
        command: test
        config: student_slr_2teacher_bilstm.yaml
        weights: ${student}/best.pt
        needs: [student]
      gloss2text_test:                  # decoding tuned on dev, the ensemble of two runs
        command: test
        config: gloss2text.yaml
        weights: ${gloss2text}/best.pt
        ensemble: [${gloss2text_seed1}/best.pt]
        tune: [{eval.translation_beam: 1}, {eval.translation_beam: 4, eval.length_penalty: 2}]
        needs: [gloss2text, gloss2text_seed1]
      pseudo_glosses:                   # `signkd back-translate` of a split's annotation file
        command: back-translate
        config: text2gloss.yaml         # whose data.* names the file (split: train by default)
        weights: ${text2gloss}/best.pt
        options: {tag: BTTAG, dropout: 0.3}
        needs: [text2gloss]             # writes pseudo_glosses/<the annotation file's own name>

A variant is a file with `base: other_pipeline.yaml`: its `set` and each stage's `set` are merged
key by key over the base's, other fields replace the base's, new stages are added.

A string in a stage's config file that names `<out>/<stage>/...` refers to that stage's run folder
(the shipped configs name their teachers' checkpoints that way, so they also run alone with
`signkd train`); it must be in `needs` like a placeholder. Overrides apply in this order: config
file < pipeline `set` < stage `set` < `--set` on the command line.

Each stage runs as `python -m signkd train CONFIG --work-dir OUT/<stage> --set ...` (or `signkd
test` / `signkd back-translate`) with its output in OUT/<stage>/stage.log; OUT/<stage>/stage.json
records what it was run with (its fingerprint: the config as written, minus the keys that only say
how fast or verbosely it runs, the sha256 of the results of the stages it needs, of the checkpoints
it loads from elsewhere and of the corpus's annotation files) and its status.
OUT/pipeline.json holds the plan and every stage's status and time (of the stages run: `--only
STAGE` runs that stage and those it needs).

The package, in the order a run goes through it: `spec` (the file), `resolve` (each stage's config
and command line), `plan` (fingerprints: what is up to date), `checks` (every input, before any
training), `runner` (the processes, their records, the table).
"""
from signkd.pipeline.plan import plan
from signkd.pipeline.resolve import StageRun, resolve
from signkd.pipeline.runner import run_pipeline
from signkd.pipeline.slots import SharedSlots
from signkd.pipeline.spec import PLAN_FILE, Pipeline, PipelineError, Stage, load_pipeline

__all__ = ["PLAN_FILE", "Pipeline", "PipelineError", "SharedSlots", "Stage", "StageRun", "load_pipeline", "plan",
           "resolve", "run_pipeline"]
