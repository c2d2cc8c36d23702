"""Export of a Keras image classifier (the one `train` made, or the user's own) to TFLite,
ONNX and TFLite Micro, each file verified through the device runtime before it is listed in
the manifest; `diagnose` shows where int8 loses accuracy. Needs TensorFlow."""
