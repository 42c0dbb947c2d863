"""Outbound HTTP for live calls: fetching the customer's documents and audio (not the outbox)."""
