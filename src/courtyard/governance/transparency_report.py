"""The transparency report (DSA Arts. 15 and 24, Santa Clara Principles "Numbers"): figures,
Markdown and bar charts.

Pure. ``build_report`` turns the figures ``transparency_store.report_figures`` read into the
report (a JSON-ready dict); ``render_markdown`` and ``charts`` present it; ``write_report``
puts ``report.json``, ``report.md`` and one PNG per breakdown into a directory.
"""

from __future__ import annotations

import io
import json
import statistics
from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont

from courtyard import __version__
from courtyard.governance.ladder import Measure
from courtyard.governance.reasons import Automation, Ground, Source
from courtyard.governance.transparency import Period, RestrictionType, restriction_type
from courtyard.governance.transparency_store import ActionGroup, ReportFigures

# How the matter was detected (Art. 15(1)(c) "detection method"; Santa Clara "source of the
# flag"): a user's report, a trusted flagger, an automated rule, or a reviewer's own finding.
AUTOMATED_RULE = "automated rule"
USER_REPORT = "user report"
TRUSTED_FLAGGER = "trusted flagger"
REVIEWER = "reviewer"
DETECTION_METHODS = (AUTOMATED_RULE, USER_REPORT, TRUSTED_FLAGGER, REVIEWER)


def detection_method(source: str, automated_detection: bool) -> str:
    if source == Source.TRUSTED_FLAGGER:
        return TRUSTED_FLAGGER
    if source == Source.NOTICE:
        return USER_REPORT
    return AUTOMATED_RULE if automated_detection else REVIEWER


def _restriction(measure: str) -> str:
    try:
        return restriction_type(Measure(measure)).value
    except ValueError:
        return "unknown"


def _breakdown(
    groups: Iterable[ActionGroup], key: Any, known: Iterable[str] = ()
) -> dict[str, int]:
    """Counts per key, largest first (ties by name); ``known`` keys are listed even at 0."""
    counts: Counter[str] = Counter(dict.fromkeys(known, 0))
    for group in groups:
        counts[str(key(group))] += group.count
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def _median(values: list[float]) -> float | None:
    return float(statistics.median(values)) if values else None


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def build_report(figures: ReportFigures, period: Period, generated_at: datetime) -> dict[str, Any]:
    groups = figures.actions
    actioned = [r.seconds for r in figures.report_resolutions if r.status == "actioned"]
    dismissed = sum(1 for r in figures.report_resolutions if r.status == "dismissed")
    decided = figures.appeal_decisions
    reversed_ = sum(1 for a in decided if a.status == "reversed")
    restored = figures.restored_without_appeal
    holds_approved = restored.get(Measure.HOLD.value, 0)
    return {
        "title": "Courtyard transparency report",
        "period": period.as_dict(),
        "generated_at": generated_at.isoformat(),
        "software": f"Courtyard {__version__}",
        "actions": {
            "total": sum(g.count for g in groups),
            "by_category": _breakdown(groups, lambda g: g.category),
            "by_ground": _breakdown(groups, lambda g: g.ground, [g.value for g in Ground]),
            "by_detection_method": _breakdown(
                groups,
                lambda g: detection_method(g.source, g.automated_detection),
                DETECTION_METHODS,
            ),
            "by_automation": _breakdown(
                groups, lambda g: g.automated_decision, [a.value for a in Automation]
            ),
            "by_restriction_type": _breakdown(
                groups, lambda g: _restriction(g.measure), [r.value for r in RestrictionType]
            ),
            "by_measure": _breakdown(groups, lambda g: g.measure, [m.value for m in Measure]),
            "by_content_type": _breakdown(groups, lambda g: g.content_type or "account"),
        },
        "reports": {
            "received": sum(figures.reports_by_category.values()),
            "by_category": dict(
                sorted(figures.reports_by_category.items(), key=lambda kv: (-kv[1], kv[0]))
            ),
            "actioned": len(actioned),
            "dismissed": dismissed,
            "median_seconds_to_action": _median(actioned),
        },
        "appeals": {
            "received": figures.appeals_received,
            "decided": len(decided),
            "upheld": len(decided) - reversed_,
            "reversed": reversed_,
            "reversal_rate": _rate(reversed_, len(decided)),
            "median_seconds_to_decision": _median([a.seconds for a in decided]),
        },
        "restored_without_appeal": {
            "total": sum(restored.values()),
            "holds_approved": holds_approved,
            "other_decisions_reversed": sum(restored.values()) - holds_approved,
            "by_measure": dict(sorted(restored.items(), key=lambda kv: (-kv[1], kv[0]))),
        },
        "rules": [
            {
                "rule_id": r.rule_id,
                "appeals_decided": r.decided,
                "reversed": r.reversed,
                "overturn_rate": _rate(r.reversed, r.decided),
            }
            for r in figures.rule_overturns
        ],
        "flagged_rules": [
            {
                "rule_id": f["rule_id"],
                "flagged_at": f["flagged_at"].isoformat(),
                "appeals": int(f["appeals"]),
                "reversals": int(f["reversals"]),
                "rate": round(float(f["rate"]), 4),
                "cleared_at": f["cleared_at"].isoformat() if f["cleared_at"] else None,
            }
            for f in figures.flagged_rules
        ],
    }


