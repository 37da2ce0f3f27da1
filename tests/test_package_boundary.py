"""The library never imports the toy-world experiment (open_clip / open_clip_train split)."""

from __future__ import annotations

import subprocess
import sys

from georeason import cli


def test_no_georeason_module_imports_toyworld():
    # in a fresh interpreter, so that other tests' imports do not leak into sys.modules
    code = (
        "import importlib, pkgutil, sys, georeason\n"
        "names = [m.name for m in pkgutil.walk_packages(georeason.__path__, 'georeason.')]\n"
        "for n in names:\n"
        "    importlib.import_module(n)\n"
        "assert len(names) > 30, names\n"
        "bad = sorted(m for m in sys.modules if m.startswith('georeason_toyworld'))\n"
        "assert not bad, bad\n"
        "print(len(names))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert int(out.stdout.strip()) > 30


def test_old_toyworld_subcommand_names_the_new_command(capsys):
    assert cli.main(["toyworld", "run", "--seed", "0"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "georeason-toyworld" in err


def test_cli_start_up_imports_no_numerical_stack():
    # `georeason --help` and argument errors stay fast: parsers import only light modules
    # (numpy + scipy cost ~0.5 s; torch far more)
    code = (
        "import sys, georeason.cli\n"
        "parser = georeason.cli.build_parser()\n"
        "heavy = sorted(m for m in ('numpy', 'scipy', 'torch', 'shapely') if m in sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
