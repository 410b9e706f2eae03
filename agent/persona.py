"""The merchant's persona: the assistant's name, its tone, and free-text context such as shipping-time notes."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, field_validator

from agent import prompts

Tone = Literal["friendly", "professional", "concise"]


class Persona(BaseModel):
    assistant_name: str = Field(min_length=1, max_length=40, description="What the assistant calls itself.")
    tone: Tone = Field("friendly", description="friendly, professional or concise.")
    context: str = Field(
        "", max_length=2000, description="Notes for shoppers, e.g. 'Pre-orders typically ship within 4-6 weeks.'"
    )

    @field_validator("assistant_name")
    @classmethod
    def _name_not_blank(cls, value: str) -> str:
        value = " ".join(value.split())
        if not value:
            raise ValueError("the assistant needs a name")
        return value

    @field_validator("context")
    @classmethod
    def _strip(cls, value: str) -> str:
        return value.strip()


class PersonaUpdate(BaseModel):
    """A partial update from the merchant's settings page; omitted fields keep their value."""

    assistant_name: str | None = Field(None, min_length=1, max_length=40)
    tone: Tone | None = None
    context: str | None = Field(None, max_length=2000)

    def apply(self, persona: Persona) -> Persona:
        merged = persona.model_dump() | self.model_dump(exclude_none=True)
        return Persona.model_validate(merged)


def default_persona() -> Persona:
    return Persona.model_validate(prompts.toml("persona.toml"))
