"""Training of the seed MNIST classifier (needs TensorFlow; never imported by the runtime)."""
