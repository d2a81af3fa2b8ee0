"""Intent understanding: accuracy on the held-apart test set, a confusion table, and its cost.

`python -m bench.intents` prints, for handlers/nlu/data/heldout.txt (never trained on): the
per-intent confusion table, recall and precision, the overall accuracy and the lines routed
wrong; then what understanding costs: start-up (import + training, in a fresh process), the
classification of one message (best of several timed passes over the test set), and how many
messages would get a clarifying question. `--calibrate` runs 5-fold cross-validation on the
*training* set to choose the softmax temperature and the confidence thresholds (the held-apart
set is never used for that). `--smoke` does one quick pass. The last line is one JSON object with
`"bench": "intents"` and `"invariants"` (each true when its goal is met); exit status 1 if not.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

if __package__ in (None, ""):  # `python bench/intents.py`: make the project importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.app import FEATURES
from handlers.feature import FeatureSet
from handlers.nlu import model as nlu_model
from handlers.nlu.understand import LIKELY, SURE, Understanding
from handlers.nlu.understand import understand as understand_with
from handlers.nlu.variants import variants

DETECTOR = FeatureSet(FEATURES).detector
INTENTS = DETECTOR.intents
detect_intent = DETECTOR.detect


def understand(text: str) -> Understanding:
    """As the router understands free text: with the features' keyword matcher voting."""
    return understand_with(text, keywords=detect_intent)


GOAL_ACCURACY = 0.95
GOAL_PER_INTENT = 0.85
GOAL_CLASSIFY_US = 1000.0
GOAL_LOAD_S = 1.0

# handlers.intents (the keyword matcher, pypinyin, rapidfuzz) is imported first: the router
# imports it anyway, with or without the understanding layer.
_LOAD = (
    "import time, handlers.intents; t = time.process_time(); "
    "from handlers.nlu.understand import understand; understand('楼道里堆满了杂物'); "
    "print(time.process_time() - t)"
)


def confusion(pairs: list[tuple[str, str]]) -> dict[str, Counter[str]]:
    """expected intent → Counter of routed intents."""
    table: dict[str, Counter[str]] = {}
    for expected, got in pairs:
        table.setdefault(expected, Counter())[got] += 1
    return table


def print_table(table: dict[str, Counter[str]]) -> dict[str, float]:
    """Print the confusion table with recall and precision; return recall per intent."""
    names = [i for i in INTENTS if i in table or any(i in row for row in table.values())]
    short = {n: n[:5] for n in names}
    print("expected \\ routed " + " ".join(f"{short[n]:>5}" for n in names) + "  recall  prec")
    recall: dict[str, float] = {}
    for n in names:
        row = table.get(n, Counter())
        total = sum(row.values())
        routed = sum(r[n] for r in table.values())
        recall[n] = row[n] / total if total else 1.0
        precision = row[n] / routed if routed else 1.0
        cells = " ".join(f"{row[m] or '.':>5}" for m in names)
        print(f"{n:<17} {cells}  {recall[n]:6.2f} {precision:5.2f}  (n={total})")
    return recall


def classify_cost(texts: list[str], passes: int, fn: Callable[[str], object] = understand) -> float:
    """Best-of-`passes` mean CPU microseconds of `fn` (understand()) per message."""
    best = math.inf
    for _ in range(passes):
        start = time.process_time()
        for text in texts:
            fn(text)
        best = min(best, (time.process_time() - start) / len(texts))
    return best * 1e6


def load_seconds() -> float:
    """CPU seconds to import and train the understanding layer in a fresh interpreter."""
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run(
        [sys.executable, "-c", _LOAD], cwd=root, capture_output=True, text=True, check=True
    )
    return float(out.stdout.strip().splitlines()[-1])


