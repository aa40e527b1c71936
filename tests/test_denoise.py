"""dae.denoise on a folder of a user's images: any size, same names, unreadable files skipped."""

import errno
import os

import numpy as np
import pytest
from PIL import Image

from dae.denoise import RECORDS, main
from dae.errors import ConfigError
from dae.loading import TrainedDenoiser
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
    assert sorted(p.name for p in out.iterdir()) == [RECORDS, "three.png", "wide.jpg"]
    with Image.open(out / "wide.jpg") as wide, Image.open(out / "three.png") as three:
        assert wide.size == (60, 45) and wide.format == "JPEG" and three.size == (28, 28) and three.mode == "L"
        assert not np.array_equal(np.asarray(three), digits[0])  # it went through the model
    assert (images / "three.png").read_bytes() != (out / "three.png").read_bytes()  # inputs left alone


def test_denoise_refuses_to_write_over_its_inputs(job, tmp_path):
    Image.fromarray(draw_digits(1, seed=3)[0][0]).save(tmp_path / "a.png")
    before = (tmp_path / "a.png").read_bytes()
    with pytest.raises(SystemExit) as exit:
        run_app(main, f"run={job}", f"input={tmp_path}", f"output={tmp_path}", f"hydra.run.dir={tmp_path / 'log'}", "overwrite=true")
    assert (
        exit.value.code
        == f"error: output={tmp_path}: {tmp_path / 'a.png'} is the input {tmp_path / 'a.png'} (the same file): its result would replace it; choose another output folder."
    )
    assert (tmp_path / "a.png").read_bytes() == before


def test_denoise_names_a_missing_input(job, tmp_path):
    with pytest.raises(SystemExit) as exit:
        run_app(main, f"run={job}", f"input={tmp_path / 'nowhere'}", f"output={tmp_path / 'out'}", f"hydra.run.dir={tmp_path / 'log'}")
    assert f"input={tmp_path / 'nowhere'} does not exist" in str(exit.value.code)
    assert not (tmp_path / "out").exists()


def denoise_cfg(job, images, out, *extra):
    from tests.conftest import compose_app

    return compose_app("denoise", [f"run={job}", f"input={images}", f"output={out}", *extra])


@pytest.mark.parametrize(
    "mode, pixels, suffix",
    [
        ("I;16", lambda d: (d * 2000).astype(np.uint16), ".png"),
        ("I", lambda d: (d * 2000).astype(np.int32), ".tif"),
        ("F", lambda d: (d * 0.05).astype(np.float32), ".tif"),
    ],
)
def test_deep_images_are_scaled_by_their_range_and_written_back_in_their_depth(mode, pixels, suffix, job, tmp_path, monkeypatch):
    """A nearly black 16-bit (or 32-bit, or float) digit reaches the model nearly black, not clipped to
    white, and comes back in its own depth. The model is replaced by the identity, to see the I/O alone."""
    import dae.denoise

    seen = []
    monkeypatch.setattr(TrainedDenoiser, "denoise_batch", lambda self, x: seen.append(x) or x)
    images, out = tmp_path / "scans", tmp_path / "clean"
    images.mkdir()
    digit = draw_digits(1, seed=4)[0][0] / 255.0
    source = pixels(digit)
    Image.fromarray(source).save(images / f"dim{suffix}")
    written, skipped, done = dae.denoise.run(denoise_cfg(job, images, out))
    assert written == [out / f"dim{suffix}"] and not skipped and not done
    full = {"I;16": 65535, "I": 65535, "F": 1.0}[mode]
    assert 0.5 * source.max() / full < float(seen[0].max()) <= source.max() / full + 1e-6  # dark, as the input
    with Image.open(written[0]) as result:
        assert result.mode == mode
        values = np.asarray(result, dtype=np.float64)
    assert 0.5 * source.max() < values.max() < 1.5 * source.max()  # the identity gives the input back, in its own units


