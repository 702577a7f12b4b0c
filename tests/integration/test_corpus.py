"""The mail-understanding corpus (tests/corpus): every message lands in the
case, with the intent and signals, that a complaints manager expects; and the
classifier's precision and recall per intent stay at 0.9 or better."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "corpus"))
from runner import precision_recall, run_scenario, scenarios  # noqa: E402

FLOOR = 0.9
RESULTS: dict[str, list] = {}


def outcomes(folder: Path) -> list:
    if folder.name not in RESULTS:
        RESULTS[folder.name] = run_scenario(folder)
    return RESULTS[folder.name]


@pytest.mark.parametrize("folder", scenarios(), ids=lambda p: p.name)
def test_scenario(folder: Path):
    failed = [f"{o.file}: {'; '.join(o.problems)}" for o in outcomes(folder) if not o.ok]
    assert not failed, "\n".join(failed)


def test_the_corpus_is_large_enough():
    assert sum(len(outcomes(folder)) for folder in scenarios()) >= 150


def test_precision_and_recall_per_intent_are_at_least_0_9():
    everything = [o for folder in scenarios() for o in outcomes(folder)]
    table = precision_recall(everything)
    low = {intent: row for intent, row in table.items() if row["support"] and (row["precision"] < FLOOR or row["recall"] < FLOOR)}
    assert not low, low
