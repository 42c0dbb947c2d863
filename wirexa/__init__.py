"""Wirexa: a self-hosted voice engine that speaks Twilio's and SignalWire's REST API and XML."""

__version__ = "0.1.0"
