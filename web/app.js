// The page: draw on the pad, take a photo or point the live camera at a digit, and see the
// prediction and every class's probability. Inference runs here, in onnxruntime-web; nothing
// leaves the device. window.edgeModel = {ready, labels, inputShape, predict(pixels),
// startCamera(), stopCamera(), lastPrediction} is the hook for scripts.

import { CameraError, FrameGrabber, closeCamera, nextFrame, openCamera } from "./camera.js";
import { DEFAULT_MIN_CONFIDENCE } from "./constants.js";
import { describePreprocessing } from "./contract.js";
import { DigitError } from "./digits.js";
import { ImageError, pixelsFromRgba, prepareFile, preparePixels } from "./images.js";
import { loadModel } from "./model.js";

const pad = document.getElementById("pad");
const padContext = pad.getContext("2d", { willReadFrequently: true });
const seen = document.getElementById("seen");
const predictionView = document.getElementById("prediction");
const confidenceView = document.getElementById("confidence");
const barsView = document.getElementById("bars");
const messageView = document.getElementById("message");
const modelLine = document.getElementById("model-line");
const liveButton = document.getElementById("live");
const video = document.getElementById("live-video");

const INK = "#ffffff";
const PAPER = "#000000";
const STROKE = pad.width / 12; // MNIST's strokes are about an eighth of the digit's height

let model = null;
let bars = [];
let photoShown = false;
let inked = false; // something is drawn: classified as soon as the model is ready
let minConfidence = DEFAULT_MIN_CONFIDENCE; // model.json's min_confidence replaces it (convert web writes the same)
const camera = { stream: null, running: false, frames: 0, times: [], grabber: new FrameGrabber() };
const FPS_WINDOW = 10; // frames/s averaged over this many frames, as `runtime watch` does

const ready = loadModel(showProgress).then(start, fail);
ready.catch(() => {}); // the page shows the error; scripts awaiting `ready` still see it
window.edgeModel = {
  ready,
  labels: null,
  inputShape: null,
  predict: (pixels) => ready.then(() => model.predict(pixels)),
  startCamera,
  stopCamera,
  /** The answer shown last: {label, confidence, lowConfidence, probabilities, source, …}; label null with the reason when none. */
  lastPrediction: null,
};

function showProgress(what, received, total) {
  modelLine.textContent = `Loading ${what}: ${Math.round((100 * received) / total)}% of ${(total / 1048576).toFixed(1)} MB`;
}

function start(loaded) {
  model = loaded;
  const { config, contract, labels } = loaded;
  window.edgeModel.labels = [...labels];
  window.edgeModel.inputShape = [...contract.imageShape];
  const artifact = config.artifact;
  if (typeof config.min_confidence === "number") minConfidence = config.min_confidence;
  const digits = contract.preprocessing === "mnist-digit";
  document.getElementById("title").textContent = digits ? "Draw a digit" : `Draw or take a photo: ${config.model}`;
  const accuracy = artifact.accuracy != null ? `, ${(100 * artifact.accuracy).toFixed(1)}% accurate on held-out images` : "";
  // A file whose check at conversion could not show it within the budget is named as such.
  const unproven = artifact.status === "unproven" ? "; unproven: its check could not show it within the accuracy budget" : "";
  modelLine.textContent =
    `${artifact.file} (${artifact.precision}, ${(artifact.bytes / 1024).toFixed(1)} KiB${accuracy}${unproven}), ` +
    `onnxruntime-web ${loaded.ort.env.versions.web}`;
  modelLine.title = describePreprocessing(contract) + (artifact.verdict ? `\n${artifact.verdict}` : "");
  modelLine.dataset.status = artifact.status || "";
  barsView.replaceChildren();
  bars = labels.map((label) => {
    const row = document.createElement("li");
    row.className = "bar";
    row.dataset.label = label;
    row.innerHTML = '<span class="name"></span><span class="track"><span class="fill"></span></span><span class="value"></span>';
    row.querySelector(".name").textContent = label;
    barsView.append(row);
    return { row, fill: row.querySelector(".fill"), value: row.querySelector(".value") };
  });
  showProbabilities(null);
  console.info(
    `edge-mnist: page served over ${location.protocol.replace(":", "")} from ${location.host} by ${loaded.served}; ` +
      `secure context: ${window.isSecureContext ? "yes" : "no"}; model ${artifact.file}: ${loaded.checksum}; ` +
      `onnxruntime-web ${loaded.ort.env.versions.web}, WebAssembly, 1 thread; ${describePreprocessing(contract)}`,
  );
  document.body.dataset.state = "ready";
  if (inked) classifyPadSoon();
  return window.edgeModel;
}

