"""zoo-play: the handlers (requests from roles, slerp, image fitting, scores, keeping), the app
launched in-process and driven with gradio_client for each kind of export, the TF Serving REST
backend, the keep -> fine-tune loop, and a real browser (Debian's chromium) when installed."""

import io
import json
import math
import os
import shutil
import zipfile

import numpy as np
import pytest
from PIL import Image

from tests import helpers, model_checks
from zoo import contract, export
from zoo.errors import UserError

gradio_client = pytest.importorskip("gradio_client", reason="zoo[play] (gradio) is not installed")

from experiments import play  # noqa: E402
from zoo.play import app as app_lib, backends, handlers  # noqa: E402

EXPORTS = os.path.join(helpers.REPO, "exports")


# Handlers ------------------------------------------------------------------------------------

def test_slerp_keeps_the_ends_and_walks_the_great_circle():
    a, b = np.array([1.0, 0.0, 0.0]), np.array([0.0, 2.0, 0.0])
    np.testing.assert_allclose(handlers.slerp(a, b, 0.0), a, atol=1e-12)
    np.testing.assert_allclose(handlers.slerp(a, b, 1.0), b, atol=1e-12)
    # Orthogonal ends: the midpoint is sin(pi/4) * (a + b) / sin(pi/2), not the chord's midpoint.
    np.testing.assert_allclose(handlers.slerp(a, b, 0.5), [math.sqrt(0.5), 2 * math.sqrt(0.5), 0.0], atol=1e-12)


def test_interpolation_starts_and_ends_at_the_seeds_latents():
    spec = contract.Input("z", "latent", "float32", (8,))
    latents = handlers.interpolation_latents(spec, 3, 4, 5)
    ends = handlers.latents_for(spec, [3, 4])
    assert latents.shape == (5, 8)
    np.testing.assert_allclose(latents[0], ends[0], atol=1e-6)
    np.testing.assert_allclose(latents[-1], ends[1], atol=1e-6)
    with pytest.raises(UserError, match="frames must be between 2 and"):
        handlers.interpolation_latents(spec, 0, 1, 1)


def test_fit_image_converts_to_the_declared_shape_and_says_what_changed():
    rgba = np.zeros((56, 56, 4), np.uint8)
    rgba[..., 0] = 255  # Opaque red: gray level 76 (ITU-R 601-2: 0.299 * 255).
    rgba[..., 3] = 255
    fitted, note = handlers.fit_image(rgba, (28, 28, 1))
    assert fitted.shape == (28, 28, 1) and fitted.dtype == np.uint8
    assert int(fitted[14, 14, 0]) == 76
    assert "resized from 56x56 to 28x28" in note and "grayscale" in note
    same, note = handlers.fit_image(np.full((28, 28), 9, np.uint8), (28, 28, 1))
    assert note == "" and int(same[0, 0, 0]) == 9
    with pytest.raises(UserError, match="no image"):
        handlers.fit_image(None, (28, 28, 1))
    with pytest.raises(UserError, match="1, 3 or 4 channels"):
        handlers.fit_image(np.zeros((4, 4, 2), np.uint8), (28, 28, 1))


def test_requests_and_values_are_checked_with_one_line_messages():
    steps = contract.Input("steps", "parameter", "int64", default=50, low=1, high=1000)
    assert handlers.check_parameter(steps, 20.0) == 20
    for bad in (0, 1001, 2.5, "x"):
        with pytest.raises(UserError, match="steps must be a whole number between 1 and 1000"):
            handlers.check_parameter(steps, bad)
    with pytest.raises(UserError, match="count must be between 1 and 64"):
        handlers.seeds_for(0, 65)
    assert handlers.seeds_for(5, 3).tolist() == [5, 6, 7]
    signature = contract.Signature("sample", [contract.Input("seed", "seed", "int64"), steps], {"images": "images"})
    request = handlers.request_for(signature, {"seed": [1, 2], "steps": 7}, 2)
    assert request["seed"].tolist() == [1, 2] and request["steps"].tolist() == [7, 7]
    assert handlers.sweep_values(steps) == [1, 2, 5, 10, 20, 50, 100, 250]
    assert handlers.stream_lengths(40) == [8, 16, 32, 40] and handlers.stream_lengths(8) == [8]


