"""Finding and ordering members by people's rules (fvh.core.names), alike on every backend."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from fvh.core import audit, members, names
from fvh.db.models import Member

ACTOR = audit.Actor.system("tests")

# (last name, first name), listed in the German order (DIN 5007-1): Ä with A, ß as ss, case
# ignored; names equal by that rule in the order of their spelling (Strauss before Strauß).
GERMAN_ORDER = [
    ("Abel", "Jonas"),
    ("Äbele", "Karin"),
    ("mueller", "Paul"),
    ("Müller", "Anna"),
    ("Müller", "Zoë"),
    ("Müller-Lüdenscheidt", "Anna"),
    ("Oz", "Ali"),
    ("Öztürk", "Mehmet"),
    ("Strauss", "Max"),
    ("Strauß", "Max"),
    ("Weiß", "Zoë"),
    ("Zander", "Ute"),
]


def _create_all(build, people):
    created = {}
    for index, (last, first) in enumerate(reversed(people)):  # not already in order
        member = build.member(
            code=f"3{index:02d}4567890",
            first_name=first,
            last_name=last,
            email=f"{first}.{index}@example.org".lower(),
        )
        created[(last, first)] = member
    return created


def _names(rows):
    return [(m.last_name, m.first_name) for m in rows]


def _found(session, text):
    return {(m.last_name, m.first_name) for m in members.search(session, text, limit=None).rows}


def test_member_list_is_in_german_order_on_every_backend(build, database):
    _create_all(build, GERMAN_ORDER)
    with database.session() as s:
        ascending = members.search(s, sort="name", limit=None).rows
        descending = members.search(s, sort="name", descending=True, limit=None).rows
        page = members.search(s, sort="name", limit=4, offset=4).rows
        everyone = members.list_all(s)
    assert _names(ascending) == GERMAN_ORDER
    assert _names(descending) == GERMAN_ORDER[::-1]
    assert _names(page) == GERMAN_ORDER[4:8]
    assert _names(everyone) == GERMAN_ORDER


def test_the_api_order_stays_by_the_stored_names(build, database):
    """Without a sort the list keeps the order the API documents (last, first name as the
    database compares them): a terminal contract, not changed by the German order."""
    _create_all(build, GERMAN_ORDER)
    with database.session() as s:
        rows = members.search(s, limit=None).rows
        expected = list(
            s.scalars(select(Member).order_by(Member.last_name, Member.first_name, Member.id))
        )
    assert [m.id for m in rows] == [m.id for m in expected]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Öz", {("Oz", "Ali"), ("Öztürk", "Mehmet")}),  # accents aside, Oz is Öz
        ("oz", {("Oz", "Ali"), ("Öztürk", "Mehmet")}),
        ("ÖZTÜRK", {("Öztürk", "Mehmet")}),
        ("ozturk", {("Öztürk", "Mehmet")}),
        ("ztürk", {("Öztürk", "Mehmet")}),
        ("weiss", {("Weiß", "Zoë")}),
        ("WEISS", {("Weiß", "Zoë")}),
        ("Strauß", {("Strauss", "Max"), ("Strauß", "Max")}),
        ("zoe", {("Müller", "Zoë"), ("Weiß", "Zoë")}),
        ("Zoë Weiß", {("Weiß", "Zoë")}),
        ("weiß zoe", {("Weiß", "Zoë")}),
        ("Weiß, Zoë", {("Weiß", "Zoë")}),  # as lists write names
        ("müller,anna", {("Müller", "Anna"), ("Müller-Lüdenscheidt", "Anna")}),
        ("abel", {("Abel", "Jonas"), ("Äbele", "Karin")}),
        ("Äbele", {("Äbele", "Karin")}),
        ("ludenscheidt", {("Müller-Lüdenscheidt", "Anna")}),
        ("mehmet.", {("Öztürk", "Mehmet")}),  # the e-mail address
        ("%", set()),  # no wildcard
        ("_", set()),
        ("Nobody", set()),
    ],
)
def test_search_ignores_case_and_accents(build, database, text, expected):
    _create_all(build, GERMAN_ORDER)
    with database.session() as s:
        assert _found(s, text) == expected


def test_search_finds_by_code_and_token_hex(build, database):
    created = _create_all(build, GERMAN_ORDER)
    weiss = created[("Weiß", "Zoë")]
    build.token(weiss, bytes.fromhex("04A22B1C"))
    with database.session() as s:
        assert _found(s, weiss.code) == {("Weiß", "Zoë")}
        assert _found(s, weiss.code[:3]) == {("Weiß", "Zoë")}
        assert len(_found(s, "4567890")) == len(GERMAN_ORDER)
        for typed in ("04:A2:2B:1C", "04a22b1c", "04 A2 2B 1C", "04-a2-2b-1c"):
            assert _found(s, typed) == {("Weiß", "Zoë")}, typed
        assert _found(s, "04:A2:2B") == set()  # a token is found by its whole number


def test_keys_follow_a_rename_and_a_new_address(build, database):
    created = _create_all(build, GERMAN_ORDER)
    oz = created[("Oz", "Ali")]
    with database.session() as s:
        member = s.get(Member, oz.id)
        changes = members.MemberChanges("Ali", "Ärger", "ali@beispiel.de", "Kühlschrank", None)
        members.update_details(s, member, changes, ACTOR)
    with database.session() as s:
        assert _found(s, "Oz") == {("Öztürk", "Mehmet")}
        assert _found(s, "arger") == {("Ärger", "Ali")}
        assert _found(s, "beispiel") == {("Ärger", "Ali")}
        assert _found(s, "kuhlschrank") == {("Ärger", "Ali")}
        order = _names(members.search(s, sort="name", limit=3).rows)
    assert order == [("Abel", "Jonas"), ("Äbele", "Karin"), ("Ärger", "Ali")]


def test_keys_follow_changes_made_outside_update_details(build, database):
    """Any flush that changes a name or the address renews the keys (e.g. the confirmed
    e-mail change, or a direct assignment in a migration script)."""
    member = build.member(first_name="Ute", last_name="Zander")
    with database.session() as s:
        s.get(Member, member.id).email = "ÜTE@example.org".lower()
    with database.session() as s:
        stored = s.get(Member, member.id)
        assert "ute@example.org" in stored.search_key
        assert stored.sort_key == names.sort_key("Zander", "Ute")


def test_same_name_ignores_case_and_accents_not_spelling(build, database):
    created = _create_all(build, GERMAN_ORDER)
    anna = created[("Müller", "Anna")]
    with database.session() as s:
        assert [m.id for m in members.same_name(s, "anna", "MULLER")] == [anna.id]
        assert [m.id for m in members.same_name(s, " Anna ", "Müller")] == [anna.id]
        assert members.same_name(s, "Anna", "Müller", except_id=anna.id) == []
        assert members.same_name(s, "Anna", "Mueller") == []
        assert members.same_name(s, "Ann", "Müller") == []
        assert members.same_name(s, "Anna", "Müller-Lüdenscheidt") != []
        assert members.same_name(s, "Max", "Strauss") == members.same_name(s, "Max", "Strauß")
        assert len(members.same_name(s, "Max", "Strauss")) == 2


def test_fold_is_casefold_without_accents():
    assert names.fold("Öztürk") == names.fold("ÖZTÜRK") == names.fold("oztürk") == "ozturk"
    assert names.fold("Weiß") == names.fold("WEISS") == "weiss"
    assert names.fold("Zoë") == "zoe"
    assert names.fold("Ærø") == "aero"
    assert names.fold("") == names.fold(None) == ""


def _rule(last: str, first: str) -> tuple[str, str, str, str]:
    """The German order as a tuple, written without the key's encoding: the folded names
    with other characters as single spaces, then the names as written."""

    def level_one(name: str) -> str:
        kept = []
        for char in unicodedata.normalize("NFKD", name.casefold()):
            if unicodedata.combining(char):
                continue
            kept.append(char)
        folded = unicodedata.normalize("NFC", "".join(kept).translate(names._LETTERS))
        return " ".join("".join(c if c.isalnum() else " " for c in folded).split())

    def written(name: str) -> str:
        return "".join(" " if c < " " else c for c in unicodedata.normalize("NFC", name))

    return level_one(last), level_one(first), written(last), written(first)


# Names of up to 40 characters from every script (no surrogates, which no form can send).
_NAME = st.text(
    alphabet=st.characters(exclude_categories=("Cs",)),
    min_size=0,
    max_size=40,
)
_GERMAN = st.text(alphabet="aAäÄbBoOöÖuUüÜsSßẞzZ -'éÉ", min_size=1, max_size=8)


@given(a=st.tuples(_NAME, _NAME), b=st.tuples(_NAME, _NAME))
@settings(max_examples=400)
def test_sort_key_orders_like_the_rule(a, b):
    key_a, key_b = names.sort_key(*a), names.sort_key(*b)
    rule_a, rule_b = _rule(*a), _rule(*b)
    assert (key_a < key_b) == (rule_a < rule_b)
    assert (key_a == key_b) == (rule_a == rule_b)


@given(a=st.tuples(_GERMAN, _GERMAN), b=st.tuples(_GERMAN, _GERMAN))
@settings(max_examples=400)
def test_sort_key_orders_german_names_like_the_rule(a, b):
    assert (names.sort_key(*a) < names.sort_key(*b)) == (_rule(*a) < _rule(*b))


# Latin letters with their accents, digits and punctuation (scripts whose letters compose
# from pieces, such as Hangul, don't keep a piece's fold inside the whole's).
_LATIN_NAME = st.text(
    alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x24F), min_size=1, max_size=40
)


@given(name=_LATIN_NAME, cut=st.integers(0, 40), size=st.integers(1, 40))
@settings(max_examples=300)
def test_every_part_of_a_name_finds_it_in_any_case(name, cut, size):
    """A piece of a name, typed in upper or lower case, is in the name's search key."""
    part = name[cut : cut + size]
    key = names.search_key(name, "X", None, None)
    for typed in (part, part.upper(), part.lower()):
        folded = names.fold(typed)
        if names.fold(part) == folded:  # case mapping kept the letters (not e.g. 'ŉ')
            assert all(word in key for word in names.search_words(typed))


@given(people=st.lists(st.tuples(_GERMAN, _GERMAN), min_size=2, max_size=8))
@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_database_lists_random_names_in_the_rule_order(database, people):
    """Random German names come back from each backend in the order of the rule."""
    typed = [(last.strip() or "-", first.strip() or "-") for first, last in people]
    with database.session() as s:
        for last, first in typed:
            members.create(s, members.NewMember(first, last), ACTOR)
        s.flush()
        got = _names(members.search(s, sort="name", limit=None).rows)
        s.rollback()  # nothing stays for the next example
    assert got == sorted(typed, key=lambda name: _rule(*name))
