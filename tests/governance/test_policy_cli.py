"""``courtyard policy check`` and ``courtyard policy test``: an operator tries a pack on
events before it goes anywhere near a server."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from courtyard.cli import app as cli
from courtyard.governance.service import BUILTIN_PACKS_DIR

PACK = """\
[pack]
id = "ops"

[lists.offplatform]
category = "spam"
entries = ["加微信", "telegram"]

[[rules]]
id = "ops.offplatform"
events = ["message"]
when = "lists.offplatform.hit && author.account_age_days < 7"
action = "label"
label = "offplatform"
mode = "shadow"
policy = "guidelines#spam"
reason = { en = "Moving off platform.", zh = "转到其他平台。" }
examples = { match = [{ text = "加微信", author = { account_age_days = 1 } }] }
"""

EVENTS = [
    {"text": "加 微 信 abc", "author": {"account_age_days": 2}},
    {"text": "加微信", "author": {"account_age_days": 200}},
    {"text": "ping me on Telegram", "author": {"account_age_days": 0}},
    {"kind": "comment", "text": "telegram", "author": {"account_age_days": 0}},
    {"text": "hello"},
]


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


def write(tmp_path: Path, pack: str = PACK) -> tuple[Path, Path]:
    pack_file = tmp_path / "ops.toml"
    pack_file.write_text(pack, "utf-8")
    events = tmp_path / "events.jsonl"
    events.write_text("\n".join(json.dumps(e, ensure_ascii=False) for e in EVENTS), "utf-8")
    return pack_file, events


def test_policy_test_prints_what_each_rule_would_do_with_examples(tmp_path: Path) -> None:
    pack_file, events = write(tmp_path)
    code, output = invoke("policy", "test", str(pack_file), "--events", str(events))
    assert code == 0, output
    assert "pack ops: 5 events, 2 with a hit" in output
    assert "ops.offplatform" in output
    assert "shadow" in output
    assert "line 1: '加 微 信 abc'" in output
    assert "via compact at 0-5" in output
    assert "line 3: 'ping me on Telegram'" in output


def test_policy_test_as_json(tmp_path: Path) -> None:
    pack_file, events = write(tmp_path)
    code, output = invoke("policy", "test", str(pack_file), "--events", str(events), "--json")
    assert code == 0, output
    report = json.loads(output)
    [rule] = report["rules"]
    assert (rule["rule_id"], rule["fired"], rule["mode"]) == ("ops.offplatform", 2, "shadow")
    assert [example["line"] for example in rule["examples"]] == [1, 3]
    assert rule["examples"][1]["signals"][0]["matched"] == "Telegram"


def test_a_refused_pack_or_a_bad_events_file_exits_2_with_the_line(tmp_path: Path) -> None:
    pack_file, events = write(tmp_path, PACK.replace("author.account_age_days", "author.age"))
    code, output = invoke("policy", "test", str(pack_file), "--events", str(events))
    assert code == 2
    assert "ops.toml:11: ops.offplatform: when: unknown field author.age" in output
    pack_file, events = write(tmp_path)
    events.write_text('{"text": "fine"}\n{"text": 5}\n', "utf-8")
    code, output = invoke("policy", "test", str(pack_file), "--events", str(events))
    assert code == 2
    assert "line 2: text must be a string" in output


def test_policy_check_accepts_the_default_packs_and_refuses_a_broken_one(tmp_path: Path) -> None:
    defaults = [str(path) for path in sorted(BUILTIN_PACKS_DIR.glob("*.toml"))]
    code, output = invoke("policy", "check", *defaults)
    assert code == 0, output
    assert output.count("is valid") == len(defaults)
    broken, _ = write(tmp_path, PACK.replace('action = "label"', 'action = "banish"'))
    code, output = invoke("policy", "check", str(broken))
    assert code == 2
    assert "ops.toml:12: ops.offplatform: action must be one of" in output


def test_bad_events_lines_and_missing_files_are_named(tmp_path: Path) -> None:
    pack_file, events = write(tmp_path)
    for content, expected in [
        ("not json\n", "line 1: not JSON"),
        ("# a comment\n\n[1, 2]\n", "line 3: each line must be a JSON object"),
        ('{"kind": "telegram"}\n', "line 1: unknown kind 'telegram'"),
        ('{"text": "x", "author": 5}\n', "line 1: author, event, content, fields are objects"),
    ]:
        events.write_text(content, "utf-8")
        code, output = invoke("policy", "test", str(pack_file), "--events", str(events))
        assert code == 2
        assert expected in output
    code, output = invoke("policy", "test", str(tmp_path / "nope.toml"), "--events", str(events))
    assert code == 2
    assert "nope.toml" in output
    code, output = invoke("policy", "check", str(tmp_path / "nope.toml"))
    assert code == 2
    assert "nope.toml" in output
