"""Schema migrations: `hoth-geo db upgrade` brings earlier databases, with their data, to the current schema.

The earlier databases are built from the migrations themselves (revision 0001 is the schema before
migrations existed), never from today's metadata, and filled with the demo data restricted to the
columns they have. After the upgrade, Alembic's autogenerate comparison between the database and
``store.metadata`` must find nothing: a column or table added to the code without a migration fails here,
on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import h3
import pandas as pd
import pytest
import sqlalchemy as sa
from factories import canonical_rows
from pyproj import Transformer
from typer.testing import CliRunner

from hoth_geo import settings, store
from hoth_geo.access import audit
from hoth_geo.cli import app
from hoth_geo.intake import pipeline
from hoth_geo.intake.gazetteer import load_gazetteer
from hoth_geo.intake.geocode import geocode
from hoth_geo.store import migrations

REPO_DIR = Path(__file__).resolve().parents[2]
runner = CliRunner()
FIRST = "0001"


def _tables(conn) -> dict[str, sa.Table]:
    found = sa.MetaData()
    found.reflect(conn)
    # Parents before children, so copying in this order satisfies the foreign keys.
    return {t.name: t for t in found.sorted_tables if t.name != migrations.VERSION_TABLE}


def _fill_from(source: sa.Engine, target: sa.Engine) -> dict[str, pd.DataFrame]:
    """Copy every table of ``source`` into ``target``, only the columns the target's schema has.
    Returns what was written, per table, ordered by primary key."""
    written = {}
    with source.connect() as src, target.begin() as dst:
        for name, table in _tables(dst).items():
            columns = [c.name for c in table.columns]
            current = store.metadata.tables[name]  # the source is at the current schema
            rows = [dict(r._mapping) for r in src.execute(sa.select(*[current.c[c] for c in columns]))]
            if rows:
                dst.execute(table.insert(), rows)
            written[name] = _read(dst, table)
    return written


def _read(conn, table: sa.Table) -> pd.DataFrame:
    keys = [c for c in table.primary_key.columns] or list(table.columns)
    frame = pd.DataFrame([dict(r._mapping) for r in conn.execute(sa.select(table).order_by(*keys))])
    return frame.reset_index(drop=True)


def _as_the_previous_release_chained_it(engine: sa.Engine) -> pd.DataFrame:
    """Re-chain the copied audit entries as revision 0001's release wrote them: unkeyed, each hash
    sha256(previous hash || entry). Returns the table as written."""
    with engine.begin() as conn:
        table = _tables(conn)["audit_log"]
        prev = audit.GENESIS_HASH
        for row in conn.execute(sa.select(table).order_by(table.c.id)).all():
            fields = {k: getattr(row, k) for k in ("id", "at", "actor", "event", "target", "details")}
            digest = audit.entry_hash(prev, **fields)
            conn.execute(table.update().where(table.c.id == row.id).values(prev_hash=prev, hash=digest))
            prev = digest
        return _read(conn, table)


def _earlier_database(url: str, demo_engine: sa.Engine, *, versioned: bool) -> dict[str, pd.DataFrame]:
    """A database at revision 0001 holding the demo data; ``versioned=False``: made before migrations."""
    engine = store.open_engine(url)
    before, after = migrations.upgrade(engine, FIRST)
    assert (before, after) == (None, FIRST)
    if not versioned:
        with engine.begin() as conn:
            conn.exec_driver_sql(f"DROP TABLE {migrations.VERSION_TABLE}")
    written = _fill_from(demo_engine, engine)
    written["audit_log"] = _as_the_previous_release_chained_it(engine)
    engine.dispose()
    assert len(written["reports"]) > 5_000 and len(written["audit_log"]) > 0
    return written


@pytest.mark.parametrize("versioned", [True, False], ids=["at-0001", "before-migrations"])
def test_db_upgrade_keeps_the_data_and_reaches_the_current_schema(db_url, demo_store, versioned):
    written = _earlier_database(db_url, demo_store.engine, versioned=versioned)
    if not versioned or migrations.head_revision() != FIRST:
        with pytest.raises(migrations.SchemaOutOfDate, match="hoth-geo db upgrade"):
            store.connect(db_url)

    result = runner.invoke(app, ["db", "upgrade", "--db", db_url])
    assert result.exit_code == 0, result.output
    if not versioned:
        assert "adopting it at revision 0001" in result.output

    engine = store.connect(db_url)  # accepted now
    assert migrations.differences(engine) == [], "the upgraded schema must equal store.metadata"
    with engine.connect() as conn:
        assert migrations.current_revision(conn) == migrations.head_revision()
        tables = _tables(conn)
        for name, before in written.items():
            after = _read(conn, tables[name])[list(before.columns)]
            if name == "reports":
                after, before = _apart_from_widened_radii(after, before)
            pd.testing.assert_frame_equal(after, before, check_dtype=False, obj=name)
    # Revision 0001 had no column for a time of day given in words (0012 added it): those reports
    # reach the upgraded database with the time unknown and no words, as blank times.
    reports, expected = _apart_from_widened_radii(
        store.load_reports(engine).sort_values("id").reset_index(drop=True),
        demo_store.reports.sort_values("id").reset_index(drop=True).assign(time_in_words=False),
    )
    pd.testing.assert_frame_equal(reports, expected, check_dtype=False, check_categorical=False)
    assert audit.verify_chain(engine).ok, "the audit chain survives the upgrade"
    with engine.connect() as conn:
        assert store.counts(engine) == _counts_from(store.scan_counts(conn)), "data_version back-filled"

    again = runner.invoke(app, ["db", "upgrade", "--db", db_url])
    assert again.exit_code == 0 and "nothing to do" in again.output
    status = runner.invoke(app, ["db", "status", "--db", db_url])
    assert status.exit_code == 0 and f"revision {migrations.head_revision()}" in status.output
    engine.dispose()


def _apart_from_widened_radii(after: pd.DataFrame, before: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The reports without their radius and linked place, once those are checked for the one change
    revision 0005 may make to data that this version's geocoder stored: a coordinate stated at 10 m
    (five or more decimals as written) whose stored number shows fewer decimals (trailing zeros) gets
    the wider radius the number allows, and a place link only if that is over 150 m."""
    widened = after["precision_m"].to_numpy() != before["precision_m"].to_numpy()
    widened &= before["precision_m"].notna().to_numpy()
    assert (before.loc[widened, "precision_m"] == 10).all() and (after.loc[widened, "precision_m"] > 10).all()
    assert (before.loc[widened, "geocode_method"] == "coordinates_wgs84").all()
    assert widened.sum() < 0.01 * len(before), "only numbers whose decimals ended in zeros"
    unlinked = before["place_id"].notna().to_numpy() & after["place_id"].isna().to_numpy()
    assert (after.loc[unlinked, "precision_m"] > settings.PLACE_LINK_MAX_M).all()
    kept = [c for c in before.columns if c not in ("precision_m", "place_id")]
    return after[kept], before[kept]


