"""The page's live camera in Debian's Chromium, fed by Chromium's fake camera from a .y4m file
of shaken, flickering digit frames, served over `runtime serve --https` to a host name that is
not this computer's (as a phone sees it); its labels against `runtime watch` on the same file.
Also what the page shows when the camera cannot be used, and the fixes seen at 390x844."""

from __future__ import annotations

import collections
import json

import numpy as np
import pytest
from PIL import Image

import runtime

from browser import launch, open_page, serving
from camera_frames import digit_frames, write_video
from conftest import run_cli
from test_serve_https import serving_https

pytestmark = pytest.mark.browser

PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 3, "is_mobile": True, "has_touch": True}
FAKE_CAMERA = ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"]
PHONE_HOST = "phone.test"
"""A name the browser resolves to 127.0.0.1 (--host-resolver-rules): not localhost, so only https makes the page secure."""
RESOLVE = f"--host-resolver-rules=MAP {PHONE_HOST} 127.0.0.1"
CLIPS = 3
FRAMES_PER_CLIP = 20
CAMERA_PREDICTIONS = 12
MIN_CAMERA_SHARE = 0.5
"""At least half of the camera's predictions of a clip name its digit (watch's label for it)."""
COLLECT = """async (count) => {
  await window.edgeModel.startCamera();
  const seen = [];
  let last = -1;
  const deadline = performance.now() + 60000;
  while (seen.length < count && performance.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 5));
    const p = window.edgeModel.lastPrediction;
    if (p && p.source === "camera" && p.frame !== last) {
      last = p.frame;
      seen.push({ label: p.label, confidence: p.confidence, lowConfidence: p.lowConfidence, reason: p.reason || null,
                  shown: document.getElementById("prediction").textContent });
    }
  }
  window.edgeModel.stopCamera();
  return seen;
}"""
START = "() => window.edgeModel.startCamera().then(() => 'started', (err) => err.kind)"


@pytest.fixture(scope="module")
def playwright():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def web(pipeline, tmp_path_factory):
    models = pipeline.copy(tmp_path_factory.mktemp("camera-web") / "models")
    result = run_cli("convert", "web", "--models", models)
    assert result.returncode == 0, result.stdout + result.stderr
    return models / "web"


def majority(labels):
    return collections.Counter(labels).most_common(1)[0]


def test_live_camera_labels_match_runtime_watch_on_the_same_frames(playwright, web, reference, pipeline, tmp_path):
    home = tmp_path / "home"
    with serving_https(web, home) as served:
        for clip in range(CLIPS):
            frames, labels = digit_frames(reference, 1, FRAMES_PER_CLIP, seed=10 + clip, first=clip)
            y4m = write_video(frames, tmp_path / f"digit{clip}.y4m", codec="rawvideo")
            watched = run_cli("runtime", "watch", y4m, "--models", pipeline.models, "--json")
            assert watched.returncode == 0, watched.stderr
            watch_label, _ = majority([json.loads(line)["label"] for line in watched.stdout.splitlines()])
            assert watch_label == labels[0]
            browser = launch(playwright, FAKE_CAMERA + [f"--use-file-for-fake-video-capture={y4m}", RESOLVE])
            try:
                page = open_page(browser, f"https://{PHONE_HOST}:{served.port}/", ignore_https_errors=True)
                assert page.evaluate("window.isSecureContext")
                seen = page.evaluate(COLLECT, CAMERA_PREDICTIONS)
                assert page.locator("#pad").is_visible() and not page.locator("#live-video").is_visible()  # stopped
            finally:
                browser.close()
            assert len(seen) == CAMERA_PREDICTIONS
            label, count = majority([s["label"] for s in seen])
            assert label == watch_label and count >= MIN_CAMERA_SHARE * len(seen), seen
            for s in seen:
                if s["label"] is not None:
                    assert s["shown"] == s["label"] and s["lowConfidence"] == (s["confidence"] < 0.7)
            print(f"\nclip {clip} (digit {labels[0]}): camera {count}/{len(seen)} frames {label}, watch {watch_label}")


@pytest.mark.parametrize("args, host, kind, message", [
    (["--use-fake-ui-for-media-stream"], "127.0.0.1", "missing", "No camera was found"),
    (["--use-fake-device-for-media-stream"], "127.0.0.1", "denied", "Camera permission was refused"),
    (FAKE_CAMERA + [RESOLVE], PHONE_HOST, "insecure", "The live camera needs a secure page"),
])
def test_camera_failures_are_shown_and_the_photo_button_stays(playwright, web, args, host, kind, message):
    browser = launch(playwright, args)
    try:
        with serving(web) as url:
            page = open_page(browser, url.replace("127.0.0.1", host))
            assert page.evaluate(START) == kind
            shown = page.inner_text("#message")
            assert shown.startswith(message) and "Take photo" in shown
            assert page.evaluate("document.body.dataset.cameraError") == kind
            assert page.locator("label[for=camera]").is_visible() and page.locator("#pad").is_visible()
    finally:
        browser.close()


def test_phone_page_fixes(playwright, web, reference, tmp_path):
    """At 390x844: nothing in the result slot before an answer; an unsure answer carries
    predict's mark; an own model's bars all start at the same x."""
    model = runtime.load(web / "mnist_mlp_int8.onnx")
    confidence = model.predict(reference.images).max(1)
    unsure, sure = int(np.flatnonzero(confidence < 0.6)[0]), int(np.flatnonzero(confidence > 0.95)[0])
    for name, i in (("unsure.png", unsure), ("sure.png", sure)):
        Image.fromarray(reference.images[i]).save(tmp_path / name)  # MNIST images are used as they are
    own = tmp_path / "own"
    own_web = own / "web"
    import shutil

    shutil.copytree(web, own_web)
    config = json.loads((own_web / "model.json").read_text())
    config["labels"] = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
    (own_web / "model.json").write_text(json.dumps(config))
    browser = launch(playwright)
    try:
        with serving(web) as url:
            page = open_page(browser, url, **PHONE)
            assert page.inner_text("#prediction") == ""
            for name, mark in (("unsure.png", True), ("sure.png", False)):
                page.set_input_files("#picker", str(tmp_path / name))
                page.wait_for_function(f"document.getElementById('confidence').textContent.includes('({name})')")
                text = page.inner_text("#confidence")
                assert ("[unsure: below 70%]" in text) == mark, text
                assert page.evaluate("window.edgeModel.lastPrediction.source") == "photo"
        with serving(own_web) as url:
            page = open_page(browser, url, **PHONE)
            starts = page.evaluate("[...document.querySelectorAll('#bars .track')].map((t) => t.getBoundingClientRect().x)")
            assert len(starts) == 10 and max(starts) - min(starts) < 0.5, starts
    finally:
        browser.close()
