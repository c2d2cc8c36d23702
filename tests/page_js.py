"""The web page's image-preparation JavaScript (web/*.js, ES modules that need no browser
until they decode a file) run in Node.js on arrays made by a test, so that the fast tier
holds the page's ports to the Python runtime without starting Chromium.

`run_page_js(calls)` sends every call to one Node process and returns its answers. A call
is a dict: {"op": "prepare", "pixels": float32 array (h, w[, c]), "contract": to_json()}
(web/images.js preparePixels), {"op": "rgba", "pixels": (h, w, 4) values 0..255, "channels"}
(images.js pixelsFromRgba: a decoded file's RGBA bytes to grey or RGB), {"op": "resize",
"pixels": ..., "height", "width"}
(web/resample.js resize) or {"op": "reduce", "pixels": (h, w), "side"} (web/raster.js
reduceBlocks). Each answer is {"pixels": bytes} (uint8 for prepare, float32 otherwise,
row-major) or {"error": the message the page would show}."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess

import numpy as np
import pytest

from conftest import ROOT

NODE_TIMEOUT_S = 120
"""One Node process for all of a test's calls; digit normalisation of a few photos takes seconds."""
RUNNER = r"""
import { readFileSync, writeFileSync } from "node:fs";
const [,, web, callsFile, outFile] = process.argv;
const { pixelsFromRgba, preparePixels } = await import(new URL("images.js", web));
const { readContract } = await import(new URL("contract.js", web));
const { resize } = await import(new URL("resample.js", web));
const { reduceBlocks } = await import(new URL("raster.js", web));
const bytes = (typed) => Buffer.from(typed.buffer, typed.byteOffset, typed.byteLength).toString("base64");
const answers = [];
for (const call of JSON.parse(readFileSync(callsFile, "utf8"))) {
  const raw = Buffer.from(call.data, "base64");
  const pixels = new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.length));
  const [h, w, c = 1] = call.shape;
  try {
    if (call.op === "prepare") {
      answers.push({ pixels: bytes(preparePixels(pixels, h, w, readContract(call.contract), call.name)) });
    } else if (call.op === "rgba") {
      answers.push({ pixels: bytes(pixelsFromRgba(Uint8Array.from(pixels), w, h, call.channels)) });
    } else if (call.op === "resize") {
      answers.push({ pixels: bytes(resize(pixels, h, w, c, call.height, call.width)) });
    } else {
      answers.push({ pixels: bytes(reduceBlocks({ data: pixels, width: w, height: h }, call.side).data) });
    }
  } catch (err) {
    answers.push({ error: err.message });
  }
}
writeFileSync(outFile, JSON.stringify(answers));
"""


def run_page_js(calls: list, tmp_path) -> list:
    """The page's answers to `calls` (see the module's docstring), from one Node process."""
    if shutil.which("node") is None:
        pytest.skip("needs Node.js (the `node` command) to run the page's JavaScript")
    sent = []
    for call in calls:
        pixels = np.ascontiguousarray(call["pixels"], np.float32)
        sent.append({**{k: v for k, v in call.items() if k != "pixels"}, "shape": list(pixels.shape),
                     "data": base64.b64encode(pixels.tobytes()).decode("ascii")})
    (tmp_path / "calls.json").write_text(json.dumps(sent))
    (tmp_path / "runner.mjs").write_text(RUNNER)
    web = (ROOT / "web").as_uri() + "/"
    subprocess.run(["node", str(tmp_path / "runner.mjs"), web, str(tmp_path / "calls.json"), str(tmp_path / "answers.json")],
                   check=True, timeout=NODE_TIMEOUT_S)
    answers = json.loads((tmp_path / "answers.json").read_text())
    return [{"error": a["error"]} if "error" in a else {"pixels": base64.b64decode(a["pixels"])} for a in answers]


def page_constants() -> dict:
    """The exports of web/constants.js as Node reads them (arrays as lists)."""
    if shutil.which("node") is None:
        pytest.skip("needs Node.js (the `node` command) to run the page's JavaScript")
    script = "const m = await import(process.argv[1]); console.log(JSON.stringify(m));"
    result = subprocess.run(["node", "--input-type=module", "-e", script, (ROOT / "web" / "constants.js").as_uri()],
                            capture_output=True, text=True, check=True, timeout=NODE_TIMEOUT_S)
    return json.loads(result.stdout)
