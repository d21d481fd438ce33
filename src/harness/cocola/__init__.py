"""COCOLA (thesis ch. 7): a contrastive encoder of the coherence between sub-mixes of stems."""
