"""Database logs without the data: what shoppers wrote never reaches a log through the database drivers.

SQL parameters are hidden by the engine (`hide_parameters=True`, in `storage.database`); these filters drop the rest:
SQLAlchemy's DEBUG `Row ...` lines (the rows read: messages, emails) and aiosqlite's DEBUG lines (each call with its
arguments). They sit on the loggers themselves, so they hold whatever levels and handlers a deployment configures.
"""

from __future__ import annotations

import logging

SQLALCHEMY_ENGINE_LOGGER = "sqlalchemy.engine.Engine"
AIOSQLITE_LOGGER = "aiosqlite"


class NoRowData(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.msg != "Row %r"


class NoCallArguments(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno > logging.DEBUG


def hide_data_in_logs() -> None:
    """Install the filters once (idempotent)."""
    for name, kind in ((SQLALCHEMY_ENGINE_LOGGER, NoRowData), (AIOSQLITE_LOGGER, NoCallArguments)):
        logger = logging.getLogger(name)
        if not any(isinstance(f, kind) for f in logger.filters):
            logger.addFilter(kind())
