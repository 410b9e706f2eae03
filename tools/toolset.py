"""The three tools Lumen's agent may call, as one toolset with complete parameter descriptions."""

from __future__ import annotations

from pydantic_ai import FunctionToolset

from tools.context import ToolContext
from tools.escalate import escalate
from tools.find_order import find_order
from tools.list_fulfillments import list_fulfillments


def build_toolset() -> FunctionToolset[ToolContext]:
    # require_parameter_descriptions keeps every argument documented for the model.
    return FunctionToolset([find_order, list_fulfillments, escalate], require_parameter_descriptions=True)
