"""caseray: do transformers do arithmetic by cases or by rules? Data, trials and Ray sweeps."""

__version__ = "0.1.0"