def test_scores_are_bits_per_dimension_and_per_byte():
    image = contract.Input("images", "image", "uint8", (28, 28, 1))
    signature = contract.Signature("log_likelihood", [image], {"log_likelihood": "log_likelihood", "elbo": "elbo"})
    nats = -3.0 * 784 * math.log(2)  # Exactly 3 bits for each of 784 values.
    lines = handlers.likelihood_summary(signature, {"log_likelihood": np.array([nats]), "elbo": np.array([2 * nats])},
                                        {})
    assert lines[0].startswith("3.000 bits/dim") and "ELBO 6.000 bits/dim" in lines[0]
    text = contract.Signature("log_likelihood", [contract.Input("text", "text", "string")],
                              {"log_likelihood": "log_likelihood", "num_tokens": "num_tokens"})
    lines = handlers.likelihood_summary(text, {"log_likelihood": np.array([-10 * 2 * math.log(2)]),
                                               "num_tokens": np.array([10])}, {})
    assert lines[0].startswith("2.000 bits/byte over 10 bytes")


def test_download_all_names_each_png_by_its_inputs():
    images = np.stack([np.full((4, 4, 1), value, np.uint8) for value in (0, 200)])
    archive = zipfile.ZipFile(io.BytesIO(handlers.grid_zip(images, ["seed_3", "seed_4"])))
    assert archive.namelist() == ["seed_3.png", "seed_4.png"]
    assert np.asarray(Image.open(io.BytesIO(archive.read("seed_4.png")))).max() == 200


def test_a_role_the_app_does_not_know_is_a_typed_input_not_a_crash(monkeypatch):
    """An export declaring a role this app has no widget for still gets a tab (a JSON box)."""
    monkeypatch.setattr(contract, "INPUT_ROLES", (*contract.INPUT_ROLES, "mystery"))
    spec = contract.Input("thing", "mystery", "float32", (2,))
    signature = contract.Signature("serving_default", [spec], {"images": "images"})
    entry = backends.Entry("odd", 1, "/nonexistent", "/", interface=contract.Interface([signature]))
    app = app_lib.build([entry], backends.LocalBackend())
    labels = [getattr(block, "label", "") or "" for block in app.blocks.values()]
    assert any("thing (mystery, float32[2]) as JSON" in label for label in labels)


def test_zoo_play_parses_its_own_flags_and_refuses_bad_ones_in_one_line(capsys):
    assert play.run(["zoo-play", "--port=0"]) == 2
    assert play.run(["zoo-play", "--exports=/nonexistent", "--runs="]) == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert errors == ["zoo-play: error: --port must be between 1 and 65535, got 0",
                      "zoo-play: error: no exports found under /nonexistent: expected <root>/<name>/<version>/"
                      "saved_model.pb (train one with zoo-train, or pass --exports)"]
    assert play.FLAGS is not __import__("absl.flags").flags.FLAGS  # Its own, so it sits beside any command.


def test_an_export_that_writes_files_is_listed_with_its_reason_and_never_run(tmp_path):
    from tests import test_export_trust

    target = tmp_path / "written.txt"
    test_export_trust.writing(str(target))
    entries = backends.discover([str(tmp_path)])
    assert len(entries) == 1 and "refusing to run" in entries[0].error and "WriteFile" in entries[0].error
    with pytest.raises(UserError, match="WriteFile"):
        backends.LocalBackend().call(entries[0], "serving_default", {"seed": np.zeros(1, np.int64)})
    assert not target.exists()
    trusted = backends.discover([str(tmp_path)], trust=True)[0]
    assert not trusted.error
    backends.LocalBackend(trust_exports=True).call(trusted, "serving_default", {"seed": np.zeros(1, np.int64)})
    assert target.exists()  # --trust_export runs it: the user's choice.


