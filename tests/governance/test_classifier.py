"""The classifier interface: the conformance check, and rules that read a classifier."""

from __future__ import annotations

import random

import pytest

from courtyard.governance.classifiers import NonConformingClassifier, check_classifier
from courtyard.governance.engine import ClassifierResult, CompiledPolicy
from courtyard.governance.model import EventKind, PolicyEvent, Verdict
from courtyard.governance.packs import PackError, parse_pack


class Shouting:
    """A test double with a real rule: the share of upper-case letters. Not shipped."""

    name = "shouting"

    def classify(self, text: str) -> ClassifierResult:
        letters = [char for char in text if char.isalpha() and char.isascii()]
        if not letters:
            return ClassifierResult(0.0, "none")
        share = sum(char.isupper() for char in letters) / len(letters)
        return ClassifierResult(float(share), "shouting" if share > 0.8 else "calm")


class Flaky(Shouting):
    name = "flaky"

    def classify(self, text: str) -> ClassifierResult:
        return ClassifierResult(random.random(), "?")


class OutOfRange(Shouting):
    name = "loud"

    def classify(self, text: str) -> ClassifierResult:
        return ClassifierResult(2.0, "very")


class Crashes(Shouting):
    name = "crashes"

    def classify(self, text: str) -> ClassifierResult:
        return ClassifierResult(1.0 / len(text), "x")


class BadName(Shouting):
    name = "Bad Name"


def test_a_conforming_classifier_passes() -> None:
    check_classifier(Shouting())


@pytest.mark.parametrize(
    ("classifier", "expected"),
    [
        (Flaky(), "two answers"),
        (OutOfRange(), "score must be a float in [0, 1]"),
        (Crashes(), "failed on ''"),
        (BadName(), "name must match"),
    ],
)
def test_a_non_conforming_classifier_is_refused(classifier: Shouting, expected: str) -> None:
    with pytest.raises(NonConformingClassifier, match=expected.replace("[", r"\[")):
        check_classifier(classifier)


PACK = """\
[pack]
id = "c"

[[rules]]
id = "c.shouting"
events = ["comment"]
when = "classifiers.shouting.score > 0.8 && size(text) > 10"
action = "label"
label = "shouting"
policy = "p#1"
reason = { en = "All capitals.", zh = "全是大写。" }
examples = { match = ["THIS IS ALL CAPITALS"], no_match = ["This is calm text"] }
"""


def test_rules_read_a_classifier_and_cite_its_score() -> None:
    policy = CompiledPolicy([parse_pack(PACK)], classifiers=[Shouting()])
    event = PolicyEvent(
        EventKind.COMMENT, actor_id="a", subject_type="post", text={"text": "STOP SHOUTING AT ME"}
    )
    decision = policy.evaluate(event)
    assert decision.verdict is Verdict.LABEL
    assert decision.labels == ("shouting",)
    calm = PolicyEvent(EventKind.COMMENT, actor_id="a", subject_type="post", text={"text": "ok"})
    assert policy.evaluate(calm).verdict is Verdict.ALLOW


def test_a_rule_that_reads_an_absent_classifier_is_refused() -> None:
    with pytest.raises(PackError, match="unknown classifier 'shouting'"):
        CompiledPolicy([parse_pack(PACK)])
