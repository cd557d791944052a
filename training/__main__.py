"""`python -m training`: train the tutorial network by a recipe, or evaluate saved models."""

import argparse
import logging
import sys
from dataclasses import replace
from pathlib import Path

from training.config import RECIPES, TrainConfig
from training.data import DATA_ENV, DatasetError, Mnist, load_mnist

DEFAULT_REPOSITORY = Path(__file__).resolve().parent.parent / "models"
DATA_HELP = (
    f"MNIST .npz in Keras' layout (x_train, y_train, x_test, y_test); default: ${DATA_ENV}, "
    "else download through keras.datasets.mnist.load_data()"
)
EVAL_HELP = "evaluate at most N images per kind of upload (default: all of the suite)"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    defaults = TrainConfig()
    parser = argparse.ArgumentParser(
        prog="python -m training",
        description="Train the Keras tutorial MLP and save model, card and report as the next "
        "version of a model repository (default command), or compare saved models on every "
        "kind of upload with 'evaluate'.",
    )
    parser.add_argument("--data", metavar="PATH", help=DATA_HELP)
    parser.add_argument(
        "--recipe",
        choices=RECIPES,
        default=defaults.recipe,
        help="robust: MNIST + distorted copies + typed digits, canonicalised like uploads; "
        "tutorial: the seed Keras tutorial exactly (default: %(default)s)",
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--repository",
        type=Path,
        default=DEFAULT_REPOSITORY,
        help="model repository: writes <repository>/<name>/<next version>/model.keras, "
        "model.card.json and report/ (default: %(default)s)",
    )
    where.add_argument(
        "--out", type=Path, help="write <name>.keras, its card and report/ into this folder instead"
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
    parser.add_argument(
        "--copies",
        type=int,
        default=defaults.copies,
        help="robust: distorted copies of each training digit (default: %(default)s)",
    )
    parser.add_argument(
        "--typed-share",
        type=float,
        default=defaults.typed_share,
        help="robust: typed digits per training digit (default: %(default)s)",
    )
    for flag, help_text in (
        ("--photo-share", "phone photos of paper per training digit"),
        ("--outlier-share", "images that are not digits (Outlier Exposure) per training digit"),
    ):
        parser.add_argument(
            flag,
            type=float,
            default=getattr(defaults, flag[2:].replace("-", "_")),
            help=f"robust: {help_text} (default: %(default)s)",
        )
    parser.add_argument("--eval-samples", type=int, metavar="N", help=EVAL_HELP)
    parser.add_argument("--name", default=defaults.name, help="model name (default: %(default)s)")
    parser.add_argument(
        "--version",
        default=defaults.version,
        help="model version with --out (a repository numbers versions itself; "
        "default: %(default)s)",
    )
    commands = parser.add_subparsers(dest="command", metavar="{evaluate,export}")
    evaluate = commands.add_parser(
        "evaluate",
        help="print MNIST test results and the accuracy per kind of upload of saved models",
    )
    evaluate.add_argument(
        "--model",
        type=Path,
        nargs="+",
        default=[DEFAULT_REPOSITORY / defaults.name / "2"],
        help=".keras files or repository version folders, compared side by side "
        "(default: %(default)s)",
    )
    # SUPPRESS: an unset sub-command default would overwrite a --data given before "evaluate".
    evaluate.add_argument("--data", metavar="PATH", default=argparse.SUPPRESS, help=DATA_HELP)
    evaluate.add_argument(
        "--eval-samples", type=int, metavar="N", default=argparse.SUPPRESS, help=EVAL_HELP
    )
    export = commands.add_parser(
        "export",
        help="write the LiteRT file the service serves (model.tflite) beside models trained "
        "elsewhere, recorded in their cards with how closely it agrees with Keras on MNIST test",
    )
    export.add_argument(
        "models", type=Path, nargs="+", help="version folders (models/mnist/N) or .keras files"
    )
    export.add_argument("--data", metavar="PATH", default=argparse.SUPPRESS, help=DATA_HELP)
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
        return _evaluate(args.model, data, args.eval_samples)
    if args.command == "export":
        return _export(args.models, data)
    if args.limit:
        data = replace(data, x_train=data.x_train[: args.limit], y_train=data.y_train[: args.limit])
    config = TrainConfig(
        recipe=args.recipe,
        epochs=args.epochs,
        batch_size=args.batch_size,
        validation_split=args.validation_split,
        seed=args.seed,
        name=args.name,
        version=args.version,
        copies=args.copies,
        typed_share=args.typed_share,
        photo_share=args.photo_share,
        outlier_share=args.outlier_share,
        eval_samples=args.eval_samples,
    )
    from training.train import run, run_into_repository

    if args.out is not None:
        card, where = run(data, config, args.out), args.out
    else:
        card, where = run_into_repository(data, config, args.repository)
    test = card["test"]
    assert isinstance(test, dict)
    print(
        f"test accuracy: {test['accuracy']:.4f} ({test['correct']} correct, "
        f"{test['incorrect']} incorrect); model saved in {where}"
    )
    return 0


def _evaluate(paths: list[Path], data: Mnist, samples: int | None) -> int:
    import keras

    from training.evaluation import build_suite, evaluate_suite, table
    from training.repository import MODEL_FILE
    from training.train import evaluate

    files = [path / MODEL_FILE if path.is_dir() else path for path in paths]
    for file in files:
        if not file.is_file():
            print(f"error: {file}: no such model file", file=sys.stderr)
            return 2
    suite = build_suite(data, samples)
    columns = {}
    for file in files:
        model = keras.saving.load_model(file)
        result = evaluate(model, data)
        print(f"model: {file}")
        print(f"test accuracy: {result.accuracy:.4f}")
        print(f"correct: {result.correct}")
        print(f"incorrect: {result.incorrect}")
        print(f"test loss: {result.loss:.4f}")
        columns[str(file)] = evaluate_suite(model, suite, _threshold(file))
    print()
    print(table(columns))
    return 0


def _export(paths: list[Path], data: Mnist) -> int:
    from app.inference.model_file import ModelLoadError, litert_path
    from training.data import prepare
    from training.export import export
    from training.repository import MODEL_FILE

    pixels, _ = prepare(data.x_test, data.y_test)
    for path in paths:
        file = path / MODEL_FILE if path.is_dir() else path
        try:
            record = export(file, pixels, f"MNIST test ({data.source})")
        except ModelLoadError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        measured = record["agreement"]
        print(
            f"{litert_path(file)}: sha256 {record['sha256']}, recorded in its card; LiteRT vs "
            f"Keras on {measured['images']} MNIST test images: max abs difference "
            f"{measured['max_abs_difference']:.2e}, same class {measured['same_class']}"
        )
    return 0


def _threshold(model_file: Path) -> float | None:
    """The abstention threshold the model's card records (None: it has none)."""
    from app.inference.model_file import ABSTENTION_CARD_KEY, read_card

    record = read_card(model_file).get(ABSTENTION_CARD_KEY)
    return float(record["threshold"]) if isinstance(record, dict) else None


if __name__ == "__main__":
    sys.exit(main())
