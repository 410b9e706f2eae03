"""Where orders come from: a store file (`FixtureStore`) or the Shopify Admin GraphQL API (`ShopifyAdmin`)."""

from shopify.source import OrderSource, OrderSourceError, OrderSourceThrottled, OrderSourceUnavailable
from shopify.store_file import FixtureStore

__all__ = ["FixtureStore", "OrderSource", "OrderSourceError", "OrderSourceThrottled", "OrderSourceUnavailable"]
