"""The password rules (hoth_geo.access.passwords): a weak password is refused with the rule it
breaks, never quoted back; good passphrases pass."""

from __future__ import annotations

import pytest

from hoth_geo.access import passwords


@pytest.mark.parametrize(
    ("password", "why"),
    [
        (" " * 12, "only spaces"),
        ("password1234", "most commonly used passwords"),
        ("Password2024!", "most commonly used passwords"),
        ("P@ssw0rd12345", "most commonly used passwords"),
        ("qwertyuiop12", "most commonly used passwords"),
        ("aaaaaaaaaaaa", "too few different characters"),
        ("abababababab", "too few different characters"),
        ("abcdefghijklmn", "sequence or repeated pattern"),
        ("12345678901234567", "sequence or repeated pattern"),
        ("chair.one.admin!", "same as the username"),
        ("Chair.One.Admin2024", "same as the username"),
        ("chaironeadmin!!", "same as the username"),
        ("short", "at least 12 characters"),
    ],
)
def test_weak_passwords_are_refused_with_the_reason(password, why):
    with pytest.raises(ValueError, match=why) as caught:
        passwords.check("chair.one.admin@example.org", password)
    assert password.strip() == "" or password not in str(caught.value), "the message never quotes it"


@pytest.mark.parametrize(
    "password",
    ["correct horse battery", "river lantern ochre spoon", "Tm9#kq2!Lp7&vRx", "synthetic-test-passphrase"],
)
def test_good_passphrases_are_accepted(password):
    passwords.check("chair.one.admin@example.org", password)


def test_the_shipped_common_list_is_large_and_packaged():
    common = passwords.common_passwords()
    assert len(common) > 5000
    assert {"password", "qwerty", "letmein", "iloveyou", "123456789012"} <= common
    assert (
        passwords.COMMON_FILE.parent.name == "data" and passwords.COMMON_FILE.parent.parent.name == "hoth_geo"
    )


def test_the_length_limits_are_refused_at_their_edges():
    passwords.check("analyst.one@example.org", "river lantern")  # 13 characters
    with pytest.raises(ValueError, match="at least 12 characters"):
        passwords.check("analyst.one@example.org", "river lante")
    with pytest.raises(ValueError, match=f"at most {passwords.MAX_LENGTH} characters"):
        passwords.check("analyst.one@example.org", "river lantern " * 100)


@pytest.mark.parametrize(
    "password", ["Qwertyuiop!!", "  password2024  ", "Dragon2024!!!", "sunshine!!!!2", "pass word 1234"]
)
def test_common_passwords_dressed_up_are_still_common(password):
    with pytest.raises(ValueError) as caught:
        passwords.check("partner.two@example.org", password)
    assert "commonly used" in str(caught.value) or "repeated pattern" in str(caught.value)
    assert password.strip() not in str(caught.value)


def test_a_password_that_is_not_text_is_refused():
    with pytest.raises(ValueError, match="password must be a string"):
        passwords.check("analyst.one@example.org", None)


def test_a_refused_password_is_an_input_error_a_person_can_act_on():
    """The app and the command line show InvalidInput's message and let any other error surface."""
    from hoth_geo.errors import HothGeoError, InvalidInput

    with pytest.raises(InvalidInput, match="at least") as caught:
        passwords.check("casey.synthetic", "short")
    assert isinstance(caught.value, HothGeoError) and "short" not in str(caught.value)
