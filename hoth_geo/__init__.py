"""hoth-geo: contextual-safeguarding maps from partnership information-sharing reports."""

__version__ = "0.1.0"
