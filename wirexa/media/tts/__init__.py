"""Text-to-speech providers behind one Protocol; REGISTRY lists them explicitly."""
