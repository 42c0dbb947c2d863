"""Speech-to-text: the recognizer contract (base), providers and their chain."""
