"""Pure computation: feature extraction and recommendation algorithms."""
