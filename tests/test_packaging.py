"""The wheel installs costmodel, costmodel.cli and costmodel.validation, and nothing generic."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    pytest.importorskip("build")
    out = tmp_path_factory.mktemp("dist")
    subprocess.run([sys.executable, "-m", "build", "--wheel", "--no-isolation",
                    "--outdir", str(out), str(ROOT)], check=True, capture_output=True)
    (found,) = out.glob("costmodel-*.whl")
    return found


def test_wheel_has_no_generic_top_level_modules(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/")[0] for n in names if not n.startswith("costmodel-")}
    assert top == {"costmodel"}, top
    assert "costmodel/cli/main.py" in names
    assert "costmodel/validation/__init__.py" in names
    assert any(n.startswith("costmodel/data/hardware/") and n.endswith(".toml") for n in names)


def test_wheel_installs_and_runs_in_a_fresh_venv(wheel, tmp_path):
    env_dir = tmp_path / "venv"
    # system site-packages supply numpy/sympy/click (no network); the wheel itself is new
    venv.create(env_dir, with_pip=True, system_site_packages=True)
    bin_dir = env_dir / ("Scripts" if os.name == "nt" else "bin")
    python = bin_dir / "python"
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--no-deps", str(wheel)],
                   check=True, capture_output=True)
    code = ("import costmodel, costmodel.cli.main, sys; "
            "print(costmodel.__file__); print(costmodel.LSTM(8, 8).evaluate(n=2)['params'])")
    run = subprocess.run([str(python), "-c", code], check=True, capture_output=True, text=True,
                         cwd=tmp_path)
    location, params = run.stdout.split()
    assert str(env_dir) in location  # the wheel's copy, not the checkout
    assert int(params) == 4 * 8 * (8 + 8) + 2 * 4 * 8  # 4 gates * 8 * (in 8 + hidden 8) + biases
    version = subprocess.run([str(bin_dir / "costmodel"), "--version"], check=True,
                             capture_output=True, text=True)
    assert "costmodel" in version.stdout
    # the README's main job, from the installed wheel: it needs the shipped hardware data
    # and the roofline priors; the claims command needs the ledger and the measurements
    compare = subprocess.run([str(bin_dir / "costmodel"), "compare", "--n", "64", "--d", "64",
                              "--format", "json"], capture_output=True, text=True, cwd=tmp_path)
    assert compare.returncode == 0, compare.stderr
    assert len(json.loads(compare.stdout)["rows"]) == 4
    claims = subprocess.run([str(bin_dir / "costmodel"), "claims", "--doc", "002",
                             "--format", "json"], capture_output=True, text=True, cwd=tmp_path)
    assert claims.returncode == 0, claims.stderr
    assert any(row["verdict"] == "measured" for row in json.loads(claims.stdout))
