"""Choosing the model: the offline playbook, or an LLM that falls back to the playbook when its provider fails."""

from __future__ import annotations

import logging

import httpx
from pydantic_ai.exceptions import ModelAPIError, UnexpectedModelBehavior
from pydantic_ai.models import Model, infer_model
from pydantic_ai.models.fallback import FallbackModel

from agent.playbook.model import PLAYBOOK_NAME, PlaybookModel
from agent.playbook.voice import ShopVoice
from config import Settings

log = logging.getLogger("lumen.models")

# What makes a shopper's turn go to the playbook instead: the provider failing, timing out or talking nonsense.
FALLBACK_ON = (ModelAPIError, UnexpectedModelBehavior, httpx.HTTPError, TimeoutError, OSError)


def llm_from_settings(name: str, base_url: str | None, api_key: str | None = None) -> Model:
    """A pydantic-ai model from its name; `base_url` points the OpenAI provider at any compatible server."""
    if name.startswith("openai:") and (base_url or api_key):
        from pydantic_ai.models.openai import OpenAIChatModel
        from pydantic_ai.providers.openai import OpenAIProvider

        # Local servers (Ollama, vLLM, llama.cpp) ignore the key, but the client insists on one.
        provider = OpenAIProvider(base_url=base_url, api_key=api_key or "not-needed")
        return OpenAIChatModel(name.removeprefix("openai:"), provider=provider)
    return infer_model(name)


class ModelChooser:
    """Builds the model for one turn. The LLM client is made once, lazily, so importing needs no key."""

    def __init__(self, settings: Settings) -> None:
        self.name = settings.lumen_model
        self.base_url = settings.lumen_openai_base_url
        self.api_key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else None
        self._llm: Model | None = None
        self.llm_error: str | None = None
        # The playbook of the last voice asked for: every turn of a shop on one day speaks in the same voice, and the
        # playbook is pure (the same messages always give the same step), so turns share it, at once or in turn.
        self._playbook: tuple[ShopVoice, PlaybookModel] | None = None

    @property
    def uses_llm(self) -> bool:
        return self.name != PLAYBOOK_NAME

    def llm(self) -> Model | None:
        if not self.uses_llm:
            return None
        if self._llm is None and self.llm_error is None:
            try:
                self._llm = llm_from_settings(self.name, self.base_url, self.api_key)
            except Exception as exc:  # a missing key or unknown provider: run on the playbook, say why once
                self.llm_error = f"{type(exc).__name__}: {exc}"
                log.warning("LUMEN_MODEL=%s cannot be used (%s); answering with the playbook model", self.name, exc)
        return self._llm

    def for_turn(self, voice: ShopVoice) -> Model:
        """The playbook in the shop's voice (its locale's dates, times, money and words; its order-name format),
        behind the LLM if there is one."""
        playbook = self.playbook(voice)
        llm = self.llm()
        if llm is None:
            return playbook
        return FallbackModel(llm, playbook, fallback_on=FALLBACK_ON)

    def playbook(self, voice: ShopVoice) -> PlaybookModel:
        """The playbook in this voice: the last one made, when the voice is the same."""
        if self._playbook is None or self._playbook[0] != voice:
            self._playbook = (voice, PlaybookModel(voice))
        return self._playbook[1]
