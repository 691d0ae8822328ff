"""jointuse: joint use (共同利用) of electricity customers' personal data."""

__version__ = "0.1.0"
