"""gateway: a high-throughput SMPP 3.4 SMS gateway daemon."""

__version__ = "0.1.0"
