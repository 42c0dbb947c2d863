"""Text-to-speech providers behind one Protocol (base.py); chain.REGISTRY lists them explicitly, in fallback order."""
