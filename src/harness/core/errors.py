class HarnessError(Exception):
    """A failure with a one-line cause that the CLI prints instead of a traceback."""
