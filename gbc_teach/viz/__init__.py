"""Figures, widgets and explorers of the notebooks."""
