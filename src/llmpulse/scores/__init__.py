"""Feedback and evaluation scores: received, checked, stored, and joined to events."""
