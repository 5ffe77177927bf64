"""`hoth-geo basemap set / show / clear` (hoth_geo.cli.basemap): the setting file, the audit entries,
and a key never printed or logged."""

from __future__ import annotations

from tiles import make_mbtiles

from hoth_geo import settings

DURHAM_BBOX = (-1.8, 54.5, -1.3, 54.9)


def test_the_command_line_sets_shows_and_clears_the_basemap(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from hoth_geo import store
    from hoth_geo.access import audit
    from hoth_geo.cli import app

    monkeypatch.setattr(settings, "BASEMAP_FILE", tmp_path / "basemap.json")
    db = f"sqlite:///{tmp_path / 'cli.sqlite'}"
    tiles = make_mbtiles(tmp_path / "area.mbtiles", DURHAM_BBOX, range(8, 10))
    run = CliRunner().invoke
    result = run(app, ["basemap", "set", "--file", str(tiles), "--db", db])
    assert result.exit_code == 0, result.output
    assert "area.mbtiles" in run(app, ["basemap", "show"]).output
    result = run(app, ["basemap", "set", "--preset", "os_maps_road", "--db", db])
    assert result.exit_code == 2 and "API key" in result.output
    result = run(app, ["basemap", "set", "--preset", "os_maps_road", "--key", "SYNTHETIC-KEY", "--db", db])
    assert result.exit_code == 0 and "SYNTHETIC-KEY" not in result.output
    assert "SYNTHETIC-KEY" not in run(app, ["basemap", "show"]).output
    result = run(app, ["basemap", "set", "--file", str(tiles), "--url", "https://x/{z}/{x}/{y}", "--db", db])
    assert result.exit_code == 2 and "exactly one of" in result.output
    assert run(app, ["basemap", "clear", "--db", db]).exit_code == 0
    assert "No basemap" in run(app, ["basemap", "show"]).output
    events = audit.load_audit(store.connect(db))["event"].tolist()
    assert events == ["basemap_set", "basemap_set", "basemap_cleared"]
    assert "SYNTHETIC-KEY" not in audit.load_audit(store.connect(db)).to_csv()


def test_a_missing_tile_file_is_refused_naming_it_and_nothing_is_set(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from hoth_geo.cli import app

    monkeypatch.setattr(settings, "BASEMAP_FILE", tmp_path / "basemap.json")
    db = f"sqlite:///{tmp_path / 'cli.sqlite'}"
    missing = tmp_path / "nowhere.mbtiles"
    result = CliRunner().invoke(app, ["basemap", "set", "--file", str(missing), "--db", db])
    assert result.exit_code == 2 and "nowhere.mbtiles" in result.output
    assert not (tmp_path / "basemap.json").exists()
    assert "No basemap" in CliRunner().invoke(app, ["basemap", "show"]).output
