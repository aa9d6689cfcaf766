"""Band composites and ratios, and their literature presets per sensor."""
