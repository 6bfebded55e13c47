"""The demo's report: one table from every stage's metrics.json, the controls DESIGN.md section 6
asks for, and two figures.

Controls (computed here from the saved checkpoints, written to analysis.json so that the report
only copies numbers from JSON files):
- the dialogue teacher's WER with the dialogue turn removed (an empty context): how much of its
  accuracy is read off the text rather than seen in the video;
- the share of the teacher's (and the students') CTC spikes that fall inside the reference
  segment of the gloss they emit, from the corpus's ground-truth timing: distilling spikes on
  the wrong frames hurts the student, so this says whether the teacher is safe to distil;
- how often a gloss of a confusable pair was recognised as its twin (the pairs only the text
  can tell apart reliably): says whether distillation transferred the privileged knowledge or
  made the student better at everything else.
Figures: training curves of every stage, and one test video's CTC posteriors over time with the
reference glosses marked, baseline and distilled student side by side.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Callable, Optional

import torch

from signkd.config import load_config
from signkd.demo_stages import PAIRS, STAGES
from signkd.hardware import cpu_description
from signkd.loss_terms import TEACHER_TERMS
from signkd.temporal import TemporalSpec

RECOGNISER_ROWS = [s for s in STAGES if s.kind == "recogniser"] + [s for s in STAGES if s.key.startswith("slt_")]
TRANSLATOR_ROWS = [s for s in STAGES if s.kind == "translator"]


def _fmt(value, digits: int = 2) -> str:
    if value is None:
        return "-"
    return f"{value:.{digits}f}"


def read_metrics(run_dir: Path) -> Optional[dict]:
    path = Path(run_dir) / "metrics.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def trained_on(run_dirs) -> list[str]:
    """The CPUs (or devices) that trained these runs, as each run's metrics.json recorded them
    (`machine`), in first-seen order; "not recorded" for a run from before the record. The same
    seed gives other numbers on a CPU with other kernels (README, "Reproducibility")."""
    seen: list[str] = []
    for run_dir in run_dirs:
        metrics = read_metrics(run_dir)
        if not isinstance(metrics, dict):
            continue
        machine = metrics.get("machine")
        machine = machine if isinstance(machine, dict) else {}
        device = machine.get("device", "cpu")
        name = str(machine.get("cpu", "not recorded") if device == "cpu" else machine.get("gpu", device))
        if name not in seen:
            seen.append(name)
    return seen


def final_metric(metrics: Optional[dict], split: str, key: str) -> Optional[float]:
    if not metrics:
        return None
    value = ((metrics.get("final") or {}).get(split) or {}).get(key)
    return float(value) if isinstance(value, (int, float)) else None


# --------------------------------------------------------------------------------------------
# Loading a trained stage for analysis
# --------------------------------------------------------------------------------------------

class LoadedRun:
    """A stage's best.pt rebuilt with its own config and vocabularies, plus a split's data."""

    def __init__(self, run_dir: Path, splits=("test",)):
        from signkd.training.data import build_data
        from signkd.restore import restore

        self.run_dir = Path(run_dir)
        restored = restore(self.run_dir / "best.pt")
        self.cfg, self.vocabs, self.system = restored.cfg, restored.vocabs, restored.system
        self.data = build_data(self.cfg, self.run_dir, roles=tuple(splits), vocabs=self.vocabs, log=lambda m: None)

    def batches(self, split: str):
        from signkd.training import distributed as D
        from signkd.training.data import eval_loader

        dist = D.DistInfo(device=torch.device("cpu"))
        yield from eval_loader(self.data.datasets[split], self.cfg, dist)

    def samples(self, split: str) -> dict:
        return {s.id: s for s in self.data.samples[split]}

    def frame_logits(self, batch, model: str, drop_text: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, T', C) gloss logits and (B,) lengths of the student or the dialogue teacher."""
        with torch.no_grad():
            if model == "dialogue_teacher":
                ctx_ids, ctx_lengths = batch.ctx_ids, batch.ctx_lengths
                if drop_text:
                    ctx_ids, ctx_lengths = empty_context(self.vocabs.tokenizer, len(batch))
                out = self.system.dialogue_teacher(batch.video, batch.video_lengths, ctx_ids, ctx_lengths)
                return out["logits"], out["lengths"]
            student = self.system.student.encoder if self.system.is_slt else self.system.student
            out = student(batch.video, batch.video_lengths)
            return out["seq_logits"], out["lengths"]


