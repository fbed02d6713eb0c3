"""The gateway: the one public door (identity, proxy, rate limits, merged OpenAPI)."""
