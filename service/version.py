"""The contract's version (OpenAPI's ``info.version``, CHANGELOG.md), and the package's."""

__version__ = "1.0.0"
