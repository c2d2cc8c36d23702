"""Training of the seed MNIST classifier or the small CNN, and what every models folder starts
from (train/outputs.py). Needs TensorFlow; never imported by the runtime."""
