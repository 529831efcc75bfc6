"""CLI commands of concept analysis (probe, rank): filled in by the concept-analysis integration."""
