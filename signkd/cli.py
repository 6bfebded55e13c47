"""The `signkd` command line: one entry point, one module per sub-command (signkd/commands/)."""
from __future__ import annotations

import argparse
import importlib
import sys

# command name -> module under signkd.commands. Add a line here to add a command.
COMMANDS = {
    "config": "config_cmd",
    "corpus": "corpus_cmd",
    "score": "score_cmd",
    "synth": "synth_cmd",
    "train": "train_cmd",
    "test": "test_cmd",
    "prepare": "prepare_cmd",
    "demo": "demo_cmd",
    "recognize": "recognize_cmd",
    "translate": "translate_cmd",
    "export": "export_cmd",
    "back-translate": "backtranslate_cmd",
    "import": "import_cmd",
    "run": "run_cmd",
    "serve": "serve_cmd",
}


def _available():
    for name, module in COMMANDS.items():
        try:
            spec = importlib.util.find_spec(f"signkd.commands.{module}")
        except ModuleNotFoundError:
            spec = None
        if spec is not None:
            yield name, module


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="signkd", description=__doc__)
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module in _available():
        if only is not None and name != only:
            # cheap placeholder so `signkd --help` lists every command without importing them all
            sub.add_parser(name)
            continue
        mod = importlib.import_module(f"signkd.commands.{module}")
        p = sub.add_parser(name, help=mod.HELP, description=mod.HELP)
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    chosen = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(only=chosen if chosen in COMMANDS else None)
    args = parser.parse_args(argv)
    if args.version:
        from signkd import __version__
        print(__version__)
        return 0
    if not getattr(args, "_run", None):
        parser.print_help()
        return 0 if args.command is None else 2
    from signkd.errors import SignkdError
    try:
        return int(args._run(args) or 0)
    except SignkdError as exc:
        # Every user-facing failure is one line naming the file/field and what was expected.
        print(f"signkd {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"signkd {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # `signkd score ... | head -1`: the reader left; say nothing more (Python's own advice:
        # point stdout at devnull so the interpreter's final flush cannot fail again)
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
