"""dae.app and its page (dae.page): the digit from each source, the noise, the denoiser applied as
``dae.load`` applies it, M's verdict, the messages for bad input, and the page itself in a real
headless Chromium."""

import base64
import io
import os
import shutil
import socket
import sys
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from omegaconf import OmegaConf
from PIL import Image

import dae
from dae.app import app_argv, main
from dae.errors import ConfigError
from dae.page import (
    MAX_SIDE,
    build_page,
    compare,
    corrupt,
    from_drawing,
    from_upload,
    launch,
    load_parts,
    noises,
    respond,
    shown,
)
from dae.pretrained import PretrainedDenoiser
from dae.scoring.classifier import predict
from tests.conftest import compose_app, draw_digits, fixture_overrides, run_app
from tests.helpers import free_port

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")


def app_paths(data_dir: Path):
    """The app's ``paths`` on the fixture data (its classifier M is cached there by the ``job`` fixture)."""
    return compose_app("app", [f"paths.data_dir={data_dir}"]).paths


@pytest.fixture(scope="module")
def parts(job, fixture_data):
    return load_parts([str(job)], app_paths(fixture_data[0]))


def padded(digit: np.ndarray, size: int = 32) -> torch.Tensor:
    pad = (size - digit.shape[-1]) // 2
    return F.pad(torch.from_numpy(digit)[None, None], (pad,) * 4)


def test_the_page_denoises_as_dae_load_does_and_m_judges_each_image(parts, job):
    noise = noises()["gaussian"]
    status, results = compare(parts, noise, 0.5, 0, "test digit", 3, None, None, False)
    label = int(parts.labels[3])
    assert status == f"test digit 3 (label {label}); noise gaussian (sigma 0.5), seed 0"
    clean = parts.digits[3].numpy()
    noisy = corrupt(clean, noise, 0.5, 0, parts.image_size)
    denoised = dae.load(job)(noisy)
    assert [r[0].shape for r in results] == [(224, 224)] * 3
    for (image, probabilities), expected in zip(results, (clean, noisy, denoised)):
        assert np.array_equal(image, shown(expected))
        assert np.array_equal(image[::8, ::8], np.round(expected * 255).astype(np.uint8))
        assert sum(probabilities.values()) == pytest.approx(1.0, abs=1e-5)
        assert max(probabilities, key=probabilities.get) == str(predict(parts.classifier, padded(expected))[0])
    assert not np.allclose(noisy, clean, atol=0.05) and not np.allclose(denoised, noisy, atol=0.05)


def test_the_noise_is_seeded_and_falls_on_the_padded_digit(parts):
    clean = parts.digits[0].numpy()
    periodic = noises()["periodic"]
    first, again = (corrupt(clean, periodic, 0.4, 0, 32) for _ in range(2))
    assert np.array_equal(first, again)
    assert not np.array_equal(first, corrupt(clean, periodic, 0.4, 1, 32))
    g = torch.Generator().manual_seed(0)
    expected = periodic(padded(clean), g)[0, 0, 2:30, 2:30].numpy()  # drawn at 32 x 32, as in training
    assert np.array_equal(first, expected)
    with pytest.raises(ConfigError, match=r"noise.amount=1.5 is out of range: allowed \[0.0, 1.0\]"):
        corrupt(clean, noises()["salt_pepper"], 1.5, 0, 32)


def test_every_noise_starts_at_its_configured_level():
    from dae.page import CONF_NOISES

    for name, noise in noises().items():
        configured = OmegaConf.load(CONF_NOISES / f"{name}.yaml")[noise.level_name]
        assert getattr(noise, noise.level_name) == configured, name
    assert {"gaussian", "salt_pepper", "speckle", "periodic"} <= set(noises())


def messages(parts, *inputs) -> str:
    out = respond(parts, noises()["gaussian"], 0.5, 0, *inputs)
    assert out[1:] == [None] * 6  # no stale images next to a message
    return out[0]


def test_an_empty_canvas_says_so(parts):
    blank = {"background": None, "layers": [], "composite": np.full((280, 280), 255, np.uint8)}
    for drawing in (None, {"composite": None}, blank):
        assert messages(parts, "drawing", 0, drawing, None, False) == (
            "**Cannot denoise:** the drawing is empty: pick the brush (left of the canvas) and draw a digit first."
        )


def test_a_drawing_is_framed_like_mnist(parts):
    canvas = np.full((280, 280), 255, np.uint8)
    canvas[10:130, 20:50] = 0  # a bar in the top left corner, 120 x 30 pixels
    digit = from_drawing({"composite": canvas}, 28)
    rows, cols = np.nonzero(digit > 0.5)
    assert rows.max() - rows.min() + 1 == 20 and cols.max() - cols.min() + 1 == 5  # scaled into the 20 x 20 box
    assert abs(rows.mean() - 13.5) <= 0.5 and abs(cols.mean() - 13.5) <= 0.5  # centred by its mass
    status, results = compare(parts, noises()["gaussian"], 0.0, 0, "drawing", None, {"composite": canvas}, None, False)
    assert status.startswith("your drawing;") and np.array_equal(results[0][0][::8, ::8], np.round(digit * 255).astype(np.uint8))


