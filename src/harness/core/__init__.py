"""Shared plumbing: errors, atomic outputs, logging, config. Never imports a family."""
