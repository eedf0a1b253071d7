"""feedsvc: a folder of Hindi articles, published as per-tag Atom and RSS feeds."""

__version__ = "0.2.0"
