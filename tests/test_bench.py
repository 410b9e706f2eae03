"""The Black Friday benchmark's parts that decide what it measures: the synthetic store, the order changes its
webhooks announce, and how it tells an answered shopper from one told to try again. No timing here."""

from __future__ import annotations

import json
import random
import re
import tomllib
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from agent.playbook.model import PlaybookModel
from bench.agent_ratio import Ratio, _playbook_timed, report
from bench.black_friday import (
    Conversation,
    Options,
    Turn,
    _sse_events,
    failure_patterns,
    plan_changes,
    reference,
    verdict,
)
from bench.fake_process import CountingShopify, mutation
from bench.synthetic_store import KINDS, SHOP, build_store, kind_of
from shopify.client import order_name_candidates
from shopify.domain import parse_order
from shopify.names import normalize_email

ROOT = Path(__file__).resolve().parents[1]
EMAIL = re.compile(r"^[a-z0-9.]+@[a-z0-9.-]+\.[a-z]+$")


@pytest.fixture(scope="module")
def store() -> dict[str, Any]:
    return build_store(1200, seed=3)


def test_every_order_parses_and_is_named_in_the_shops_format(store: dict[str, Any]) -> None:
    orders = [parse_order(node) for node in store["orders"]]
    assert len(orders) == 1200
    assert len({o.id for o in orders}) == len({o.name for o in orders}) == 1200
    prefix = SHOP["orderNumberFormatPrefix"]
    assert all(o.name.startswith(prefix) and o.name[len(prefix) :].isdigit() for o in orders)
    assert all(o.email and EMAIL.match(o.email) and o.has_email(o.email.upper()) for o in orders)
    assert all(o.customer_email and normalize_email(o.customer_email) == o.email for o in orders)


def test_the_store_spans_the_states_shoppers_ask_about(store: dict[str, Any]) -> None:
    kinds = Counter(kind_of(node) for node in store["orders"])
    for expected in ("unfulfilled", "partially_fulfilled", "in_transit", "out_for_delivery", "delayed", "delivered",
                     "cancelled", "on_hold", "scheduled", "label_purchased", "pickup_preparing",
                     "pickup:READY_FOR_PICKUP", "pickup:PICKED_UP"):  # fmt: skip
        assert kinds[expected] > 0, expected
    assert len(kinds) == len(KINDS)
    orders = [parse_order(node) for node in store["orders"]]
    cancelled = [o for o in orders if o.cancelled_at]
    assert cancelled and all(o.refunds and o.refunds[0].amount == o.total for o in cancelled)
    held = [o for o in orders if any(fo.holds for fo in o.fulfillment_orders)]
    assert held and all(o.fulfillment_status == "ON_HOLD" for o in held)
    pickups = [o for o in orders if any(fo.delivery_method == "PICK_UP" for fo in o.fulfillment_orders)]
    assert pickups and all(not f.tracking for o in pickups for f in o.fulfillments)
    partial = [o for o in orders if o.fulfillment_status == "PARTIALLY_FULFILLED"]
    assert partial and all(o.fulfillments and any(li.unfulfilled_quantity for li in o.line_items) for o in partial)


def test_carriers_countries_and_postcodes_vary(store: dict[str, Any]) -> None:
    orders = [parse_order(node) for node in store["orders"]]
    carriers = {t.company for o in orders for f in o.fulfillments for t in f.tracking}
    assert {"UPS", "USPS", "FedEx", "Canada Post", "Royal Mail"} <= carriers
    assert all(t.number and t.url and t.number in t.url for o in orders for f in o.fulfillments for t in f.tracking)
    by_country = {o.shipping_country: o.shipping_zip for o in orders}
    assert set(by_country) == {"US", "CA", "GB"}
    assert re.fullmatch(r"\d{5}", by_country["US"] or "")
    assert re.fullmatch(r"[A-Z]\d[A-Z] \d[A-Z]\d", by_country["CA"] or "")
    assert re.fullmatch(r"[A-Z]{1,2}\d{1,2} \d[A-Z]{2}", by_country["GB"] or "")
    assert len({o.email for o in orders}) > 0.8 * len(orders)
    # No event lies in the future of the store's today.
    assert all(e.happened_at.isoformat() <= store["asOf"].replace("Z", "+00:00") for o in orders
               for f in o.fulfillments for e in f.events)  # fmt: skip


def test_the_same_seed_gives_the_same_store_and_another_seed_another() -> None:
    assert json.dumps(build_store(300, seed=11)) == json.dumps(build_store(300, seed=11))
    assert json.dumps(build_store(300, seed=11)) != json.dumps(build_store(300, seed=12))


def test_every_way_the_bench_writes_an_order_number_names_that_order(store: dict[str, Any]) -> None:
    node = store["orders"][0]
    styles = ("{name}", "{bare}", "{digits}", "{dashed}")
    for style in styles:
        typed = reference(node, style)
        assert order_name_candidates(typed, SHOP["orderNumberFormatPrefix"]) == [node["name"]], typed


def test_changes_touch_five_percent_of_orders_and_each_shows_in_the_parsed_order(store: dict[str, Any]) -> None:
    options = Options(orders=1200, duration=60)
    changes = plan_changes(store, options, random.Random(1))
    assert len(changes) == 60 and len({c.order_id for _t, c in changes}) == 60
    assert all(0 <= t <= 60 for t, _c in changes)
    assert {c.kind for _t, c in changes} == {"ship", "deliver", "cancel"}
    by_id = {node["id"]: node for node in store["orders"]}
    for _t, change in changes:
        node = json.loads(json.dumps(by_id[change.order_id]))
        before = parse_order(node)
        mutation(change)(node)
        after = parse_order(node)
        if change.kind == "ship":
            assert not before.fulfillments or before.fulfillment_status != "FULFILLED"
            assert after.fulfillment_status == "FULFILLED"
            assert change.tracking["number"] in {t.number for f in after.fulfillments for t in f.tracking}
        elif change.kind == "deliver":
            assert any(f.delivered_at for f in after.fulfillments) and not any(
                f.delivered_at for f in before.fulfillments
            )
        else:
            assert after.cancelled_at and not before.cancelled_at and after.refunds