def _counts_from(scanned: dict[str, int]) -> dict[str, int]:
    return {
        "reports": scanned["n_reports"],
        "demo_reports": scanned["n_demo_reports"],
        "police_context": scanned["n_context"],
        "quarantine_open": scanned["n_quarantine_open"],
    }


def test_db_upgrade_from_0002_back_fills_the_data_version(db_url, demo_store):
    """A database at 0002 with reports (some merged), police context and open quarantine: the upgrade
    adds the data_version row with the counts the tables hold, and writes then keep it in step."""
    engine = store.open_engine(db_url)
    assert migrations.upgrade(engine, "0002") == (None, "0002")
    written = _fill_from(demo_store.engine, engine)
    assert "data_version" not in written and len(written["reports"]) > 5_000
    with engine.begin() as conn:
        merged = conn.execute(
            sa.text("UPDATE reports SET merged_into = 1 WHERE id IN (2, 3) AND is_demo = :t"), {"t": True}
        ).rowcount
    engine.dispose()
    assert merged == 2
    with pytest.raises(migrations.SchemaOutOfDate, match="hoth-geo db upgrade"):
        store.connect(db_url)

    result = runner.invoke(app, ["db", "upgrade", "--db", db_url])
    assert result.exit_code == 0, result.output
    engine = store.connect(db_url)
    assert migrations.differences(engine) == []
    counts = store.counts(engine)
    assert counts["reports"] == len(written["reports"]) - 2, "merged reports count once"
    assert counts["demo_reports"] == counts["reports"]
    assert counts["quarantine_open"] == int((written["quarantine"]["status"] == "open").sum()) > 0
    with engine.connect() as conn:
        assert counts == _counts_from(store.scan_counts(conn))
    first = store.data_version(engine).version
    pipeline.delete_demo(engine, actor="admin.test")
    assert store.data_version(engine).version > first and store.counts(engine)["reports"] == 0
    assert len(store.load_reports(engine)) == 0
    engine.dispose()


