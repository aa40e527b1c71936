"""The library layer: commands (dae/<name>.py, run as python -m dae.<name>) are doors over library modules;
no library module, callback or other command imports a command."""

import ast

from tests.conftest import ROOT

PACKAGE = ROOT / "dae"


def modules() -> dict[str, ast.Module]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        found[name] = ast.parse(path.read_text())
    return found


def commands(found: dict[str, ast.Module]) -> set[str]:
    """Modules run as ``python -m dae.<name>``: those with an ``if __name__ == "__main__"`` block."""
    return {name for name, tree in found.items() if "if __name__ == '__main__':" in ast.unparse(tree)}


def imported(tree: ast.Module) -> set[str]:
    """Every dae module a module imports, at its top or inside a function."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("dae"):
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names if alias.name.startswith("dae"))
    return names


def test_the_commands_are_the_documented_ones():
    assert commands(modules()) == {
        f"dae.{name}"
        for name in ("train", "classifier", "evaluate", "probe", "report", "baselines", "denoise", "bench", "export", "app", "corruptions")
    }


def test_no_module_or_study_script_imports_a_command():
    found = modules()
    doors = commands(found)
    scripts = {str(path.relative_to(ROOT)): ast.parse(path.read_text()) for path in (ROOT / "experiments").rglob("*.py")}
    offenders = {name: sorted(imported(tree) & doors - {name}) for name, tree in {**found, **scripts}.items()}
    assert {name: found for name, found in offenders.items() if found} == {}


def test_the_library_holds_each_job_in_a_module_named_for_it():
    found = modules()
    expected = {
        "dae.trust": "allowed_class",  # the trust checks for a job folder
        "dae.jobs": "sweep_jobs",  # finding jobs and sweeps
        "dae.loading": "load",  # loading a trained denoiser
        "dae.scoring.classifier": "load_or_train",  # classifier M: train, cache, predict, report
        "dae.scoring.probe": "run_probe",  # the probe's fit and score
        "dae.scoring.denoiser": "judge",  # scoring a denoiser on a set of images
        "dae.errors": "JobError",  # the project's error types
    }
    for module, name in expected.items():
        defined = {n.name for n in found[module].body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
        assert name in defined, f"{name} is not defined in {module}"
