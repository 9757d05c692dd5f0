"""Cost intelligence: re-costing history, dated prices, recommendations, routing and caching
advice, budgets, forecasts and capacity (docs/costs.md)."""