function fail(err) {
  showMessage(err.message || String(err));
  document.body.dataset.state = "failed";
  modelLine.textContent = "The model could not be loaded.";
  console.error(`edge-mnist: ${err.message || err}`);
  throw err;
}

function showMessage(text) {
  messageView.textContent = text;
  messageView.hidden = !text;
}

function showProbabilities(probabilities, source = "") {
  if (!probabilities) {
    predictionView.textContent = "";
    delete predictionView.dataset.label;
    delete predictionView.dataset.lowConfidence;
    confidenceView.textContent = model && model.contract.preprocessing === "mnist-digit" ? "Draw a digit, or show one to the camera" : "Draw, or show the camera something";
    bars.forEach(({ row, fill, value }) => {
      fill.style.width = "0%";
      value.textContent = "";
      row.classList.remove("best");
    });
    return;
  }
  let best = 0;
  probabilities.forEach((p, k) => {
    if (p > probabilities[best]) best = k;
  });
  const label = model.labels[best];
  const unsure = probabilities[best] < minConfidence;
  predictionView.textContent = label;
  predictionView.dataset.label = label;
  predictionView.dataset.lowConfidence = String(unsure);
  // The mark `python -m runtime predict` prints beside an answer below --min-confidence.
  const mark = unsure ? ` [unsure: below ${Math.round(100 * minConfidence)}%]` : "";
  confidenceView.textContent = `${(100 * probabilities[best]).toFixed(1)}% sure${mark}${source}`;
  bars.forEach(({ row, fill, value }, k) => {
    fill.style.width = `${(100 * probabilities[k]).toFixed(1)}%`;
    value.textContent = `${(100 * probabilities[k]).toFixed(1)}%`;
    row.classList.toggle("best", k === best);
  });
}

/** Shows the model's input, as the model sees it, in the small preview. */
function showInput(pixels) {
  const [height, width] = model.contract.imageShape;
  const channels = model.contract.channels;
  seen.width = width;
  seen.height = height;
  const image = new ImageData(width, height);
  for (let i = 0; i < width * height; i++) {
    for (let c = 0; c < 3; c++) image.data[i * 4 + c] = pixels[i * channels + (channels === 3 ? c : 0)];
    image.data[i * 4 + 3] = 255;
  }
  seen.getContext("2d").putImageData(image, 0, 0);
  seen.hidden = false;
}

/** Prepares and classifies one input; `kind` ("drawing", "photo", "camera") goes into lastPrediction, `source` is shown. */
async function classify(prepare, kind, source, extra = {}) {
  if (!model) return;
  let pixels;
  try {
    pixels = await prepare();
  } catch (err) {
    if (err instanceof DigitError || err instanceof ImageError) {
      showProbabilities(null);
      const reason = err.message.replace(/^[^:]*: /, "");
      confidenceView.textContent = kind === "camera" ? `${reason}${source}` : reason;
      window.edgeModel.lastPrediction = { label: null, reason, confidence: null, lowConfidence: null, probabilities: null, source: kind, ...extra };
      return;
    }
    throw err;
  }
  showInput(pixels);
  const started = performance.now();
  const probabilities = await model.predict(pixels);
  const ms = performance.now() - started;
  showProbabilities(probabilities, `${source} · ${ms.toFixed(1)} ms`);
  let best = 0;
  probabilities.forEach((p, k) => {
    if (p > probabilities[best]) best = k;
  });
  window.edgeModel.lastPrediction = {
    label: model.labels[best], confidence: probabilities[best], lowConfidence: probabilities[best] < minConfidence,
    probabilities: Array.from(probabilities), source: kind, ms, ...extra,
  };
}

function padPixels() {
  const { data } = padContext.getImageData(0, 0, pad.width, pad.height);
  const channels = model.contract.channels;
  return preparePixels(pixelsFromRgba(data, pad.width, pad.height, channels), pad.height, pad.width, model.contract, "drawing");
}

// Drawing: pointer events cover mouse, pen and touch.
let drawing = false;
let last = null;
let pending = false;

function clearPad() {
  padContext.fillStyle = PAPER;
  padContext.fillRect(0, 0, pad.width, pad.height);
  photoShown = false;
  inked = false;
}

function padPoint(event) {
  const box = pad.getBoundingClientRect();
  return { x: ((event.clientX - box.left) * pad.width) / box.width, y: ((event.clientY - box.top) * pad.height) / box.height };
}

function stroke(from, to) {
  padContext.strokeStyle = INK;
  padContext.fillStyle = INK;
  padContext.lineWidth = STROKE;
  padContext.lineCap = "round";
  padContext.lineJoin = "round";
  padContext.beginPath();
  padContext.moveTo(from.x, from.y);
  padContext.lineTo(to.x, to.y);
  padContext.stroke();
  inked = true;
}

