// The model in the browser: model.json (written by `python -m convert web` from the
// manifest: the artifact, its input contract, labels and tensors), the ONNX file checked
// against it, and onnxruntime-web's WebAssembly build, all from this page's own folder.
// Every failure becomes a LoadError whose message says what is wrong and what to do.

import { readContract, scalePixels } from "./contract.js";

const ORT_SCRIPT = "./ort.wasm.bundle.min.mjs";
const REBUILD = "Rebuild the folder with `python -m convert web` and serve it again.";

/** Loading failed; `kind` is "browser", "missing" or "damaged". */
export class LoadError extends Error {
  constructor(kind, message) {
    super(message);
    this.kind = kind;
  }
}

// A module with one SIMD instruction (v128.const): onnxruntime-web's only WebAssembly build
// needs SIMD (Chrome 91+, Firefox 89+, Safari 16.4+).
const SIMD_PROBE = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 10, 1, 8, 0, 65, 0, 253, 15, 253, 98, 11]);

/** Why this browser cannot run the model, or null when it can. */
export function browserProblem() {
  if (typeof WebAssembly !== "object" || typeof WebAssembly.instantiate !== "function") {
    return (
      "This browser cannot run WebAssembly, which the model runs on (onnxruntime-web). " +
      "It may be switched off (an iPhone in Lockdown Mode, a browser setting or policy that disables " +
      "WebAssembly or the JavaScript JIT): allow it for this page, or open the page in a current " +
      "Chrome, Firefox, Safari or Edge."
    );
  }
  if (!WebAssembly.validate(SIMD_PROBE)) {
    return (
      "This browser's WebAssembly has no SIMD, which onnxruntime-web needs: update it " +
      "(Chrome 91, Firefox 89, Safari 16.4 or later)."
    );
  }
  return null;
}

async function fetchFile(url, what, onProgress) {
  let response;
  try {
    response = await fetch(url, { cache: "no-cache" });
  } catch (err) {
    throw new LoadError("missing", `${what} (${url}) could not be fetched: ${err.message}. Is the server still running?`);
  }
  if (!response.ok) {
    throw new LoadError("missing", `${what} (${url}) is missing: the server answered HTTP ${response.status}. ${REBUILD}`);
  }
  const total = Number(response.headers.get("content-length")) || 0; // compressed size, if the server compresses
  if (!onProgress || !response.body || !total) {
    return { bytes: new Uint8Array(await response.arrayBuffer()), response };
  }
  const reader = response.body.getReader();
  const chunks = [];
  let received = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    received += value.length;
    onProgress(Math.min(received, total), total);
  }
  const bytes = new Uint8Array(received);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.length;
  }
  return { bytes, response };
}

async function sha256(bytes) {
  const digest = await crypto.subtle.digest("SHA-256", bytes);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Loads model.json, the model file and onnxruntime-web; resolves to
 * {config, contract, labels, served, checksum, ort, predict(pixels)}.
 * onProgress(what, received, total) reports the downloads.
 */
export async function loadModel(onProgress = () => {}) {
  const problem = browserProblem();
  if (problem) throw new LoadError("browser", problem);

  const { bytes: configBytes, response: configResponse } = await fetchFile("model.json", "The page's model description");
  let config;
  let contract;
  try {
    config = JSON.parse(new TextDecoder().decode(configBytes));
    contract = readContract(config.contract);
  } catch (err) {
    throw new LoadError("damaged", `model.json is damaged (${err.message}). ${REBUILD}`);
  }
  const served = configResponse.headers.get("server") || "a server that does not name itself";

  let ort;
  try {
    ort = await import(ORT_SCRIPT);
  } catch (err) {
    throw new LoadError("missing", `onnxruntime-web's script (${ORT_SCRIPT}) could not be loaded: ${err.message}. ${REBUILD}`);
  }
  const runtime = config.onnxruntime_web;
  const { bytes: wasm } = await fetchFile(runtime.wasm, `onnxruntime-web's WebAssembly file`, (r, t) =>
    onProgress("onnxruntime-web", r, t),
  );
  if (wasm.length !== runtime.wasm_bytes) {
    throw new LoadError("damaged", `${runtime.wasm} is damaged: ${wasm.length} bytes, expected ${runtime.wasm_bytes}. ${REBUILD}`);
  }
  ort.env.wasm.wasmBinary = wasm;
  ort.env.wasm.numThreads = 1; // a tiny model gains nothing from threads, and threads need cross-origin isolation
  ort.env.wasm.proxy = false;

  const artifact = config.artifact;
  const { bytes: model } = await fetchFile(artifact.file, "The model file", (r, t) => onProgress("model", r, t));
  if (model.length !== artifact.bytes) {
    throw new LoadError("damaged", `The model file ${artifact.file} is damaged: ${model.length} bytes, expected ${artifact.bytes}. ${REBUILD}`);
  }
  let checksum = "not checked: crypto.subtle needs a secure context (https or localhost)";
  if (globalThis.crypto && crypto.subtle) {
    const digest = await sha256(model);
    if (digest !== artifact.sha256) {
      throw new LoadError("damaged", `The model file ${artifact.file} is damaged: its sha256 is ${digest.slice(0, 12)}…, expected ${artifact.sha256.slice(0, 12)}…. ${REBUILD}`);
    }
    checksum = "sha256 verified";
  }
  let session;
  try {
    session = await ort.InferenceSession.create(model, { executionProviders: ["wasm"], graphOptimizationLevel: "all" });
  } catch (err) {
    throw new LoadError("damaged", `The model file ${artifact.file} is damaged or not a model onnxruntime-web can run (${err.message || err}). ${REBUILD}`);
  }
  const inputName = session.inputNames[0];
  const outputName = session.outputNames[0];
  const labels = config.labels;
  const dims = [1, ...contract.imageShape];
  const inputType = (config.input && config.input.dtype) || "float32";

  let queue = Promise.resolve(); // one run at a time: a session runs one call at a time
  async function run(pixels) {
    // A model that takes pixels (uint8 input, the scaling in its graph) gets them as they are.
    const input = inputType === "uint8"
      ? new ort.Tensor("uint8", pixels, dims)
      : new ort.Tensor("float32", scalePixels(pixels, contract), dims);
    const outputs = await session.run({ [inputName]: input });
    const probabilities = Float32Array.from(outputs[outputName].data);
    input.dispose?.();
    outputs[outputName].dispose?.();
    if (probabilities.length !== labels.length) {
      throw new Error(`the model returned ${probabilities.length} values, expected ${labels.length} (one per label)`);
    }
    return probabilities;
  }
  function predict(pixels) {
    if (!(pixels instanceof Uint8Array) || pixels.length !== contract.size) {
      const got = pixels instanceof Uint8Array ? `${pixels.length} values` : String(pixels && pixels.constructor && pixels.constructor.name);
      return Promise.reject(new TypeError(`predict(pixels): got ${got}, expected a Uint8Array of ${contract.size} pixels (${contract.imageShape.join("x")})`));
    }
    const result = queue.then(() => run(pixels));
    queue = result.catch(() => {});
    return result;
  }
  return { config, contract, labels, served, checksum, ort, predict };
}
