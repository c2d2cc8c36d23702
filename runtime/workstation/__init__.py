"""What only a workstation (the training and conversion machine) runs, for train/ and convert/:
the pinned downloads (the mnist-5k data, onnxruntime-web) and the generator of the page's
web/constants.js. It is TensorFlow-free like the rest of runtime/, but nothing on a device
needs it.

May import: the shared vocabulary, the store and the library (runtime.preprocess for the page's
constants). Nothing else in runtime/ imports it."""
