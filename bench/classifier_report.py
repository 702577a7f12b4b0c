"""Precision and recall of the classifier per intent on the corpus, as a
Markdown table for the README. The held-out scenarios (holdout-*), written
by someone who never saw the rules and never tuned on, are reported apart.

Usage: .venv/bin/python bench/classifier_report.py
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "corpus"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from runner import precision_recall, run_scenario, scenarios  # noqa: E402


def table(title: str, outcomes: list) -> str:
    rows = [f"**{title}** — {len(outcomes)} messages, {sum(o.ok for o in outcomes)} fully as expected (case, intent and signals)", "",
            "| intent | precision | recall | messages |", "|---|---|---|---|"]
    for intent, row in precision_recall(outcomes).items():
        if row["support"]:
            rows.append(f"| {intent} | {row['precision']:.2f} | {row['recall']:.2f} | {row['support']} |")
    return "\n".join(rows)


def main() -> None:
    tuned, held_out = [], []
    for folder in scenarios():
        (held_out if folder.name.startswith("holdout-") else tuned).extend(run_scenario(folder))
    print(table("Development corpus", tuned))
    if held_out:
        print()
        print(table("Held-out corpus", held_out))
        for o in held_out:
            if not o.ok:
                print(f"- {o.scenario}/{o.file}: {'; '.join(o.problems)}")


if __name__ == "__main__":
    main()