function classifyPadSoon() {
  if (pending) return;
  pending = true;
  requestAnimationFrame(() => {
    pending = false;
    classify(async () => padPixels(), "drawing", " (drawing)").catch(showError);
  });
}

pad.addEventListener("pointerdown", (event) => {
  if (document.body.dataset.state === "failed" || camera.running) return;
  if (photoShown) clearPad();
  drawing = true;
  pad.setPointerCapture(event.pointerId);
  last = padPoint(event);
  stroke(last, last);
  event.preventDefault();
});
pad.addEventListener("pointermove", (event) => {
  if (!drawing) return;
  const point = padPoint(event);
  stroke(last, point);
  last = point;
  classifyPadSoon();
  event.preventDefault();
});
for (const type of ["pointerup", "pointercancel"]) {
  pad.addEventListener(type, () => {
    if (!drawing) return;
    drawing = false;
    classifyPadSoon();
  });
}

document.getElementById("clear").addEventListener("click", () => {
  clearPad();
  seen.hidden = true;
  showProbabilities(null);
});

function showPhoto(file) {
  createImageBitmap(file, { imageOrientation: "from-image" }).then((bitmap) => {
    clearPad();
    const scale = Math.min(pad.width / bitmap.width, pad.height / bitmap.height);
    const w = bitmap.width * scale;
    const h = bitmap.height * scale;
    padContext.drawImage(bitmap, (pad.width - w) / 2, (pad.height - h) / 2, w, h);
    bitmap.close();
    photoShown = true;
  }, () => {});
}

for (const id of ["camera", "picker"]) {
  const input = document.getElementById(id);
  input.addEventListener("change", () => {
    const file = input.files[0];
    input.value = "";
    if (!file || !model) return;
    if (camera.running) stopCamera();
    showPhoto(file);
    confidenceView.textContent = `Reading ${file.name} …`;
    classify(() => prepareFile(file, model.contract, file.name), "photo", ` (${file.name})`).catch(showError);
  });
}

function showError(err) {
  showMessage(`Something went wrong: ${err.message || err}`);
  console.error(err);
}

// The live camera: one frame is classified at a time, the next as soon as the last is done,
// so the rate is what this device sustains (at most the camera's).
async function startCamera() {
  await ready;
  if (camera.running) return;
  showMessage("");
  delete document.body.dataset.cameraError;
  liveButton.disabled = true;
  try {
    camera.stream = await openCamera(video);
  } catch (err) {
    showCameraError(err);
    throw err;
  } finally {
    liveButton.disabled = false;
  }
  camera.running = true;
  camera.frames = 0;
  camera.times = [];
  document.body.dataset.camera = "on";
  pad.hidden = true;
  video.hidden = false;
  liveButton.textContent = "Stop camera";
  confidenceView.textContent = "Point the camera at a digit";
  camera.stream.getVideoTracks().forEach((track) =>
    track.addEventListener("ended", () => {
      if (!camera.running) return;
      stopCamera();
      showCameraError(new CameraError("stopped", "The camera stopped (unplugged, or taken by another app)."));
    }),
  );
  cameraLoop().catch((err) => {
    stopCamera();
    showError(err);
  });
}

function stopCamera() {
  camera.running = false;
  closeCamera(camera.stream, video);
  camera.stream = null;
  delete document.body.dataset.camera;
  video.hidden = true;
  pad.hidden = false;
  liveButton.textContent = "Live camera";
}

async function cameraLoop() {
  while (camera.running) {
    await nextFrame(video);
    if (!camera.running) return;
    const frame = camera.grabber.grab(video);
    if (!frame) continue;
    const index = camera.frames++;
    camera.times.push(performance.now());
    if (camera.times.length > FPS_WINDOW + 1) camera.times.shift();
    const span = (camera.times[camera.times.length - 1] - camera.times[0]) / 1000;
    const fps = span > 0 ? (camera.times.length - 1) / span : 0;
    const prepare = async () =>
      preparePixels(pixelsFromRgba(frame.rgba, frame.width, frame.height, model.contract.channels), frame.height, frame.width,
        model.contract, `camera frame ${index}`);
    await classify(prepare, "camera", ` (camera, ${fps.toFixed(1)} frames/s)`, { frame: index, fps });
  }
}

function showCameraError(err) {
  showMessage(err.message || String(err));
  document.body.dataset.cameraError = err.kind || "failed";
  console.error(`edge-mnist: camera: ${err.message || err}`);
}

liveButton.addEventListener("click", () => {
  if (camera.running) stopCamera();
  else startCamera().catch(() => {}); // the page shows why
});

clearPad();