# The app, in-process ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def playground(tmp_path_factory):
    """The app over the shipped exports plus a broken one, served on a free port, with a keep folder."""
    root = tmp_path_factory.mktemp("broken")
    broken = root / "broken_model" / "1"
    broken.mkdir(parents=True)
    (broken / "saved_model.pb").write_bytes(b"")  # No zoo_export.json: listed with its reason.
    keep_dir = str(tmp_path_factory.mktemp("kept"))
    app, entries = play.build_app([EXPORTS, str(root)], runs=None, keep_dir=keep_dir)
    app_lib.launch(app, port=helpers.free_port(), block=False)
    client = gradio_client.Client(app.local_url, verbose=False)
    yield app, entries, client, keep_dir
    app.close()


def test_every_shipped_export_gets_a_tab_and_a_broken_one_its_reason(playground):
    app, entries, client, _ = playground
    by_name = {entry.name: entry for entry in entries}
    assert set(os.listdir(EXPORTS)) - {"README.md", "models.config", "batching_parameters.txt"} <= set(
        name for name, entry in by_name.items() if not entry.error) | {
        name for name in os.listdir(EXPORTS) if not os.path.isdir(os.path.join(EXPORTS, name))}
    assert "does not declare its interface" in by_name["broken_model"].error
    endpoints = client.view_api(return_format="dict", print_info=False)["named_endpoints"]
    assert "/dcgan_fashion_mnist__serving_default" in endpoints and "/gpt_fortunes__log_likelihood" in endpoints


def _gallery_images(gallery):
    return [np.asarray(Image.open(item["image"])) for item in gallery]


def test_seed_grid_equals_the_export_and_downloads_as_a_zip(playground):
    import tensorflow as tf

    _, _, client, _ = playground
    gallery, archive, note, latency = client.predict(5, 3, api_name="/dcgan_fashion_mnist__serving_default")
    version = export.resolve_version_dir(os.path.join(EXPORTS, "dcgan_fashion_mnist"))
    direct = tf.saved_model.load(version).signatures["serving_default"](seed=tf.constant([5, 6, 7], tf.int64))["images"]
    shown = _gallery_images(gallery)
    assert len(shown) == 3 and [item["caption"] for item in gallery] == ["seed_5", "seed_6", "seed_7"]
    np.testing.assert_array_equal(np.stack(shown).reshape(direct.shape), direct.numpy())
    assert zipfile.ZipFile(archive).namelist() == ["seed_5.png", "seed_6.png", "seed_7.png"]
    assert latency.startswith("last request:")


def test_a_label_and_keep_write_a_class_folder_dataset_with_its_log(playground):
    _, _, client, keep_dir = playground
    gallery, *_ = client.predict(0, 7, 2, api_name="/cgan_fashion_mnist__serving_default")
    assert [item["caption"] for item in gallery] == ["seed_0_label_7", "seed_1_label_7"]
    message = client.predict(1, api_name="/cgan_fashion_mnist__serving_default__keep")
    assert "kept sample 1" in message
    assert client.predict(0, api_name="/cgan_fashion_mnist__serving_default__reject").startswith("rejected")
    kept = [name for name in os.listdir(os.path.join(keep_dir, "Sneaker")) if name.endswith(".png")]
    assert len(kept) == 1
    log = [json.loads(line) for line in open(os.path.join(keep_dir, "kept.jsonl"))]
    assert [line["action"] for line in log][-2:] == ["keep", "reject"]
    assert log[-2]["inputs"]["seed"] == 1 and log[-2]["inputs"]["label"] == 7 and log[-2]["class"] == "Sneaker"
    assert open(os.path.join(keep_dir, "classes.txt")).read().splitlines()[7] == "Sneaker"


