"""README.md: its quickstart is two one-line commands, and CI runs them, the slow tests and the linters."""

import re

from tests.conftest import ROOT


def bash_blocks(text: str) -> list[str]:
    return re.findall(r"```bash\n(.+?)\n```", text, flags=re.S)


def test_quickstart_has_exactly_two_commands_and_ci_runs_them():
    readme = (ROOT / "README.md").read_text()
    setup, test = bash_blocks(readme.split("## Quickstart", 1)[1].split("\n## ", 1)[0])
    assert "\n" not in setup and "\n" not in test, "each is one copy-paste line"
    assert setup.endswith("python -m dae.train")
    ci = (ROOT / ".ci" / "run").read_text()
    for step in setup.split(" && ")[:-1]:  # everything but the training itself
        assert step in ci, f"README step {step!r} missing from .ci/run"
    assert test.split(" && ")[-1] == "python -m pytest" and "\npython -m pytest\n" in ci


def test_ci_runs_the_slow_tests_and_the_linters_the_readme_names():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    commands = [line.split("#")[0].strip() for block in bash_blocks(readme) for line in block.splitlines()]
    assert "python -m pytest -m slow" in commands and "\npython -m pytest -m slow\n" in ci
    assert "ruff check . && ruff format --check ." in ci
