"""Training of the seed MNIST classifier or the small CNN, and the models folder every later
step starts from (written through runtime.store.folder.ModelsFolder.create). Needs TensorFlow;
never imported by the runtime."""
