// The live camera: the rear camera through getUserMedia into a <video>, and each new frame's
// pixels for the page's classification loop. Every way it can fail becomes a CameraError whose
// message says what the user can do; the "Take photo" button stays as the fallback.

const FALLBACK = "The “Take photo” button still works: it opens the camera app for one picture.";
const CONSTRAINTS = {
  audio: false,
  // What TensorFlow's Raspberry Pi example captures; the phone gives its nearest size.
  video: { facingMode: { ideal: "environment" }, width: { ideal: 640 }, height: { ideal: 480 } },
};

/** The camera cannot be used; `kind` is "insecure", "unsupported", "denied", "missing", "busy", "stopped" or "failed". */
export class CameraError extends Error {
  constructor(kind, message) {
    super(message);
    this.kind = kind;
  }
}

/** Why this page cannot open a camera at all, or null when it may try. */
export function cameraProblem() {
  if (!window.isSecureContext) {
    return new CameraError(
      "insecure",
      `The live camera needs a secure page: browsers open cameras only for pages served over https or from this computer itself` +
        `address, and this page came over ${location.protocol.replace(":", "")} from ${location.host}. Serve it with ` +
        `\`python -m runtime serve --https\` and open the https address it prints. ${FALLBACK}`,
    );
  }
  if (!navigator.mediaDevices || typeof navigator.mediaDevices.getUserMedia !== "function") {
    return new CameraError("unsupported", `This browser cannot open a camera from a page (no getUserMedia). ${FALLBACK}`);
  }
  return null;
}

function describeFailure(err) {
  const detail = `${err.name || "Error"}: ${err.message || err}`;
  switch (err.name) {
    case "NotAllowedError":
    case "SecurityError":
      return new CameraError(
        "denied",
        `Camera permission was refused. Allow the camera for this page (the camera or padlock icon by the address), ` +
          `then press “Live camera” again. ${FALLBACK}`,
      );
    case "NotFoundError":
    case "OverconstrainedError":
      return new CameraError("missing", `No camera was found on this device (${detail}). ${FALLBACK}`);
    case "NotReadableError":
    case "AbortError":
      return new CameraError("busy", `The camera could not be started; another app may be using it (${detail}). ${FALLBACK}`);
    default:
      return new CameraError("failed", `The camera could not be opened (${detail}). ${FALLBACK}`);
  }
}

/** Opens the rear camera into `video` and starts it playing; the MediaStream, or a CameraError. */
export async function openCamera(video) {
  const problem = cameraProblem();
  if (problem) throw problem;
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia(CONSTRAINTS);
  } catch (err) {
    throw describeFailure(err);
  }
  video.muted = true;
  video.playsInline = true;
  video.srcObject = stream;
  try {
    await video.play();
  } catch (err) {
    closeCamera(stream, video);
    throw describeFailure(err);
  }
  return stream;
}

/** Stops every track of the stream and detaches it from the video. */
export function closeCamera(stream, video) {
  if (stream) stream.getTracks().forEach((track) => track.stop());
  if (video) video.srcObject = null;
}

/** Resolves when the video has a new frame (requestVideoFrameCallback where the browser has it). */
export function nextFrame(video) {
  return new Promise((resolve) => {
    if (typeof video.requestVideoFrameCallback === "function") video.requestVideoFrameCallback(() => resolve());
    else requestAnimationFrame(() => resolve());
  });
}

/** Copies the video's current frame into a canvas of its own size: {rgba, width, height}, or null before the first frame. */
export class FrameGrabber {
  constructor() {
    this.canvas = null;
    this.context = null;
  }

  grab(video) {
    const width = video.videoWidth;
    const height = video.videoHeight;
    if (!width || !height) return null;
    if (!this.canvas || this.canvas.width !== width || this.canvas.height !== height) {
      this.canvas = new OffscreenCanvas(width, height);
      this.context = this.canvas.getContext("2d", { willReadFrequently: true });
    }
    this.context.drawImage(video, 0, 0, width, height);
    return { rgba: this.context.getImageData(0, 0, width, height).data, width, height };
  }
}