def _demo_at_revision(db_url: str, demo_store, revision: str) -> sa.Engine:
    """A database at ``revision`` (from 0004: with its data_version row) holding the demo data."""
    engine = store.open_engine(db_url)
    assert migrations.upgrade(engine, revision) == (None, revision)
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM data_version"))  # the demo store's row is copied in
    _fill_from(demo_store.engine, engine)
    return engine


def _upgraded_reports(db_url: str, version_before: int) -> tuple[sa.Engine, pd.DataFrame]:
    """``hoth-geo db upgrade`` on a database whose reports an earlier revision's geocoder stored: the
    schema is current, the data version is bumped once (running app processes read the reports again),
    and the reports table is returned by id."""
    result = runner.invoke(app, ["db", "upgrade", "--db", db_url])
    assert result.exit_code == 0, result.output
    engine = store.connect(db_url)
    assert migrations.differences(engine) == []
    with engine.connect() as conn:
        after = _read(conn, _tables(conn)["reports"]).set_index("id")
        assert conn.execute(sa.text("SELECT version FROM data_version")).scalar() == version_before + 1
    return engine, after


def test_db_upgrade_from_0004_states_the_radius_coordinates_really_have(db_url, demo_store):
    """Reports stored before 0005 by the geocoder of then: two-decimal coordinates stated as within 10 m
    and linked to the place beside them, and a kilometre grid reference placed at its square's corner.
    The upgrade gives them what an import of the same values gives today; a precise report is untouched."""
    engine = _demo_at_revision(db_url, demo_store, "0004")
    to_wgs84 = Transformer.from_crs(27700, 4326, always_xy=True)
    corner_lon, corner_lat = to_wgs84.transform(427000, 542000)
    with engine.begin() as conn:
        by_method = {
            m: conn.execute(
                sa.text("SELECT id FROM reports WHERE geocode_method = :m AND place_id IS NULL ORDER BY id"),
                {"m": m},
            )
            .scalars()
            .all()
            for m in ("coordinates_wgs84", "coordinates_bng")
        }
        coarse, precise = by_method["coordinates_wgs84"][:2]
        grid = by_method["coordinates_bng"][0]
        conn.execute(
            sa.text(
                "UPDATE reports SET latitude = 54.78, longitude = -1.57, precision_m = 10,"
                " place_id = 'demo:linked-by-then' WHERE id = :id"
            ),
            {"id": coarse},
        )
        conn.execute(
            sa.text(
                "UPDATE reports SET easting = 427000, northing = 542000, latitude = :lat, longitude = :lon,"
                " precision_m = 1000, h3 = :h3 WHERE id = :id"
            ),
            {
                "lat": corner_lat,
                "lon": corner_lon,
                "h3": h3.str_to_int(h3.latlng_to_cell(corner_lat, corner_lon, settings.FINE_H3_RES)),
                "id": grid,
            },
        )
        version_before = conn.execute(sa.text("SELECT version FROM data_version")).scalar()
        untouched = _read(conn, _tables(conn)["reports"]).set_index("id").loc[precise]
    engine.dispose()

    engine, after = _upgraded_reports(db_url, version_before)
    # What the geocoder of this revision makes of the same values, from scratch.
    today = geocode(
        canonical_rows([{"latitude": 54.78, "longitude": -1.57}, {"easting": 427000, "northing": 542000}]),
        load_gazetteer(),
    ).located.set_index("row_number")
    assert today.loc[2, "precision_m"] > 1_000
    assert after.loc[coarse, "precision_m"] == pytest.approx(today.loc[2, "precision_m"])
    assert pd.isna(after.loc[coarse, "place_id"]), "too coarse to name the place beside it"
    for column in ("latitude", "longitude", "precision_m", "h3"):
        assert after.loc[grid, column] == pytest.approx(today.loc[3, column], abs=1e-9), column
    assert after.loc[grid, "latitude"] != pytest.approx(corner_lat, abs=1e-6)  # moved to the centre
    pd.testing.assert_series_equal(after.loc[precise, untouched.index], untouched, check_names=False)
    engine.dispose()