def calibrate() -> None:
    """5-fold cross-validation on the training set: accuracy, log loss and thresholds."""
    base = nlu_model.data_file("train.txt")
    folds = 5
    ranked_all: list[tuple[str, list[tuple[str, float]]]] = []
    for k in range(folds):
        train = [ex for i, ex in enumerate(base) if i % folds != k]
        test = [ex for i, ex in enumerate(base) if i % folds == k]
        train += [(intent, v) for intent, text in train for v in variants(intent, text)]
        m = nlu_model.train(train)
        ranked_all += [
            (intent, sorted(m.scores(t).items(), key=lambda kv: -kv[1])) for intent, t in test
        ]
    print(
        f"cross-validated accuracy: {sum(r[0][0] == i for i, r in ranked_all) / len(ranked_all):.3f}"
    )
    for temperature in (3.0, 5.0, 7.0, 9.0, 12.0, 16.0):
        loss = 0.0
        probs: list[tuple[bool, float]] = []
        for intent, ranked in ranked_all:
            top = ranked[0][1]
            exp = {k: math.exp(temperature * (s - top)) for k, s in ranked}
            z = sum(exp.values())
            loss -= math.log(max(exp.get(intent, 0.0) / z, 1e-12))
            probs.append((ranked[0][0] == intent, 1.0 / z))
        line = f"T={temperature:>4}: log loss {loss / len(ranked_all):.3f}"
        for cut in (0.3, 0.5, 0.6, 0.7, 0.8):
            above = [ok for ok, p in probs if p >= cut]
            acc = sum(above) / len(above) if above else 1.0
            line += f" | p>={cut}: {len(above) / len(probs):.2f} of msgs, {acc:.3f} right"
        print(line)


def build_parser() -> argparse.ArgumentParser:
    """The command-line options (no database: this benchmark needs none)."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.intents", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--smoke", action="store_true", help="one quick pass")
    parser.add_argument("--calibrate", action="store_true", help="cross-validate on train")
    return parser


def main() -> int:
    """Run the benchmark; 0 when every goal is met."""
    args = build_parser().parse_args()
    if args.calibrate:
        calibrate()
    start = time.process_time()
    nlu_model.default_model()
    train_s = time.process_time() - start
    test = nlu_model.data_file("heldout.txt")
    results = [(intent, text, understand(text)) for intent, text in test]
    table = confusion([(intent, u.intent) for intent, _, u in results])
    recall = print_table(table)
    right = sum(intent == u.intent for intent, _, u in results)
    accuracy = right / len(results)
    print(f"\naccuracy {accuracy:.3f} ({right}/{len(results)})")
    for intent, text, u in results:
        if intent != u.intent:
            alts = ", ".join(f"{n} {p:.2f}" for n, p in u.top)
            print(f"  {intent:>9} -> {u.intent:<9} [{alts}]  {text}")
    asked = sum(u.clarify for _, _, u in results)
    print(f"clarifying question for {asked} of {len(results)} (sure >= {SURE}, likely >= {LIKELY})")
    texts = [t for _, t in test]
    passes = 2 if args.smoke else 7
    # Side by side in one run: the keyword matcher alone is what routing cost before.
    keywords = classify_cost(texts, passes, detect_intent)
    cost = classify_cost(texts, passes)
    model_only = classify_cost(texts, passes, nlu_model.default_model().probabilities)
    load = load_seconds()
    print(
        f"CPU per message: understand() {cost:.0f} us (model alone {model_only:.0f} us); "
        f"the keyword matcher alone, as before, {keywords:.0f} us: ratio {cost / keywords:.2f}"
    )
    print(
        f"training in this process: {train_s:.3f} s; import + training, fresh process: {load:.3f} s"
    )
    print(f"training set: {len(nlu_model.training_data())} utterances; held-apart: {len(test)}")
    worst = min(recall, key=lambda k: recall[k])
    invariants = {
        "accuracy_ge_0_95": accuracy >= GOAL_ACCURACY,
        "every_intent_ge_0_85": recall[worst] >= GOAL_PER_INTENT,
    }
    if (
        not args.smoke
    ):  # timings are goals of a full run; a smoke run on a busy machine reports them
        invariants["classify_lt_1ms"] = cost < GOAL_CLASSIFY_US
        invariants["load_lt_1s"] = load < GOAL_LOAD_S
    print(json.dumps({
        "bench": "intents", "accuracy": round(accuracy, 4), "worst_intent": worst,
        "worst_recall": round(recall[worst], 4), "classify_us": round(cost, 1),
        "keywords_us": round(keywords, 1), "model_us": round(model_only, 1), "load_s": round(load, 3), "train_s": round(train_s, 3), "clarify": asked,
        "heldout": len(test), "invariants": invariants,
    }, ensure_ascii=False))  # fmt: skip
    return 0 if all(invariants.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
