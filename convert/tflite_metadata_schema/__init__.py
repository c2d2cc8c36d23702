"""TFLite metadata's flatbuffer schema (the "M001" ModelMetadata that Android's LiteRT support
library and MediaPipe read), vendored because no maintained package ships its Python code:
tflite-support, which did, was last released in 2023 and pins protobuf<4.

- metadata_schema.fbs: the schema, as tflite-support 0.4.4 ships it (schema version 1.5.0).
- metadata_schema_py_generated.py: flatc's Python object API for it, unmodified from the same
  wheel (flatc --python --gen-object-api).
- LICENSE: Apache-2.0, The TensorFlow Authors.

To regenerate (e.g. after a schema update upstream, in google-ai-edge/LiteRT or
tensorflow/tflite-support): `flatc --python --gen-object-api --gen-onefile
metadata_schema.fbs`, then rename the output to metadata_schema_py_generated.py. It needs only the
`flatbuffers` package at run time.
"""
