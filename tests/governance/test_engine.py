"""The engine decides what the rules say, explains it, and its index never changes an outcome."""

from __future__ import annotations

from typing import Any

import cel
from hypothesis import given, settings
from hypothesis import strategies as st

from courtyard.governance.conditions import VARIABLES
from courtyard.governance.engine import CompiledPolicy, FactNeeds
from courtyard.governance.model import EventKind, Mode, PolicyEvent, Verdict
from courtyard.governance.packs import parse_pack

PACK = """\
[pack]
id = "t"

[lists.scam]
category = "scam"
entries = ["刷单", "free money", "加微信"]

[lists.urgent]
category = "scam"
entries = ["urgent", "马上"]

[lists.wallet]
type = "regex"
category = "scam"
entries = ['\\b0x[0-9a-fA-F]{8}\\b']

[lists.bad_sites]
type = "domains"
category = "scam"
entries = ["scam.example"]

[[rules]]
id = "t.scam_label"
events = ["message"]
when = "lists.scam.hit"
action = "label"
label = "possible_scam"
policy = "p#1"
reason = { en = "scam words", zh = "诈骗用语" }
examples = { match = ["free money here"] }

[[rules]]
id = "t.scam_urgent"
events = ["message"]
when = "lists.scam.hit && lists.urgent.hit"
action = "friction"
label = "urgent_scam"
policy = "p#2"
reason = { en = "urgent scam", zh = "紧急诈骗" }
examples = { match = ["urgent: free money"], no_match = ["free money"] }

[[rules]]
id = "t.wallet_or_site"
events = ["message", "post"]
when = "(regex.wallet.hit || domains.bad_sites.hit) && author.account_age_days < 30"
action = "block"
policy = "p#3"
reason = { en = "wallet or bad site", zh = "钱包或恶意网站" }
examples = { match = ["pay 0xdeadbeef", "go to https://win.scam.example/"] }

[[rules]]
id = "t.flood"
events = ["message"]
when = "author.messages_per_minute > 20"
action = "block"
mode = "shadow"
policy = "p#4"
reason = { en = "too fast", zh = "太快" }
examples = { match = [{ text = "x", author = { messages_per_minute = 21 } }] }

[[rules]]
id = "t.burst_new"
events = ["message"]
when = "author.messages_per_minute >= 20 && author.account_age_days < 5"
action = "hold"
policy = "p#7"
reason = { en = "burst from a new account", zh = "新账号刷屏" }
examples = { match = [{ text = "x", author = { messages_per_minute = 20, account_age_days = 1 } }] }

[[rules]]
id = "t.very_fast"
events = ["message"]
when = "author.messages_per_minute > 35"
action = "block"
policy = "p#8"
reason = { en = "very fast", zh = "非常快" }

[rules.examples]
match = [{ text = "x", author = { messages_per_minute = 36 } }]
no_match = [{ text = "x", author = { messages_per_minute = 35 } }]

[[rules]]
id = "t.hops"
events = ["message"]
when = "event.hops >= 3 ? !lists.scam.hit : event.hops == 2"
action = "friction"
label = "forwarded"
policy = "p#5"
reason = { en = "forwarded", zh = "转发" }

[rules.examples]
match = [{ text = "hi", event = { hops = 3 } }, { text = "刷单", event = { hops = 2 } }]

[[rules]]
id = "t.not_new"
events = ["message"]
when = "!(author.account_age_days < 365) && text.size() > 30"
action = "reduce_reach"
policy = "p#6"
reason = { en = "long text by an old account", zh = "老账号长文" }

[rules.examples]
match = [{ text = "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", author = { account_age_days = 400 } }]
"""


# The same rules with every ungated condition a plain threshold (no ternary, no negation), so
# that a message with no signal is decided by the threshold index alone.
THRESHOLD_PACK = (
    PACK.split('[[rules]]\nid = "t.not_new"', maxsplit=1)[0]
    .replace('"event.hops >= 3 ? !lists.scam.hit : event.hops == 2"', '"event.hops >= 3"')
    .replace('{ text = "刷单", event = { hops = 2 } }', '{ text = "刷单", event = { hops = 4 } }')
)


def compiled(pack: str = PACK) -> CompiledPolicy:
    return CompiledPolicy([parse_pack(pack, source_name="t.toml", version=3)])


def message(text: str, **facts: Any) -> PolicyEvent:
    hops = facts.pop("hops", 0)
    return PolicyEvent(
        EventKind.MESSAGE,
        actor_id="A" * 26,
        subject_type="conversation",
        subject_id="C" * 26,
        text={"text": text},
        context={"hops": hops},
        facts={"author": facts},
    )


