"""`python -m training`: train the tutorial network on MNIST, or evaluate a saved model."""

import argparse
import logging
import sys
from pathlib import Path

from training.config import TrainConfig
from training.data import DATA_ENV, DatasetError, load_mnist

DEFAULT_OUT = Path(__file__).resolve().parent.parent / "models"
DATA_HELP = (
    f"MNIST .npz in Keras' layout (x_train, y_train, x_test, y_test); default: ${DATA_ENV}, "
    "else download through keras.datasets.mnist.load_data()"
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    defaults = TrainConfig()
    parser = argparse.ArgumentParser(
        prog="python -m training",
        description="Train the Keras tutorial MLP on MNIST and save model, card and report "
        "(default command), or evaluate a saved model with 'evaluate'.",
    )
    parser.add_argument("--data", metavar="PATH", help=DATA_HELP)
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help="output folder (default: %(default)s)"
    )
    parser.add_argument("--epochs", type=int, default=defaults.epochs, help="default: %(default)s")
    parser.add_argument(
        "--batch-size", type=int, default=defaults.batch_size, help="default: %(default)s"
    )
    parser.add_argument(
        "--validation-split",
        type=float,
        default=defaults.validation_split,
        help="fraction of the training set held out for validation (default: %(default)s)",
    )
    parser.add_argument(
        "--seed", type=int, default=defaults.seed, help="random seed (default: %(default)s)"
    )
    parser.add_argument(
        "--limit",
        type=int,
        metavar="N",
        help="train on the first N training images only (quick runs and tests)",
    )
    parser.add_argument("--name", default=defaults.name, help="model name (default: %(default)s)")
    parser.add_argument(
        "--version", default=defaults.version, help="model version (default: %(default)s)"
    )
    commands = parser.add_subparsers(dest="command", metavar="{evaluate}")
    evaluate = commands.add_parser(
        "evaluate", help="load a saved model and print its test accuracy and counts"
    )
    evaluate.add_argument(
        "--model",
        type=Path,
        default=DEFAULT_OUT / f"{defaults.name}.keras",
        help="saved .keras model (default: %(default)s)",
    )
    # SUPPRESS: an unset sub-command default would overwrite a --data given before "evaluate".
    evaluate.add_argument("--data", metavar="PATH", default=argparse.SUPPRESS, help=DATA_HELP)
    args = parser.parse_args(argv)
    if getattr(args, "limit", None) is not None and args.limit <= 0:
        parser.error(f"--limit must be a positive number of images, got {args.limit}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        data = load_mnist(args.data)
    except DatasetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.command == "evaluate":
        return _evaluate(args.model, data)
    if args.limit:
        from dataclasses import replace

        data = replace(data, x_train=data.x_train[: args.limit], y_train=data.y_train[: args.limit])
    from training.train import run

    config = TrainConfig(
        epochs=args.epochs,
        batch_size=args.batch_size,
        validation_split=args.validation_split,
        seed=args.seed,
        name=args.name,
        version=args.version,
    )
    card = run(data, config, args.out)
    test = card["test"]
    assert isinstance(test, dict)
    print(
        f"test accuracy: {test['accuracy']:.4f} ({test['correct']} correct, "
        f"{test['incorrect']} incorrect); model saved in {args.out}"
    )
    return 0


def _evaluate(model_path: Path, data) -> int:  # type: ignore[no-untyped-def]
    import keras

    from training.train import evaluate

    if not model_path.is_file():
        print(f"error: {model_path}: no such model file", file=sys.stderr)
        return 2
    model = keras.saving.load_model(model_path)
    result = evaluate(model, data)
    print(f"model: {model_path}")
    print(f"test accuracy: {result.accuracy:.4f}")
    print(f"correct: {result.correct}")
    print(f"incorrect: {result.incorrect}")
    print(f"test loss: {result.loss:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
