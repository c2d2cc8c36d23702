"""A Keras model's architecture as a models folder's manifest records it ("28x28 input,
flattened to 784 → Dense 64 relu → ..."), for `train` and `convert --keras` alike. It reads the
layers' configs of a model it is given and never imports Keras itself."""

from __future__ import annotations

import numpy as np


def _layer_text(layer) -> str:
    """One layer as the architecture line shows it: "Dense 64 relu", "Conv2D 16 3x3 relu"."""
    kind = layer.__class__.__name__
    config = layer.get_config()
    activation = config.get("activation")
    activation = "" if activation in (None, "linear") else f" {activation}"
    if "filters" in config and "kernel_size" in config:
        return f"{kind} {config['filters']} {'x'.join(map(str, config['kernel_size']))}{activation}"
    if "units" in config:
        return f"{kind} {config['units']}{activation}"
    if "pool_size" in config:
        return f"{kind} {'x'.join(map(str, config['pool_size']))}"
    if kind == "Reshape":
        return f"Reshape {'x'.join(map(str, config['target_shape']))}"
    if kind in ("Rescaling",):
        return f"Rescaling x{config.get('scale')}"
    if kind == "Activation":
        return f"Activation {config.get('activation')}"
    if kind == "Dropout":
        return f"Dropout {config.get('rate')}"
    return kind


def describe_architecture(model) -> dict:
    """{"summary", "parameters", "optimizer"}: the layers in order ("28x28 input, flattened to
    784 → Dense 64 relu → ..."), the parameter count, the optimiser when compiled."""
    shape = [d for d in model.input_shape[1:]]
    parts = ["x".join(map(str, shape)) + " input"]
    for layer in model.layers:
        if layer.__class__.__name__ == "InputLayer":
            continue
        if layer.__class__.__name__ == "Flatten" and len(parts) == 1:
            parts[0] += f", flattened to {int(np.prod(shape))}"
            continue
        parts.append(_layer_text(layer))
    record = {"summary": " → ".join(parts), "parameters": int(model.count_params())}
    optimizer = getattr(model, "optimizer", None)
    if optimizer is not None and getattr(model, "compiled", False):
        rate = getattr(optimizer, "learning_rate", None)
        try:
            rate = float(rate)
        except (TypeError, ValueError):
            rate = None
        loss = model.loss if isinstance(model.loss, str) else ""
        record["optimizer"] = optimizer.__class__.__name__ + (f" (learning rate {rate:.3g})" if rate else "") + (
            f", loss {loss}" if loss else "")
    return record
