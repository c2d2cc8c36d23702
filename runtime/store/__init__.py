"""The models folder and the safety of the files in it: what every other part of the toolkit
asks instead of opening those files itself.

Here: the folder's names (layout), its manifest, rejections included (manifest), atomic writes,
locks and checksums (files), what a model file carries about itself (embedded), the ONNX
external-data check (onnx_external) and the per-user cache folder (user_cache).

May import: the shared vocabulary (runtime.errors, runtime.tables, runtime.contract,
runtime.verdict) and this package; never the backends, the library or the apps. numpy and the
standard library only."""
