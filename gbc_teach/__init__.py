"""gbc-teach: a teaching toolkit for 'Generator Born from Classifier' (Yu & Wang, NeurIPS 2023)."""

__version__ = "0.1.0"
