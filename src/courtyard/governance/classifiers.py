"""The classifier interface's conformance check: what any model plugged into rules must do.

Courtyard ships no classifier (docs/policies.md says what one must document to ship: its
training data and measured precision and recall). An operator who adds one passes it to the
governance service; rules read it as ``classifiers.<name>.score`` and ``.label``.
"""

from __future__ import annotations

import re

from courtyard.governance.engine import Classifier, ClassifierResult

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")

# Inputs every classifier must take without failing: empty, long, CJK, emoji, control-free
# mixed scripts, and text made of separators only.
CONFORMANCE_INPUTS = (
    "",
    "hello",
    "你好，今天天气不错",
    "🙂🙃 " * 50,
    "x" * 10_000,
    "Ünïcödé — mixed 混合 текст",
    " \t\n.,;!?",
)


class NonConformingClassifier(ValueError):
    """A classifier that breaks the interface; the message says how."""


def check_classifier(classifier: Classifier) -> None:
    """Raise NonConformingClassifier unless ``classifier`` honours the interface:
    a rule-safe name, a score in [0, 1] and a string label for every input, and the same
    answer for the same text (rules must be explainable after the fact)."""
    name = getattr(classifier, "name", None)
    if not isinstance(name, str) or not _NAME.match(name):
        raise NonConformingClassifier(f"name must match {_NAME.pattern}: {name!r}")
    for text in CONFORMANCE_INPUTS:
        try:
            first = classifier.classify(text)
            second = classifier.classify(text)
        except Exception as error:
            raise NonConformingClassifier(
                f"{name} failed on {text[:20]!r}: {type(error).__name__}: {error}"
            ) from error
        if not isinstance(first, ClassifierResult):
            raise NonConformingClassifier(f"{name} must return a ClassifierResult")
        if not isinstance(first.score, float) or not 0.0 <= first.score <= 1.0:
            raise NonConformingClassifier(f"{name}: score must be a float in [0, 1]")
        if not isinstance(first.label, str):
            raise NonConformingClassifier(f"{name}: label must be a string")
        if first != second:
            raise NonConformingClassifier(f"{name} gave two answers for {text[:20]!r}")
