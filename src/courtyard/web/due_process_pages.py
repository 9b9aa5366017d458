"""Due process pages: a person's notices (statements of reasons) with their appeal, standing,
reports; and for reviewers and admins the review console and a read-only policy console.

Notices stay readable in every account state (the page dependency lets any live session in;
the service checks ``READ_NOTICES``, which every state keeps). The review console answers
anyone without the reviewer or admin role with the same 404 page as a missing page. Pages call
the same ``DueProcessService`` and ``GovernanceService`` functions as the JSON API.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from courtyard.accounts import store as accounts_store
from courtyard.accounts.model import Account, OperatorRole
from courtyard.core.errors import CourtyardError, InvalidInput, NotFound
from courtyard.core.ids import is_valid_id
from courtyard.governance import transparency_store
from courtyard.governance.model import AccountState
from courtyard.governance.reasons import REPORT_CATEGORIES
from courtyard.governance.transparency import (
    Period,
    default_puid_prefix,
    export_document,
    parse_period,
    to_dsa_statement,
)
from courtyard.governance.transparency_report import (
    ACTION_BREAKDOWNS,
    APPEALS_CHART,
    REPORTS_CHART,
    RULES_CHART,
    bar_chart,
    build_report,
    format_duration,
    format_rate,
)
from courtyard.web.common import PageError, WebContext, member_form, member_page, safe_next
from courtyard.web.i18n import N_

router = APIRouter(include_in_schema=False)

Member = Annotated[WebContext, Depends(member_page)]
MemberForm = Annotated[WebContext, Depends(member_form)]

REVIEW_KINDS = ("appeal", "hold", "report", "virality", "escalation")
REVIEW_ROLES = (OperatorRole.ADMIN, OperatorRole.REVIEWER)

ERROR_TITLES: dict[str, str] = {
    "notice_not_found": N_("No such notice."),
    "appeal_not_found": N_("No such appeal."),
    "appeal_closed": N_("This decision can no longer be appealed."),
    "already_appealed": N_("This notice was already appealed."),
    "appeal_decided": N_("This appeal was already decided."),
    "report_target_not_found": N_("There is nothing to report there."),
    "report_self": N_("You cannot report yourself."),
    "item_not_found": N_("No such review item."),
    "review_item_not_found": N_("No such review item."),
    "item_decided": N_("This item was already decided."),
    "item_assigned": N_("Another reviewer has this item."),
    "reviewer_conflict": N_("You took part in this matter, so another reviewer has to decide it."),
    "content_gone": N_("This content is already gone."),
    "warning_required": N_("A suspension needs a prior warning: warn first."),
    "no_subject": N_("This item has no account to act on."),
}

# The service's messages these pages can show, so the catalogs translate them.
SERVICE_MESSAGES = (
    N_("Not a reviewer."),
    N_("That reviewer is involved in this item."),
    N_("Read-only mode is for reports about a group."),
    N_("from is not a day: use YYYY-MM-DD."),
    N_("to is not a day: use YYYY-MM-DD."),
    N_("The period ends before it starts."),
)

# Confirmations after a redirect (``?done=<key>``); only these keys are shown.
DONE: dict[str, str] = {
    "appealed": N_("Your appeal is filed. A person who did not take the decision reviews it."),
    "added": N_("Your information was added to the appeal."),
    "reported": N_("Thank you. Your report was received; its outcome will be in My reports."),
    "claimed": N_("The item is assigned to you."),
    "assigned": N_("The item is assigned."),
    "decided": N_("Decision recorded."),
    "proposed": N_("Termination proposed. A second reviewer has to agree."),
}

MEASURE_NAMES: dict[str, str] = {
    "block": N_("Message not delivered"),
    "hold": N_("Held for review"),
    "remove": N_("Content removed"),
    "reduce_reach": N_("Reach reduced"),
    "warning": N_("Warning"),
    "feature_limit": N_("Features limited"),
    "limited": N_("Account limited"),
    "suspended": N_("Account suspended"),
    "terminated": N_("Account terminated"),
    "payment_hold": N_("Payment held for review"),
    "group_read_only": N_("Group made read-only"),
}

STATUS_NAMES: dict[str, str] = {
    "active": N_("In force"),
    "reversed": N_("Reversed"),
    "ended": N_("Ended"),
    "open": N_("Open"),
    "upheld": N_("Upheld"),
    "held": N_("Pending review"),
    "blocked": N_("Not delivered"),
    "removed": N_("Removed"),
    "dismissed": N_("No violation found"),
    "actioned": N_("Action taken"),
    "decided": N_("Decided"),
}

STATE_NAMES: dict[str, str] = {
    "active": N_("Your account is in good standing."),
    "limited": N_("Your account is limited."),
    "suspended": N_("Your account is suspended."),
    "terminated": N_("Your account is terminated."),
    "deleted": N_("Your account is deleted."),
}

CAPABILITY_NAMES: dict[str, str] = {
    "login": N_("log in"),
    "read": N_("read"),
    "read_notices": N_("read your notices"),
    "manage_security": N_("manage your security settings"),
    "edit_profile": N_("change your profile"),
    "add_contact": N_("add contacts"),
    "manage_contacts": N_("manage your contacts"),
    "block": N_("block people"),
    "send": N_("send messages"),
    "message_non_friends": N_("message people who are not your friends"),
    "forward": N_("forward messages"),
    "post": N_("post"),
    "comment": N_("comment"),
    "create_group": N_("create groups"),
    "pay": N_("pay"),
    "receive": N_("receive payments"),
    "withdraw": N_("withdraw money"),
    "export": N_("export your data"),
    "appeal": N_("appeal"),
    "report": N_("file reports"),
}

KIND_NAMES: dict[str, str] = {
    "appeal": N_("Appeal"),
    "hold": N_("Held content"),
    "report": N_("Report"),
    "virality": N_("Spreading content"),
    "escalation": N_("Escalation"),
}

# What a reviewer can decide, as the decision form offers it (the value is the outcome's code).
OUTCOME_NAMES: dict[str, str] = {
    "approve": N_("Approve: release it"),
    "reject": N_("Reject: keep it withheld or refuse it"),
    "no_violation": N_("No violation"),
    "remove": N_("Remove the content"),
    "warning": N_("Warn the account"),
    "feature_limit": N_("Limit some features"),
    "limited": N_("Limit the account"),
    "suspended": N_("Suspend the account"),
    "terminated": N_("Terminate the account (a second reviewer must agree)"),
    "group_read_only": N_("Make the group read-only"),
    "keep": N_("Keep it as it is"),
    "reduce_reach": N_("Reduce its reach"),
    "uphold": N_("Uphold the decision"),
    "reverse": N_("Reverse the decision"),
}

TARGET_NAMES: dict[str, str] = {
    "message": N_("Message"),
    "payment": N_("Payment"),
    "group": N_("Group"),
    "account": N_("Account"),
    "statement": N_("Notice"),
    "post": N_("Post"),
    "comment": N_("Comment"),
    "article": N_("Article"),
}

CATEGORY_NAMES: dict[str, str] = {
    "spam": N_("Spam"),
    "scam": N_("Scam or fraud"),
    "impersonation": N_("Impersonation"),
    "harassment": N_("Harassment or bullying"),
    "hate": N_("Hate"),
    "violence": N_("Violence or threats"),
    "self_harm": N_("Self-harm"),
    "minors": N_("Harm to minors"),
    "personal_data": N_("Personal data shared without consent"),
    "intellectual_property": N_("Intellectual property"),
    "misinformation": N_("Misinformation"),
    "illegal": N_("Illegal content"),
    "other": N_("Something else"),
}


# ---- shared helpers ----------------------------------------------------------------------------


def _error(ctx: WebContext, exc: CourtyardError) -> PageError:
    error = ctx.page_error(exc)
    title = ERROR_TITLES.get(exc.code)
    if title is None:
        return error
    headline = ctx.translate(title)
    detail: str | None = ctx.translate(exc.message)
    if detail == headline or (detail == exc.message and ctx.locale != "en"):
        detail = None
    return replace(error, title=headline, message=detail)


def _error_page(ctx: WebContext, exc: CourtyardError) -> Response:
    error = _error(ctx, exc)
    return ctx.render("error.html", status=error.status, error=error)


def _done(ctx: WebContext, url: str, key: str) -> Response:
    base, _, anchor = url.partition("#")
    sep = "&" if "?" in base else "?"
    return ctx.redirect(f"{base}{sep}done={key}" + (f"#{anchor}" if anchor else ""))


def _done_text(ctx: WebContext) -> str | None:
    key = ctx.request.query_params.get("done", "")
    return ctx.translate(DONE[key]) if key in DONE else None


def _name(ctx: WebContext, table: dict[str, str], key: str | None) -> str:
    if key is None:
        return ""
    return ctx.translate(table[key]) if key in table else key


def _names(ctx: WebContext) -> dict[str, Any]:
    """Translators for the templates: measure, status, capability, kind and category names."""

    def pick(table: dict[str, str]) -> Any:
        return lambda key: _name(ctx, table, key)

    return {
        "measure_name": pick(MEASURE_NAMES),
        "status_name": pick(STATUS_NAMES),
        "capability_name": pick(CAPABILITY_NAMES),
        "kind_name": pick(KIND_NAMES),
        "category_name": pick(CATEGORY_NAMES),
        "outcome_name": pick(OUTCOME_NAMES),
        "target_name": pick(TARGET_NAMES),
        "zh": ctx.locale == "zh_CN",
    }


def is_reviewer(ctx: WebContext) -> bool:
    actor = ctx.actor
    return actor is not None and any(role in actor.account.roles for role in REVIEW_ROLES)


def is_admin(ctx: WebContext) -> bool:
    actor = ctx.actor
    return actor is not None and OperatorRole.ADMIN in actor.account.roles


def _reviewer_only(ctx: WebContext) -> None:
    """Anyone else gets exactly the 404 page a missing page gets."""
    if not is_reviewer(ctx):
        raise StarletteHTTPException(status_code=404)


# ---- notices and standing ----------------------------------------------------------------------


@router.get("/notices")
async def notices(ctx: Member) -> Response:
    dp = ctx.services.due_process
    before = ctx.request.query_params.get("before", "")[:26] or None
    try:
        items = await dp.notices(ctx.me, before if before and is_valid_id(before) else None)
        standing = await dp.standing(ctx.me)
    except CourtyardError as exc:
        return _error_page(ctx, exc)
    return ctx.render(
        "due_process/notices.html",
        notices=items,
        standing=standing,
        state_text=_name(ctx, STATE_NAMES, standing["state"]),
        missing=_missing_capabilities(standing),
        next_before=items[-1]["id"] if len(items) >= 50 else None,
        done=_done_text(ctx),
        **_names(ctx),
    )


def _missing_capabilities(standing: dict[str, Any]) -> list[str]:
    granted = set(standing["capabilities"])
    removed: list[str] = []
    for restriction in standing["restrictions"]:
        removed.extend(c for c in restriction["removes"] if c not in removed)
    if standing["state"] != "active":
        removed.extend(c for c in CAPABILITY_NAMES if c not in granted and c not in removed)
    return [c for c in removed if c not in granted]


async def _notice_page(
    ctx: WebContext, statement_id: str, status: int = 200, **values: Any
) -> Response:
    dp = ctx.services.due_process
    try:
        notice = await dp.notice(ctx.me, statement_id)
        withheld: dict[str, Any] | None = None
        if notice["content_id"]:
            kept = await dp.withheld(ctx.me, notice["conversation_id"])
            withheld = next((w for w in kept if w["id"] == notice["content_id"]), None)
    except CourtyardError as exc:
        return _error_page(ctx, exc)
    return ctx.render(
        "due_process/notice.html",
        status=status,
        n=notice,
        withheld=withheld,
        signals=_signals(notice.get("explanation")),
        done=_done_text(ctx),
        **_names(ctx),
        **values,
    )


SIGNAL_FIELDS = (
    "signal",
    "category",
    "confidential",
    "matched",
    "entry",
    "pattern",
    "projection",
    "start",
    "end",
    "host",
)


def _signals(explanation: Any) -> list[dict[str, Any]]:
    """The matched parts a notice shows, one row per signal of each enforced rule."""
    rows: list[dict[str, Any]] = []
    hits = explanation if isinstance(explanation, list) else []
    for hit in hits:
        if not isinstance(hit, dict):
            continue
        evidence = hit.get("evidence") or {}
        for signal in evidence.get("signals") or ():
            if isinstance(signal, dict):
                row = dict.fromkeys(SIGNAL_FIELDS) | signal
                rows.append(row | {"rule_id": hit.get("rule_id")})
    return rows


@router.get("/notices/{statement_id}")
async def notice(statement_id: str, ctx: Member) -> Response:
    return await _notice_page(ctx, statement_id)


@router.get("/notices/{statement_id}/appeal")
async def appeal_form(statement_id: str, ctx: Member) -> Response:
    return await _notice_page(ctx, statement_id, appealing=True)


@router.post("/notices/{statement_id}/appeal")
async def appeal(statement_id: str, ctx: MemberForm) -> Response:
    text = ctx.text("text").strip()
    try:
        if len(text) > 4000:
            raise InvalidInput(
                ctx._("This is too long: at most %(n)s characters.", n=4000),
                details={"field": "text"},
            )
        await ctx.services.due_process.appeal(ctx.me, statement_id, text)
    except CourtyardError as exc:
        if isinstance(exc, NotFound):
            return _error_page(ctx, exc)
        error = _error(ctx, exc)
        return await _notice_page(
            ctx, statement_id, error.status, error=error, appealing=True, draft=text
        )
    return _done(ctx, f"/notices/{statement_id}", "appealed")


@router.post("/notices/{statement_id}/additions")
async def add_to_appeal(statement_id: str, ctx: MemberForm) -> Response:
    text = ctx.text("text").strip()
    dp = ctx.services.due_process
    try:
        found = await dp.notice(ctx.me, statement_id)
        if found["appeal"] is None:
            raise NotFound("No such appeal.", code="appeal_not_found")
        await dp.add_to_appeal(ctx.me, found["appeal"]["id"], text)
    except CourtyardError as exc:
        if isinstance(exc, NotFound):
            return _error_page(ctx, exc)
        error = _error(ctx, exc)
        return await _notice_page(ctx, statement_id, error.status, error=error, addition=text)
    return _done(ctx, f"/notices/{statement_id}", "added")


# ---- reports ------------------------------------------------------------------------------------


def _report_back(value: str) -> str:
    back = safe_next(value, "/reports")
    return back if back.startswith(("/chats/", "/reports", "/contacts")) else "/reports"


def _report_page(ctx: WebContext, status: int = 200, **values: Any) -> Response:
    query = ctx.request.query_params
    values.setdefault("target_type", query.get("target_type", "message")[:20])
    values.setdefault("target_id", query.get("target_id", "")[:64])
    values.setdefault("back", _report_back(query.get("back", "")))
    values.setdefault("category", "")
    values.setdefault("explanation", "")
    return ctx.render(
        "due_process/report.html",
        status=status,
        categories=[(key, ctx.translate(CATEGORY_NAMES[key])) for key in REPORT_CATEGORIES],
        **values,
    )


@router.get("/report")
async def report_form(ctx: Member) -> Response:
    return _report_page(ctx)


@router.post("/report")
async def report(ctx: MemberForm) -> Response:
    target_type = ctx.text("target_type", strip=True)[:20]
    target_id = ctx.text("target_id", strip=True)[:64]
    category = ctx.text("category", strip=True)[:40]
    explanation = ctx.text("explanation").strip()
    back = _report_back(ctx.text("back", strip=True))
    try:
        if category not in REPORT_CATEGORIES:
            raise InvalidInput(ctx._("Choose a category."), details={"field": "category"})
        if len(explanation) > 2000:
            raise InvalidInput(
                ctx._("This is too long: at most %(n)s characters.", n=2000),
                details={"field": "explanation"},
            )
        await ctx.services.due_process.report(ctx.me, target_type, target_id, category, explanation)
    except CourtyardError as exc:
        error = _error(ctx, exc)
        return _report_page(
            ctx,
            error.status,
            error=error,
            target_type=target_type,
            target_id=target_id,
            back=back,
            category=category,
            explanation=explanation,
        )
    return _done(ctx, back, "reported")


@router.get("/reports")
async def my_reports(ctx: Member) -> Response:
    try:
        reports = await ctx.services.due_process.my_reports(ctx.me)
    except CourtyardError as exc:
        return _error_page(ctx, exc)
    return ctx.render(
        "due_process/reports.html", reports=reports, done=_done_text(ctx), **_names(ctx)
    )


# ---- the review console -------------------------------------------------------------------------


@router.get("/review")
async def review_queue(ctx: Member) -> Response:
    _reviewer_only(ctx)
    kind = ctx.request.query_params.get("kind", "")
    kind_filter = kind if kind in REVIEW_KINDS else None
    try:
        items = await ctx.services.due_process.queue(ctx.me, kind_filter)
    except CourtyardError as exc:
        return _error_page(ctx, exc)
    return ctx.render(
        "due_process/queue.html",
        items=items,
        kind=kind_filter,
        kinds=REVIEW_KINDS,
        done=_done_text(ctx),
        **_names(ctx),
    )


# Accounts that can no longer review are not offered for an assignment.
_GONE = (AccountState.DELETED, AccountState.TERMINATED)


async def _reviewers(ctx: WebContext) -> list[Account]:
    """Everyone holding the reviewer or admin role, for an admin's "Assign to" (read only:
    the assignment itself goes through ``DueProcessService.assign``)."""
    ids: set[str] = set()
    async with ctx.services.db.read() as conn:
        for role in REVIEW_ROLES:
            ids.update(await accounts_store.operator_ids(conn, role.value))
    found = await ctx.services.accounts.get_accounts(sorted(ids))
    return sorted(
        (a for a in found.values() if a.state not in _GONE),
        key=lambda a: (a.display_name.casefold(), a.handle),
    )


def _person(account: Account | None, account_id: str) -> str:
    return f"{account.display_name} (@{account.handle})" if account else account_id


def _outcomes(item: dict[str, Any]) -> list[str]:
    """The outcomes worth offering for this target: read-only mode is a measure on a group,
    and neither a group nor an account is content that can be taken down."""
    target = item["target_type"]
    order = list(OUTCOME_NAMES)
    offered = [
        o
        for o in item["outcomes"]
        if not (o == "group_read_only" and target != "group")
        and not (o == "remove" and target in {"group", "account"})
    ]
    return sorted(offered, key=lambda o: order.index(o) if o in order else len(order))


async def _item_page(ctx: WebContext, item_id: str, status: int = 200, **values: Any) -> Response:
    try:
        item = await ctx.services.due_process.item(ctx.me, item_id)
        reviewers = await _reviewers(ctx) if is_admin(ctx) else []
        ids = {c["sender_id"] for c in item["context"] if c.get("sender_id")}
        ids.update(i for i in (item["subject_account_id"], item["assigned_to"]) if i)
        ids.difference_update(r.id for r in reviewers)
        known = {r.id: r for r in reviewers}
        known.update(await ctx.services.accounts.get_accounts(sorted(ids)) if ids else {})
    except CourtyardError as exc:
        return _error_page(ctx, exc)
    values["form"] = {
        "outcome": "",
        "policy_clause": "",
        "reasons": "",
        "duration_hours": "",
        "manifestly_unfounded": False,
    } | values.get("form", {})
    return ctx.render(
        "due_process/item.html",
        status=status,
        item=item,
        outcomes=_outcomes(item),
        reviewers=[
            (r.id, _person(r, r.id)) for r in reviewers if r.id != item["subject_account_id"]
        ],
        person=lambda account_id: _person(known.get(account_id), account_id),
        signals=_signals((item.get("statement") or {}).get("explanation")),
        engine_signals=_signals((item.get("engine") or {}).get("hits")),
        done=_done_text(ctx),
        **_names(ctx),
        **values,
    )


@router.get("/review/items/{item_id}")
async def review_item(item_id: str, ctx: Member) -> Response:
    _reviewer_only(ctx)
    return await _item_page(ctx, item_id)


@router.post("/review/items/{item_id}/claim")
async def claim_item(item_id: str, ctx: MemberForm) -> Response:
    _reviewer_only(ctx)
    try:
        await ctx.services.due_process.claim(ctx.me, item_id)
    except CourtyardError as exc:
        error = _error(ctx, exc)
        return await _item_page(ctx, item_id, error.status, error=error)
    return _done(ctx, f"/review/items/{item_id}", "claimed")


@router.post("/review/items/{item_id}/assign")
async def assign_item(item_id: str, ctx: MemberForm) -> Response:
    _reviewer_only(ctx)
    if not is_admin(ctx):
        raise StarletteHTTPException(status_code=404)
    reviewer_id = ctx.text("reviewer_id", strip=True)[:26]
    try:
        if not reviewer_id:
            raise InvalidInput(ctx._("Choose a reviewer."), details={"field": "reviewer_id"})
        await ctx.services.due_process.assign(ctx.me, item_id, reviewer_id)
    except CourtyardError as exc:
        error = _error(ctx, exc)
        if exc.code == "reviewer_conflict":  # about the reviewer chosen, not the admin
            headline = ctx._("That reviewer took part in this matter: choose someone else.")
            error = replace(error, title=headline, message=None)
        return await _item_page(ctx, item_id, error.status, error=error)
    return _done(ctx, f"/review/items/{item_id}", "assigned")


@router.post("/review/items/{item_id}/decision")
async def decide_item(item_id: str, ctx: MemberForm) -> Response:
    _reviewer_only(ctx)
    form = {
        "outcome": ctx.text("outcome", strip=True)[:30],
        "policy_clause": ctx.text("policy_clause", strip=True),
        "reasons": ctx.text("reasons").strip(),
        "duration_hours": ctx.text("duration_hours", strip=True)[:8],
        "manifestly_unfounded": ctx.checked("manifestly_unfounded"),
    }
    try:
        raw = str(form["duration_hours"])
        if raw and not raw.isdigit():
            raise InvalidInput(
                ctx._("Give the duration in whole hours."), details={"field": "duration_hours"}
            )
        result = await ctx.services.due_process.decide(
            ctx.me,
            item_id,
            outcome=str(form["outcome"]),
            policy_clause=str(form["policy_clause"])[:200],
            reasons=str(form["reasons"]),
            duration_hours=int(raw) if raw else None,
            manifestly_unfounded=bool(form["manifestly_unfounded"]),
        )
    except CourtyardError as exc:
        error = _error(ctx, exc)
        return await _item_page(ctx, item_id, error.status, error=error, form=form)
    if result["status"] == "open":  # a termination proposal waits for a second reviewer
        return _done(ctx, f"/review/items/{item_id}", "proposed")
    return _done(ctx, "/review", "decided")


# ---- the policy console (read only) -------------------------------------------------------------


def _pack_summary(ctx: WebContext, row: Any) -> dict[str, Any]:
    governance = ctx.services.governance
    loaded = governance.loaded.get(row.pack_id)
    in_force = loaded is not None and loaded.row.version == row.version
    pack = loaded.pack if in_force and loaded is not None else None
    return {
        "pack_id": row.pack_id,
        "version": row.version,
        "enabled": row.enabled,
        "in_force": in_force,
        "origin": row.origin,
        "created_at": row.created_at,
        "note": row.note,
        "title": pack.title if pack else "",
        "rules": list(pack.rules) if pack else [],
    }


@router.get("/review/policy")
async def policy_console(ctx: Member) -> Response:
    _reviewer_only(ctx)
    try:
        rows = await ctx.services.governance.list_packs()
        flagged = await ctx.services.due_process.flagged_rules(ctx.me)
    except CourtyardError as exc:
        return _error_page(ctx, exc)
    return ctx.render(
        "due_process/policy.html",
        packs=[_pack_summary(ctx, row) for row in rows],
        flagged=flagged,
    )


@router.get("/review/policy/packs/{pack_id}")
async def policy_pack(pack_id: str, ctx: Member) -> Response:
    _reviewer_only(ctx)
    try:
        if len(pack_id) > 64:
            raise NotFound()
        history = await ctx.services.governance.pack_history(pack_id)
    except CourtyardError as exc:
        return _error_page(ctx, exc)
    return ctx.render(
        "due_process/pack.html",
        pack=_pack_summary(ctx, history[0]),
        history=[_pack_summary(ctx, row) for row in history],
    )


@router.get("/review/policy/rules/{rule_id}")
async def policy_rule(rule_id: str, ctx: Member) -> Response:
    _reviewer_only(ctx)
    try:
        if len(rule_id) > 128 or "\x00" in rule_id:
            raise NotFound()
        activity = await ctx.services.governance.rule_activity(rule_id, days=7)
    except CourtyardError as exc:
        return _error_page(ctx, exc)
    rule = None
    for loaded in ctx.services.governance.loaded.values():
        rule = next((r for r in loaded.pack.rules if r.id == rule_id), None) or rule
    counts = sorted(activity["counts"].items())
    return ctx.render(
        "due_process/rule.html",
        rule_id=rule_id,
        rule=rule,
        since=activity["since"],
        counts=[(action, mode, count) for (action, mode), count in counts],
        recent=activity["recent"],
    )


# ---- transparency (the report of docs/policies.md, Transparency, for reviewers and admins) -----

TRANSPARENCY_DAYS = 30  # the default period: the last 30 days, today included

# Headings of the report's breakdowns (``report["actions"][key]``) and their chart names.
BREAKDOWN_TITLES: dict[str, str] = {
    "by_category": N_("Actions by category"),
    "by_ground": N_("Actions by ground"),
    "by_detection_method": N_("Actions by detection method"),
    "by_automation": N_("Actions by automation of the decision"),
    "by_restriction_type": N_("Actions by type of restriction"),
    "by_measure": N_("Actions by measure"),
    "by_content_type": N_("Actions by content type"),
}
ACTION_CHARTS = {key: chart.removesuffix(".png") for key, chart, _title in ACTION_BREAKDOWNS}
CHART_NAMES = frozenset(
    [*ACTION_CHARTS.values()]
    + [c.removesuffix(".png") for c in (REPORTS_CHART, APPEALS_CHART, RULES_CHART)]
)


def _period(ctx: WebContext) -> tuple[Period, dict[str, str]]:
    """The period asked for (``from`` and ``to``, YYYY-MM-DD, UTC): the last 30 days by
    default. Returns it with the values as typed, for the form."""
    query = ctx.request.query_params
    today = ctx.services.clock.now().date()
    typed = {
        "from": query.get("from", "").strip()[:32]
        or (today - timedelta(days=TRANSPARENCY_DAYS - 1)).isoformat(),
        "to": query.get("to", "").strip()[:32] or today.isoformat(),
    }
    return parse_period(typed["from"], typed["to"]), typed


async def _transparency_report(ctx: WebContext, period: Period) -> dict[str, Any]:
    """The report ``GET /api/v1/admin/transparency/report`` answers, from the same builder."""
    async with ctx.services.db.read() as conn:
        figures = await transparency_store.report_figures(conn, period.start, period.end)
    return build_report(figures, period, ctx.services.clock.now())


def _chart_png(report: dict[str, Any], name: str) -> bytes:
    """One of the report's charts, drawn as ``transparency_report.charts`` draws it."""
    for key, chart, title in ACTION_BREAKDOWNS:
        if chart == f"{name}.png":
            return bar_chart(title, report["actions"][key])
    if f"{name}.png" == REPORTS_CHART:
        return bar_chart("Reports by category", report["reports"]["by_category"])
    if f"{name}.png" == APPEALS_CHART:
        appeals = report["appeals"]
        return bar_chart(
            "Appeals decided", {"upheld": appeals["upheld"], "reversed": appeals["reversed"]}
        )
    return bar_chart(
        "Overturn rate on appeal, per rule",
        {r["rule_id"]: round((r["overturn_rate"] or 0) * 100, 1) for r in report["rules"]},
        unit=" %",
    )


