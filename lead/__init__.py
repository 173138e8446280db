"""LEAD: length-efficient adaptive and dynamic reasoning for verl."""

__version__ = "0.1.0"