def test_a_hit_is_explained_with_entry_projection_and_span() -> None:
    decision = compiled().evaluate(message("快来 刷 单，free  money!"))
    assert decision.verdict is Verdict.LABEL
    assert decision.labels == ("possible_scam",)
    [hit] = decision.hits
    assert (hit.rule_id, hit.pack_id, hit.pack_version, hit.policy_clause) == (
        "t.scam_label",
        "t",
        3,
        "p#1",
    )
    assert (hit.reason, hit.reason_zh) == ("scam words", "诈骗用语")
    signals = {s["entry"]: s for s in hit.evidence["signals"]}
    assert set(signals) == {"刷单", "free money"}
    assert signals["刷单"]["projection"] == "compact"
    assert "快来 刷 单，free  money!"[signals["刷单"]["start"] : signals["刷单"]["end"]] == "刷 单"
    assert signals["free money"]["signal"] == "lists.scam"
    assert signals["free money"]["category"] == "scam"
    assert hit.evidence["condition"] == "lists.scam.hit"


def test_actions_combine_and_the_most_restrictive_is_the_verdict() -> None:
    decision = compiled().evaluate(message("URGENT 刷单 pay 0xdeadbeef", account_age_days=3))
    assert [hit.rule_id for hit in decision.hits] == [
        "t.scam_label",
        "t.scam_urgent",
        "t.wallet_or_site",
    ]
    assert decision.verdict is Verdict.BLOCK
    assert decision.effects == {Verdict.LABEL, Verdict.FRICTION, Verdict.BLOCK}
    assert decision.labels == ("possible_scam", "urgent_scam")
    wallet = decision.hits[2]
    assert wallet.evidence["facts"] == {"author.account_age_days": 3}
    assert wallet.evidence["signals"][0]["matched"] == "0xdeadbeef"


def test_links_are_parsed_for_domain_lists() -> None:
    decision = compiled().evaluate(message("see https://login.scam.example/x now"))
    assert decision.verdict is Verdict.BLOCK
    [signal] = decision.hits[0].evidence["signals"]
    assert signal["host"] == "login.scam.example"
    assert signal["entry"] == "scam.example"
    assert compiled().evaluate(message("see https://notscam.example/x")).verdict is Verdict.ALLOW


def test_shadow_rules_are_reported_but_change_nothing() -> None:
    decision = compiled().evaluate(message("hello", messages_per_minute=30, account_age_days=9))
    assert decision.verdict is Verdict.ALLOW
    assert decision.hits == ()
    [shadow] = decision.shadow_hits
    assert (shadow.rule_id, shadow.mode, shadow.action) == ("t.flood", Mode.SHADOW, Verdict.BLOCK)
    assert decision.recorded
    assert decision.explanation() == []  # what the user may be shown: nothing happened to them


def test_nothing_to_check_returns_before_any_condition_runs() -> None:
    policy = compiled()
    assert policy.prepare(message("good morning")) is not None  # the rate rules, t.hops, t.not_new
    post = PolicyEvent(EventKind.POST, actor_id="a", subject_type="post", text={"text": "hi"})
    assert policy.prepare(post) is None
    profile = PolicyEvent(EventKind.ACCOUNT_PROFILE, actor_id="a", subject_type="account")
    assert policy.prepare(profile) is None


def test_the_service_fetches_only_what_candidate_rules_read() -> None:
    policy = compiled()
    assert policy.needs(EventKind.MESSAGE) == FactNeeds(
        author_fields=frozenset({"account_age_days"}),
        counter_reads=frozenset({"messages_per_minute"}),
        counter_increments=frozenset({"messages_per_minute"}),
    )
    assert policy.needs(EventKind.ACCOUNT_PROFILE) == FactNeeds()
    pending = policy.prepare(message("刷单"))
    assert pending is not None
    assert pending.counter_reads == {"messages_per_minute"}


# -- the index is an optimisation, never a change of outcome ---------------------------------

WORDS = ["刷单", "刷 单", "free money", "加微信", "urgent", "马上", "0xdeadbeef", "hello", "x" * 31]
WORDS += ["https://a.scam.example/", "scam.example.org", "FREE MONEY", "加 微 信", "你好"]


