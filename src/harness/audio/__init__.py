"""Shared audio pieces: WAV I/O with input checks, multi-stem datasets (manifest, splits, chunks),
MIDI rendering through fluidsynth, the embedded datasets and the thesis-scale downloaders."""
