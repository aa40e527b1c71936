"""dae.denoise on a folder of a user's images: any size, same names, unreadable files skipped."""

import numpy as np
import pytest
from PIL import Image

from dae.denoise import main
from tests.conftest import draw_digits, run_app


def test_denoise_a_folder_with_one_unreadable_file(job, tmp_path, capsys):
    images = tmp_path / "scans"
    images.mkdir()
    digits = draw_digits(2, seed=9)[0]
    Image.fromarray(digits[0]).save(images / "three.png")
    Image.fromarray(digits[1]).resize((60, 45)).save(images / "wide.jpg")
    (images / "broken.png").write_bytes(b"not an image at all")
    (images / "notes.txt").write_text("not an image file: ignored")
    out = tmp_path / "clean"

    run_app(main, f"run={job}", f"input={images}", f"output={out}", f"hydra.run.dir={tmp_path / 'log'}")
    stdout = capsys.readouterr().out
    assert f"denoised 2 image(s) into {out}" in stdout
    assert f"skipped {images / 'broken.png'}: UnidentifiedImageError" in stdout
    assert sorted(p.name for p in out.iterdir()) == ["three.png", "wide.jpg"]
    with Image.open(out / "wide.jpg") as wide, Image.open(out / "three.png") as three:
        assert wide.size == (60, 45) and wide.format == "JPEG" and three.size == (28, 28) and three.mode == "L"
        assert not np.array_equal(np.asarray(three), digits[0])  # it went through the model
    assert (images / "three.png").read_bytes() != (out / "three.png").read_bytes()  # inputs left alone


def test_denoise_refuses_to_write_over_its_inputs(job, tmp_path):
    Image.fromarray(draw_digits(1, seed=3)[0][0]).save(tmp_path / "a.png")
    before = (tmp_path / "a.png").read_bytes()
    with pytest.raises(SystemExit) as exit:
        run_app(main, f"run={job}", f"input={tmp_path}", f"output={tmp_path}", f"hydra.run.dir={tmp_path / 'log'}")
    assert str(exit.value.code).startswith(f"error: output={tmp_path} is where the inputs are (a.png...)")
    assert (tmp_path / "a.png").read_bytes() == before


def test_denoise_names_a_missing_input(job, tmp_path):
    with pytest.raises(SystemExit) as exit:
        run_app(main, f"run={job}", f"input={tmp_path / 'nowhere'}", f"output={tmp_path / 'out'}", f"hydra.run.dir={tmp_path / 'log'}")
    assert f"input={tmp_path / 'nowhere'} does not exist" in str(exit.value.code)
    assert not (tmp_path / "out").exists()
