"""Symbol Interpretation Task (thesis ch. 4): generator, official-task loader, solver, LM scoring."""