def test_out_of_range_values_are_messages_in_the_page(playground):
    _, _, client, _ = playground
    # Gradio bounds a slider at its declared range; the handlers bound what reaches them (above).
    with pytest.raises(Exception, match="greater than maximum value 64"):
        client.predict(0, 100, api_name="/dcgan_fashion_mnist__serving_default")
    with pytest.raises(Exception, match="greater than maximum value 1000"):
        client.predict(0, 5000, 0.0, 1, api_name="/ddpm_fashion_mnist__sample")
    with pytest.raises(Exception, match="type some text first"):
        client.predict("", api_name="/gpt_fortunes__log_likelihood")


def test_image_to_image_converts_an_upload_and_says_so(playground, tmp_path):
    _, _, client, _ = playground
    path = tmp_path / "big.png"
    Image.fromarray(np.full((64, 64, 3), 255, np.uint8)).save(path)
    gallery, _, note, _ = client.predict(gradio_client.handle_file(str(path)), None, "upload",
                                         api_name="/pix2pix_fashion_mnist_edges__serving_default")
    assert _gallery_images(gallery)[0].shape[:2] == (28, 28)
    assert "resized from 64x64 to 28x28" in note and "grayscale" in note


def test_text_streams_to_what_one_call_returns_and_scores_in_bits_per_byte(playground):
    import tensorflow as tf

    _, entries, client, _ = playground
    entry = next(entry for entry in entries if entry.name == "gpt_fortunes")
    text, _, _ = client.predict("The ", 20, 1.0, 0, 3, 1, api_name="/gpt_fortunes__serving_default")
    direct = tf.saved_model.load(entry.path).signatures["serving_default"](
        prompt=tf.constant([b"The "]), max_new_tokens=tf.constant([20], tf.int64), temperature=tf.constant([1.0]),
        top_k=tf.constant([0], tf.int64), seed=tf.constant([3], tf.int64))["text"].numpy()[0]
    assert text == direct.decode("utf-8", "replace")
    score, _, _ = client.predict("a b", api_name="/gpt_fortunes__log_likelihood")
    assert "bits/byte over" in score


def test_diffusion_values_compare_side_by_side(playground):
    _, _, client, _ = playground
    gallery = client.predict(0, 5, 0.0, 1, 1, "steps", api_name="/ddpm_fashion_mnist__sample__compare")  # seed, steps, eta, order, count
    assert [item["caption"].split(" ")[0] for item in gallery] == [f"steps={value}" for value in
                                                                   (1, 2, 5, 10, 20, 50, 100, 250)]


def test_interpolation_ends_at_the_two_seeds_images(playground):
    _, _, client, _ = playground
    strip, gif = client.predict(0, 1, 1, 4, api_name="/dcgan_fashion_mnist__from_latent__interpolate")
    assert np.asarray(Image.open(strip)).shape[1] == 4 * 28 + 5 * 2  # Four frames and their gaps, in one row.
    frames = Image.open(gif)
    assert frames.n_frames == 4 + 2  # Forward and back.
    for seed, frame in ((0, 0), (1, 3)):
        gallery, *_ = client.predict(seed, 1, api_name="/dcgan_fashion_mnist__serving_default")
        sampled = np.asarray(Image.open(gallery[0]["image"]).convert("L"), int)
        frames.seek(frame)
        drawn = np.asarray(frames.convert("L"), int)[::4, ::4]  # Frames are 4x nearest-neighbour.
        assert np.abs(drawn - sampled).max() <= 1, (seed, np.abs(drawn - sampled).max())


# Through TF Serving's REST API (the stand-in server) ----------------------------------------------

def test_the_server_backend_answers_like_the_in_process_one(tmp_path):
    from zoo.serving import local_server

    root = tmp_path / "exports"
    shutil.copytree(os.path.join(EXPORTS, "cgan_fashion_mnist"), root / "cgan_fashion_mnist")
    export.update_models_config(str(root))
    rest, port = local_server.start_rest_server(local_server.LocalModels(str(root)))
    with rest:
        entries = backends.discover([str(root)])
        signature = entries[0].interface.signature("serving_default")
        request = handlers.request_for(signature, {"seed": [4, 5], "label": [2, 3]}, 2)
        served = backends.ServerBackend(f"http://127.0.0.1:{port}").call(entries[0], "serving_default", request)
        local = backends.LocalBackend().call(entries[0], "serving_default", request)
        np.testing.assert_array_equal(served["images"], local["images"])
    with pytest.raises(UserError, match="--server must be http://host:port"):
        backends.ServerBackend("localhost")


