"""The project installs like a library: ``pip install .`` (not editable), then ``python -m dae.train`` from
any directory, with the configs read from the installed package and nothing written inside it."""

import os
import shutil
import subprocess
import sys

import pytest

from tests.conftest import ROOT, fixture_overrides

LEFT_OUT = {"outputs", "data", "build", "experiments", "tests"}  # top-level folders the package does not need


def test_pyproject_lists_every_package_under_dae():
    # setuptools installs only the packages that pyproject.toml names: one left out installs without its modules
    tomllib = pytest.importorskip("tomllib")  # Python 3.11 and newer
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(init.parent.relative_to(ROOT).parts) for init in (ROOT / "dae").rglob("__init__.py")}
    assert found - listed == set(), "add these to [tool.setuptools] packages in pyproject.toml"


@pytest.mark.slow  # builds and installs the package, then trains in a subprocess
def test_a_non_editable_install_trains_from_another_directory(fixture_data, tmp_path):
    target, elsewhere, source = tmp_path / "site", tmp_path / "elsewhere", tmp_path / "source"
    elsewhere.mkdir()
    # Built from a copy: setuptools leaves build/ and *.egg-info/ beside the sources it builds.
    shutil.copytree(
        ROOT,
        source,
        ignore=lambda folder, names: (
            [n for n in names if n.startswith(".") or n in LEFT_OUT or n.endswith(".egg-info")] if folder == str(ROOT) else []
        ),
    )
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--target", str(target), str(source)]
    done = subprocess.run(pip, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    installed = {p: p.stat().st_mtime_ns for p in (target / "dae").rglob("*") if p.is_file() and "__pycache__" not in p.parts}
    assert target / "dae" / "conf" / "train.yaml" in installed  # the configs ship inside the package
    modules = {p.relative_to(ROOT) for p in (ROOT / "dae").rglob("*.py") if "__pycache__" not in p.parts}
    assert {m for m in modules if target / m not in installed} == set()  # every module of the checkout ships

    env = {**os.environ, "PYTHONPATH": str(target), "HYDRA_FULL_ERROR": "0"}
    env.pop("DAE_DATA_DIR", None)
    where = subprocess.run(
        [sys.executable, "-c", "import dae; print(dae.__file__)"], capture_output=True, text=True, env=env, cwd=elsewhere
    )
    assert where.stdout.strip() == str(target / "dae" / "__init__.py")  # the installed copy, not the checkout
    args = [sys.executable, "-m", "dae.train", "debug=fast", *fixture_overrides(*fixture_data)]
    done = subprocess.run(args, capture_output=True, text=True, timeout=300, env=env, cwd=elsewhere)
    assert done.returncode == 0, done.stderr[-3000:]
    (run,) = (elsewhere / "outputs" / "runs").iterdir()  # outputs under the working directory
    assert (run / "metrics.json").is_file() and (run / ".hydra" / "config.yaml").is_file()
    after = {p: p.stat().st_mtime_ns for p in (target / "dae").rglob("*") if p.is_file() and "__pycache__" not in p.parts}
    assert after == installed  # nothing written inside the installed package
