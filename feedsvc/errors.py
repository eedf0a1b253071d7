"""The one exception hierarchy: every error a user can see derives from FeedsvcError."""

from __future__ import annotations

import sqlite3

# What the disk raises (full, read-only, gone) while a build reads or writes its files:
# the build stops on them and the previous site stays served; they never leave one
# article or feed out, as an error in what an article says does.
STORAGE_ERRORS = (OSError, sqlite3.Error)


class FeedsvcError(Exception):
    """Base of every error feedsvc raises on purpose; its message is for the user."""


class ConfigError(FeedsvcError):
    """The configuration cannot be used; the message names the key."""


class ArticleError(FeedsvcError):
    """One article file cannot be published; the others are unaffected."""

    def __init__(self, reason: str, line: int | None = None, path: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.line = line
        self.path = path

    def located(self, path: str) -> ArticleError:
        return ArticleError(self.reason, self.line, path)

    def __str__(self) -> str:
        where = self.path + (f":{self.line}" if self.line else "")
        return f"{where}: {self.reason}" if where else self.reason


class RetryLater(ArticleError):
    """The file may still be being written: look again once it has settled."""


class Vanished(ArticleError):
    """The file was deleted between being listed and being read: it is simply gone."""


class Gone(FeedsvcError):
    """Bytes asked of the warm-start file after a later save let them go: the
    resource belongs to a snapshot long replaced; the current one has its successor."""