def test_an_unreadable_upload_is_named(parts, tmp_path):
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not an image at all")
    assert messages(parts, "upload", 0, None, str(broken), False) == (
        "**Cannot denoise:** broken.png cannot be read as an image (UnidentifiedImageError: cannot identify image file 'broken.png'); "
        "upload a PNG, JPEG, BMP or TIFF file."
    )
    assert messages(parts, "upload", 0, None, None, False) == (
        "**Cannot denoise:** no image uploaded: choose an image file (PNG, JPEG, BMP, TIFF, ...) in the upload box first."
    )


def test_a_huge_upload_is_refused_with_the_limit(parts, tmp_path):
    wide = tmp_path / "wide.png"
    Image.new("L", (MAX_SIDE + 1, 8)).save(wide)
    assert messages(parts, "upload", 0, None, str(wide), False) == (
        "**Cannot denoise:** wide.png is 4097 x 8 pixels, over the limit of 4096 x 4096 pixels and 16 megapixels; "
        "scale it down (a digit needs 28 x 28)."
    )


def test_an_upload_dark_on_light_is_inverted(tmp_path):
    digit = draw_digits(1, seed=5)[0][0]
    Image.fromarray(255 - digit).save(tmp_path / "paper.png")
    assert np.allclose(from_upload(tmp_path / "paper.png", 28, invert=True), digit / 255.0, atol=1e-6)
    assert np.allclose(from_upload(tmp_path / "paper.png", 28, invert=False), 1 - digit / 255.0, atol=1e-6)


def test_a_test_digit_out_of_range_is_named(parts):
    n = len(parts.digits)
    assert messages(parts, "test digit", n, None, None, False) == (
        f"**Cannot denoise:** test digit index {n} does not exist; type a whole number from 0 to {n - 1}."
    )


def test_two_models_a_pretrained_one_beside_the_job(job, fixture_data, tmp_path):
    """A pretrained folder carries no data config: the first model's data and M come from conf/train.yaml
    (here pointed at the fixture); each model gets its own column."""
    trained = dae.load(job)
    net_args = {k: v for k, v in OmegaConf.to_container(trained.job.cfg.model.net, resolve=True).items() if k != "_target_"}
    pretrained = PretrainedDenoiser("conv_ae", net_args)
    pretrained.net.load_state_dict(trained.module.net.state_dict())
    pretrained.save_pretrained(tmp_path / "pretrained")
    data_dir, md5s = fixture_data
    two = load_parts([str(tmp_path / "pretrained"), str(job)], app_paths(data_dir), fixture_overrides(data_dir, md5s))
    assert two.names == ["pretrained", job.name] and two.image_size == 32
    status, results = compare(two, noises()["speckle"], 0.5, 0, "test digit", 0, None, None, False)
    noisy = corrupt(two.digits[0].numpy(), noises()["speckle"], 0.5, 0, 32)
    assert len(results) == 4
    assert np.array_equal(results[2][0], shown(dae.load(tmp_path / "pretrained")(noisy)))
    assert np.array_equal(results[3][0], shown(trained(noisy)))
    ids = {block.elem_id for block in build_page(two).blocks.values()}
    assert {"clean", "noisy", "denoised-0", "denoised-1", "pred-denoised-1"} <= ids and "denoised-2" not in ids


def test_run_given_twice_or_as_a_list_is_one_list_and_paths_keep_their_equals_sign(monkeypatch):
    monkeypatch.setenv("HYDRA_FULL_ERROR", "0")  # --verbose below sets it to 1: put back as it was after the test
    assert app_argv(["app", "run=a", "port=1", "run=b=c"]) == ["app", "run=[a,'b=c']", "port=1"]
    assert app_argv(["app", "run=[x, y=1]"]) == ["app", "run=[x,'y=1']"]
    assert app_argv(["app", "run=loss=l1", "--verbose"]) == ["app", "run='loss=l1'"]
    assert list(compose_app("app", app_argv(["app", "run=a", "run=b=c"])[1:]).run) == ["a", "b=c"]


def test_a_missing_gradio_names_the_extra(job, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "gradio", None)  # import gradio fails, as where it is not installed
    with pytest.raises(SystemExit) as exit:
        run_app(main, f"run={job}", f"hydra.run.dir={tmp_path / 'log'}")
    assert exit.value.code == 'error: the page needs gradio, which is not installed: pip install -e ".[app]" (the app extra).'
    assert not (tmp_path / "log").exists()


def test_a_run_that_is_not_a_model_is_one_line(tmp_path):
    with pytest.raises(SystemExit) as exit:
        run_app(main, f"run={tmp_path / 'nowhere'}", f"hydra.run.dir={tmp_path / 'log'}")
    assert str(exit.value.code).startswith(f"error: {tmp_path / 'nowhere'} does not exist; expected a job folder")


def test_a_port_in_use_is_named(parts):
    page = build_page(parts)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ConfigError, match=rf"port={port} on 127.0.0.1 is in use .*; pass port=<a free port>."):
            launch(page, "127.0.0.1", port)