def empty_context(tokenizer, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """[CLS] [SEP] for every sample: the dialogue turn removed."""
    ids = list(tokenizer("")["input_ids"])
    return (torch.tensor([ids] * batch_size, dtype=torch.long),
            torch.full((batch_size,), len(ids), dtype=torch.long))


# --------------------------------------------------------------------------------------------
# Controls
# --------------------------------------------------------------------------------------------

def load_segments(corpus_root: Path) -> dict:
    """{sample id: [(gloss, start, end), ...]} ground-truth frame segments ([start, end) input
    frames) from the corpus's alignment/<split>.jsonl; {} when the corpus has none."""
    out = {}
    for path in sorted((Path(corpus_root) / "alignment").glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                rec = json.loads(line)
                out[str(rec["name"]).split("/")[-1]] = [(g, int(s), int(e)) for g, s, e in rec["segments"]]
    return out


def load_twins(corpus_root: Path) -> dict:
    """{gloss: its twin} for the corpus's confusable pairs (corpus.json); {} when it has none."""
    path = Path(corpus_root) / "corpus.json"
    pairs = json.loads(path.read_text(encoding="utf-8")).get("confusable_pairs", []) if path.is_file() else []
    return {a: b for p in pairs for a, b in (p["glosses"], p["glosses"][::-1])}


def twin_swaps(refs: dict, hyps: dict, twins: dict) -> tuple[int, int]:
    """(reference glosses of a confusable pair aligned, as sclite aligns, to their twin;
    reference glosses of a confusable pair)."""
    counts = error_anatomy(refs, hyps, twins)
    return counts["twin_swaps"], counts["twin_refs"]


def read_gloss_hypotheses(path: Path) -> tuple[dict, dict]:
    """({sample id: reference glosses}, {sample id: hypothesis glosses}) from the `<tag>.glosses.txt`
    a finished run writes under hypotheses/ (an id line, then `  REF: ...` and `  HYP: ...`)."""
    refs, hyps, uid = {}, {}, None
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        text = line.strip()
        if text.startswith("REF:") and uid is not None:
            refs[uid] = text[4:].split()
        elif text.startswith("HYP:") and uid is not None:
            hyps[uid] = text[4:].split()
        elif text:
            uid = text
    return refs, hyps


def error_anatomy(refs: dict, hyps: dict, twins: dict) -> dict:
    """The errors of a gloss hypothesis file split into twin swaps (a gloss of a confusable pair read
    as its twin: what the privileged text can tell and the video barely shows) and every other error
    (deletions, insertions, other substitutions: what a video-only model can learn as well), as
    sclite aligns them."""
    from signkd.metrics import sclite_align

    errors = swapped = 0
    for uid, ref in refs.items():     # one alignment per sample serves both counts
        for op, r, h in sclite_align(ref, hyps.get(uid, []), case_sensitive=True):
            errors += op != "C"
            swapped += op == "S" and twins.get(r) == h
    return {"twin_swaps": swapped, "twin_refs": sum(g in twins for ref in refs.values() for g in ref),
            "other_errors": errors - swapped, "ref_words": sum(len(r) for r in refs.values())}


def spike_share(run: LoadedRun, split: str, model: str, segments: dict, drop_text: bool = False,
                twins: Optional[dict] = None) -> dict:
    """WER of greedy CTC decoding, and the share of spikes (non-blank argmax steps that start a new
    emission) whose step centre lies inside a reference segment of the emitted gloss."""
    from signkd.decoding import ctc_greedy
    from signkd.metrics import sclite_wer

    refs, hyps = {}, {}
    inside = total = 0
    samples = run.samples(split)
    temporal = TemporalSpec.from_config(run.cfg.model.visual)
    for batch in run.batches(split):
        logits, lengths = run.frame_logits(batch, model, drop_text)
        log_probs = torch.log_softmax(logits.float(), -1)
        ids = ctc_greedy(log_probs, lengths)
        best = log_probs.argmax(-1)                                    # (B, T')
        for i, uid in enumerate(batch.ids):
            refs[uid] = list(samples[uid].glosses)
            hyps[uid] = run.vocabs.gloss.decode(ids[i])
            segs = segments.get(uid)
            if not segs:
                continue
            n = int(lengths[i])
            previous = 0
            for t in range(n):
                k = int(best[i, t])
                if k != 0 and k != previous:
                    gloss = run.vocabs.gloss.decode([k])
                    gloss = gloss[0] if gloss else None
                    total += 1
                    if any(g == gloss and start <= temporal.step_centre(t) < end for g, start, end in segs):
                        inside += 1
                previous = k
    wer = sclite_wer(refs, hyps).wer
    swapped, confusable = twin_swaps(refs, hyps, twins or {})
    return {"wer": wer, "spikes": total, "spikes_inside": inside,
            "spike_share": (100.0 * inside / total) if total else None,
            "twin_swaps": swapped, "confusable_refs": confusable}


def compute_controls(out: Path, log: Callable[[str], None] = print) -> dict:
    """Controls of DESIGN.md section 6 on dev and test; cached in analysis.json by checkpoint time."""
    out = Path(out)
    path = out / "analysis.json"
    # only the runs analysed below: a control trained later into the same folder does not redo the analysis
    analysed = ["dialogue_teacher"] + [k for pair in PAIRS for k in pair[:2]]
    stamps = {k: (out / k / "best.pt").stat().st_mtime for k in analysed if (out / k / "best.pt").is_file()}
    if path.is_file():
        cached = json.loads(path.read_text(encoding="utf-8"))
        if cached.get("stamps") == stamps:
            return cached
    segments = load_segments(out / "corpus")
    twins = load_twins(out / "corpus")
    result: dict = {"stamps": stamps, "has_segments": bool(segments)}
    torch.set_grad_enabled(False)
    try:
        teacher_dir = out / "dialogue_teacher"
        if (teacher_dir / "best.pt").is_file():
            log("demo: controls: dialogue teacher with and without its dialogue turn")
            run = LoadedRun(teacher_dir, splits=("dev", "test"))
            for split in ("dev", "test"):
                result.setdefault("dialogue_teacher", {})[split] = spike_share(run, split, "dialogue_teacher", segments,
                                                                                       twins=twins)
                result.setdefault("dialogue_teacher_no_text", {})[split] = spike_share(
                    run, split, "dialogue_teacher", segments, drop_text=True, twins=twins)
        for key in [k for pair in PAIRS for k in pair[:2]]:
            if (out / key / "best.pt").is_file() and segments:
                run = LoadedRun(out / key, splits=("test",))
                result.setdefault(key, {})["test"] = spike_share(run, "test", "student", segments, twins=twins)
    finally:
        torch.set_grad_enabled(True)
    path.write_text(json.dumps(result, indent=1), encoding="utf-8")
    return result


# --------------------------------------------------------------------------------------------
# Figures
# --------------------------------------------------------------------------------------------

def plot_curves(out: Path, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    for stage in STAGES:
        m = read_metrics(out / stage.key)
        if not m:
            continue
        hist = m.get("history", [])
        epochs = [r["epoch"] for r in hist]
        axes[0].plot(epochs, [r["train"].get("loss") for r in hist], marker=".", label=stage.key)
        wer = [(r["epoch"], r["dev"]["wer"]) for r in hist if "wer" in (r.get("dev") or {})]
        if wer:
            axes[1].plot(*zip(*wer), marker=".", label=stage.key)
        bleu = [(r["epoch"], r["dev"]["bleu4"]) for r in hist if "bleu4" in (r.get("dev") or {})]
        if bleu:
            axes[2].plot(*zip(*bleu), marker=".", label=stage.key)
    for ax, title in zip(axes, ("training loss (weighted sum)", "dev WER %", "dev BLEU-4")):
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    axes[0].set_yscale("log")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def plot_posteriors(out: Path, path: Path, segments: dict, pairs=(("slr_baseline", "baseline"),
                                                                   ("slr_distilled", "distilled"))) -> Optional[str]:
    """One test video's CTC posteriors (reference glosses' classes, blank dashed) per student."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    present = [(k, label) for k, label in pairs if (out / k / "best.pt").is_file()]
    if not present:
        return None
    runs = [LoadedRun(out / k, splits=("test",)) for k, _ in present]
    ds = runs[0].data.datasets["test"]
    samples = runs[0].samples("test")
    ids = sorted(samples)
    # a clip whose reference has several glosses, and confusable ones when the corpus says so
    uid = max(ids[: min(len(ids), 30)], key=lambda i: (len(set(samples[i].glosses)), i))
    index = [it.id for it in ds.items].index(uid)
    from signkd.data.batching import Collate

    batch = Collate(runs[0].vocabs.gloss.bos, runs[0].vocabs.gloss.eos)([ds[index]])
    fig, axes = plt.subplots(1, len(runs), figsize=(7 * len(runs), 4), squeeze=False)
    ref = list(samples[uid].glosses)
    for ax, run, (key, label) in zip(axes[0], runs, present):
        with torch.no_grad():
            logits, lengths = run.frame_logits(batch, "student")
        probs = torch.softmax(logits[0, : int(lengths[0])].float(), -1)        # (T', C)
        centres = [TemporalSpec.from_config(run.cfg.model.visual).step_centre(t) for t in range(probs.shape[0])]
        ax.plot(centres, probs[:, 0].numpy(), "k--", lw=1, label="blank")
        colours = plt.cm.tab10.colors
        for j, gloss in enumerate(dict.fromkeys(ref)):
            cls = run.vocabs.gloss.encode([gloss])
            if cls:
                ax.plot(centres, probs[:, cls[0]].numpy(), color=colours[j % 10], lw=1.5, label=gloss)
        for j, (gloss, start, end) in enumerate(segments.get(uid, [])):
            colour = colours[list(dict.fromkeys(ref)).index(gloss) % 10] if gloss in ref else "grey"
            ax.axvspan(start, end, color=colour, alpha=0.12)
            ax.text((start + end) / 2, 1.03, gloss, ha="center", va="bottom", fontsize=7, rotation=30)
        ax.set_ylim(0, 1.0)
        ax.set_xlabel("input frame")
        ax.set_ylabel("posterior")
        metrics = read_metrics(out / key)
        ax.set_title(f"{label}: test WER {_fmt(final_metric(metrics, 'test', 'wer'))}%", pad=28)
        ax.legend(fontsize=6, loc="center right")
    fig.suptitle(f"test clip {uid}: {' '.join(ref)}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return uid


# --------------------------------------------------------------------------------------------
# The report
# --------------------------------------------------------------------------------------------

def teacher_terms(run_dir: Path) -> Optional[dict]:
    """{term: weight} of the teacher terms a run trained with (read from its saved config.yaml), zero
    weights left out; None when the run has no config. A schedule {epoch: weight} is kept as it is."""
    path = Path(run_dir) / "config.yaml"
    if not path.is_file():
        return None
    weights = load_config(path).loss.weights      # the project's reader: original aliases -> canonical names
    used = {}
    for term in TEACHER_TERMS:
        w = weights.get(term, 0)
        if (any(v for v in w.values()) if isinstance(w, dict) else w):
            used[term] = w
    return used


def _weight(w) -> str:
    """A weight as the report says it; a schedule's epochs counted from 1, as the training log counts
    them (the config's {20: 0.0} is "from epoch 21: 0")."""
    if isinstance(w, dict):
        return "{" + ", ".join(f"from epoch {e + 1}: {v:g}" for e, v in sorted(w.items())) + "}"
    return f"{w:g}"


def _minutes(seconds) -> str:
    if seconds is None:
        return "-"
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.0f} s"


def demo_timings(out: Path, corpus: Optional[dict] = None, total_seconds: Optional[float] = None) -> dict:
    """The times the report shows, from the runner's OUT/pipeline.json: {stage: {seconds, cached,
    load_average}} for each stage it ran ("done") or kept ("up to date": `cached`, with the time and
    load of the run that made it), plus the corpus's (from `prepare_corpus`), parallel_stages and
    total_seconds (this invocation)."""
    from signkd.pipeline import PLAN_FILE

    path = Path(out) / PLAN_FILE
    record = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    timings: dict = {"parallel_stages": int(record.get("jobs") or 1)}
    for key, row in (record.get("stages") or {}).items():
        if isinstance(row, dict) and row.get("status") in ("done", "up to date"):
            timings[key] = {"seconds": row.get("seconds"), "cached": row["status"] == "up to date",
                            "load_average": row.get("load_average")}
    if corpus is not None:
        timings["corpus"] = {"seconds": corpus.get("seconds"), "cached": bool(corpus.get("cached"))}
    timings["total_seconds"] = None if total_seconds is None else round(total_seconds, 1)
    return timings


def report_rows(out: Path, timings: dict) -> tuple[list[str], dict]:
    """Markdown table lines and the numbers behind them ({row key: {column: value}})."""
    rows, numbers = [], {}
    header = ("| stage | model | dev WER % | test WER % | dev BLEU-4 | test BLEU-4 | dev ROUGE-L | test ROUGE-L "
              "| wall time |")
    rows += [header, "|" + "---|" * 9]
    metrics = {st.key: read_metrics(out / st.key) for st in STAGES}
    shown = [st for st in STAGES if st.role != "control" or metrics[st.key] is not None]
    for i, stage in enumerate(shown, 1):
        m = metrics[stage.key]
        vals = {f"{split}_{k}": final_metric(m, split, k) for split in ("dev", "test")
                for k in ("wer", "bleu4", "rouge_l")}
        numbers[stage.key] = vals
        t = (timings.get(stage.key) or {}).get("seconds")
        rows.append(f"| {i} | {stage.title} | {_fmt(vals['dev_wer'])} | {_fmt(vals['test_wer'])} | "
                    f"{_fmt(vals['dev_bleu4'])} | {_fmt(vals['test_bleu4'])} | {_fmt(vals['dev_rouge_l'])} | "
                    f"{_fmt(vals['test_rouge_l'])} | {_minutes(t)} |")
    return rows, numbers


def _spread(pair, digits: int = 2) -> str:
    """A (mean, std) pair of bench_demo.json as "mean ± std"."""
    return f"{pair[0]:.{digits}f} ± {pair[1]:.{digits}f}"


def seed_spread_lines(out: Path) -> list[str]:
    """The spread over seeds beside the single-seed ratios: from `make bench-demo`'s bench_demo.json
    in this folder when it is there, else where to get it."""
    path = Path(out) / "bench_demo.json"
    try:
        bench = json.loads(path.read_text(encoding="utf-8"))
        summary = bench["summary"]
        said = "; ".join(f"{label}: {_spread(s['ratio'], 3)}, distilled better at {s['wins']} of {s['seeds']}"
                         for label, s in summary["students"].items())
        lines = [f"Over seeds {', '.join(map(str, bench.get('seeds', [])))} (`make bench-demo`, {path.name}), "
                 f"distilled / baseline test WER: {said}."]
        slt = summary.get("slt")
        if slt:   # the SLT pair, and its controls when the bench trained them
            controls = "".join(f"; {c['teacher']}: {_spread(c['test_bleu4'])}"
                               for c in (slt.get("controls") or {}).values())
            lines.append(f"SLT test BLEU-4 over seeds {', '.join(map(str, bench.get('slt_seeds', [])))}: baseline "
                         f"{_spread(slt['baseline_test_bleu4'])}, Gloss2Text distillation "
                         f"{_spread(slt['distilled_test_bleu4'])} (at or above at {slt['at_or_above']} of "
                         f"{slt['seeds']}){controls}.")
    except (OSError, ValueError, KeyError, TypeError, IndexError, AttributeError):
        return ["The spread over seeds is not measured in this folder: `make bench-demo` writes it (mean ± std of "
                "each ratio over 5 seeds, with the controls) to bench_demo.md."]
    return lines


def write_demo_report(out: Path, *, preset: str, seed: int, timings: dict,
                      log: Callable[[str], None] = print) -> str:
    out = Path(out)
    rows, numbers = report_rows(out, timings)
    controls = compute_controls(out, log)
    segments = load_segments(out / "corpus")
    plot_curves(out, out / "curves.png")
    clip = plot_posteriors(out, out / "posteriors.png", segments)

    lines = [f"# signkd demo: preset `{preset}`, seed {seed}", "",
             "Every number below is copied from the stage's `metrics.json` (`final`: best dev epoch, "
             "scored once on dev and test) or, for the controls, from `analysis.json`.", ""]
    lines += rows
    lines.append("")
    for base_key, dist_key, label in PAIRS:
        base, dist = numbers.get(base_key, {}).get("test_wer"), numbers.get(dist_key, {}).get("test_wer")
        if base and dist is not None:
            lines.append(f"Distilled / baseline test WER ({label} student): {_fmt(dist)} / {_fmt(base)} = "
                         f"**{dist / base:.3f}**.")
    if any(numbers.get(b, {}).get("test_wer") for b, _, _ in PAIRS):
        lines.append(f"One seed ({seed}) on one machine: a ratio from a single run is neither a pass nor a fail.")
        lines += seed_spread_lines(out)
    lines.append("")
    for stage in (st for st in STAGES if st.role == "distilled"):
        terms = teacher_terms(out / stage.key)
        if terms is not None:
            said = ", ".join(f"{t} {_weight(w)}" for t, w in terms.items()) or "none"
            lines.append(f"Teacher terms of \"{stage.title}\" (loss weights from its `config.yaml`): {said}.")
    lines.append("")
    lines += ["## Controls (DESIGN.md section 6)", "",
              "| model | split | WER % (greedy) | spikes inside the right gloss segment | confusable glosses "
              "read as their twin |", "|---|---|---|---|---|"]
    labels = {"dialogue_teacher": "Dialogue teacher, with its dialogue turn",
              "dialogue_teacher_no_text": "Dialogue teacher, dialogue turn removed",
              "slr_baseline": "SLR student, baseline (Transformer)",
              "slr_distilled": "SLR student, distilled (Transformer)",
              "slr_baseline_bilstm": "SLR student, baseline (BiLSTM)",
              "slr_distilled_bilstm": "SLR student, distilled (BiLSTM)"}
    for key, label in labels.items():
        for split, c in sorted((controls.get(key) or {}).items()):
            share = "-" if c.get("spike_share") is None else f"{c['spike_share']:.1f} % of {c['spikes']}"
            twin = (f"{c['twin_swaps']} of {c['confusable_refs']}" if c.get("confusable_refs") else "-")
            lines.append(f"| {label} | {split} | {_fmt(c.get('wer'))} | {share} | {twin} |")
    if not controls.get("has_segments"):
        lines += ["", "(The corpus has no ground-truth gloss timing, so spike placement is not measured.)"]
    machines = trained_on(out / st.key for st in STAGES)
    if machines:
        lines += ["", f"Trained on: {'; '.join(machines)}. Reported on "
                  f"{cpu_description(torch.backends.cpu.get_cpu_capability())}, {os.cpu_count()} CPUs."]
    loads = [t["load_average"] for t in timings.values() if isinstance(t, dict) and t.get("load_average") is not None]
    if loads:
        lines += ["", f"Wall times were measured with a 1-minute load average of {min(loads):.1f}-{max(loads):.1f} "
                  f"on {os.cpu_count()} CPUs at the end of the stages (above the CPU count = shared with other jobs, "
                  "so the times are pessimistic)."]
    corpus_t = (timings.get("corpus") or {}).get("seconds")
    stage_sum = sum((timings.get(st.key) or {}).get("seconds") or 0 for st in STAGES) + (corpus_t or 0)
    kept = [k for k, t in timings.items() if isinstance(t, dict) and t.get("cached")]
    jobs = int(timings.get("parallel_stages") or 1)
    overlap = (f" ({jobs} stages trained at a time, one process each: the stage times overlap, and each is "
               "longer than it would be alone)" if jobs > 1 else "")
    lines += ["", f"Corpus generation + frame packing: {_minutes(corpus_t)}; corpus + the sum of the stage times: "
              f"{_minutes(stage_sum)}; this invocation, wall clock: {_minutes(timings.get('total_seconds'))}{overlap}"
              + (f" ({len(kept)} steps were up to date and kept)." if kept else "."), "",
              "Figures: `curves.png` (training loss, dev WER and dev BLEU-4 per epoch of every stage), "
              f"`posteriors.png` (test clip `{clip}`: CTC posteriors of the reference glosses over time, "
              "shaded = the glosses' true frames; baseline vs distilled student)." if clip else ""]
    text = "\n".join(lines).rstrip() + "\n"
    (out / "report.md").write_text(text, encoding="utf-8")
    log(f"demo: wrote {out / 'report.md'}, {out / 'curves.png'}" + (f", {out / 'posteriors.png'}" if clip else ""))
    return text
