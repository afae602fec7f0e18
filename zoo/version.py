"""The version of genozoo: the one source (``pyproject.toml`` reads it, config.json records it)."""
__version__ = "0.1.0"
