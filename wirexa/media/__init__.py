"""Audio: pure PCM helpers, answering-machine detection, recordings and TTS providers."""
