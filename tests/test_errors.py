"""The one error hierarchy (hoth_geo.errors): what the interfaces catch and show, and what they let through."""

from __future__ import annotations

import pytest

from hoth_geo import errors
from hoth_geo.intake.files import read_table


def test_errors_people_act_on_share_one_base_and_keep_their_old_homes():
    from hoth_geo import errors
    from hoth_geo.access import auth, privacy
    from hoth_geo.analysis import hotspots
    from hoth_geo.intake import files

    assert files.ImportRefused is errors.ImportRefused
    assert hotspots.TooFewReports is errors.TooFewReports
    assert privacy.NotAllowed is errors.NotAllowed
    assert auth.NotPermitted is errors.NotPermitted
    for cls in (errors.ImportRefused, errors.TooFewReports, errors.NotAllowed, errors.InvalidInput):
        assert issubclass(cls, errors.HothGeoError)
    # Callers that caught the older bases still catch them.
    assert issubclass(errors.TooFewReports, errors.DataConditionError)
    assert issubclass(errors.DataConditionError, ValueError) and issubclass(errors.InvalidInput, ValueError)
    assert issubclass(errors.NotAllowed, PermissionError) and issubclass(errors.NotPermitted, PermissionError)
    assert not issubclass(errors.ImportRefused, ValueError)


def test_a_refused_file_is_caught_as_a_hoth_geo_error_with_its_message():
    with pytest.raises(errors.HothGeoError) as caught:
        read_table(b"", "weekly-return.csv")
    assert isinstance(caught.value, errors.ImportRefused)
    assert caught.value.message == str(caught.value) == 'file "weekly-return.csv" is empty'


def test_too_few_reports_names_what_it_found_and_what_is_needed():
    exc = errors.TooFewReports(3, 30)
    assert (exc.n_reports, exc.minimum) == (3, 30)
    assert str(exc).startswith("hotspot analysis needs at least 30 located reports in the selection, got 3")
    assert "widen the filters" in str(exc)
    with pytest.raises(ValueError):  # callers that caught ValueError before the hierarchy still do
        raise exc


def test_every_public_error_is_listed_and_derives_from_the_base():
    assert set(errors.__all__) == {
        name for name, obj in vars(errors).items() if isinstance(obj, type) and issubclass(obj, Exception)
    }
    assert all(issubclass(getattr(errors, name), errors.HothGeoError) for name in errors.__all__)