def test_the_fake_applies_a_change_and_builds_the_webhook_shopify_would_send(store: dict[str, Any]) -> None:
    changes = plan_changes(store, Options(orders=1200, duration=60), random.Random(2))
    kind, change = next((c.kind, c) for _t, c in changes if c.kind == "ship")
    fake = CountingShopify(store)  # not started: no target, so the webhook is built and recorded, not sent
    webhook_id = fake.change_order_sync(change.order_id, mutation(change), topic=change.topic)
    delivery = fake.deliveries[-1]
    assert kind == "ship" and delivery.webhook_id == webhook_id and delivery.topic == "fulfillments/create"
    assert delivery.payload["order_id"] == int(change.order_id.rsplit("/", 1)[1])
    shipped = parse_order(fake.order(change.order_id))
    assert change.tracking["number"] in {t.number for f in shipped.fulfillments for t in f.tracking}


def test_server_sent_events_are_read_as_the_widget_reads_them() -> None:
    lines = ["event: session", 'data: {"session_id": "abc"}', "", "event: delta", 'data: {"text": "Hi"}', "",
             "event: done", 'data: {"session_id": "abc", "reply": "Hi there"}']  # fmt: skip
    assert list(_sse_events(lines)) == [
        ("session", {"session_id": "abc"}),
        ("delta", {"text": "Hi"}),
        ("done", {"session_id": "abc", "reply": "Hi there"}),
    ]


def _transcript(*turns: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    messages: list[dict[str, Any]] = []
    for results in turns:
        messages.append({"parts": [{"part_kind": "user-prompt", "content": "..."}]})
        for tool, content in results:
            messages.append({"parts": [{"part_kind": "tool-return", "tool_name": tool, "content": content}]})
    return {"messages": messages}


def _conversation(node: dict[str, Any], *replies: str) -> Conversation:
    conversation = Conversation(node, "first", "follow-up", "10.0.0.1")
    conversation.turns = [Turn(reply=reply, session_id="s") for reply in replies]
    return conversation


def test_a_shopper_counts_as_answered_only_with_their_order_verified_and_named(store: dict[str, Any]) -> None:
    node = store["orders"][5]
    failures = failure_patterns()
    verified = ("find_order", {"status": "verified", "order_number": node["name"]})
    answer = f"Your order {node['name']} is on its way."
    assert verdict(_conversation(node, answer, "Soon."), _transcript([verified], []), failures) == "answered"
    other = ("find_order", {"status": "verified", "order_number": "#HP99999"})
    assert verdict(_conversation(node, answer, "Soon."), _transcript([other], []), failures).startswith("not verified")
    unavailable = ("find_order", {"status": "unavailable", "order_number": node["name"]})
    said = verdict(_conversation(node, answer, "Soon."), _transcript([verified], [unavailable]), failures)
    assert said == "order system unavailable"
    broken = _conversation(node, answer)
    broken.turns.append(Turn(error="HTTP 500"))
    assert verdict(broken, _transcript([verified], []), failures) == "http error"


def test_every_try_again_reply_in_prompts_is_recognised_and_order_answers_are_not() -> None:
    replies = tomllib.loads((ROOT / "prompts" / "replies.toml").read_text(encoding="utf-8"))
    failures = failure_patterns()
    said = [*replies["unavailable"].values(), replies["turn_failed"]["text"]]
    filled = [re.sub(r"\{[a-z_]+\}", "Harbor & Pine", text) for text in said]
    assert all(any(p.search(text) for p in failures) for text in filled)
    answers = [
        text for key, text in replies["order"].items() if isinstance(text, str) and "{order_number}" in key + text
    ]
    assert answers and not any(p.search(text) for text in answers for p in failures)


def test_the_ratio_report_gives_each_run_less_its_models_own_work() -> None:
    """The in-process comparison prints the whole-turn ratio and the ratio less each model's own work (the
    playbook's reading and writing, the bare model's regex): figures given here, so no timing is asserted."""
    ratio = Ratio(2, lumen_s=[0.012, 0.012], bare_s=[0.005, 0.005])
    ratio.lumen_cpu_s, ratio.bare_cpu_s, ratio.shaped_cpu_s = [0.012] * 2, [0.005] * 2, [0.0045] * 2
    ratio.lumen_model_s, ratio.bare_model_s = [0.004] * 2, [0.0001] * 2
    lines = report(ratio)
    assert "Lumen 12.0 ms, bare 5.00 ms: 2.4x" in lines[3]
    assert "Lumen 8.0 ms, bare 4.90 ms: 1.6x" in lines[4] and "4.0 ms" in lines[4] and "0.10 ms" in lines[4]
    assert not any("async model" in line for line in lines)  # not measured, not printed
    ratio.async_cpu_s = [0.004] * 2
    assert "bare run, async model function: 4.00 ms CPU; Lumen / it: 3.0x" in report(ratio)[6]


def test_the_playbook_is_timed_only_inside_the_measurement() -> None:
    original = PlaybookModel._step
    with _playbook_timed():
        assert PlaybookModel._step is not original
    assert PlaybookModel._step is original
