"""The spectral library, its resampling to sensors, and the Spectral Angle Mapper."""