def test_db_upgrade_from_0005_states_the_radius_postcode_units_really_have(db_url, demo_store):
    """Reports stored before 0006 by the geocoder of then: every full postcode stated as within 100 m. The
    upgrade gives a farm unit in upper Teesdale what an import of the same postcode gives today; a
    terrace's unit keeps its 100 m, and reports placed some other way are untouched."""
    engine = _demo_at_revision(db_url, demo_store, "0005")
    with engine.begin() as conn:
        ids = (
            conn.execute(sa.text("SELECT id FROM reports WHERE geocode_method = 'postcode' ORDER BY id"))
            .scalars()
            .all()
        )
        farm, terrace = ids[:2]
        for report_id, postcode in ((farm, "DL12 0PB"), (terrace, "DH1 3AA")):
            conn.execute(
                sa.text("UPDATE reports SET postcode = :pc, precision_m = 100 WHERE id = :id"),
                {"pc": postcode, "id": report_id},
            )
        version_before = conn.execute(sa.text("SELECT version FROM data_version")).scalar()
        before = _read(conn, _tables(conn)["reports"]).set_index("id")
    engine.dispose()

    engine, after = _upgraded_reports(db_url, version_before)
    today = geocode(canonical_rows([{"postcode": "DL12 0PB"}]), load_gazetteer()).located.iloc[0]
    assert today["precision_m"] > 3_000
    assert after.loc[farm, "precision_m"] == pytest.approx(today["precision_m"])
    assert after.loc[terrace, "precision_m"] == 100.0
    others = after.index != farm
    pd.testing.assert_frame_equal(after.loc[others, before.columns], before[others])
    engine.dispose()