@router.get("/review/transparency")
async def transparency(ctx: Member) -> Response:
    _reviewer_only(ctx)
    query = ctx.request.query_params
    typed = {"from": query.get("from", "")[:32], "to": query.get("to", "")[:32]}
    try:
        period, typed = _period(ctx)
        report = await _transparency_report(ctx, period)
    except CourtyardError as exc:
        error = _error(ctx, exc)
        return ctx.render(
            "due_process/transparency.html",
            status=error.status,
            error=error,
            typed=typed,
            report=None,
            **_names(ctx),
        )
    return ctx.render(
        "due_process/transparency.html",
        typed=typed,
        report=report,
        generated=datetime.fromisoformat(report["generated_at"]),
        query=urlencode(period.as_dict()),
        breakdowns=[
            (key, ctx.translate(title), ACTION_CHARTS[key])
            for key, title in BREAKDOWN_TITLES.items()
        ],
        duration=lambda seconds: "—" if seconds is None else format_duration(seconds),
        rate=lambda value: "—" if value is None else format_rate(value),
        **_names(ctx),
    )


@router.get("/review/transparency/chart/{name}.png")
async def transparency_chart(name: str, ctx: Member) -> Response:
    _reviewer_only(ctx)
    if name not in CHART_NAMES:
        raise StarletteHTTPException(status_code=404)
    try:
        period, _typed = _period(ctx)
        report = await _transparency_report(ctx, period)
    except CourtyardError as exc:
        return _error_page(ctx, exc)
    png = await run_in_threadpool(_chart_png, report, name)
    return Response(
        png,
        media_type="image/png",
        headers={"Cache-Control": "private", "X-Content-Type-Options": "nosniff"},
    )


@router.get("/review/transparency/statements.json")
async def transparency_statements(ctx: Member) -> Response:
    """The statements of reasons of the period as DSA Transparency Database submissions, in
    bodies of 100: the file ``courtyard transparency statements`` writes."""
    _reviewer_only(ctx)
    try:
        period, _typed = _period(ctx)
        async with ctx.services.db.read() as conn:
            rows = await transparency_store.statement_rows(conn, period.start, period.end)
    except CourtyardError as exc:
        return _error_page(ctx, exc)
    prefix = default_puid_prefix(ctx.services.settings.public_url)
    document = export_document(
        period, [to_dsa_statement(row, platform_puid_prefix=prefix) for row in rows]
    )
    name = f"dsa-statements-{period.first.isoformat()}-{period.last.isoformat()}.json"
    return Response(
        json.dumps(document, ensure_ascii=False, indent=2) + "\n",
        media_type="application/json",
        headers={
            "Cache-Control": "private, no-store",
            "Content-Disposition": f'attachment; filename="{name}"',
            "X-Content-Type-Options": "nosniff",
        },
    )