# The loop from use back to training -------------------------------------------------------------

def test_kept_samples_fine_tune_the_model_they_came_from(tmp_path):
    """Keep samples of a tiny conditional export, then zoo-train --dataset=folder:<kept>
    --init_from=<export> trains on them with the export's label ids (classes.txt)."""
    from zoo import config as config_lib, data, train

    model = model_checks.build("cgan")
    version = export.export_model(model, str(tmp_path / "exports"), "cgan_tiny")
    entry = backends.discover([str(tmp_path / "exports")])[0]
    signature = entry.interface.signature("serving_default")
    keeper = handlers.Keeper(str(tmp_path / "kept"))
    classes = handlers.class_names(entry, signature.input_with(contract.CLASS_LABEL))
    request = handlers.request_for(signature, {"seed": np.arange(8), "label": np.full(8, 7)}, 8)
    images = backends.LocalBackend().call(entry, "serving_default", request)["images"]
    for row in range(8):
        keeper.record(entry, images[row], {"seed": row, "label": 7}, True, classes[7], classes)
    source = data.load(f"folder:{tmp_path / 'kept'}", "train", validation_size=0)
    labels = {int(element["label"]) for element in source.dataset.as_numpy_iterator()}
    assert labels == {7} and source.spec.num_classes == 10  # The export's ids, from classes.txt.
    config = config_lib.load("cgan_fashion_mnist", smoke=True)
    config.dataset = f"folder:{tmp_path / 'kept'}"
    config.validation_size = 0
    config.init_from = version
    result = train.train_and_evaluate(config, str(tmp_path / "run"), export_dir=str(tmp_path / "run" / "exports"))
    assert result is not None
    assert export.latest_version(str(tmp_path / "run" / "exports" / config.export_name)) == 1


# A real browser ---------------------------------------------------------------------------------

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"


@pytest.mark.skipif(not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)),
                    reason="Debian's chromium and chromium-driver are not installed (apt-get install chromium chromium-driver)")
def test_a_browser_generates_images_and_text(playground, tmp_path):
    selenium = pytest.importorskip("selenium", reason="selenium is not installed")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    del selenium
    app, _, _, _ = playground
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     "--window-size=1400,1000", f"--user-data-dir={tmp_path / 'profile'}"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        driver.get(app.local_url)
        wait = WebDriverWait(driver, 120)

        def open_tab(name):
            tab = wait.until(expected_conditions.element_to_be_clickable(
                (By.XPATH, f"//button[@role='tab' and contains(., '{name}')]")))
            tab.click()

        def visible_generate():
            return [button for button in driver.find_elements(By.XPATH, "//button[normalize-space()='Generate']")
                    if button.is_displayed()][0]

        open_tab("cgan_fashion_mnist")
        wait.until(lambda _: visible_generate()).click()
        wait.until(lambda _: len([image for image in driver.find_elements(By.CSS_SELECTOR, ".thumbnail-item img")
                                  if image.is_displayed() and driver.execute_script(
                                      "return arguments[0].complete && arguments[0].naturalWidth > 0", image)]) >= 16)
        shot = os.environ.get("ZOO_PLAYGROUND_SCREENSHOT")  # README's screenshot comes from here.
        driver.save_screenshot(shot or str(tmp_path / "cgan.png"))
        open_tab("gpt_fortunes")
        wait.until(lambda _: visible_generate()).click()
        wait.until(lambda _: any(area.is_displayed() and len(area.get_attribute("value") or "") > 10
                                 for area in driver.find_elements(By.TAG_NAME, "textarea")
                                 if (area.get_attribute("value") or "").startswith("The ")
                                 and area.get_attribute("value") != "The "))
    finally:
        driver.quit()
