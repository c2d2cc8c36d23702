"""What only a workstation (the training and conversion machine) runs, kept apart from the
device package around it: runtime/ is numpy plus one interpreter, and nothing in it imports
this subpackage at module level.

Here: TFLite Micro (`tflite-micro` has wheels for x86_64 Linux only): its backend
(tflm_backend), the arena tried in a child (arena_probe), its comparison with LiteRT
(litert_comparison), the generated C array (c_array) and what `parity` checks of a micro
artifact (micro_checks); and the HTML report with matplotlib's figures (report/).

A device command reaches this code only through a function-level import where it dispatches
to it (`--backend tflite-micro`, `parity` of a micro artifact, `parity --report`); the list is
in tests/test_structure.py."""