# -- Markdown --------------------------------------------------------------------------------

# (section in report["actions"], chart file, title)
ACTION_BREAKDOWNS = (
    ("by_category", "actions_by_category.png", "Actions by category"),
    ("by_ground", "actions_by_ground.png", "Actions by ground"),
    ("by_detection_method", "actions_by_detection_method.png", "Actions by detection method"),
    ("by_automation", "actions_by_automation.png", "Actions by automation of the decision"),
    ("by_restriction_type", "actions_by_restriction_type.png", "Actions by type of restriction"),
    ("by_measure", "actions_by_measure.png", "Actions by measure"),
    ("by_content_type", "actions_by_content_type.png", "Actions by content type"),
)
REPORTS_CHART = "reports_by_category.png"
APPEALS_CHART = "appeals_outcomes.png"
RULES_CHART = "rules_overturned_on_appeal.png"


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "n/a"
    total = round(seconds)
    if total < 60:
        return f"{total} s"
    minutes, _ = divmod(total, 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def format_rate(rate: float | None) -> str:
    return "n/a" if rate is None else f"{rate * 100:.1f} %"


def _table(counts: Mapping[str, int], heading: str) -> list[str]:
    lines = [f"| {heading} | count |", "|---|---:|"]
    lines += [f"| {key} | {value} |" for key, value in counts.items()]
    return lines


def render_markdown(report: Mapping[str, Any]) -> str:
    period = report["period"]
    actions, reps = report["actions"], report["reports"]
    appeals, restored = report["appeals"], report["restored_without_appeal"]
    out = [
        f"# {report['title']}: {period['from']} to {period['to']}",
        "",
        f"Period: {period['from']} to {period['to']} (UTC, both days included)."
        f" Generated {report['generated_at']} by {report['software']}."
        " The same figures are in `report.json`.",
        "",
        "## Summary",
        "",
        f"- Actions (statements of reasons issued): {actions['total']}",
        f"- Reports received: {reps['received']}; actioned: {reps['actioned']};"
        f" dismissed: {reps['dismissed']}; median time from report to action:"
        f" {format_duration(reps['median_seconds_to_action'])}",
        f"- Appeals received: {appeals['received']}; decided: {appeals['decided']};"
        f" reversed: {appeals['reversed']}; reversal rate: {format_rate(appeals['reversal_rate'])};"
        f" median decision time: {format_duration(appeals['median_seconds_to_decision'])}",
        f"- Restored without an appeal: {restored['total']}",
        "",
        "## Actions",
        "",
        "Every measure that restricted content, reach, an account, its features or a payment"
        " (DSA Art. 15(1)(c); Santa Clara Principles, Numbers). Each comes with a statement of"
        " reasons (Art. 17) to the person concerned.",
    ]
    for key, chart, title in ACTION_BREAKDOWNS:
        heading = title.removeprefix("Actions by ")
        out += ["", f"### {title}", "", *_table(actions[key], heading), "", f"![{title}]({chart})"]
    out += [
        "",
        "Detection method: *automated rule* means a rule of the policy engine detected it;"
        " *user report* a person's notice (Art. 16); *reviewer* a reviewer's own finding.",
        "",
        "## Reports (notices)",
        "",
        "Reports people made through the app (DSA Art. 15(1)(b)), by the category the reporter"
        " chose. A report is *actioned* when a reviewer took a measure on it, *dismissed* when"
        " they found no violation; the median time is from the report to the measure, over the"
        " reports actioned in the period.",
        "",
        f"- Received: {reps['received']}",
        f"- Actioned: {reps['actioned']}",
        f"- Dismissed: {reps['dismissed']}",
        f"- Median time from report to action: {format_duration(reps['median_seconds_to_action'])}",
        "",
        *_table(reps["by_category"], "category"),
        "",
        f"![Reports by category]({REPORTS_CHART})",
        "",
        "## Appeals",
        "",
        "Appeals against a decision (DSA Arts. 15(1)(d) and 20), each decided by a person who"
        " took no part in the decision. *Decided* counts the appeals decided in the period,"
        " whenever they were made.",
        "",
        f"- Received: {appeals['received']}",
        f"- Decided: {appeals['decided']} (upheld {appeals['upheld']},"
        f" reversed {appeals['reversed']})",
        f"- Reversal rate: {format_rate(appeals['reversal_rate'])}",
        f"- Median decision time: {format_duration(appeals['median_seconds_to_decision'])}",
        "",
        f"![Appeal outcomes]({APPEALS_CHART})",
        "",
        "## Restored without an appeal",
        "",
        "Decisions undone in the period without an appeal: held content a reviewer approved,"
        " and decisions a reviewer reversed on their own.",
        "",
        f"- Held content approved and published: {restored['holds_approved']}",
        f"- Other decisions reversed: {restored['other_decisions_reversed']}",
        f"- Total: {restored['total']}",
        "",
        "## Rules overturned on appeal",
        "",
        "For each rule of the policy engine: the appeals decided in the period against decisions"
        " it took part in, and how many were reversed. A high rate is an indicator of the rule's"
        " error rate (DSA Art. 15(1)(e)).",
        "",
    ]
    if report["rules"]:
        out += ["| rule | appeals decided | reversed | overturn rate |", "|---|---:|---:|---:|"]
        out += [
            f"| `{r['rule_id']}` | {r['appeals_decided']} | {r['reversed']} |"
            f" {format_rate(r['overturn_rate'])} |"
            for r in report["rules"]
        ]
        out += ["", f"![Rules overturned on appeal]({RULES_CHART})"]
    else:
        out.append("No appeal against a rule's decision was decided in the period.")
    out += ["", "## Flagged rules", ""]
    if report["flagged_rules"]:
        out += [
            "Rules whose decisions were reversed on appeal more often than the configured rate,"
            " flagged to the administrators for review.",
            "",
            "| rule | flagged at | appeals | reversals | rate | cleared at |",
            "|---|---|---:|---:|---:|---|",
        ]
        out += [
            f"| `{f['rule_id']}` | {f['flagged_at']} | {f['appeals']} | {f['reversals']} |"
            f" {format_rate(f['rate'])} | {f['cleared_at'] or '—'} |"
            for f in report["flagged_rules"]
        ]
    else:
        out.append("No rule was flagged in the period.")
    out += [
        "",
        "## Not covered",
        "",
        "Orders from authorities (Arts. 9 and 10), out-of-court disputes (Art. 21) and the"
        " average monthly active recipients (Art. 24(2)) are not recorded by Courtyard; an"
        " operator adds them from their own records.",
        "",
    ]
    return "\n".join(out)


# -- charts ----------------------------------------------------------------------------------

BACKGROUND = (255, 255, 255)
TEXT = (33, 33, 33)
AXIS = (170, 170, 170)
BAR = (52, 101, 164)
BAR_MAX = 480  # pixels of the longest bar
ROW = 28
BAR_HEIGHT = 18
MARGIN = 16
GAP = 10


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def bar_length(value: float, largest: float) -> int:
    """Pixels of a bar: proportional to the value, at least one for anything above zero."""
    if value <= 0 or largest <= 0:
        return 0
    return max(1, round(value / largest * BAR_MAX))


def bar_chart(title: str, items: Mapping[str, float], *, unit: str = "") -> bytes:
    """A horizontal bar chart as PNG: one labelled bar per item, its value after it."""
    font, title_font = _font(14), _font(16)
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    labels = list(items)
    values = [f"{_number(items[k])}{unit}" for k in labels]
    label_width = max((probe.textlength(k, font=font) for k in labels), default=0)
    value_width = max((probe.textlength(v, font=font) for v in values), default=0)
    title_width = probe.textlength(title, font=title_font)
    left = MARGIN + int(label_width) + GAP
    width = max(left + BAR_MAX + GAP + int(value_width) + MARGIN, int(title_width) + 2 * MARGIN)
    top = MARGIN + 30
    height = top + max(1, len(labels)) * ROW + MARGIN
    image = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(image)
    draw.text((MARGIN, MARGIN), title, fill=TEXT, font=title_font)
    if not labels:
        draw.text((MARGIN, top + 4), "No data in this period.", fill=TEXT, font=font)
    else:
        draw.line((left - 1, top, left - 1, height - MARGIN), fill=AXIS)
    largest = max(items.values(), default=0)
    for row, (label, shown) in enumerate(zip(labels, values, strict=True)):
        y = top + row * ROW
        middle = y + ROW // 2
        draw.text((left - GAP, middle), label, fill=TEXT, font=font, anchor="rm")
        length = bar_length(items[label], largest)
        bar_top = middle - BAR_HEIGHT // 2
        if length:
            draw.rectangle((left, bar_top, left + length - 1, bar_top + BAR_HEIGHT - 1), fill=BAR)
        draw.text((left + length + GAP, middle), shown, fill=TEXT, font=font, anchor="lm")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.1f}"


def charts(report: Mapping[str, Any]) -> dict[str, bytes]:
    """One PNG per breakdown, by file name."""
    actions = report["actions"]
    files = {chart: bar_chart(title, actions[key]) for key, chart, title in ACTION_BREAKDOWNS}
    files[REPORTS_CHART] = bar_chart("Reports by category", report["reports"]["by_category"])
    appeals = report["appeals"]
    files[APPEALS_CHART] = bar_chart(
        "Appeals decided", {"upheld": appeals["upheld"], "reversed": appeals["reversed"]}
    )
    files[RULES_CHART] = bar_chart(
        "Overturn rate on appeal, per rule",
        {r["rule_id"]: round((r["overturn_rate"] or 0) * 100, 1) for r in report["rules"]},
        unit=" %",
    )
    return files


def write_report(report: Mapping[str, Any], directory: Path) -> list[Path]:
    """``report.json``, ``report.md`` and the charts in ``directory`` (created if missing)."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    path = directory / "report.json"
    path.write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n", "utf-8")
    written.append(path)
    path = directory / "report.md"
    path.write_text(render_markdown(report), "utf-8")
    written.append(path)
    for name, png in charts(report).items():
        path = directory / name
        path.write_bytes(png)
        written.append(path)
    return written
