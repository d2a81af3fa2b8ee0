"""ID numbers (GB 11643): check digit, birth date, age; masking; encryption and the keyed hash."""

from __future__ import annotations

import hashlib
import hmac
from datetime import date

import pytest
from cryptography.fernet import Fernet

from models.errors import DomainError
from models.idcard import (
    IdCipher,
    age_on,
    check_char,
    compose_id_number,
    mask,
    new_keys,
    parse_id_number,
    reaches_age_on,
)

TODAY = date(2026, 3, 7)


def test_a_published_sample_number_passes_and_its_birth_date_is_read() -> None:
    # The example of GB 11643-1999 itself.
    number = parse_id_number("11010519491231002X", TODAY)
    assert number.birth_date == date(1949, 12, 31)
    assert number.masked == "1101**********002X"


def test_typing_habits_are_forgiven() -> None:
    raw = compose_id_number("320602", date(1946, 3, 21), 7, female=True)
    spaced = f" {raw[:6]} {raw[6:14]} {raw[14:]} "
    full_width = raw.translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    assert parse_id_number(spaced, TODAY).value == raw
    assert parse_id_number(full_width, TODAY).value == raw
    assert parse_id_number("11010519491231002x", TODAY).value.endswith("X")


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ("320602194603211202", "idcard.bad_check_digit"),  # last digit off by one
        ("3206021946032112", "idcard.bad_format"),
        ("32060219460321120A", "idcard.bad_format"),
        ("320602460321120", "idcard.old_format"),
        ("990602194603211201", "idcard.bad_region"),
    ],
)
def test_bad_numbers_say_what_is_wrong(raw: str, key: str) -> None:
    if key == "idcard.bad_check_digit":
        good = compose_id_number("320602", date(1946, 3, 21), 12, female=True)
        raw = good[:17] + ("0" if good[17] != "0" else "1")
    with pytest.raises(DomainError) as err:
        parse_id_number(raw, TODAY)
    assert err.value.key == key
    assert raw not in str(err.value) and raw not in repr(err.value)


@pytest.mark.parametrize(
    "birth",
    ["19460230", "19450229", "19461301", "19460100", "20260308"],  # 2月30日, no 29 Feb in 1945 …
)
def test_birth_dates_must_exist_and_be_past(birth: str) -> None:
    first17 = f"320602{birth}120"
    with pytest.raises(DomainError) as err:
        parse_id_number(first17 + check_char(first17), TODAY)
    assert err.value.key == "idcard.bad_birth_date"


def test_an_age_over_120_is_not_plausible() -> None:
    first17 = "320602190001011201"[:17]
    with pytest.raises(DomainError) as err:
        parse_id_number(first17 + check_char(first17), TODAY)
    assert err.value.key == "idcard.implausible_age"


def test_masking_keeps_four_and_four() -> None:
    assert mask("320602194603211201") == "3206**********1201"


def test_the_raw_number_never_shows_in_repr() -> None:
    raw = compose_id_number("320602", date(1946, 3, 21), 12, female=True)
    number = parse_id_number(raw, TODAY)
    assert raw not in repr(number) and raw not in str(number) and raw not in f"{number}"


def test_leap_day_birthdays_count_from_the_first_of_march_in_common_years() -> None:
    born = date(1948, 2, 29)
    assert age_on(born, date(2028, 2, 28)) == 79
    assert age_on(born, date(2028, 2, 29)) == 80  # a leap year: the day itself
    assert age_on(born, date(2027, 2, 28)) == 78
    assert age_on(born, date(2027, 3, 1)) == 79
    assert reaches_age_on(born, 79) == date(2027, 3, 1)


def test_encryption_round_trips_and_the_hash_is_keyed() -> None:
    enc, hashing = new_keys()
    cipher = IdCipher(enc, hashing)
    number = parse_id_number("11010519491231002X", TODAY)
    token = cipher.encrypt(number)
    assert "11010519491231002X" not in token
    assert cipher.decrypt(token) == "11010519491231002X"
    assert cipher.encrypt(number) != token  # randomised: equal numbers do not look equal
    assert cipher.lookup_hash(number) == cipher.lookup_hash("110105 19491231 002x")
    other = IdCipher(enc, new_keys()[1])
    assert other.lookup_hash(number) != cipher.lookup_hash(number)


def test_the_lookup_hash_is_hmac_sha256_of_the_prefixed_number() -> None:
    # The hash is computed from precomputed keyed states: it must stay the HMAC it always was
    # (stored hashes find their people), for a short key and one longer than SHA-256's block.
    for key in (new_keys()[1], "k" * 100):
        number = parse_id_number("11010519491231002X", TODAY)
        expected = hmac.new(key.encode(), b"linli-id:" + number.value.encode(), hashlib.sha256)
        assert IdCipher(new_keys()[0], key).lookup_hash(number) == expected.hexdigest()


def test_tokens_encrypted_together_are_fernet_tokens_of_each_number() -> None:
    enc, hashing = new_keys()
    old, _ = new_keys()
    cipher = IdCipher(f"{enc},{old}", hashing)
    numbers = [
        parse_id_number(
            compose_id_number("110105", date(1950 + i, 1 + i % 12, 1), i, female=i % 2 == 0), TODAY
        )
        for i in range(40)
    ]
    tokens = cipher.encrypt_many(numbers)
    assert len(set(tokens)) == len(numbers)  # each its own IV
    fernet = Fernet(enc.encode())  # the first key encrypts; plain Fernet reads every token
    assert [fernet.decrypt(t.encode()).decode() for t in tokens] == [n.value for n in numbers]
    assert [cipher.decrypt(t) for t in tokens] == [n.value for n in numbers]
    assert cipher.encrypt_many(numbers[:1]) != tokens[:1]  # randomised, like encrypt
    assert cipher.encrypt_many([]) == []
    assert not any(n.value in t for n, t in zip(numbers, tokens, strict=True))


def test_keys_rotate_new_first_old_still_decrypts() -> None:
    old_enc, hashing = new_keys()
    new_enc, _ = new_keys()
    number = parse_id_number("11010519491231002X", TODAY)
    token = IdCipher(old_enc, hashing).encrypt(number)
    assert IdCipher(f"{new_enc},{old_enc}", hashing).decrypt(token) == number.value


def test_missing_or_weak_keys_are_refused_with_a_hint() -> None:
    with pytest.raises(ValueError, match="linli keys new"):
        IdCipher("", "x" * 40)
    with pytest.raises(ValueError, match="Fernet"):
        IdCipher("not-a-key", "x" * 40)
    with pytest.raises(ValueError, match="at least 32"):
        IdCipher(new_keys()[0], "short")
