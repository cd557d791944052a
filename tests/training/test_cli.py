"""`python -m training`: its help, its error for a bad --data, `evaluate`, and argument parsing.

Training through the command line is tested in test_train.py, beside the other run.
"""

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.support import ROOT
from training.__main__ import main, parse_args
from training.data import DATA_ENV, Mnist
from training.train import TrainConfig

CARD = ROOT / "models" / "mnist" / "1" / "model.card.json"
OPTIONS = [
    "--data",
    "--recipe",
    "--repository",
    "--out",
    "--epochs",
    "--batch-size",
    "--validation-split",
    "--seed",
    "--limit",
    "--name",
    "--version",
    "--copies",
    "--typed-share",
    "--eval-samples",
    "evaluate",
]


def start_cli(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "training", *args],
        cwd=ROOT,
        # TensorFlow's C++ start-up log is not ours to test.
        env=os.environ | {"TF_CPP_MIN_LOG_LEVEL": "3"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(process: subprocess.Popen[str]) -> subprocess.CompletedProcess[str]:
    stdout, stderr = process.communicate(timeout=300)
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


@pytest.fixture(scope="module")
def missing_npz(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cli") / "missing.npz"


@pytest.fixture(scope="module")
def cli_runs(missing_npz: Path) -> Iterator[dict[str, subprocess.CompletedProcess[str]]]:
    """The command lines of this module, run side by side: each mostly imports TensorFlow."""
    commands = {"help": ["--help"], "bad data": ["--data", str(missing_npz)]}
    if data := os.environ.get(DATA_ENV):
        commands["evaluate"] = [
            "evaluate",
            "--model",
            "models/mnist/1/model.keras",
            "--data",
            data,
            "--eval-samples",
            "40",
        ]
    processes = {name: start_cli(*args) for name, args in commands.items()}
    try:
        yield {name: finish(process) for name, process in processes.items()}
    finally:
        for process in processes.values():
            process.kill()  # a no-op once it has finished
            process.communicate()


@pytest.fixture(scope="module")
def help_run(
    cli_runs: dict[str, subprocess.CompletedProcess[str]],
) -> subprocess.CompletedProcess[str]:
    return cli_runs["help"]


def test_cli_help_exits_zero(help_run: subprocess.CompletedProcess[str]) -> None:
    assert help_run.returncode == 0, help_run.stderr


@pytest.mark.parametrize("option", OPTIONS)
def test_cli_help_documents_option(help_run: subprocess.CompletedProcess[str], option: str) -> None:
    # An entry of the option list: the option, then its help on the same or the next line.
    entry = rf"^ +{re.escape(option)}\b[^\n]*?( {{2,}}\S|\n {{16,}}\S)"
    assert re.search(entry, help_run.stdout, flags=re.MULTILINE), help_run.stdout


@pytest.fixture(scope="module")
def bad_data_run(
    cli_runs: dict[str, subprocess.CompletedProcess[str]],
) -> subprocess.CompletedProcess[str]:
    return cli_runs["bad data"]


def test_cli_bad_data_exits_2(bad_data_run: subprocess.CompletedProcess[str]) -> None:
    assert bad_data_run.returncode == 2, bad_data_run.stderr


def test_cli_bad_data_prints_one_error_line_naming_the_file(
    bad_data_run: subprocess.CompletedProcess[str], missing_npz: Path
) -> None:
    [line] = bad_data_run.stderr.splitlines()
    assert line.startswith(f"error: {missing_npz}: no such file")


@pytest.fixture(scope="module")
def card() -> dict:
    return json.loads(CARD.read_text())


@pytest.fixture(scope="module")
def evaluate_run(
    mnist: Mnist, cli_runs: dict[str, subprocess.CompletedProcess[str]]
) -> subprocess.CompletedProcess[str]:
    """`evaluate` of the shipped model on the real MNIST (skips, via `mnist`, without it)."""
    return cli_runs["evaluate"]


@pytest.fixture(scope="module")
def evaluate_output(evaluate_run: subprocess.CompletedProcess[str]) -> dict[str, str]:
    """The `name: value` lines `evaluate` prints."""
    return dict(line.split(": ", 1) for line in evaluate_run.stdout.splitlines() if ": " in line)


@pytest.mark.slow
def test_cli_evaluate_exits_zero(evaluate_run: subprocess.CompletedProcess[str]) -> None:
    assert evaluate_run.returncode == 0, evaluate_run.stderr


@pytest.mark.slow
def test_cli_evaluate_prints_the_card_accuracy(evaluate_output: dict, card: dict) -> None:
    assert evaluate_output["test accuracy"] == f"{card['test']['accuracy']:.4f}"


@pytest.mark.slow
def test_cli_evaluate_prints_the_card_correct_count(evaluate_output: dict, card: dict) -> None:
    assert evaluate_output["correct"] == str(card["test"]["correct"])


@pytest.mark.slow
def test_cli_evaluate_prints_the_card_incorrect_count(evaluate_output: dict, card: dict) -> None:
    assert evaluate_output["incorrect"] == str(card["test"]["incorrect"])


@pytest.mark.slow
@pytest.mark.parametrize(
    "kind", ["mnist", "inverted", "off_centre", "canvas", "distorted", "typed", "typed_hand"]
)
def test_cli_evaluate_prints_a_row_per_kind_of_upload(
    evaluate_run: subprocess.CompletedProcess[str], kind: str
) -> None:
    row = rf"^\| {kind}: .* \| \d+\.\d\d% / \d+\.\d\d% \|$"  # read right / refused
    assert re.search(row, evaluate_run.stdout, re.MULTILINE)


@pytest.mark.slow
def test_cli_evaluate_table_mnist_row_is_the_test_accuracy(
    evaluate_run: subprocess.CompletedProcess[str], card: dict
) -> None:
    row = next(line for line in evaluate_run.stdout.splitlines() if line.startswith("| mnist: "))
    assert row.endswith(f"| {card['test']['accuracy']:.2%} / 0.00% |")  # no threshold: none refused


def test_main_evaluate_missing_model_exits_2_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "tiny.npz"
    image, label = np.zeros((1, 28, 28), np.uint8), np.zeros(1, np.uint8)
    np.savez(data, x_train=image, y_train=label, x_test=image, y_test=label)
    missing = tmp_path / "missing.keras"
    assert main(["evaluate", "--model", str(missing), "--data", str(data)]) == 2
    assert capsys.readouterr().err == f"error: {missing}: no such model file\n"


def test_parse_args_evaluate_help_documents_model_and_data(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exited:
        parse_args(["evaluate", "--help"])
    out = capsys.readouterr().out
    assert (exited.value.code, "--model" in out, "--data" in out) == (0, True, True)


PARSED = [
    ("--epochs 3", "epochs", 3),
    ("--batch-size 64", "batch_size", 64),
    ("--validation-split 0.25", "validation_split", 0.25),
    ("--seed 7", "seed", 7),
    ("--limit 1000", "limit", 1000),
    ("--name digits", "name", "digits"),
    ("--version 2", "version", "2"),
    ("--out /tmp/out", "out", Path("/tmp/out")),
    ("--data x.npz", "data", "x.npz"),
    ("", "data", None),
    ("", "command", None),
    ("evaluate", "command", "evaluate"),
    ("evaluate --model m.keras", "model", [Path("m.keras")]),
    ("evaluate --model a.keras models/mnist/2", "model", [Path("a.keras"), Path("models/mnist/2")]),
    ("evaluate --eval-samples 50", "eval_samples", 50),
    ("", "recipe", "robust"),
    ("--recipe tutorial", "recipe", "tutorial"),
    ("--repository /tmp/r", "repository", Path("/tmp/r")),
    ("", "out", None),
    ("--copies 3", "copies", 3),
    ("--typed-share 0.2", "typed_share", 0.2),
    ("evaluate --data y.npz", "data", "y.npz"),
    ("--data x.npz evaluate", "data", "x.npz"),
    ("evaluate", "data", None),
]


@pytest.mark.parametrize(
    ("argv", "field", "expected"), PARSED, ids=[f"{a or '(none)'}->{f}" for a, f, _ in PARSED]
)
def test_parse_args_reads_option(argv: str, field: str, expected: object) -> None:
    assert getattr(parse_args(argv.split()), field) == expected


@pytest.mark.parametrize(
    "field",
    ["recipe", "epochs", "batch_size", "validation_split", "seed", "name", "copies", "typed_share"],
)
def test_parse_args_defaults_are_the_train_config_defaults(field: str) -> None:
    assert getattr(parse_args([]), field) == getattr(TrainConfig(), field)


def test_report_and_evaluation_import_without_the_training_loop() -> None:
    """No import cycle: the report and the evaluation never need training.train (nor Keras)."""
    code = (
        "import sys, training.report, training.evaluation, training.card; "
        "print('training.train' in sys.modules, 'tensorflow' in sys.modules)"
    )
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert run.stdout.split() == ["False", "False"], run.stderr
