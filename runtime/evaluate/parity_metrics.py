"""The five numbers that say how close an artifact's outputs are to the float Keras model's on
the reference images, defined once: parity measures them (runtime.evaluate.parity.ParityResult) and the
manifest records them at conversion (runtime.store.manifest.Metrics)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Optional


@dataclass
class ParityMetrics:
    """None: not measured (accuracy without labels, or an artifact that could not run)."""

    accuracy: Optional[float] = None
    """Top-1 accuracy on the labelled reference images, as a fraction."""
    delta_accuracy: Optional[float] = None
    """accuracy - Keras accuracy, as a fraction."""
    agreement: Optional[float] = None
    """Share of images with the same top-1 class as Keras."""
    max_abs_dp: Optional[float] = None
    """Largest |p - p_keras| over every image and class."""
    mean_abs_dp: Optional[float] = None
    """Mean |p - p_keras| over every image and class."""

    def parity_metrics(self) -> dict:
        """These five numbers alone, by name (for a record that holds them beside others)."""
        return {f.name: getattr(self, f.name) for f in fields(ParityMetrics)}
