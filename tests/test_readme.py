"""The README's quickstart is what CI runs."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def quickstart_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.+?)\n```", section, flags=re.S)


def test_quickstart_has_exactly_two_commands_and_ci_runs_them():
    setup, test = quickstart_commands()
    assert "\n" not in setup and "\n" not in test, "each is one copy-paste line"
    assert setup.endswith("python -m dae.train")
    ci = (ROOT / ".ci" / "run").read_text()
    for step in setup.split(" && ")[:-1]:  # everything but the training itself
        assert step in ci, f"README step {step!r} missing from .ci/run"
    assert test.split(" && ")[-1] in ci
