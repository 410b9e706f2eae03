"""The agent's dependencies: what tools need (`ToolContext`) plus what instructions need (persona, shop, clock)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from zoneinfo import ZoneInfo

from agent.persona import Persona, default_persona
from shopify.domain import Shop
from tools.context import ToolContext


@dataclass(kw_only=True)
class Deps(ToolContext):
    shop: Shop
    now: datetime
    persona: Persona = field(default_factory=default_persona)

    @property
    def local_now(self) -> datetime:
        """Now in the store's time zone: what "today" means to its shoppers."""
        return self.now.astimezone(ZoneInfo(self.shop.timezone))

    @property
    def today(self) -> date:
        return self.local_now.date()
