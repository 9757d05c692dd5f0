"""Alerting: rules over the project's metrics evaluated continuously, alert instances with
their states, silences, and notifications through channels."""
