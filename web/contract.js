// The input contract (runtime/contract.py InputContract), as the page reads it from
// model.json: what one image is (image_shape, uint8) and how pixels become the model's
// input, x = (pixel / pixel_scale - mean) / std, in float32 as numpy computes it.

import { PREPROCESSING, RESIZE_MODES } from "./constants.js";

/** The contract from its JSON form (InputContract.to_json), checked as the runtime checks it. */
export function readContract(data) {
  const imageShape = (data.image_shape || []).map(Number);
  const channels = imageShape.length === 3 ? imageShape[2] : 1;
  const contract = {
    imageShape,
    channels,
    size: imageShape.reduce((a, b) => a * b, 1),
    pixelScale: Number(data.pixel_scale ?? 255),
    mean: (data.mean || []).map(Number),
    std: (data.std || []).map(Number),
    preprocessing: data.preprocessing || "mnist-digit",
    resize: data.resize || "crop",
  };
  const valid =
    (imageShape.length === 2 || imageShape.length === 3) &&
    imageShape.every((v) => Number.isInteger(v) && v >= 1) &&
    (channels === 1 || channels === 3) &&
    contract.pixelScale > 0 &&
    [contract.mean, contract.std].every((v) => [0, 1, channels].includes(v.length)) &&
    contract.std.every((v) => v > 0) &&
    PREPROCESSING.includes(contract.preprocessing) &&
    RESIZE_MODES.includes(contract.resize);
  if (!valid) throw new Error(`input contract ${JSON.stringify(data)} is malformed`);
  return contract;
}

/** InputContract.scale_pixels: uint8 pixels (row-major, channels last) to the model's float32 input. */
export function scalePixels(pixels, contract) {
  const { channels } = contract;
  const scale = Math.fround(contract.pixelScale); // numpy divides by np.float32(pixel_scale)
  const mean = contract.mean.map(Math.fround);
  const std = contract.std.map(Math.fround);
  const x = new Float32Array(pixels.length);
  for (let i = 0; i < pixels.length; i++) {
    const c = i % channels;
    let v = Math.fround(pixels[i] / scale);
    if (mean.length) v = Math.fround(v - mean[mean.length === 1 ? 0 : c]);
    if (std.length) v = Math.fround(v / std[std.length === 1 ? 0 : c]);
    x[i] = v;
  }
  return x;
}

/** InputContract.describe_preprocessing: how an image becomes this contract's array. */
export function describePreprocessing(contract) {
  if (contract.preprocessing === "mnist-digit") {
    return "MNIST digit normalisation: paper and shadows removed, the digit found among lines and specks, strokes brought to MNIST's weight, fitted into 20x20, centred by mass in 28x28";
  }
  const [h, w] = contract.imageShape;
  const colour = contract.channels === 3 ? "RGB" : "grayscale";
  const how = { crop: "aspect ratio kept, centre-cropped", pad: "aspect ratio kept, padded with black", stretch: "stretched (aspect ratio not kept)" }[contract.resize];
  return `resized to ${w}x${h} ${colour}: ${how}`;
}