def test_db_upgrade_from_0006_states_sectors_and_districts_to_their_farthest_address(db_url, demo_store):
    """Reports stored before 0007 by the geocoder of then: a sector or district stated at the 95th
    percentile distance of its units. The upgrade gives them what an import of the same postcode gives
    today (every unit's addresses inside); a sector the gazetteer does not hold, and a radius already
    wider, are kept, and reports placed some other way are untouched."""
    engine = _demo_at_revision(db_url, demo_store, "0006")
    stated_then = {  # postcode -> (method, radius the 95th percentile gave)
        "DL16 7": ("postcode_sector", 2_751.0),
        "DH1": ("postcode_district", 2_500.0),
        "DH1 7": ("postcode_sector", 1_000.0),  # no such sector in the shipped gazetteer
        "DL12 0": ("postcode_sector", 40_000.0),  # already stated wider (by hand)
    }
    with engine.begin() as conn:
        ids = (
            conn.execute(sa.text("SELECT id FROM reports WHERE geocode_method = 'postcode' ORDER BY id"))
            .scalars()
            .all()[: len(stated_then)]
        )
        for report_id, (postcode, (method, radius)) in zip(ids, stated_then.items(), strict=True):
            conn.execute(
                sa.text(
                    "UPDATE reports SET postcode = :pc, geocode_method = :m, precision_m = :r WHERE id = :id"
                ),
                {"pc": postcode, "m": method, "r": radius, "id": report_id},
            )
        version_before = conn.execute(sa.text("SELECT version FROM data_version")).scalar()
        before = _read(conn, _tables(conn)["reports"]).set_index("id")
    engine.dispose()

    engine, after = _upgraded_reports(db_url, version_before)
    today = geocode(
        canonical_rows([{"postcode": "DL16 7"}, {"postcode": "DH1"}]), load_gazetteer()
    ).located.set_index("row_number")
    # DL16 7 holds a unit Code-Point puts 21 km away, near Lanchester: a report naming the sector may be there.
    assert today.loc[2, "precision_m"] > 20_000 and today.loc[3, "precision_m"] > 2_500
    sector, district, unknown, wide = ids
    assert after.loc[sector, "precision_m"] == pytest.approx(today.loc[2, "precision_m"])
    assert after.loc[district, "precision_m"] == pytest.approx(today.loc[3, "precision_m"])
    assert after.loc[unknown, "precision_m"] == 1_000.0
    assert after.loc[wide, "precision_m"] == 40_000.0
    others = ~after.index.isin([sector, district])
    pd.testing.assert_frame_equal(after.loc[others, before.columns], before[others])
    engine.dispose()


def test_db_upgrade_from_0007_states_reports_at_a_place_as_far_as_the_place_reaches(db_url, demo_store):
    """Reports stored before 0008 at a police.uk landmark, by name or by an analyst in Review, were stated
    at 30 m. The upgrade gives them the place's measured radius (what an import of the same name gives
    today); reports at demo venues, which have no measured radius, and reports placed another way are
    untouched."""
    places = load_gazetteer().places
    unique = places["name"].map(places["name"].value_counts()) == 1
    park = places[(places["place_type"] == "park") & unique].nlargest(1, "radius_m").iloc[0]
    assert park["radius_m"] > 300
    engine = _demo_at_revision(db_url, demo_store, "0007")
    with engine.begin() as conn:
        named, by_analyst = (
            conn.execute(sa.text("SELECT id FROM reports WHERE geocode_method = 'place_name' ORDER BY id"))
            .scalars()
            .all()[:2]
        )
        conn.execute(
            sa.text("UPDATE reports SET place_id = :p, place_name = :n, precision_m = 30 WHERE id = :id"),
            {"p": park["place_id"], "n": park["name"], "id": named},
        )
        conn.execute(
            sa.text(
                "UPDATE reports SET place_id = :p, geocode_method = 'analyst', precision_m = 30 WHERE id = :id"
            ),
            {"p": park["place_id"], "id": by_analyst},
        )
        version_before = conn.execute(sa.text("SELECT version FROM data_version")).scalar()
        before = _read(conn, _tables(conn)["reports"]).set_index("id")
    engine.dispose()

    engine, after = _upgraded_reports(db_url, version_before)
    today = geocode(canonical_rows([{"place_name": park["name"]}]), load_gazetteer()).located.iloc[0]
    assert today["place_id"] == park["place_id"] and today["precision_m"] == park["radius_m"]
    assert after.loc[named, "precision_m"] == today["precision_m"]
    assert after.loc[by_analyst, "precision_m"] == park["radius_m"]
    others = ~after.index.isin([named, by_analyst])
    pd.testing.assert_frame_equal(after.loc[others, before.columns], before[others])
    assert (after.loc[others & (after["geocode_method"] == "place_name"), "precision_m"] == 30).all()
    engine.dispose()


