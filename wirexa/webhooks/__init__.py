"""Webhooks: the transactional outbox, Twilio signatures, retry schedule and the delivery worker."""
