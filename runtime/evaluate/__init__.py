"""How close an artifact is to the Keras model, and how fast it runs: parity on the reference
images (parity), the timing of a call (timing), where a check ran (platform_info), and what
parity checks of a TFLite Micro artifact (micro_checks, its C array read back by c_array, its
outputs against LiteRT's in litert_comparison).

May import: the shared vocabulary, the store, the backends, runtime.model and this package;
never the apps."""