def test_nothing_is_written_onto_an_input_through_links_or_dotted_paths(job, tmp_path):
    from dae.denoise import run

    images, out = tmp_path / "scans", tmp_path / "clean"
    images.mkdir()
    out.mkdir()
    Image.fromarray(draw_digits(1, seed=3)[0][0]).save(out / "a.png")
    (images / "a.png").symlink_to(out / "a.png")  # an input that is a link into the output folder
    before = (out / "a.png").read_bytes()
    with pytest.raises(ConfigError, match=rf"{out / 'a.png'} is the input {images / 'a.png'} \(the same file\)"):
        run(denoise_cfg(job, images, out, "overwrite=true"))
    (images / "a.png").unlink()
    os.link(out / "a.png", images / "b.png")  # a hard link: another name, the same file
    os.link(out / "a.png", out / "b.png")
    with pytest.raises(ConfigError, match=r"is the input .*b.png \(the same file\)"):
        run(denoise_cfg(job, images, out, "overwrite=true"))
    with pytest.raises(ConfigError, match=r"is the input"):
        run(denoise_cfg(job, images, images.parent / "scans" / ".." / "scans", "overwrite=true"))  # the input folder, spelled otherwise
    assert (out / "a.png").read_bytes() == before


def test_an_existing_result_is_kept_if_this_command_wrote_it_else_replaced_only_with_overwrite(job, tmp_path):
    """The same command again keeps its own results; other settings, a changed input or a file of the user's are refused."""
    from dae.denoise import run

    images, out = tmp_path / "scans", tmp_path / "clean"
    images.mkdir()
    Image.fromarray(draw_digits(1, seed=3)[0][0]).save(images / "a.png")
    run(denoise_cfg(job, images, out))
    first = (out / "a.png").stat().st_mtime_ns
    assert run(denoise_cfg(job, images, out)) == ([], [], [out / "a.png"])  # already denoised: kept
    refused = r"already holds a.png, not written from this input by this command with the same run, ckpt and invert; pass overwrite=true"
    with pytest.raises(ConfigError, match=refused):
        run(denoise_cfg(job, images, out, "invert=true"))
    os.utime(images / "a.png", ns=(first + 10**9, first + 10**9))  # the input changed since
    with pytest.raises(ConfigError, match=refused):
        run(denoise_cfg(job, images, out))
    assert (out / "a.png").stat().st_mtime_ns == first
    assert run(denoise_cfg(job, images, out, "overwrite=true"))[0] == [out / "a.png"]
    assert run(denoise_cfg(job, images, out))[2] == [out / "a.png"]  # the redone result is listed as this command's
    Image.new("L", (28, 28)).save(out / "a.png")  # the user's own file now
    with pytest.raises(ConfigError, match=refused):
        run(denoise_cfg(job, images, out))


def test_animated_gifs_and_multi_page_tiffs_are_skipped_and_said_and_a_still_gif_is_denoised(job, tmp_path, capsys):
    images, out = tmp_path / "scans", tmp_path / "clean"
    images.mkdir()
    frames = [Image.fromarray(d) for d in draw_digits(3, seed=5)[0]]
    frames[0].save(images / "still.gif")
    frames[0].save(images / "moving.gif", save_all=True, append_images=frames[1:], duration=[100, 200, 300], loop=0)
    frames[0].save(images / "pages.tif", save_all=True, append_images=frames[1:2])
    run_app(main, f"run={job}", f"input={images}", f"output={out}", f"hydra.run.dir={tmp_path / 'log'}")
    stdout = capsys.readouterr().out
    assert f"denoised 1 image(s) into {out}" in stdout
    assert f"skipped {images / 'moving.gif'}: animated GIF (3 frames): not supported; save the frame you want as PNG\n" in stdout
    assert f"skipped {images / 'pages.tif'}: multi-page TIFF (2 pages): not supported; save the page you want as PNG\n" in stdout
    assert sorted(p.name for p in out.iterdir()) == [RECORDS, "still.gif"]
    with Image.open(out / "still.gif") as still:
        assert still.format == "GIF" and still.size == (28, 28) and getattr(still, "n_frames", 1) == 1
        assert not np.array_equal(np.asarray(still.convert("L")), np.asarray(frames[0]))  # it went through the model
    with pytest.raises(SystemExit) as exit:  # the animated GIF alone: nothing denoised, exit status 1
        run_app(main, f"run={job}", f"input={images / 'moving.gif'}", f"output={tmp_path / 'one'}", f"hydra.run.dir={tmp_path / 'log1'}")
    assert exit.value.code == 1
    stdout = capsys.readouterr().out
    assert "denoised 0 image(s)" in stdout and f"skipped {images / 'moving.gif'}: animated GIF (3 frames)" in stdout
    assert not (tmp_path / "one" / "moving.gif").exists()


