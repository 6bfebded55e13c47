"""`signkd import`: VAC's and the original method's checkpoints as signkd students.

Their models are restated here, minimally and independently of signkd (torchvision's resnet18
layout, VAC's TemporalConv nn.Sequential + fc, BiLSTMLayer over packed (T, B, D) input, Linear /
NormLinear classifiers, `masked_bn`), so the tests compare against their structure, not against
an inversion of our own mapping. A tiny geometry (16 wide, 6 classes) keeps it fast."""
from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from conftest import write_frames
from signkd.cli import main as cli_main
from signkd.errors import CheckpointError

HIDDEN = 16
TINY = ["--set", f"model.hidden={HIDDEN}", "--set", f"model.visual.hidden={HIDDEN}"]
# their class ids, deliberately not in sorted order, so the permutation is not the identity
THEIR_IDS = {"WIND": 1, "__ON__": 2, "REGEN": 3, "HAUS": 4, "SONNE": 5}
VAC_SPECS = [("K", 5), ("P", 2), ("K", 5), ("P", 2)]
ORIGINAL_SPECS = [("K", 5), ("P", 2), ("K", 5)]


# --------------------------------------------------------------------------------------------
# Their modules, restated (torchvision resnet18; VAC modules/tconv.py, modules/BiLSTM.py,
# slr_network.py; the original's modules/vac.py)
# --------------------------------------------------------------------------------------------

class TVBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = (nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
                           if stride != 1 or cin != cout else None)

    def forward(self, x):
        out = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))
        return self.relu(out + (x if self.downsample is None else self.downsample(x)))


class TVResNet18(nn.Module):
    """torchvision.models.resnet18 with `fc` replaced by an identity (VAC: `self.conv2d.fc = Identity()`)."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        widths = [(64, 64, 1), (64, 128, 2), (128, 256, 2), (256, 512, 2)]
        for i, (cin, cout, s) in enumerate(widths, 1):
            setattr(self, f"layer{i}", nn.Sequential(TVBlock(cin, cout, s), TVBlock(cout, cout, 1)))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Identity()

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


class TheirTemporalConv(nn.Module):
    def __init__(self, specs, hidden, num_classes):
        super().__init__()
        self.specs = specs
        mods, width = [], 512
        for kind, size in specs:
            if kind == "P":
                mods.append(nn.MaxPool1d(size, ceil_mode=False))
            else:
                mods += [nn.Conv1d(width, hidden, size, 1, 0), nn.BatchNorm1d(hidden), nn.ReLU(inplace=True)]
                width = hidden
        self.temporal_conv = nn.Sequential(*mods)
        self.fc = nn.Linear(hidden, num_classes)

    def forward(self, x, lgt):                           # x: (B, 512, T)
        feat = self.temporal_conv(x)
        for kind, size in self.specs:
            lgt = lgt // size if kind == "P" else lgt - (size - 1)
        logits = self.fc(feat.transpose(1, 2)).transpose(1, 2)
        return {"visual_feat": feat.permute(2, 0, 1), "conv_logits": logits.permute(2, 0, 1), "feat_len": lgt}


class TheirBiLSTM(nn.Module):
    def __init__(self, width, hidden, layers=2):
        super().__init__()
        self.rnn = nn.LSTM(input_size=width, hidden_size=hidden // 2, num_layers=layers, dropout=0.3,
                           bidirectional=True)

    def forward(self, x, lens):                          # x: (T, B, D), lens sorted descending
        out, _ = self.rnn(nn.utils.rnn.pack_padded_sequence(x, lens))
        return {"predictions": nn.utils.rnn.pad_packed_sequence(out)[0]}


class NormLinear(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(cin, cout))

    def forward(self, x):
        return x @ F.normalize(self.weight, dim=0)


class TheirSLRModel(nn.Module):
    """VAC's SLRModel (classifier='classifier') or the original's VACModel ('classifier_sign').
    layout: 'linear' (two nn.Linear), 'normlinear' (two NormLinear), 'shared' (one NormLinear for both)."""

    def __init__(self, num_classes, specs, hidden=HIDDEN, classifier="classifier", layout="linear"):
        super().__init__()
        self.classifier_name = classifier
        self.conv2d = TVResNet18()
        self.conv1d = TheirTemporalConv(specs, hidden, num_classes)
        self.temporal_model = TheirBiLSTM(hidden, hidden)
        head = nn.Linear(hidden, num_classes) if layout == "linear" else NormLinear(hidden, num_classes)
        setattr(self, classifier, head)
        if layout == "normlinear":
            self.conv1d.fc = NormLinear(hidden, num_classes)
        elif layout == "shared":
            self.conv1d.fc = head

    def head(self, x):
        return getattr(self, self.classifier_name)(x)

    def masked_bn(self, inputs, len_x):
        n = int(max(len_x))
        x = torch.cat([inputs[n * i: n * i + int(l)] for i, l in enumerate(len_x)])
        x = self.conv2d(x)
        starts = np.cumsum([0] + [int(l) for l in len_x])
        return torch.cat([torch.cat([x[starts[i]:starts[i + 1]], x.new_zeros(n - int(l), x.shape[1])])
                          for i, l in enumerate(len_x)])

    def forward(self, video, len_x):                     # video: (B, T, 3, H, W)
        b, t = video.shape[:2]
        framewise = self.masked_bn(video.reshape(b * t, *video.shape[2:]), len_x).reshape(b, t, -1).transpose(1, 2)
        conv = self.conv1d(framewise, len_x)
        seq = self.temporal_model(conv["visual_feat"], conv["feat_len"])["predictions"]
        return {"conv_logits": conv["conv_logits"], "sequence_logits": self.head(seq), "feat_len": conv["feat_len"]}


def randomise_norms(model: nn.Module, seed: int = 0) -> nn.Module:
    """Non-trivial BatchNorm statistics and affine parameters, so eval-mode BN is not the identity."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(m.num_features, generator=g) * 0.1)
    return model.eval()


