"""Shared file I/O: WAV reading and writing (``harness.io.wav``), used by the audio data layer,
the metrics and every audio family."""
