// The page: draw on the pad or take a photo, see the prediction and every class's
// probability. Inference runs here, in onnxruntime-web; nothing leaves the device.
// window.edgeModel = {ready, labels, inputShape, predict(pixels)} is the hook for scripts.

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

const INK = "#ffffff";
const PAPER = "#000000";
const STROKE = pad.width / 12; // MNIST's strokes are about an eighth of the digit's height

let model = null;
let bars = [];
let photoShown = false;
let inked = false; // something is drawn: classified as soon as the model is ready

const ready = loadModel(showProgress).then(start, fail);
ready.catch(() => {}); // the page shows the error; scripts awaiting `ready` still see it
window.edgeModel = {
  ready,
  labels: null,
  inputShape: null,
  predict: (pixels) => ready.then(() => model.predict(pixels)),
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
  const digits = contract.preprocessing === "mnist-digit";
  document.getElementById("title").textContent = digits ? "Draw a digit" : `Draw or take a photo: ${config.model}`;
  const accuracy = artifact.accuracy != null ? `, ${(100 * artifact.accuracy).toFixed(1)}% accurate on held-out images` : "";
  modelLine.textContent =
    `${artifact.file} (${artifact.precision}, ${(artifact.bytes / 1024).toFixed(1)} KiB${accuracy}), ` +
    `onnxruntime-web ${loaded.ort.env.versions.web}`;
  modelLine.title = describePreprocessing(contract);
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
    predictionView.textContent = "–";
    delete predictionView.dataset.label;
    confidenceView.textContent = model && model.contract.preprocessing === "mnist-digit" ? "Draw a digit, or take a photo of one" : "Draw, or take a photo";
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
  predictionView.textContent = label;
  predictionView.dataset.label = label;
  confidenceView.textContent = `${(100 * probabilities[best]).toFixed(1)}% sure${source}`;
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

async function classify(prepare, source) {
  if (!model) return;
  let pixels;
  try {
    pixels = await prepare();
  } catch (err) {
    if (err instanceof DigitError || err instanceof ImageError) {
      showProbabilities(null);
      confidenceView.textContent = err.message.replace(/^[^:]*: /, "");
      return;
    }
    throw err;
  }
  showInput(pixels);
  const started = performance.now();
  const probabilities = await model.predict(pixels);
  showProbabilities(probabilities, `${source} · ${(performance.now() - started).toFixed(1)} ms`);
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
    classify(async () => padPixels(), " (drawing)").catch(showError);
  });
}

pad.addEventListener("pointerdown", (event) => {
  if (document.body.dataset.state === "failed") return;
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
    showPhoto(file);
    confidenceView.textContent = `Reading ${file.name} …`;
    classify(() => prepareFile(file, model.contract, file.name), ` (${file.name})`).catch(showError);
  });
}

function showError(err) {
  showMessage(`Something went wrong: ${err.message || err}`);
  console.error(err);
}

clearPad();
