"""Error paths never raise: an error whose message is empty (``EOFError()``, ``OSError()``) is quoted by its type's
name, through dae.errors.first_line and dae.errors.summary, never by indexing its message."""

import ast
from pathlib import Path

import pytest
import torch

from dae.cli import one_line_errors
from dae.errors import ConfigError, JobError, first_line, summary
from dae.sweep import record_failure

ROOT = Path(__file__).resolve().parents[1]
EMPTY = [EOFError(), OSError(), ValueError(""), RuntimeError("\n  \n")]


def quoted_raw(handler: ast.ExceptHandler) -> list[str]:
    """How an ``except ... as e`` block quotes ``e`` other than through the helpers: ``{e}``, ``str(e)``, ``e.args``."""
    found = []
    tested = {
        id(c)
        for node in ast.walk(ast.Module(body=handler.body, type_ignores=[]))
        if isinstance(node, ast.Compare)
        for c in node.comparators
    }
    for node in ast.walk(ast.Module(body=handler.body, type_ignores=[])):
        if id(node) in tested:  # `"..." in str(e)`: a test of the message, not a quote
            continue
        if isinstance(node, ast.FormattedValue) and isinstance(node.value, ast.Name) and node.value.id == handler.name:
            found.append(f"{{{handler.name}}}")
        elif (
            isinstance(node, ast.Call)
            and getattr(node.func, "id", None) == "str"
            and any(getattr(a, "id", None) == handler.name for a in node.args)
        ):
            found.append(f"str({handler.name})")
        elif isinstance(node, ast.Attribute) and getattr(node.value, "id", None) == handler.name and node.attr == "args":
            found.append(f"{handler.name}.args")
    return found


def test_no_error_handler_quotes_an_error_but_through_first_line_or_summary():
    offenders = []
    for path in sorted((ROOT / "dae").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ExceptHandler) and node.name:
                offenders += [f"{path.relative_to(ROOT)}:{node.lineno}: {q}" for q in quoted_raw(node)]
    assert offenders == []


@pytest.mark.parametrize("error", EMPTY, ids=lambda e: type(e).__name__)
def test_an_empty_message_is_quoted_by_its_type(error):
    assert first_line(error) == type(error).__name__
    assert summary(error) == type(error).__name__
    assert summary(OSError("disk full\nmore")) == "OSError: disk full"


def test_the_commands_one_line_for_an_empty_project_error():
    with pytest.raises(SystemExit) as stopped, one_line_errors():
        raise ConfigError("")
    assert stopped.value.code == "error: ConfigError"


def test_a_sweep_jobs_error_file_for_an_empty_error(tmp_path):
    try:
        raise RuntimeError()
    except RuntimeError as e:
        path = record_failure(tmp_path, e)
    assert path.read_text().splitlines()[0] == "RuntimeError"


def test_a_checkpoint_that_fails_with_an_empty_error(job, monkeypatch):
    from dae.jobs import load_job
    from dae.loading import load_model

    def fail(*args, **kwargs):
        raise EOFError()

    monkeypatch.setattr(torch, "load", fail)
    with pytest.raises(JobError, match=r"could not be read as a Lightning checkpoint \(EOFError\); expected"):
        load_model(load_job(job))


def test_an_empty_checkpoint_in_the_tools(job, tmp_path):
    from dae.jobs import load_job
    from dae.loading import load_model

    empty = tmp_path / "empty.ckpt"
    empty.touch()
    with pytest.raises(JobError, match=f"ckpt={empty} is empty \\(0 bytes\\); expected a .ckpt written by"):
        load_model(load_job(job), empty)


def test_an_image_that_fails_with_an_empty_error_is_skipped_and_named(tmp_path, monkeypatch):
    import dae.denoise

    def fail(path):
        raise OSError()

    monkeypatch.setattr(dae.denoise, "read_image", fail)
    written, skipped = dae.denoise.denoise_files(None, [tmp_path / "a.png"], [tmp_path / "out.png"], invert=False)
    assert written == [] and skipped == [(tmp_path / "a.png", "OSError")]


def test_an_upload_that_fails_with_an_empty_error(tmp_path, monkeypatch):
    from PIL import Image

    from dae import page

    upload = tmp_path / "digit.png"
    Image.new("L", (28, 28)).save(upload)

    def fail(*args, **kwargs):
        raise OSError()

    monkeypatch.setattr(page.Image, "open", fail)
    with pytest.raises(ConfigError, match=r"digit.png cannot be read as an image \(OSError\); upload a PNG"):
        page.from_upload(upload, 32, invert=False)


def test_a_data_file_that_fails_with_an_empty_error(tmp_path, monkeypatch):
    from dae.data import source

    def fail(path):
        raise OSError()

    monkeypatch.setattr(source.idx, "read_bytes", fail)
    with pytest.raises(source.DataError, match=r"cannot be read \(OSError\); expected train-images-idx3-ubyte"):
        source._read(tmp_path / "x", "train-images-idx3-ubyte")
