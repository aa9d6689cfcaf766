"""Reports and their figures, and the palettes every output shares."""