def test_a_full_disk_stops_with_one_line_and_the_same_command_finishes_the_rest(job, tmp_path, monkeypatch, capsys):
    import dae.denoise

    images, out = tmp_path / "scans", tmp_path / "clean"
    images.mkdir()
    names = ["a.png", "b.png", "c.png", "d.png", "e.png"]
    for name, digit in zip(names, draw_digits(5, seed=6)[0]):
        Image.fromarray(digit).save(images / name)
    real, calls = dae.denoise.write_image, []

    def fills_up(pixels, path, *args):
        calls.append(path.name)
        if len(calls) == 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(pixels, path, *args)

    monkeypatch.setattr(dae.denoise, "write_image", fills_up)
    args = (f"run={job}", f"input={images}", f"output={out}")
    with pytest.raises(SystemExit) as exit:
        run_app(main, *args, f"hydra.run.dir={tmp_path / 'log1'}")
    assert exit.value.code == (
        f"error: output={out}: wrote 2 of 5 image(s) (a.png, b.png), then could not write c.png (OSError: [Errno 28] No space left "
        "on device): it and the 2 after it were not written. Free space (or make the folder writable) and run the same command "
        "again: it keeps the images already denoised and writes the rest, without overwrite=true."
    )
    assert sorted(p.name for p in out.iterdir()) == [RECORDS, "a.png", "b.png"]  # no partial file
    for name in ("a.png", "b.png"):
        with Image.open(out / name) as result:
            result.load()
            assert result.size == (28, 28)
    kept = {name: (out / name).stat().st_mtime_ns for name in ("a.png", "b.png")}

    monkeypatch.setattr(dae.denoise, "write_image", real)
    capsys.readouterr()
    run_app(main, *args, f"hydra.run.dir={tmp_path / 'log2'}")
    stdout = capsys.readouterr().out
    assert f"denoised 3 image(s) into {out}\n" in stdout
    assert "already denoised 2 image(s) there by an earlier run of this command: kept (overwrite=true redoes them)" in stdout
    assert sorted(p.name for p in out.iterdir()) == [RECORDS, *names]
    assert {name: (out / name).stat().st_mtime_ns for name in ("a.png", "b.png")} == kept


def test_a_result_whose_record_cannot_be_written_is_removed(job, tmp_path, monkeypatch):
    """A result on disk but not in the list would be refused by the next run: it goes, and the run stops there."""
    import dae.denoise

    images, out = tmp_path / "scans", tmp_path / "clean"
    images.mkdir()
    for name, digit in zip(["a.png", "b.png"], draw_digits(2, seed=7)[0]):
        Image.fromarray(digit).save(images / name)

    def full(*args):
        raise OSError(errno.EDQUOT, "Disk quota exceeded")

    monkeypatch.setattr(dae.denoise, "append_record", full)
    with pytest.raises(
        dae.denoise.ResultWriteError, match=r"wrote 0 of 2 image\(s\), then could not write a.png \(OSError: \[Errno 122\] Disk quota"
    ):
        dae.denoise.run(denoise_cfg(job, images, out))
    assert list(out.iterdir()) == []
    monkeypatch.undo()
    assert dae.denoise.run(denoise_cfg(job, images, out))[0] == [out / "a.png", out / "b.png"]