def test_db_upgrade_from_0010_counts_each_imports_changed_resubmissions(db_url, demo_store):
    """Before 0011 an import's record kept stored, quarantined, duplicates and outside the area but not
    its changed resubmissions, so the Import page's history did not add up for a file that had any. The
    import itself refused to finish unless the five counts added up to the rows read, so the upgrade
    gives each record the difference, and nothing else changes."""
    engine = _demo_at_revision(db_url, demo_store, "0010")
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                # An explicit id: the copied rows kept theirs, so PostgreSQL's sequence is behind.
                "INSERT INTO imports (id, filename, file_sha256, format, imported_at, n_read, n_accepted,"
                " n_quarantined, n_duplicates, n_out_of_area, is_demo)"
                " SELECT max(id) + 1, 'export-june.csv', :sha, 'sharing_form', :at, 9, 4, 2, 1, 0, :no"
                " FROM imports"
            ),
            {"sha": "f" * 64, "at": pd.Timestamp("2026-06-30 09:00").to_pydatetime(), "no": False},
        )
        before = _read(conn, _tables(conn)["imports"]).set_index("id")
    engine.dispose()

    result = runner.invoke(app, ["db", "upgrade", "--db", db_url])
    assert result.exit_code == 0, result.output
    engine = store.connect(db_url)
    assert migrations.differences(engine) == []
    after = store.load_imports(engine).set_index("id")
    june = after[after["filename"] == "export-june.csv"].iloc[0]
    assert june["n_resubmitted"] == 2, "9 read = 4 stored + 2 quarantined + 1 duplicate + 2 resubmissions"
    assert (after.loc[after["filename"] != "export-june.csv", "n_resubmitted"] == 0).all()
    pd.testing.assert_frame_equal(after[before.columns], before, check_dtype=False)
    engine.dispose()


@pytest.mark.shared
def test_db_upgrade_from_0005_reads_the_units_of_the_databases_own_area(tmp_path, area_files):
    """A Darlington partnership's database: its unit and sector reports are stated from Darlington's
    gazetteer, and a postcode that gazetteer does not hold (upper Teesdale, in the shipped area only)
    keeps its 100 m."""
    from hoth_geo.intake import area as area_mod
    from hoth_geo.intake.area_gazetteer import build_gazetteer_for_area

    db = f"sqlite:///{tmp_path / 'darlington.sqlite'}"
    darlington = area_mod.set_area(area_files["gpkg"], "Darlington", db_url=db).area
    build_gazetteer_for_area(darlington, codepoint=[area_files["codepoint"]])
    units = area_mod.current_gazetteer(db).postcodes
    assert "DL12 0PB" not in set(units["postcode"])
    widest = units.loc[units["postcode"].str.startswith("DL").to_numpy()].nlargest(1, "radius_m").iloc[0]
    assert widest["radius_m"] > 500
    sectors = area_mod.current_gazetteer(db).sectors.set_index("sector")["radius_m"]
    sector = sectors.idxmax()

    engine = store.open_engine(db)
    assert migrations.upgrade(engine, "0005") == (None, "0005")
    rows = canonical_rows(
        [{"postcode": widest["postcode"]}, {"postcode": "DL12 0PB"}, {"postcode": sector}]
    ).assign(
        import_id=1,
        fingerprint=["a" * 40, "b" * 40, "c" * 40],
        h3=1,
        concerns_mask=0,
        indicators_mask=0,
        is_demo=False,
    )
    rows["geocode_method"] = ["postcode", "postcode", "postcode_sector"]
    rows["precision_m"] = 100.0
    with engine.begin() as conn:
        columns = [c.name for c in _tables(conn)["reports"].columns if c.name != "id"]
        conn.execute(
            sa.text(
                "INSERT INTO imports (id, filename, file_sha256, format, imported_at, is_demo, n_read,"
                " n_accepted, n_quarantined, n_duplicates) VALUES (1, 'f.csv', 'x', 'sharing_form',"
                " '2026-11-01', 0, 3, 3, 0, 0)"
            )
        )
        conn.execute(
            _tables(conn)["reports"].insert(), store.to_records(rows, [c for c in columns if c in rows])
        )
    engine.dispose()

    assert runner.invoke(app, ["db", "upgrade", "--db", db]).exit_code == 0
    with store.connect(db).connect() as conn:
        stated = dict(conn.execute(sa.text("SELECT postcode, precision_m FROM reports")).all())
    assert stated == {widest["postcode"]: widest["radius_m"], "DL12 0PB": 100.0, sector: sectors[sector]}


