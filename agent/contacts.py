"""What a conversation is about, read from its stored messages and state: the exact keys redaction deletes by.

Emails the shopper typed (in a message, or passed by the model to a tool) and the emails of orders they proved, all
normalised; the logged-in customer's GID; the GIDs of the orders it proved or that a tool read. Read from the JSON
that is stored, so conversations saved before contacts were recorded can be read the same way.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from pydantic_ai.messages import ModelMessage

from shopify.names import normalize_email
from storage.contacts import Contact

# Broad on purpose: any address-shaped word counts (Unicode too); recording one too many only keeps a key of the same
# conversation, never one of another conversation.
_EMAIL = re.compile(r"[^\s@<>()\[\]{}\"',;:]+@[^\s@<>()\[\]{}\"',;:]+\.[^\s@<>()\[\]{}\"',;:]+")
_GID_PREFIX = "gid://shopify/Order/"
_ORDER_GID = re.compile(re.escape(_GID_PREFIX) + r"\d+(?!\d)")
_GID_BYTES = _GID_PREFIX.encode()
_JSON_SCALARS = (int, float, bool, type(None))


def emails_in(text: str) -> set[str]:
    return {normalize_email(match.rstrip(".!?")) for match in _EMAIL.findall(text)}


def contacts_of(messages: Sequence[ModelMessage], messages_json: bytes, state_json: str) -> set[Contact]:
    """`contacts_in(messages_json, state_json)` where `messages_json` is pydantic-ai's dump of `messages`, read from
    the messages in hand rather than from their JSON parsed again (the parse and walk were most of the contacts'
    cost in a turn's save). The same by construction: the strings searched are the ones the JSON decodes to, and
    any part whose JSON could differ from its plain strings sends the whole reading to `contacts_in`."""
    found = _contacts_in_hand(messages, messages_json)
    if found is None:
        return contacts_in(messages_json, state_json)
    state = json.loads(state_json or "{}")
    return found | _state_contacts(state) if isinstance(state, dict) else found


def _contacts_in_hand(messages: Sequence[ModelMessage], messages_json: bytes) -> set[Contact] | None:
    """The emails of the shopper's messages and the model's tool calls, or None to read the JSON instead.

    A tool result gives only order GIDs, and none is in it when the JSON holds no GID's prefix (nor an escape that
    could spell one: pydantic writes neither, a `\\/` or `\\u` sends the reading to the JSON anyway)."""
    if _GID_BYTES in messages_json or b"\\/" in messages_json or b"\\u" in messages_json:
        return None
    contacts: set[Contact] = set()
    for message in messages:
        for part in message.parts:
            if part.part_kind == "user-prompt":
                strings = _plain_strings(part.content)
            elif part.part_kind == "tool-call":
                strings = _plain_strings(part.args)
            else:
                continue
            if strings is None:
                return None
            contacts |= {("email", e) for text in strings if "@" in text for e in emails_in(text)}
    return contacts


def _plain_strings(value: Any) -> list[str] | None:
    """`_strings` of a value made of JSON's own types only (its JSON decodes to the same strings), else None."""
    found: list[str] = []
    stack = [value]
    while stack:
        item = stack.pop()
        kind = type(item)
        if kind is str:
            found.append(item)
        elif kind is dict:
            stack.extend(item.values())
        elif kind is list:
            stack.extend(item)
        elif kind not in _JSON_SCALARS:
            return None
    return found


def contacts_in(messages_json: str | bytes, state_json: str) -> set[Contact]:
    """The contacts of one stored conversation (messages as pydantic-ai dumps them, the session state's JSON)."""
    contacts: set[Contact] = set()
    messages = json.loads(messages_json or "[]")
    for message in messages if isinstance(messages, list) else []:
        for part in message.get("parts", []) if isinstance(message, dict) else []:
            contacts |= _part_contacts(part)
    state = json.loads(state_json or "{}")
    if isinstance(state, dict):
        contacts |= _state_contacts(state)
    return contacts


def _part_contacts(part: Any) -> set[Contact]:
    if not isinstance(part, dict):
        return set()
    kind = part.get("part_kind")
    # A string without an '@' holds no address, one without the GID's prefix no order: most strings of a tool's
    # result are neither, and the check costs less than the search it skips.
    if kind == "user-prompt":
        return {("email", e) for text in _strings(part.get("content")) if "@" in text for e in emails_in(text)}
    if kind == "tool-call":  # what the model passed on (an email to check, a contact address) came from the shopper
        return {("email", e) for text in _strings(part.get("args")) if "@" in text for e in emails_in(text)}
    if kind == "tool-return":
        return {
            ("order", gid)
            for text in _strings(part.get("content"))
            if _GID_PREFIX in text
            for gid in _ORDER_GID.findall(text)
        }
    return set()


def _strings(value: Any) -> list[str]:
    """Every string inside a JSON value (iteratively: a stored value may nest deeply)."""
    found: list[str] = []
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            found.append(item)
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


def _state_contacts(state: dict[str, Any]) -> set[Contact]:
    contacts: set[Contact] = set()
    customer = state.get("customer_id")
    if isinstance(customer, str) and customer:
        contacts.add(("customer", customer))
    ids = state.get("verified_ids")
    for gid in ids.values() if isinstance(ids, dict) else []:
        if isinstance(gid, str) and gid:
            contacts.add(("order", gid))
    emails = state.get("order_emails")
    for email in emails.values() if isinstance(emails, dict) else []:
        if isinstance(email, str) and email:
            contacts.add(("email", normalize_email(email)))
    return contacts
