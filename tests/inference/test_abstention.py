"""The verdict (app.inference.abstention), the card's abstention record and the two settings."""

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from app.imaging.pipeline import PreparedImage
from app.inference.abstention import LOW_CONFIDENCE, NO_DIGIT_SHAPE, NotADigit, verdict
from app.inference.model_file import ModelLoadError, abstention_threshold, read_info
from app.settings import Settings
from tests.support import REPOSITORY
from tests.support.versions import carded_version

SURE = np.array([0.01] * 9 + [0.91], np.float32)  # highest: 0.91, digit 9
UNSURE = np.array([0.05] * 8 + [0.2, 0.4], np.float32)  # highest: 0.4
REFUSAL = "no ink component is shaped like a digit"


@pytest.mark.parametrize(
    ("probabilities", "refusal", "threshold", "reason"),
    [
        (UNSURE, None, None, None),  # no threshold: never abstains ...
        (UNSURE, REFUSAL, None, None),  # ... not even when the pipeline refused the image
        (SURE, None, 0.9, None),
        (SURE, None, 0.91, None),  # at the threshold: a digit
        (UNSURE, None, 0.9, LOW_CONFIDENCE),
        (SURE, None, 0.95, LOW_CONFIDENCE),
        (SURE, REFUSAL, 0.5, NO_DIGIT_SHAPE),  # the pipeline's refusal, however sure the model
        (UNSURE, REFUSAL, 0.9, NO_DIGIT_SHAPE),
    ],
)
def test_verdict_table(
    probabilities: np.ndarray, refusal: str | None, threshold: float | None, reason: str | None
) -> None:
    answer = verdict(probabilities, refusal, threshold)
    assert (answer.reason if answer else None) == reason


def test_verdict_low_confidence_detail_names_both_numbers() -> None:
    assert verdict(UNSURE, None, 0.87) == NotADigit(
        LOW_CONFIDENCE, "the highest probability, 0.40, is below this model's threshold 0.87"
    )


def test_verdict_detail_tells_close_numbers_apart() -> None:
    probabilities = np.array([0.0] * 9 + [0.8699], np.float32)
    answer = verdict(probabilities, None, 0.87)
    assert answer is not None
    assert "0.8699" in answer.detail
    assert "0.8700" in answer.detail


def test_verdict_of_a_refused_prepared_image_is_no_digit_shape() -> None:
    prepared = PreparedImage(np.zeros((28, 28), np.uint8), normalized=True, refusal=REFUSAL)
    answer = verdict(SURE, prepared.refusal, 0.5)
    assert answer is not None
    assert answer.reason == NO_DIGIT_SHAPE
    assert REFUSAL in answer.detail


@pytest.mark.parametrize(
    ("card", "threshold"),
    [
        ({}, None),
        ({"abstention": None}, None),
        ({"abstention": {"threshold": 0.87, "score": "max_probability"}}, 0.87),
        ({"abstention": {"threshold": 0.5, "score": "max_probability", "fpr": 0.05}}, 0.5),
        ({"abstention": {"threshold": 0.5}}, 0.5),  # the score defaults to max_probability
    ],
)
def test_card_abstention_threshold(card: dict, threshold: float | None) -> None:
    assert abstention_threshold(card, Path("m/model.keras")) == threshold


@pytest.mark.parametrize(
    ("abstention", "message"),
    [
        ({"threshold": 1.5}, "`abstention.threshold` must be a number between 0 and 1"),
        ({"threshold": 0}, "not 0"),
        ({"threshold": 1}, "not 1"),
        ({"threshold": -0.1}, "not -0.1"),
        ({"threshold": "0.9"}, 'not "0.9"'),
        ({"threshold": True}, "not true"),
        ({"threshold": math.nan}, "not NaN"),
        ({"score": "max_probability"}, "not null"),
        ({"threshold": 0.9, "score": "energy"}, "`abstention.score` must be 'max_probability'"),
        (0.9, "`abstention` must be an object with a `threshold`, not 0.9"),
    ],
)
def test_card_malformed_abstention_is_a_load_error(abstention: object, message: str) -> None:
    with pytest.raises(ModelLoadError, match=r"the card of m/model\.keras") as raised:
        abstention_threshold({"abstention": abstention}, Path("m/model.keras"))
    assert message in str(raised.value)


def test_read_info_carries_the_cards_threshold(tmp_path: Path) -> None:
    abstention = {"threshold": 0.87, "score": "max_probability"}
    folder = carded_version(tmp_path, 3, abstention=abstention)
    info = read_info(folder / "model.keras")
    assert info.abstention_threshold == 0.87
    assert info.card["abstention"] == abstention


def test_read_info_refuses_a_malformed_threshold(tmp_path: Path) -> None:
    folder = carded_version(tmp_path, 3, abstention={"threshold": 1.5})
    with pytest.raises(ModelLoadError, match=r"abstention\.threshold.*not 1\.5"):
        read_info(folder / "model.keras")


@pytest.mark.parametrize(("version", "has_threshold"), [("1", False), ("2", False), ("3", True)])
def test_shipped_cards_threshold_only_from_outlier_exposure(
    version: str, has_threshold: bool
) -> None:
    card = json.loads((REPOSITORY / "mnist" / version / "model.card.json").read_text())
    assert ("abstention" in card) is has_threshold
    if has_threshold:
        assert read_info(REPOSITORY / "mnist" / version / "model.keras").abstention_threshold


@pytest.mark.parametrize(
    ("abstain", "override", "card", "effective"),
    [
        (True, None, None, None),
        (True, None, 0.87, 0.87),
        (True, 0.5, 0.87, 0.5),  # the setting overrides the card ...
        (True, 0.5, None, 0.5),  # ... also for a version without a threshold
        (False, 0.5, 0.87, None),  # abstention off: never
        (False, None, 0.87, None),
    ],
)
def test_settings_effective_threshold(
    abstain: bool, override: float | None, card: float | None, effective: float | None
) -> None:
    settings = Settings(abstain=abstain, abstain_threshold=override)
    assert settings.effective_threshold(card) == effective


@pytest.mark.parametrize("value", ["1.5", "abc", "0", "1", "-0.5", "nan", "inf"])
def test_settings_bad_threshold_names_the_variable_and_value(
    value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MNIST_API_ABSTAIN_THRESHOLD", value)
    with pytest.raises(
        ValidationError, match=f"MNIST_API_ABSTAIN_THRESHOLD .*not '{re.escape(value)}'"
    ):
        Settings()


@pytest.mark.parametrize(("value", "threshold"), [("0.75", 0.75), ("", None)])
def test_settings_threshold_from_the_environment(
    value: str, threshold: float | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MNIST_API_ABSTAIN_THRESHOLD", value)
    assert Settings().abstain_threshold == threshold


@pytest.mark.parametrize(("value", "abstain"), [("false", False), ("0", False), ("true", True)])
def test_settings_abstain_from_the_environment(
    value: str, abstain: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MNIST_API_ABSTAIN", value)
    assert Settings().abstain is abstain
