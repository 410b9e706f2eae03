"""The shop a turn speaks for (`ShopVoice`) reaches every playbook whole: Lumen's own, and the one behind the fake
OpenAI server, which reads a prefixed order name by the shop's format as Lumen's playbook does.

Every shop, order and customer here is invented (tests/test_order_name_shape.py's store, with an "AB-" prefix).
"""

from __future__ import annotations

import dataclasses
from datetime import date
from pathlib import Path

import pytest
from pydantic_ai import models

from agent.core import instructions_for
from agent.deps import Deps
from agent.models import ModelChooser
from agent.persona import Persona
from agent.playbook.model import PlaybookModel
from agent.playbook.voice import ShopVoice
from evals.fakes.openai_api import OpenAICompatServer
from evals.runner import WIRE_MODEL, EvalOptions, run_eval
from shopify.names import NameFormat
from shopify.store_file import FixtureStore
from tests.server_helpers import make_settings
from tests.test_evals import quiet
from tests.test_order_name_shape import write_store
from tools.context import SessionState

# "TX" between the number and the ZIP is no part of the name in a shop whose names are "AB-" and a number; read
# without the shop's format, the same words are order "3101-TX", which this shop doesn't have.
TYPED_WITH_STATE = "AB 3101 TX 73301 where is it?"
TRACKING = "1Z4F7K2E0000003101"  # the invented store's tracking number for AB-3101
PERSONA = Persona(assistant_name="Tamsin", tone="professional", context="We pack on Mondays.")


@pytest.fixture
def ab_store(tmp_path: Path) -> Path:
    return write_store(tmp_path, prefix="AB-", say_format=True)


async def _deps(store: Path) -> Deps:
    source = FixtureStore(store)
    return Deps(
        source=source,
        session=SessionState(),
        conversation_id="voice",
        shop=await source.shop(),
        now=source.now(),
        persona=PERSONA,
    )


async def test_the_voice_of_a_shop_carries_all_it_says(ab_store: Path) -> None:
    shop = (await FixtureStore(ab_store).shop()).model_copy(update={"contact_email": "help@quillfern.example"})
    voice = ShopVoice.of(shop, PERSONA, date(2026, 9, 14))
    assert voice == ShopVoice(
        PERSONA,
        "Quillfern Paper Goods",
        date(2026, 9, 14),
        "en_US",
        ("quillfern.myshopify.com", "quillfern.example"),
        NameFormat("AB-", ""),
    )
    with pytest.raises(dataclasses.FrozenInstanceError):
        voice.shop_name = "Another"  # type: ignore[misc]


async def test_the_model_chooser_hands_the_voice_to_the_playbook(ab_store: Path, tmp_path: Path) -> None:
    voice = ShopVoice.of(await FixtureStore(ab_store).shop(), PERSONA, date(2026, 9, 14))
    model = ModelChooser(make_settings(tmp_path)).for_turn(voice)
    assert isinstance(model, PlaybookModel) and model.playbook.voice is voice


async def test_the_fake_servers_voice_is_lumens_for_a_shop_it_knows(ab_store: Path) -> None:
    deps = await _deps(ab_store)
    lumens = ShopVoice.of(deps.shop, deps.persona, deps.today)
    instructions = instructions_for(deps)
    assert OpenAICompatServer(shops=[deps.shop]).voice(instructions) == lumens
    # A shop it doesn't know: what the instructions say, and no guess at the rest.
    assert OpenAICompatServer().voice(instructions) == dataclasses.replace(lumens, domains=(), name_format=None)
    # Two shops of one name: the instructions can't say which wrote, so neither's format is used.
    other = deps.shop.model_copy(update={"order_number_prefix": "#", "domain": "quillfern-two.myshopify.com"})
    assert OpenAICompatServer(shops=[deps.shop, other]).voice(instructions).name_format is None


async def _wire_reply(store: Path, tmp_path: Path, server: OpenAICompatServer) -> tuple[str | None, str]:
    from agent.service import Lumen

    settings = make_settings(tmp_path, lumen_model=WIRE_MODEL, lumen_openai_base_url=server.base_url)
    lumen = await Lumen.create(settings, store=store)
    try:
        turn = await lumen.chat(TYPED_WITH_STATE, None)
    finally:
        await lumen.close()
    return turn.model, turn.reply


async def test_the_llm_paths_fake_reads_a_prefixed_name_by_the_shops_format(
    ab_store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(models, "ALLOW_MODEL_REQUESTS", True)  # to a loopback server answering with the playbook
    shop = await FixtureStore(ab_store).shop()
    async with OpenAICompatServer(shops=[shop]) as server:
        model, reply = await _wire_reply(ab_store, tmp_path, server)
    assert model == "playbook-wire" and TRACKING in reply and "AB-3101" in reply
    # Without the shop's format the fake reads another order, as it did before it was given one.
    async with OpenAICompatServer() as blind:
        model, reply = await _wire_reply(ab_store, tmp_path, blind)
    assert model == "playbook-wire" and TRACKING not in reply


async def test_lumen_eval_over_the_wire_gives_the_fake_its_cases_shops(
    ab_store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(models, "ALLOW_MODEL_REQUESTS", True)
    monkeypatch.delenv("LUMEN_OPENAI_BASE_URL", raising=False)
    cases = tmp_path / "cases.yaml"
    cases.write_text(
        f"""name: ab-prefix
cases:
  - name: ab-prefix-typed-with-state
    inputs:
      store: {ab_store}
      turns: ["{TYPED_WITH_STATE}"]
    metadata:
      scenario: verification
      expect:
        tools:
          - {{tool: find_order, args: {{order_number: AB-3101}}, result: {{status: verified}}}}
        facts: ["{TRACKING}"]
""",
        encoding="utf-8",
    )
    options = EvalOptions(model=WIRE_MODEL, case_files=[cases], progress=False, acts=False)
    data = await run_eval(options, console=quiet())
    [case] = data["cases"]
    assert case["passed"], case["failures"]


async def test_turns_in_one_voice_share_one_playbook(ab_store: Path, tmp_path: Path) -> None:
    """The playbook is pure, so the chooser makes it once per voice; another voice (another day, persona or shop)
    gets its own, in that voice."""
    shop = await FixtureStore(ab_store).shop()
    chooser = ModelChooser(make_settings(tmp_path))
    first = chooser.for_turn(ShopVoice.of(shop, PERSONA, date(2026, 9, 14)))
    assert chooser.for_turn(ShopVoice.of(shop, PERSONA, date(2026, 9, 14))) is first
    next_day = ShopVoice.of(shop, PERSONA, date(2026, 9, 15))
    other = chooser.for_turn(next_day)
    assert isinstance(other, PlaybookModel) and other is not first and other.playbook.voice == next_day
