"""Export of the trained Keras model to TFLite and ONNX, each file verified through the
device runtime before it is listed in the manifest."""