def their_collate(video: torch.Tensor, lengths) -> tuple[torch.Tensor, torch.Tensor]:
    """Their collate_fn's temporal padding (VAC's, kept by the original): 6 copies of each clip's
    first frame, the clip, copies of its last frame up to ceil(T / 4) * 4 + 12 frames; the lengths
    count the padding."""
    lengths = [int(n) for n in lengths]
    padded = [-(-n // 4) * 4 + 12 for n in lengths]
    out = video.new_zeros(len(lengths), max(padded), *video.shape[2:])
    for b, (n, total) in enumerate(zip(lengths, padded)):
        clip = video[b, :n]
        out[b, :total] = torch.cat([clip[:1].expand(6, *clip.shape[1:]), clip,
                                    clip[-1:].expand(total - 6 - n, *clip.shape[1:])])
    return out, torch.tensor(padded)


def their_model(layout="linear", specs=VAC_SPECS, classifier="classifier", seed=0) -> TheirSLRModel:
    torch.manual_seed(seed)
    return randomise_norms(TheirSLRModel(len(THEIR_IDS) + 1, specs, classifier=classifier, layout=layout), seed)


def vac_checkpoint(path: Path, model: nn.Module, *, epoch: int = 39) -> Path:
    """What VAC's Processor.save_model writes: model, Adam, MultiStepLR (a Counter) and RNG states
    (NumPy's as an array)."""
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=[20, 35], gamma=0.2)
    import random
    torch.save({"epoch": epoch, "model_state_dict": model.state_dict(), "optimizer_state_dict": opt.state_dict(),
                "scheduler_state_dict": sched.state_dict(),
                "rng_state": {"torch": torch.get_rng_state(), "cuda": [], "numpy": np.random.get_state(),
                              "random": random.getstate()}}, path)
    return path


def gloss_dict_npy(path: Path, ids=THEIR_IDS) -> Path:
    """VAC's preprocess: np.save of {gloss: [id, count]}."""
    np.save(path, {g: [i, 7] for g, i in ids.items()})
    return path


def vocab_txt(path: Path, ids=THEIR_IDS) -> Path:
    """The original's vocab.txt: line n is class n."""
    path.write_text("\n".join(sorted(ids, key=ids.get)) + "\n", encoding="utf-8")
    return path


def import_vac(tmp_path, model, *extra, gloss=None, config=None):
    from signkd.importers import import_checkpoint

    ckpt = vac_checkpoint(tmp_path / "vac.pt", model)
    gloss = gloss or gloss_dict_npy(tmp_path / "gloss_dict.npy")
    return import_checkpoint("vac", ckpt, gloss_dict=gloss, config=config, overrides=[*TINY[1::2], *extra])


def student_from(payload: dict, tmp_path: Path, name="imported.pt"):
    """Write the payload and load its student the way recognize / export do."""
    from signkd.importers import Imported, write_imported
    from signkd.inference import load_student

    path = write_imported(Imported(payload), tmp_path / name)
    return load_student(path), path


def permuted(their_logits: torch.Tensor, vocab) -> torch.Tensor:
    """Their logits (..., C) reordered to signkd's classes: column s = their column id(gloss s)."""
    index = [0] + [THEIR_IDS[g] for g in vocab.glosses]
    return their_logits[..., index]


def one_line_error(capsys, argv) -> str:
    rc = cli_main(argv)
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "\n" not in err and "Traceback" not in err, err
    assert err.startswith(f"signkd {argv[0]}: error: "), err
    return err


# --------------------------------------------------------------------------------------------
# The key layout: their restated model == our documented inverse mapping
# --------------------------------------------------------------------------------------------

def to_their_state(student_state: dict, *, specs, classifier: str, prefix: str = "", index=None) -> dict:
    """The inverse of `map_state` for `nn.Linear` classifiers: a signkd student state dict (keys
    with or without `student.`) -> the state dict their model of the same geometry holds, built
    from the same per-key rule (`their_key`) the import reads its table with."""
    from signkd.importers import CLASSIFIERS, their_key

    out = {}
    inverse = None if index is None else torch.argsort(index)
    for key, value in student_state.items():
        key = key[len("student."):] if key.startswith("student.") else key
        if key.split(".", 1)[0] in CLASSIFIERS and inverse is not None:
            value = value[inverse]
        out[their_key(key, specs, classifier, prefix)] = value.clone()
    return out


@pytest.mark.parametrize("kind", ["vac", "original"])
def test_inverse_mapping_gives_exactly_their_keys_and_shapes(kind):
    from signkd.config import load_config
    from signkd.data.vocab import GlossVocab
    from signkd.importers import SOURCES
    from signkd.models.build import build_system

    source = SOURCES[kind]
    cfg = load_config(source.default_config, TINY[1::2])
    cfg.model.visual.pretrained = ""
    student = build_system(cfg, GlossVocab(THEIR_IDS)).state_dict()
    specs = VAC_SPECS if kind == "vac" else ORIGINAL_SPECS
    prefix = source.parts["student"]
    ours = to_their_state(student, specs=specs, classifier=source.classifier, prefix=prefix)
    theirs = {prefix + k: v for k, v in their_model(specs=specs, classifier=source.classifier).state_dict().items()}
    assert set(ours) == set(theirs)
    assert {k: tuple(v.shape) for k, v in ours.items()} == {k: tuple(v.shape) for k, v in theirs.items()}


def test_import_of_the_inverse_is_the_identity():
    """Every key maps, nothing is left over, the permutation is undone exactly."""
    from signkd.config import load_config
    from signkd.importers import SOURCES, gloss_permutation, map_state
    from signkd.models.build import build_system

    vocab, index = gloss_permutation(THEIR_IDS)
    assert not torch.equal(index, torch.arange(len(index)))
    cfg = load_config(SOURCES["vac"].default_config, TINY[1::2])
    cfg.model.visual.pretrained = ""
    torch.manual_seed(3)
    student = {k[len("student."):]: v for k, v in build_system(cfg, vocab).state_dict().items()}
    theirs = to_their_state(student, specs=VAC_SPECS, classifier="classifier", index=index)
    back, layouts = map_state(theirs, student, specs=VAC_SPECS, classifier="classifier", prefix="", index=index,
                              path="x")
    assert layouts == {"conv_classifier": "linear", "classifier": "linear"}
    assert set(back) == {f"student.{k}" for k in student}
    assert all(torch.equal(back[f"student.{k}"], v) for k, v in student.items())


def test_an_imported_config_keeps_the_slr_students_own_terms_of_the_loss_table(tmp_path):
    """A config weighting every term of signkd.loss_terms.TERMS (an SLT run with teachers) becomes a
    student-only SLR config keeping the terms the table says train the student alone, without a
    teacher or a word decoder."""
    import yaml

    from signkd.config import ConfigError
    from signkd.importers import SLR_STUDENT_TERMS, student_config
    from signkd.loss_terms import TERMS

    assert SLR_STUDENT_TERMS == ("ConvCTCSign", "SeqCTCSign", "Dist")
    config = tmp_path / "every_term.yaml"
    config.write_text(yaml.safe_dump({"model": {"task": "slt", "dialogue_teacher": True, "gloss2text": True},
                                      "loss": {"weights": {name: 0.5 for name in TERMS}}}), encoding="utf-8")
    cfg = student_config(config, [], [])
    assert cfg.model.task == "slr" and cfg.loss.weights == {name: 0.5 for name in SLR_STUDENT_TERMS}
    with pytest.raises(ConfigError, match="data.format: 'phoenix' is not a corpus format; expected one of"):
        student_config(config, ["data.format=phoenix"], [])


# --------------------------------------------------------------------------------------------
# Numerics of every mapped module
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("layout", ["linear", "normlinear", "shared"])
def test_vac_modules_compute_what_theirs_compute(tmp_path, layout):
    theirs = their_model(layout)
    result = import_vac(tmp_path, theirs)
    kind = "linear" if layout == "linear" else "normlinear"     # 'shared' is one NormLinear under two names
    assert result.payload["imported"]["classifier_layout"] == {"conv_classifier": kind, "classifier": kind}
    bundle, _ = student_from(result.payload, tmp_path)
    student, vocab = bundle.student, bundle.gloss_vocab
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        # frame CNN
        frames = torch.randn(5, 3, 32, 32, generator=g)
        torch.testing.assert_close(student.front.cnn(frames), theirs.conv2d(frames), atol=1e-5, rtol=1e-5)
        # temporal conv + its classifier, batch of two lengths
        feats, lengths = torch.randn(2, 40, 512, generator=g), torch.tensor([40, 31])
        mine, out_len = student.front.temporal(feats, lengths)
        ref = theirs.conv1d(feats.transpose(1, 2), lengths)
        assert out_len.tolist() == ref["feat_len"].tolist()
        for b, n in enumerate(out_len.tolist()):
            torch.testing.assert_close(mine[b, :n], ref["visual_feat"][:n, b], atol=1e-5, rtol=1e-5)
            torch.testing.assert_close(student.conv_classifier(mine[b, :n]), permuted(ref["conv_logits"][:n, b], vocab),
                                       atol=1e-5, rtol=1e-5)
        # BiLSTM
        x, lens = torch.randn(2, 7, HIDDEN, generator=g), torch.tensor([7, 5])
        mine = student.sequence(x, lens)
        ref = theirs.temporal_model(x.transpose(0, 1), lens)["predictions"]
        for b, n in enumerate(lens.tolist()):
            torch.testing.assert_close(mine[b, :n], ref[:n, b], atol=1e-5, rtol=1e-5)
        # the sequence classifier
        h = torch.randn(9, HIDDEN, generator=g)
        torch.testing.assert_close(student.classifier(h), permuted(theirs.head(h), vocab), atol=1e-5, rtol=1e-5)
        # end to end on a padded batch (theirs sorts it by length, descending), through their collate
        video, vlen = torch.randn(2, 30, 3, 32, 32, generator=g), torch.tensor([30, 21])
        mine = student(video, vlen)
        ref = theirs(*their_collate(video, vlen))
        assert mine["lengths"].tolist() == ref["feat_len"].tolist() == [8, 6]
        for b, n in enumerate(mine["lengths"].tolist()):
            torch.testing.assert_close(mine["seq_logits"][b, :n], permuted(ref["sequence_logits"][:n, b], vocab),
                                       atol=1e-5, rtol=1e-5)
            torch.testing.assert_close(mine["conv_logits"][b, :n], permuted(ref["conv_logits"][:n, b], vocab),
                                       atol=1e-5, rtol=1e-5)


def test_permutation_keeps_each_glosss_logit(tmp_path):
    """Class ids differ (WIND is their 1, signkd's 2), yet every gloss name gets its own logit."""
    theirs = their_model()
    bundle, _ = student_from(import_vac(tmp_path, theirs).payload, tmp_path)
    vocab = bundle.gloss_vocab
    assert vocab.glosses == sorted(THEIR_IDS) and vocab.glosses.index("WIND") + 1 != THEIR_IDS["WIND"]
    h = torch.randn(4, HIDDEN, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        mine, ref = bundle.student.classifier(h), theirs.classifier(h)
    for gloss, their_id in THEIR_IDS.items():
        torch.testing.assert_close(mine[:, vocab.encode([gloss])[0]], ref[:, their_id], atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(mine[:, 0], ref[:, 0], atol=1e-6, rtol=1e-6)     # blank stays blank


@pytest.mark.parametrize("part,prefix", [("student", "sign_encoder_2."), ("teacher-sign-encoder", "sign_encoder.")])
def test_original_parts_import_with_their_numerics(tmp_path, part, prefix):
    """The original's SLRModel: two VACModels (teacher sign encoder, student) plus teacher-only
    modules; --part picks one VACModel, the vocab.txt line order gives the class ids."""
    from signkd.importers import import_checkpoint

    enc2 = their_model(specs=ORIGINAL_SPECS, classifier="classifier_sign", seed=1)
    enc = their_model(specs=ORIGINAL_SPECS, classifier="classifier_sign", seed=2)
    state = {**{f"sign_encoder_2.{k}": v for k, v in enc2.state_dict().items()},
             **{f"sign_encoder.{k}": v for k, v in enc.state_dict().items()},
             "classifier_combine.weight": torch.zeros(6, HIDDEN), "bert_text.bert.embeddings.word_embeddings.weight":
                 torch.zeros(10, HIDDEN), "signToText.weight": torch.zeros(HIDDEN, HIDDEN)}
    torch.save({"epoch": 69, "model_state_dict": state}, tmp_path / "orig.pt")
    result = import_checkpoint("original", tmp_path / "orig.pt", gloss_dict=vocab_txt(tmp_path / "vocab.txt"),
                               overrides=TINY[1::2], part=part)
    assert any("bert_text." in n and "not imported" in n for n in result.notes)
    assert result.payload["epoch"] == 70
    bundle, _ = student_from(result.payload, tmp_path)
    theirs = enc2 if part == "student" else enc
    video, vlen = torch.randn(2, 26, 3, 32, 32, generator=torch.Generator().manual_seed(4)), torch.tensor([26, 21])
    with torch.no_grad():
        mine, ref = bundle.student(video, vlen), theirs(*their_collate(video, vlen))
    assert mine["lengths"].tolist() == ref["feat_len"].tolist() == [14, 12]     # 2 * ceil(T / 4), as theirs
    for b, n in enumerate(mine["lengths"].tolist()):
        torch.testing.assert_close(mine["seq_logits"][b, :n],
                                   permuted(ref["sequence_logits"][:n, b], bundle.gloss_vocab), atol=1e-5, rtol=1e-5)


# --------------------------------------------------------------------------------------------
# The command, and the commands that use its output
# --------------------------------------------------------------------------------------------

def test_cli_import_then_recognize_and_export(tmp_path, capsys):
    """`signkd import vac` writes a checkpoint that `recognize` runs on a synthetic clip with VAC's
    preprocessing (256 x 256, centre 224, x/127.5 - 1), giving their model's log-probabilities, and
    that `export` writes as ONNX."""
    from signkd.data.video import read_image
    from signkd.inference import Recognizer
    from signkd.restore import restore

    theirs = their_model()
    ckpt = vac_checkpoint(tmp_path / "resnet18_slr_pretrained_distill25.pt", theirs)
    out = tmp_path / "vac_signkd.pt"
    rc = cli_main(["import", "vac", str(ckpt), "--gloss-dict", str(gloss_dict_npy(tmp_path / "gloss_dict.npy")),
                   *TINY, "--out", str(out)])
    printed = capsys.readouterr().out
    assert rc == 0 and f"wrote {out}" in printed and "permuted to sorted" in printed
    assert "NumPy arrays" in printed and "model.visual.temporal_pad_multiple 0 -> 4" in printed

    restored = restore(out)                               # what `signkd test` builds
    assert restored.checkpoint.imported["source"] == "vac"
    assert restored.checkpoint.preprocessing["resize"] == 256 and restored.checkpoint.preprocessing["crop"] == 224
    assert restored.cfg.model.visual.temporal == ["K5", "P2", "K5", "P2"]

    clip = np.random.default_rng(0).integers(0, 256, size=(20, 40, 36, 3), dtype=np.uint8)
    folder = write_frames(tmp_path / "clip", clip)
    assert cli_main(["recognize", str(out), str(folder), "--json", "--beam", "1", "--no-progress"]) == 0
    line = capsys.readouterr().out.strip().splitlines()
    assert len(line) == 1 and all(g["gloss"] in THEIR_IDS for g in __import__("json").loads(line[0])["glosses"])

    recognizer = Recognizer.from_checkpoint(out, beam=1)
    result = recognizer.recognize(str(folder))
    prep = recognizer.bundle.preprocessing
    frames = np.stack([prep.fit(read_image(p)) for p in sorted(folder.iterdir())])
    video = prep.transform()(frames)                     # (T, 3, 224, 224), x/127.5 - 1
    assert video.shape[-2:] == (224, 224)
    with torch.no_grad():
        ref = theirs(*their_collate(video[None], [len(frames)]))["sequence_logits"][:, 0]
    torch.testing.assert_close(result.log_probs, torch.log_softmax(permuted(ref, recognizer.bundle.gloss_vocab), -1),
                               atol=1e-4, rtol=1e-4)

    pytest.importorskip("onnx")
    onnx_out = tmp_path / "vac.onnx"
    assert cli_main(["export", str(out), "--onnx", str(onnx_out), "--no-check", "--frames", "20"]) == 0
    assert onnx_out.stat().st_size > 1000


def test_a_numpy1_era_vac_file_imports(tmp_path):
    """VAC (2021) saved with NumPy 1, whose pickles name numpy.core.multiarray._reconstruct."""
    from signkd.importers import read_source_checkpoint

    path = vac_checkpoint(tmp_path / "v.pt", their_model())
    rewrite_pickle(path, lambda data: data.replace(b"numpy._core.multiarray\n", b"numpy.core.multiarray\n"))
    assert b"numpy.core.multiarray" in zipfile.ZipFile(path).read("v/data.pkl")
    raw, notes = read_source_checkpoint(path)
    assert raw["epoch"] == 39 and "NumPy arrays" in notes[0]


def rewrite_pickle(path: Path, edit) -> None:
    """Edit the data.pkl inside a torch zip checkpoint (stored entries, so torch still reads it)."""
    src = zipfile.ZipFile(io.BytesIO(path.read_bytes()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as dst:
        for name in src.namelist():
            data = src.read(name)
            dst.writestr(name, edit(data) if name.endswith("/data.pkl") else data)
    path.write_bytes(out.getvalue())


# --------------------------------------------------------------------------------------------
# Hostile and malformed inputs: one line each, nothing executed
# --------------------------------------------------------------------------------------------

class Payload:
    """Unpickling this runs a shell command (what a doctored download would do)."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        import os
        return os.system, (f"touch {self.marker}",)


def test_a_gloss_dict_with_a_reduce_payload_is_refused_and_never_run(tmp_path, capsys):
    marker = tmp_path / "pwned"
    evil = tmp_path / "gloss_dict.npy"
    np.save(evil, np.array({"A": [1, 1], "B": Payload(marker)}, dtype=object), allow_pickle=True)
    ckpt = vac_checkpoint(tmp_path / "vac.pt", their_model())
    err = one_line_error(capsys, ["import", "vac", str(ckpt), "--gloss-dict", str(evil), *TINY,
                                  "--out", str(tmp_path / "o.pt")])
    assert "posix.system" in err or "os.system" in err or "nt.system" in err
    assert not marker.exists() and not (tmp_path / "o.pt").exists()


def test_a_checkpoint_with_a_reduce_payload_is_refused_and_never_run(tmp_path, capsys):
    marker = tmp_path / "pwned"
    state = their_model().state_dict()
    torch.save({"epoch": 1, "model_state_dict": state, "extra": Payload(marker)}, tmp_path / "evil.pt")
    err = one_line_error(capsys, ["import", "vac", str(tmp_path / "evil.pt"), "--gloss-dict",
                                  str(gloss_dict_npy(tmp_path / "g.npy")), *TINY, "--out", str(tmp_path / "o.pt")])
    assert "refuses" in err and "system" in err
    assert not marker.exists()


@pytest.mark.parametrize("edit,expect", [
    (lambda s: s.pop("temporal_model.rnn.weight_hh_l1"), "temporal_model.rnn.weight_hh_l1"),
    (lambda s: s.update({"conv2d.fc.weight": torch.zeros(3, 512)}), "conv2d.fc.weight"),
    (lambda s: s.update({"classifier.weight": torch.zeros(6, 8)}), "classifier.weight"),
    (lambda s: s.update({"conv1d.temporal_conv.4.weight": torch.zeros(HIDDEN, HIDDEN, 3)}), "model.visual.temporal"),
])
def test_missing_extra_or_misshapen_keys_are_one_line(tmp_path, capsys, edit, expect):
    state = their_model().state_dict()
    edit(state)
    torch.save({"epoch": 0, "model_state_dict": state}, tmp_path / "bad.pt")
    err = one_line_error(capsys, ["import", "vac", str(tmp_path / "bad.pt"), "--gloss-dict",
                                  str(gloss_dict_npy(tmp_path / "g.npy")), *TINY, "--out", str(tmp_path / "o.pt")])
    assert expect in err


def test_a_config_of_another_width_names_the_field(tmp_path, capsys):
    """The shipped VAC config is 1024 wide; a 16-wide file against it names model.visual.hidden."""
    ckpt = vac_checkpoint(tmp_path / "vac.pt", their_model())
    err = one_line_error(capsys, ["import", "vac", str(ckpt), "--gloss-dict", str(gloss_dict_npy(tmp_path / "g.npy")),
                                  "--out", str(tmp_path / "o.pt")])
    assert "model.visual.hidden is 1024" in err and "vac_baseline.yaml" in err


@pytest.mark.parametrize("write,expect", [
    (lambda p: gloss_dict_npy(p, {g: i for g, i in list(THEIR_IDS.items())[:4]}), "4 glosses"),
    (lambda p: gloss_dict_npy(p, {**THEIR_IDS, "WIND": 9}), "1..5"),
    (lambda p: np.save(p, np.arange(3)), "0-d object array"),
    (lambda p: np.save(p, np.array([1, 2], dtype=object), allow_pickle=True), "0-d object array"),
    (lambda p: np.save(p, {"A B": [1, 1]}), "whitespace"),
    (lambda p: p.write_text("WIND\nREGEN\nWIND\n"), "listed twice"),
    (lambda p: p.write_bytes(b"\x93NUMPY\x01\x00garbage"), "not a valid .npy"),
])
def test_malformed_gloss_dictionaries_are_one_line(tmp_path, capsys, write, expect):
    path = tmp_path / "gloss_dict.npy"
    write(path)
    ckpt = vac_checkpoint(tmp_path / "vac.pt", their_model())
    err = one_line_error(capsys, ["import", "vac", str(ckpt), "--gloss-dict", str(path), *TINY,
                                  "--out", str(tmp_path / "o.pt")])
    assert expect in err


def test_missing_inputs_and_wrong_parts_are_one_line(tmp_path, capsys):
    g = str(gloss_dict_npy(tmp_path / "g.npy"))
    (tmp_path / "empty.pt").write_bytes(b"")
    assert "0 bytes" in one_line_error(capsys, ["import", "vac", str(tmp_path / "empty.pt"), "--gloss-dict", g,
                                                "--out", str(tmp_path / "o.pt")])
    (tmp_path / "junk.pt").write_bytes(b"PK\x03\x04 not really a zip")
    assert "not a readable PyTorch checkpoint" in one_line_error(
        capsys, ["import", "vac", str(tmp_path / "junk.pt"), "--gloss-dict", g, "--out", str(tmp_path / "o.pt")])
    ckpt = vac_checkpoint(tmp_path / "vac.pt", their_model())
    assert "--gloss-dict FILE is required" in one_line_error(capsys, ["import", "vac", str(ckpt), "--out",
                                                                      str(tmp_path / "o.pt")])
    # a dialogue-teacher-only file asked for its student
    enc = their_model(specs=ORIGINAL_SPECS, classifier="classifier_sign")
    torch.save({"model_state_dict": {**{f"sign_encoder.{k}": v for k, v in enc.state_dict().items()},
                                     "multimodal_fusion.x": torch.zeros(1)}}, tmp_path / "teacher.pt")
    err = one_line_error(capsys, ["import", "original", str(tmp_path / "teacher.pt"), "--gloss-dict",
                                  str(vocab_txt(tmp_path / "vocab.txt")), *TINY, "--out", str(tmp_path / "o.pt")])
    assert "no sign_encoder_2.* keys" in err and "--part teacher-sign-encoder" in err
    err = one_line_error(capsys, ["import", "vac", str(ckpt), "--gloss-dict", g, "--part", "teacher-sign-encoder",
                                  "--out", str(tmp_path / "o.pt")])
    assert "--part" in err


class Evaluates:
    """Unpickling this calls builtins.eval on a string from the file."""

    def __reduce__(self):
        return eval, ("__import__('os').getpid()",)


@pytest.mark.parametrize("value", [Evaluates(), {"A": [1, 1], "B": [2, Evaluates()]}])
def test_a_gloss_dict_naming_any_other_global_is_refused(tmp_path, value):
    from signkd.importers import read_gloss_dict

    path = tmp_path / "gloss_dict.npy"
    np.save(path, np.array(value, dtype=object), allow_pickle=True)
    with pytest.raises(CheckpointError, match="builtins.eval"):
        read_gloss_dict(path)
