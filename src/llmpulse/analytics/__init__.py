"""Analytics over the stored telemetry: experiments, retention, funnels, sessions and
adoption (one module each, each with its routes)."""