@pytest.fixture(scope="session")
def chromium() -> None:
    """Skips, before the model and the page are made, where Debian's Chromium or its driver is missing."""
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    if missing:
        pytest.skip(
            f"the page's browser test needs Chromium and its driver; missing {', '.join(missing)}: apt-get install chromium chromium-driver"
        )


def read_image(src: str) -> np.ndarray:
    """The pixels of an <img> src: a data URL, or a URL on the local server."""
    if src.startswith("data:"):
        data = base64.b64decode(src.split(",", 1)[1])
    else:
        with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(src, timeout=10) as response:
            data = response.read()
    return np.asarray(Image.open(io.BytesIO(data)).convert("L"))


@pytest.mark.slow  # a real Chromium and a served page: about 10 s on a 2-core CPU
@pytest.mark.filterwarnings("ignore:::gradio.queueing")  # pandas' deprecation warnings about gradio's own use of it
def test_the_page_in_a_real_browser(chromium, parts, job, tmp_path):
    """On the fixture's job; ``DAE_APP_RUN=<job folder>`` drives it with that job instead (with the data
    directory of the app's config), as the README's picture of the page was taken."""
    if os.environ.get("DAE_APP_RUN"):
        job = Path(os.environ["DAE_APP_RUN"])
        parts = load_parts([str(job)], compose_app("app", []).paths)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    page = build_page(parts, seed=0)
    port = free_port()
    launch(page, "127.0.0.1", port)
    options = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1100"):
        options.add_argument(arg)
    options.binary_location = str(CHROMIUM)
    driver = None
    try:
        driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
        wait = WebDriverWait(driver, 30)
        driver.get(f"http://127.0.0.1:{port}/")
        index = wait.until(EC.element_to_be_clickable((By.CSS_SELECTOR, "#digit-index input")))
        index.clear()
        index.send_keys("7")
        driver.find_element(By.XPATH, "//*[@id='noise']//label[contains(., 'salt_pepper')]").click()
        driver.find_element(By.CSS_SELECTOR, "#denoise").click()
        wait.until(EC.text_to_be_present_in_element((By.CSS_SELECTOR, "#status"), "test digit 7"))
        src = wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "#denoised-0 img").get_attribute("src"))
        predicted = wait.until(lambda d: d.find_element(By.CSS_SELECTOR, '#pred-denoised-0 [data-testid="label-output-value"]').text)
        denoised_shown = read_image(src)
        noisy_shown = read_image(driver.find_element(By.CSS_SELECTOR, "#noisy img").get_attribute("src"))
        driver.save_screenshot(str(tmp_path / "app.png"))
        if os.environ.get("DAE_APP_SCREENSHOT"):
            shutil.copy(tmp_path / "app.png", os.environ["DAE_APP_SCREENSHOT"])

        # The drawing tab: an empty canvas is a message, then a stroke drawn with the brush is the digit.
        driver.find_element(By.XPATH, "//button[@role='tab' and contains(., 'drawing')]").click()
        driver.find_element(By.CSS_SELECTOR, "#denoise").click()
        wait.until(EC.text_to_be_present_in_element((By.CSS_SELECTOR, "#status"), "the drawing is empty"))
        driver.find_element(By.CSS_SELECTOR, "#sketch button[aria-label='Brush']").click()
        canvas = driver.find_element(By.CSS_SELECTOR, "#sketch canvas")
        stroke = ActionChains(driver).move_to_element_with_offset(canvas, 0, -60).click_and_hold()
        for _ in range(12):
            stroke = stroke.move_by_offset(0, 10)
        stroke.release().perform()
        driver.find_element(By.CSS_SELECTOR, "#denoise").click()
        wait.until(EC.text_to_be_present_in_element((By.CSS_SELECTOR, "#status"), "your drawing"))
        drawn = read_image(wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "#clean img").get_attribute("src")))[::8, ::8]
    finally:
        if driver is not None:
            driver.quit()
        page.close()

    noisy = corrupt(parts.digits[7].numpy(), noises()["salt_pepper"], 0.3, 0, parts.image_size)  # salt_pepper's configured level
    denoised = dae.load(job)(noisy)
    assert noisy_shown.shape == denoised_shown.shape == (224, 224)
    for got, expected in ((noisy_shown, noisy), (denoised_shown, denoised)):
        difference = np.abs(got[::8, ::8].astype(int) - np.round(expected * 255).astype(int))
        assert difference.max() <= 1
    assert predicted == str(predict(parts.classifier, padded(denoised))[0])
    with Image.open(tmp_path / "app.png") as screenshot:
        assert screenshot.width == 1400 and screenshot.height > 800  # the window's viewport: the page was drawn
    rows, cols = np.nonzero(drawn > 127)  # a vertical stroke, framed as MNIST's digits: 20 pixels tall, centred
    assert rows.max() - rows.min() + 1 == 20 and abs(rows.mean() - 13.5) <= 1 and abs(cols.mean() - 13.5) <= 1 and np.ptp(cols) < 8
