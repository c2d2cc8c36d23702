"""The models folder and the safety of the files in it: what every other part of the toolkit
asks instead of opening those files itself.

Here: the folder's one owner (folder: ModelsFolder reads the manifest once and the bundles on
first use, and is the only writer of both), its names and the rule for a model's name
(layout), its manifest, rejections included (manifest), the reference and calibration bundles
(bundles), .npz arrays sized before they are read (arrays), atomic writes, locks and checksums
(files), what a model file carries about itself (embedded), the ONNX external-data check
(onnx_external) and the per-user cache folder (user_cache).

May import: the shared vocabulary (runtime.errors, runtime.tables, runtime.contract,
runtime.verdict, runtime.untrusted) and this package; never the backends, the library or the apps. numpy and the
standard library only."""
