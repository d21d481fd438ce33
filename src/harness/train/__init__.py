"""Training plumbing shared by every family: seeding and resumable checkpoints."""
