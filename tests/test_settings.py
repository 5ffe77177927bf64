"""Settings (hoth_geo.settings): every HOTH_GEO_* variable is read here, when it is used, and a bad
value is refused naming the variable."""

from __future__ import annotations

import stat

import pytest

from hoth_geo import settings


def test_only_settings_reads_the_environment(monkeypatch):
    import re
    from pathlib import Path

    import hoth_geo
    from hoth_geo import settings

    package = Path(hoth_geo.__file__).parent
    reading = sorted(
        str(p.relative_to(package))
        for p in package.rglob("*.py")
        if re.search(r"os\.environ\.get|os\.getenv|os\.environ\[", p.read_text(encoding="utf-8"))
    )
    assert reading == ["settings.py"]
    named = set()
    for p in package.rglob("*.py"):
        named |= set(re.findall(r"HOTH_GEO_[A-Z_]+[A-Z]", p.read_text(encoding="utf-8")))
    assert named <= set(settings.ENVIRONMENT), named - set(settings.ENVIRONMENT)
    # Read when used: a test or a deployment can change a setting without a restart.
    monkeypatch.setenv("HOTH_GEO_RETENTION", "2y")
    from hoth_geo.intake import retention

    assert retention.retention_period() == "2y"
    with pytest.raises(KeyError, match="HOTH_GEO_RETENTON is not a hoth-geo setting"):
        settings.env("HOTH_GEO_RETENTON")


def test_the_database_url_is_the_explicit_one_then_the_environment_then_the_default(monkeypatch):
    monkeypatch.delenv(settings.DB_URL_ENV, raising=False)
    assert settings.database_url() == settings.DEFAULT_DB_URL
    assert settings.DEFAULT_DB_URL.startswith("sqlite:///") and settings.DEFAULT_DB_URL.endswith(
        "hoth_geo.sqlite"
    )
    monkeypatch.setenv(settings.DB_URL_ENV, "postgresql+psycopg://reader@db.example.org/hoth")
    assert settings.database_url() == "postgresql+psycopg://reader@db.example.org/hoth"
    assert settings.database_url("sqlite:///other.sqlite") == "sqlite:///other.sqlite"


@pytest.mark.parametrize(
    ("raw", "message"), [("ten", "must be a whole number, got 'ten'"), ("0", "must be at least 1, got '0'")]
)
def test_a_whole_number_setting_refuses_a_bad_value_naming_the_variable(monkeypatch, raw, message):
    monkeypatch.setenv("HOTH_GEO_SESSION_MINUTES", raw)
    with pytest.raises(ValueError, match=f"HOTH_GEO_SESSION_MINUTES {message}"):
        settings.env_int("HOTH_GEO_SESSION_MINUTES", 30)


def test_a_whole_number_setting_uses_its_default_when_unset_or_blank(monkeypatch):
    monkeypatch.delenv("HOTH_GEO_SESSION_MINUTES", raising=False)
    assert settings.env_int("HOTH_GEO_SESSION_MINUTES", 30) == 30
    monkeypatch.setenv("HOTH_GEO_SESSION_MINUTES", "  ")
    assert settings.env_int("HOTH_GEO_SESSION_MINUTES", 30) == 30
    monkeypatch.setenv("HOTH_GEO_SESSION_MINUTES", "45")
    assert settings.env_int("HOTH_GEO_SESSION_MINUTES", 30) == 45


def test_the_var_folder_follows_the_environment_at_run_time(monkeypatch, tmp_path):
    monkeypatch.setenv("HOTH_GEO_VAR_DIR", str(tmp_path / "deployment-var"))
    assert settings.var_dir() == tmp_path / "deployment-var"


def test_the_audit_key_file_is_made_private_on_first_use_and_then_reused(monkeypatch, tmp_path):
    monkeypatch.delenv(settings.AUDIT_KEY_ENV, raising=False)
    path = tmp_path / "keys" / "audit.key"
    monkeypatch.setenv(settings.AUDIT_KEY_FILE_ENV, str(path))
    assert settings.audit_key(create=False) is None and not path.exists()
    key = settings.audit_key()
    assert len(key) >= settings.MIN_AUDIT_KEY_CHARS
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert settings.audit_key() == key
    path.chmod(0o644)
    with pytest.raises(ValueError, match=r"can be read by other users \(mode 644\): run chmod 600"):
        settings.audit_key()


def test_an_audit_key_in_the_environment_must_be_long_enough(monkeypatch):
    monkeypatch.setenv(settings.AUDIT_KEY_ENV, "short-key")
    with pytest.raises(ValueError, match="HOTH_GEO_AUDIT_KEY must be at least 32 characters"):
        settings.audit_key()
    monkeypatch.setenv(settings.AUDIT_KEY_ENV, "k" * 40)
    assert settings.audit_key() == b"k" * 40
