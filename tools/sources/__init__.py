"""Where orders come from: a store file (`FixtureStore`) or the Shopify Admin GraphQL API (`ShopifyAdmin`)."""

from tools.sources.base import OrderSource, OrderSourceError, OrderSourceThrottled, OrderSourceUnavailable
from tools.sources.fixture import FixtureStore

__all__ = ["FixtureStore", "OrderSource", "OrderSourceError", "OrderSourceThrottled", "OrderSourceUnavailable"]
