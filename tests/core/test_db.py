"""Engine, unit of work, migrations and settings, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from jointuse.core.db import (
    SQLITE_BACKGROUND_AUTOCHECKPOINT_PAGES,
    BackgroundCheckpointer,
    UnitOfWork,
    checkpoint,
    current_revisions,
    make_engine,
    metadata,
    normalise_url,
    upgrade,
)
from jointuse.core.errors import ValidationError
from jointuse.core.settings import DEFAULT_DATABASE_URL, load_settings


def test_normalise_url_picks_psycopg_and_refuses_other_backends() -> None:
    assert normalise_url("postgresql://u@h:5432/d") == "postgresql+psycopg://u@h:5432/d"
    assert normalise_url("postgres://u@h/d") == "postgresql+psycopg://u@h/d"
    assert normalise_url("sqlite:///x.db") == "sqlite:///x.db"
    with pytest.raises(ValidationError) as info:
        normalise_url("mysql://u@h/d")
    assert info.value.field == "JOINTUSE_DATABASE_URL"
    assert info.value.valid == ["sqlite", "postgresql"]
    with pytest.raises(ValidationError, match="does not parse"):
        normalise_url("not a url")


def test_sqlite_engine_creates_its_folder_and_sets_pragmas(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'deep' / 'er' / 'j.db'}")
    try:
        with engine.connect() as conn:
            pragmas = {
                name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()
                for name in ("journal_mode", "foreign_keys", "busy_timeout", "recursive_triggers")
            }
    finally:
        engine.dispose()
    assert (tmp_path / "deep" / "er" / "j.db").exists()
    assert pragmas == {
        "journal_mode": "wal",
        "foreign_keys": 1,
        "busy_timeout": 30000,
        "recursive_triggers": 1,
    }


def test_background_checkpoints_move_the_log_copy_out_of_commits(tmp_path: Path) -> None:
    """With ``background_checkpoints`` commits checkpoint only past the safety net, and the
    checkpointer copies the log into the database (on a connection of its own)."""
    url = f"sqlite:///{tmp_path / 'j.db'}"
    plain, served = make_engine(url), make_engine(url, background_checkpoints=True)
    try:
        with plain.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 1000
        with served.connect() as conn:
            pages = conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar()
        assert pages == SQLITE_BACKGROUND_AUTOCHECKPOINT_PAGES
        with served.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
        for i in range(50):
            with UnitOfWork(served) as u:
                u.connection.exec_driver_sql("INSERT INTO t (v) VALUES (?)", (str(i) * 100,))
        checkpointer = BackgroundCheckpointer(served, interval=3600)
        checkpointer.start()
        checkpointer.stop()  # one last run
        assert checkpointer.failures == 0 and checkpointer.last is not None
        busy, frames, done = checkpointer.last
        assert busy == 0 and frames >= 50 and done == frames  # all of the log copied back
        assert checkpoint(served) == (0, frames, frames)  # nothing new to copy
        with plain.connect() as conn:
            assert conn.exec_driver_sql("SELECT count(*) FROM t").scalar() == 50
    finally:
        plain.dispose()
        served.dispose()
    pg = make_engine("postgresql://u@localhost/db")
    with pytest.raises(ValueError, match="SQLite"):
        BackgroundCheckpointer(pg)
    pg.dispose()


def test_sqlite_begin_mode_is_checked(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'j.db'}")
    try:
        with (
            pytest.raises(ValidationError) as info,
            engine.execution_options(sqlite_begin="LATER").begin(),
        ):
            pass
        assert info.value.field == "sqlite_begin"
    finally:
        engine.dispose()


def test_upgrade_migrates_an_empty_database_once(empty_database_url: str) -> None:
    engine = make_engine(empty_database_url)
    try:
        assert current_revisions(engine) == ()
        upgrade(engine)
        revisions = current_revisions(engine)
        assert len(revisions) == 1, revisions  # one line of history, one head
        upgrade(engine)  # idempotent
        assert current_revisions(engine) == revisions
        with engine.connect() as conn:
            conn.execute(text("SELECT count(*) FROM access_ledger")).scalar_one()
    finally:
        engine.dispose()


def test_the_migration_history_has_exactly_one_head() -> None:
    from alembic.script import ScriptDirectory

    from jointuse.core.db import alembic_config

    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    assert len(heads) == 1, f"migration heads {heads}: re-point the newer one to the other"


def test_metadata_has_a_naming_convention_and_the_ledger_tables() -> None:
    import jointuse.ledger.tables  # noqa: F401  (registers the tables)

    assert metadata.naming_convention["uq"] == "uq_%(table_name)s_%(column_0_name)s"
    assert {"access_ledger", "ledger_checkpoint"} <= set(metadata.tables)


@pytest.fixture
def probe(engine: Engine) -> Engine:
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE uow_probe (id INTEGER PRIMARY KEY, note TEXT)"))
    return engine


def _notes(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return [n for (n,) in conn.execute(text("SELECT note FROM uow_probe ORDER BY id"))]


def test_unit_of_work_commits_on_success_and_rolls_back_on_error(
    probe: Engine, uow: Callable[..., UnitOfWork]
) -> None:
    with uow() as u:
        u.session.execute(text("INSERT INTO uow_probe (id, note) VALUES (1, 'kept')"))
        u.connection.execute(text("INSERT INTO uow_probe (id, note) VALUES (2, 'also kept')"))
    with pytest.raises(ZeroDivisionError), uow() as u:
        u.session.execute(text("INSERT INTO uow_probe (id, note) VALUES (3, 'lost')"))
        _ = 1 / 0
    with uow(read_only=True) as u:
        u.session.execute(text("INSERT INTO uow_probe (id, note) VALUES (4, 'read-only')"))
    assert _notes(probe) == ["kept", "also kept"]
    unit = UnitOfWork(probe)
    with pytest.raises(RuntimeError, match="outside its `with` block"):
        _ = unit.session


def test_session_made_inside_a_unit_of_work_takes_over_its_transaction(
    probe: Engine, uow: Callable[..., UnitOfWork]
) -> None:
    """The session is made on first use, bound to the unit of work's connection: its rollback
    and commit end the transaction the connection's statements ran in, and the unit of work
    goes on in a new one (commit at the end, or rollback on an error)."""

    def insert(u: UnitOfWork, n: int, note: str) -> None:
        u.connection.execute(
            text("INSERT INTO uow_probe (id, note) VALUES (:id, :note)"), {"id": n, "note": note}
        )

    with uow() as u:
        insert(u, 1, "rolled back by the session")
        u.session.rollback()
        insert(u, 2, "after the rollback")
    assert _notes(probe) == ["after the rollback"]
    with pytest.raises(ZeroDivisionError), uow() as u:
        insert(u, 3, "committed by the session")
        u.session.commit()
        insert(u, 4, "lost with the error")
        _ = 1 / 0
    assert _notes(probe) == ["after the rollback", "committed by the session"]
    with uow() as u:
        u.session.execute(text("INSERT INTO uow_probe (id, note) VALUES (5, 'session')"))
        u.session.commit()
        insert(u, 6, "connection after the session's commit")
    assert _notes(probe)[2:] == ["session", "connection after the session's commit"]


def test_concurrent_units_of_work_do_not_fail(
    probe: Engine, uow: Callable[..., UnitOfWork]
) -> None:
    """Read-then-write transactions from threads queue instead of failing (SQLite: IMMEDIATE)."""
    errors: list[BaseException] = []

    def worker(base: int) -> None:
        try:
            for i in range(10):
                with uow() as u:
                    n = u.session.execute(text("SELECT count(*) FROM uow_probe")).scalar_one()
                    u.session.execute(
                        text("INSERT INTO uow_probe (id, note) VALUES (:id, :note)"),
                        {"id": base + i, "note": str(n)},
                    )
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(b,)) for b in (100, 200, 300)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(_notes(probe)) == 30


def test_settings_defaults_and_overrides() -> None:
    assert load_settings({}).database_url == DEFAULT_DATABASE_URL
    settings = load_settings(
        {
            "JOINTUSE_DATABASE_URL": "postgresql://x@y/z",
            "JOINTUSE_LEDGER_SEAL_INTERVAL": "2.5",
            "JOINTUSE_LEDGER_SEAL_BATCH": "10",
        }
    )
    assert (settings.database_url, settings.ledger_seal_interval, settings.ledger_seal_batch) == (
        "postgresql://x@y/z",
        2.5,
        10,
    )
    for name, value in (
        ("JOINTUSE_LEDGER_SEAL_INTERVAL", "soon"),
        ("JOINTUSE_LEDGER_SEAL_BATCH", "0"),
    ):
        with pytest.raises(ValidationError) as info:
            load_settings({name: value})
        assert info.value.field == name
