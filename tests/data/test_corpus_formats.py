"""The registry of corpus formats: one reader class per format, and every list of formats read from it."""
from __future__ import annotations

from pathlib import Path

import pytest

from conftest import TINY_CONFIG
from signkd.cli import build_parser
from signkd.cli import main as cli_main
from signkd.config import load_config
from signkd.data.corpora import FORMATS, corpus_format, read_corpus
from signkd.data.corpus_reader import READERS, CorpusReader, Sample
from signkd.errors import DataError
from signkd.metrics import CLEANUP_RULES, cleanup_for_format

README = Path(__file__).resolve().parents[2] / "README.md"


def test_each_format_is_one_reader_with_its_defaults():
    assert FORMATS == tuple(READERS) and FORMATS[:2] == ("phoenix2014", "phoenix2014t")
    for fmt in FORMATS:
        reader = corpus_format(fmt)
        assert reader.name == fmt and reader.__doc__
        assert reader.main_file is not CorpusReader.main_file and reader.read is not CorpusReader.read
        assert reader.cleanup in CLEANUP_RULES and cleanup_for_format("auto", fmt) == reader.cleanup
        assert reader.default_frames and reader.frame_glob and all(reader.layout)
    assert cleanup_for_format("auto", "someone-elses") == "none" and cleanup_for_format("phoenix2014", "csl-daily") \
        == "phoenix2014"
    with pytest.raises(DataError, match="corpus format 'phoenix' is unknown; expected one of phoenix2014, "):
        corpus_format("phoenix")


@pytest.mark.parametrize("command", ["corpus", "prepare"])
def test_the_cli_offers_every_format(command):
    sub = build_parser(only=command)._subparsers._group_actions[0].choices[command]
    (action,) = [a for a in sub._actions if a.dest == "format"]
    assert tuple(action.choices) == FORMATS


def test_the_config_takes_every_format_and_reading_rejects_others(tmp_path):
    for fmt in FORMATS:
        assert load_config(None, [f"data.format={fmt}"]).data.format == fmt
    with pytest.raises(DataError, match="corpus format 'phoenix-2014' is unknown"):
        read_corpus(load_config(None, ["data.format=phoenix-2014"]).data.format, tmp_path, "train")


@pytest.mark.parametrize("argv", [["config", "show", "CONFIG"], ["train", "CONFIG"],
                                  ["test", "CONFIG", "--load-weights", "absent.pt"], ["prepare", "CONFIG"],
                                  ["run", "PIPELINE", "--dry-run"]])
def test_a_command_that_loads_a_config_refuses_an_unknown_format_before_any_work(argv, tmp_path, capsys):
    """The config keeps data.format a plain string (the registry sits above it); every command that
    loads a config checks it at once, with the registry's list, not when the corpus is first read."""
    expected = f"data.format: 'phoenix-2014' is not a corpus format; expected one of {', '.join(FORMATS)}"
    pipeline = tmp_path / "p.yaml"
    pipeline.write_text(f"stages:\n  a:\n    config: {TINY_CONFIG}\n", encoding="utf-8")
    if argv[0] == "run":
        argv, expected = [*argv, "--out", str(tmp_path / "out")], f"stage a: {TINY_CONFIG}: {expected}"
    paths = {"CONFIG": str(TINY_CONFIG), "PIPELINE": str(pipeline)}
    code = cli_main([paths.get(a, a) for a in argv] + ["--set", "data.format=phoenix-2014",
                                                        "--set", f"work_dir={tmp_path / 'work'}"])
    err = capsys.readouterr().err
    assert code == 2 and err == f"signkd {argv[0]}: error: {expected}\n"
    assert not (tmp_path / "work").exists() and not (tmp_path / "out").exists()


def test_readme_table_shows_each_reader_layout():
    lines = README.read_text(encoding="utf-8").splitlines()
    start = lines.index("| `data.format` | annotations | frames |") + 2
    table = lines[start: lines.index("", start)]
    expected = [f"| `{fmt}` | {corpus_format(fmt).layout[0]} | {corpus_format(fmt).layout[1]} |" for fmt in FORMATS]
    assert table == expected, "README.md's corpus table, from the registry:\n" + "\n".join(expected)


def test_a_new_reader_class_is_a_new_format(tmp_path):
    """What adding a format takes: the class (here one `name|GLOSSES` line per sample)."""
    class Lines(CorpusReader):
        """<split>.lines: `name|GLOSSES`."""
        name = "test-lines"
        fields = ("name", "glosses")

        def main_file(self) -> Path:
            return self.find([f"{self.split_name}.lines"], [""], "lines file")

        def read(self) -> list[Sample]:
            path = self.main_file()
            for number, (name, glosses) in self.rows(path, self.fields):
                self.add(path, number, Sample(name, self.split_name, "", glosses.split(), "", "", ""))
            return self.samples

    try:
        (tmp_path / "dev.lines").write_text("a|X Y\nb|Z\n", encoding="utf-8")
        assert [s.glosses for s in read_corpus("test-lines", "", "dev", annotations=tmp_path)] == [["X", "Y"], ["Z"]]
        with pytest.raises(TypeError, match="corpus format 'test-lines' is defined twice"):
            type("Again", (CorpusReader,), {"name": "test-lines"})
    finally:
        READERS.pop("test-lines")
