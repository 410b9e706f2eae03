"""The shop a turn speaks for, as one frozen value: the playbook, the model chooser and the fake OpenAI server all take
this rather than its six parts, so a setting added here reaches every playbook (one once missed the order-name format).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from agent.persona import Persona
from shopify.domain import Shop
from shopify.names import NameFormat


def shop_domains(shop: Shop) -> tuple[str, ...]:
    """The web addresses a shop is known by: its Shopify domain and its contact email's domain (often its own site),
    so "I ordered from <our site>" is never taken for another shop."""
    contact = (shop.contact_email or "").rpartition("@")[2]
    return tuple(d for d in (shop.domain, contact) if d)


@dataclass(frozen=True, slots=True)
class ShopVoice:
    """How Lumen speaks for one shop on one day, and reads what its shoppers type there.

    `locale` is the shop's CLDR locale (its dates, money and words, and the country its postcodes are read for),
    `domains` the web addresses it is known by, `name_format` how it writes its order names (None when unknown).
    """

    persona: Persona
    shop_name: str
    today: date
    locale: str = "en_US"
    domains: tuple[str, ...] = ()
    name_format: NameFormat | None = None

    @classmethod
    def of(cls, shop: Shop, persona: Persona, today: date) -> ShopVoice:
        """The voice of this shop (as its order source describes it) with this persona on the store's `today`."""
        return cls(persona, shop.name, today, shop.locale, shop_domains(shop), shop.name_format)