def test_folders_broken_links_and_images_over_the_pixel_limit_are_skipped_and_said(job, tmp_path, monkeypatch, capsys):
    images, out = tmp_path / "scans", tmp_path / "clean"
    images.mkdir()
    Image.fromarray(draw_digits(1, seed=3)[0][0][:20, :20]).save(images / "small.png")  # 400 pixels
    Image.fromarray(draw_digits(1, seed=3)[0][0]).save(images / "large.png")  # 784 pixels
    (images / "album.png").mkdir()
    (images / "gone.png").symlink_to(tmp_path / "nowhere.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 500)  # a decompression bomb, in small
    run_app(main, f"run={job}", f"input={images}", f"output={out}", f"hydra.run.dir={tmp_path / 'log'}")
    stdout = capsys.readouterr().out
    assert f"denoised 1 image(s) into {out}" in stdout
    assert f"skipped {images / 'album.png'}: a folder, not an image" in stdout
    assert f"skipped {images / 'gone.png'}: a broken link" in stdout
    assert (
        f"skipped {images / 'large.png'}: DecompressionBombWarning: larger than Pillow's decompression-bomb limit of 500 pixels" in stdout
    )
    assert sorted(p.name for p in out.iterdir()) == [RECORDS, "small.png"]


def test_an_output_that_is_a_file_and_float_images_with_nan_are_handled(job, tmp_path, monkeypatch):
    import dae.denoise

    images, out = tmp_path / "scans", tmp_path / "clean.png"
    images.mkdir()
    out.write_text("a file")
    pixels = (draw_digits(1, seed=4)[0][0] / 255.0).astype(np.float32)
    pixels[0, 0], pixels[0, 1] = np.nan, np.inf
    Image.fromarray(pixels).save(images / "holes.tif")
    with pytest.raises(ConfigError, match=rf"output={out} is a file; expected a folder"):
        dae.denoise.run(denoise_cfg(job, images, out))
    monkeypatch.setattr(TrainedDenoiser, "denoise_batch", lambda self, x: x)  # the identity: the I/O alone
    (written,), _, _ = dae.denoise.run(denoise_cfg(job, images, tmp_path / "results"))
    with Image.open(written) as result:
        values = np.asarray(result)
    assert result.mode == "F" and np.isfinite(values).all() and values.max() <= 1.0 + 1e-6


def test_a_pretrained_folder_or_an_onnx_file_denoises_as_the_job_does_in_float32(job, tmp_path):
    """dae.denoise loads through dae.load: an export works as well as the job (which runs at its own precision)."""
    import dae.denoise
    from dae.export import run as export
    from dae.jobs import load_job
    from tests.conftest import compose_app

    data_dir = load_job(job).cfg.paths.data_dir
    images = tmp_path / "scans"
    images.mkdir()
    Image.fromarray(draw_digits(1, seed=3)[0][0]).resize((56, 56)).save(images / "a.png")
    results = {}
    for fmt, name in (("pretrained", "pretrained"), ("onnx", "model.onnx")):
        export(
            compose_app("export", [f"run={job}", f"output={tmp_path / name}", f"format={fmt}", "n_check=20", f"paths.data_dir={data_dir}"])
        )
        (written,), skipped, _ = dae.denoise.run(denoise_cfg(tmp_path / name, images, tmp_path / f"out-{fmt}"))
        results[fmt] = np.asarray(Image.open(written), dtype=np.int16)
    assert not skipped and results["pretrained"].shape == (56, 56)
    assert np.abs(results["pretrained"] - results["onnx"]).max() <= 1  # float32 both: the same 8-bit result
    with pytest.raises(ConfigError, match=r"is not a trained denoiser: expected a job folder"):
        dae.denoise.run(denoise_cfg(images, images, tmp_path / "out-none"))
