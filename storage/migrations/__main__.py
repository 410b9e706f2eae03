"""`python -m storage.migrations "what changed"`: write the revision that takes the schema from the newest revision to
`storage/schema.py`, found by Alembic's autogenerate on a scratch SQLite database migrated to head."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from storage.migrations import config, head


def _formatted(cfg: Config) -> Config:
    """Format the new revision with the venv's ruff, as `make lint` wants it."""
    ruff = Path(sys.executable).with_name("ruff")
    if ruff.exists():
        cfg.set_section_option("post_write_hooks", "hooks", "ruff")
        cfg.set_section_option("post_write_hooks", "ruff.type", "exec")
        cfg.set_section_option("post_write_hooks", "ruff.executable", str(ruff))
        cfg.set_section_option("post_write_hooks", "ruff.options", "format REVISION_SCRIPT_FILENAME")
    return cfg


def main(argv: list[str]) -> int:
    if len(argv) != 1 or not argv[0].strip():
        print(__doc__, file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as scratch:
        engine = sa.create_engine(f"sqlite:///{Path(scratch) / 'head.db'}")
        with engine.begin() as connection:
            command.upgrade(config(connection), "head")  # by the revisions: `upgrade()` would build schema.py
            number = int(head()) + 1
            command.revision(_formatted(config(connection)), argv[0], autogenerate=True, rev_id=f"{number:04d}")
        engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