def brute_force(policy: CompiledPolicy, event: PolicyEvent) -> set[str]:
    """Every rule's CEL program on a context with every variable: no gates, no index."""
    text = event.text["text"]
    values: dict[str, Any] = {
        "text": text,
        "event": {**VARIABLES["event"], **event.context, "kind": event.kind.value},
        "author": {**VARIABLES["author"], **event.facts.get("author", {})},
    }
    hits: dict[str, int] = {}
    for hit in policy.keywords.match(text):
        hits[hit.list_name] = hits.get(hit.list_name, 0) + 1
    for regex_hit in policy.regexes.match(text):
        hits[regex_hit.set_name] = hits.get(regex_hit.set_name, 0) + 1
    from courtyard.governance.links import extract_links

    for domain_hit in policy.domains.match(extract_links(text)):
        hits[domain_hit.list_name] = hits.get(domain_hit.list_name, 0) + 1
    for family, names in (
        ("lists", ["scam", "urgent"]),
        ("regex", ["wallet"]),
        ("domains", ["bad_sites"]),
    ):
        values[family] = {
            name: {
                "hit": hits.get(f"t/{family}.{name}", 0) > 0,
                "count": hits.get(f"t/{family}.{name}", 0),
                "entries": [],
                "projections": [],
                "categories": [],
            }
            for name in names
        }
    fired = set()
    for rule in policy.rules:
        if event.kind not in rule.spec.events:
            continue
        if cel.compile(rule.spec.when).execute(values) is True:
            fired.add(rule.id)
    return fired


@settings(max_examples=150, deadline=None)
@given(
    words=st.lists(st.sampled_from(WORDS), max_size=5),
    # The rules' thresholds and their neighbours, so every boundary is exercised.
    age=st.sampled_from([0, 4, 5, 29, 30, 364, 365, 400]) | st.integers(0, 800),
    rate=st.sampled_from([0, 19, 20, 21, 35, 36, 20.0, 19.5, 35.5]) | st.integers(0, 40),
    hops=st.integers(0, 5),
)
def test_gates_and_the_index_never_change_which_rules_fire(
    words: list[str], age: int, rate: float, hops: int
) -> None:
    policy = compiled()
    event = message(" ".join(words), account_age_days=age, messages_per_minute=rate, hops=hops)
    decision = policy.evaluate(event)
    fired = {hit.rule_id for hit in (*decision.hits, *decision.shadow_hits)}
    assert fired == brute_force(policy, event)
    # evaluate's shortcut for a message no rule can fire on decides what finish decides
    pending = policy.prepare(event)
    assert decision == (policy.finish(pending) if pending is not None else decision)


@settings(max_examples=150, deadline=None)
@given(
    words=st.lists(st.sampled_from(WORDS), max_size=3),
    age=st.sampled_from([0, 4, 5, 29, 30, 364, 365]) | st.none(),
    rate=st.sampled_from([0, 19, 20, 21, 35, 36, 20.0, 35.5]) | st.none(),
    # What the event itself says, which the service's facts override (None included).
    stale_age=st.sampled_from([0, 400]) | st.none(),
    stale_rate=st.sampled_from([0, 40]) | st.none(),
    fetch_age=st.booleans(),
    fetch_rate=st.booleans(),
    hops=st.integers(0, 6) | st.none(),
    pack=st.sampled_from([PACK, THRESHOLD_PACK]),
)
def test_finish_decides_with_the_fetched_facts_laid_over_the_event(
    words: list[str],
    age: int | None,
    rate: float | None,
    stale_age: int | None,
    stale_rate: float | None,
    fetch_age: bool,
    fetch_rate: bool,
    hops: int | None,
    pack: str,
) -> None:
    """The service passes counters and account facts to ``finish``; a message with no signal
    is decided there without a scope, and must fire exactly what the merged facts fire."""
    policy = compiled(pack)
    on_event: dict[str, Any] = {}
    fetched: dict[str, Any] = {}
    for name, value, stale, fetch in (
        ("account_age_days", age, stale_age, fetch_age),
        ("messages_per_minute", rate, stale_rate, fetch_rate),
    ):
        if fetch:
            fetched[name] = value
            if stale is not None:
                on_event[name] = stale
        elif value is not None:
            on_event[name] = value
    # A fact the service fetched as None is absent: the rules read its declared default.
    merged = {k: v for k, v in {**on_event, **fetched}.items() if v is not None}
    pending = policy.prepare(message(" ".join(words), **on_event, hops=hops))
    assert pending is not None  # the rate rules are candidates for every message
    decision = policy.finish(pending, fetched)
    fired = {hit.rule_id for hit in (*decision.hits, *decision.shadow_hits)}
    expected = brute_force(policy, message(" ".join(words), **merged, hops=hops or 0))
    assert fired == expected
    assert decision == policy.evaluate(message(" ".join(words), **merged, hops=hops))