def test_a_new_database_gets_the_schema_the_migrations_build(db_url, databases):
    """store.connect creates an empty database from the metadata in one step; replaying every migration
    from nothing must give the same schema."""
    created = store.connect(db_url)
    assert migrations.differences(created) == []
    with created.connect() as conn:
        assert migrations.current_revision(conn) == migrations.head_revision()
    created.dispose()

    backend = sa.make_url(db_url).get_backend_name()
    replayed_url = databases.new("postgresql" if backend == "postgresql" else "sqlite", "replayed")
    replayed = store.open_engine(replayed_url)
    assert migrations.upgrade(replayed) == (None, migrations.head_revision())
    assert migrations.differences(replayed) == []
    replayed.dispose()
    databases.drop(replayed_url)


def test_two_processes_opening_one_new_database_create_the_schema_once(db_url):
    """Several app instances may start together on an empty database: the schema is created once."""
    script = "import sys; from hoth_geo import store; store.connect(sys.argv[1]); print('ok')"
    env = {**os.environ, "PYTHONPATH": str(REPO_DIR)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script, db_url],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(2)
    ]
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0 and out.strip() == "ok", err
    engine = store.connect(db_url)
    with engine.connect() as conn:
        versions = conn.execute(sa.text("SELECT version_num FROM alembic_version")).all()
    assert [v for (v,) in versions] == [migrations.head_revision()]
    assert migrations.differences(engine) == []
    engine.dispose()


def test_steps_for_partly_upgraded_databases_act_once(db_url):
    """A database adopted at 0001 may already have a later change: the checking steps then do nothing."""
    from alembic.operations import Operations
    from alembic.runtime.migration import MigrationContext

    from hoth_geo.store.migrations import ops

    engine = store.connect(db_url)
    with engine.begin() as conn, Operations.context(MigrationContext.configure(conn)):
        for _ in range(2):
            ops.add_column_if_missing("imports", sa.Column("probe_note", sa.Text()))
            ops.create_table_if_missing(
                "probe_table",
                sa.Column("id", sa.Integer(), primary_key=True),
                sa.Column("name", sa.String(16)),
                indexes=(("ix_probe_table_name", ["name"]),),
            )
            ops.create_index_if_missing("ix_imports_probe_note", "imports", ["probe_note"])
        assert ops.has_column("imports", "probe_note") and not ops.has_column("imports", "absent")
        assert ops.has_index("probe_table", "ix_probe_table_name")
        assert ops.has_index("imports", "ix_imports_probe_note")
    kinds = {d[0] if isinstance(d, tuple) else d[0][0] for d in migrations.differences(engine)}
    assert {"remove_column", "remove_table", "remove_index"} <= kinds, "the probes are extra to the metadata"
    engine.dispose()


def test_commands_refuse_an_old_database_with_the_fix_named(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.sqlite'}"
    engine = store.open_engine(url)
    migrations.upgrade(engine, FIRST)
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE alembic_version")  # made before migrations existed
    engine.dispose()
    result = subprocess.run(
        [sys.executable, "-m", "hoth_geo.cli", "hexes", "--out", str(tmp_path / "h.csv"), "--db", url],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO_DIR)},
        timeout=120,
    )
    assert result.returncode == 1
    assert result.stderr.startswith("error: ") and "hoth-geo db upgrade" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert not (tmp_path / "h.csv").exists()
