"""Finding a patient: name fragments in any order, accents, typos, DOB formats, MRN, phone; visible ones only."""

import pytest
from django.urls import reverse

from audit.models import AccessEvent
from patients.selectors import patient_search
from patients.services import care_team_grant
from tests.factories import make_patient

pytestmark = pytest.mark.django_db


@pytest.fixture
def people(clinician, patient):
    """`patient` is Maria Garcia (1970-03-02, 555-010-2000); a few more on dr.alice's team, one hidden twin."""
    jose = make_patient(
        given_name="José",
        family_name="García",
        birth_date="1982-07-14",
        sex_at_birth="M",
        phones=[{"use": "mobile", "value": "555-777-8888"}],
        ssn=None,
    )
    mario = make_patient(
        given_name="Mario",
        family_name="Garcia Lopez",
        birth_date="1990-01-20",
        sex_at_birth="M",
        phones=None,
        ssn=None,
    )
    ann = make_patient(given_name="Ann", family_name="Marsh", birth_date="1970-03-02", phones=None, ssn=None)
    for p in (jose, mario, ann):
        care_team_grant(patient=p, user=clinician, care_role="PCP")
    hidden = make_patient(
        given_name="Maria",
        family_name="Garcia",
        birth_date="1970-03-02",
        ssn=None,
        phones=[{"use": "mobile", "value": "555-010-2000"}],
    )  # nobody's patient
    return {"maria": patient, "jose": jose, "mario": mario, "ann": ann, "hidden": hidden}


def names(rows):
    return [f"{p.given_name} {p.family_name}" for p in rows]


@pytest.mark.parametrize("q", ["maria garcia", "garcia maria", "Garc Mar", "MARIA", "gar mari"])
def test_name_fragments_in_any_order(clinician, people, q):
    rows, _ = patient_search(actor=clinician, q=q)
    assert names(rows)[0] == "Maria Garcia"


@pytest.mark.parametrize("q", ["jose", "José", "JOSE GARCIA", "garcía josé"])
def test_accents_do_not_matter(clinician, people, q):
    rows, _ = patient_search(actor=clinician, q=q)
    assert "José García" in names(rows)


def test_a_typo_still_finds(clinician, people):
    rows, _ = patient_search(actor=clinician, q="Garcai")
    assert "Maria Garcia" in names(rows)


@pytest.mark.parametrize("q", ["1970-03-02", "03/02/1970", "3/2/1970"])
def test_date_of_birth_in_several_formats(clinician, people, q):
    rows, _ = patient_search(actor=clinician, q=q)
    assert sorted(names(rows)) == ["Ann Marsh", "Maria Garcia"]


def test_name_and_dob_together(clinician, people):
    rows, _ = patient_search(actor=clinician, q="garcia 3/2/1970")
    assert names(rows) == ["Maria Garcia"]


def test_mrn_and_phone(clinician, people):
    rows, _ = patient_search(actor=clinician, q=people["jose"].mrn)
    assert names(rows) == ["José García"]
    rows, _ = patient_search(actor=clinician, q="(555) 777-8888")
    assert names(rows) == ["José García"]


def test_ranked_best_match_first(clinician, people):
    rows, _ = patient_search(actor=clinician, q="garcia")
    assert set(names(rows)) == {"Maria Garcia", "José García", "Mario Garcia Lopez"}
    rows, _ = patient_search(actor=clinician, q="mario garcia")
    assert names(rows)[0] == "Mario Garcia Lopez"


def test_only_visible_patients(clinician, colleague, people):
    rows, _ = patient_search(actor=clinician, q="maria garcia")
    assert people["hidden"].pk not in [p.pk for p in rows]
    rows, _ = patient_search(actor=clinician, q=people["hidden"].mrn)
    assert rows == []
    rows, _ = patient_search(actor=colleague, q="garcia")
    assert rows == []  # a clinician outside every team sees nobody


def test_one_list_event_naming_the_patients_shown(login, clinician, people):
    before = AccessEvent.objects.count()
    resp = login(clinician).get(reverse("patients:search"), {"q": "garcia"})
    assert resp.status_code == 200
    assert AccessEvent.objects.count() == before + 1
    ev = AccessEvent.objects.latest("id")
    assert ev.action == "list" and ev.category == "patient list"
    assert set(ev.patient_ids) == {people["maria"].pk, people["jose"].pk, people["mario"].pk}
    assert ev.detail["query_kind"] == "name" and "garcia" not in str(
        ev.detail
    )  # the query text is not stored


def test_htmx_partial(login, clinician, people):
    client = login(clinician)
    resp = client.get(reverse("patients:search"), {"q": "jose"}, headers={"HX-Request": "true"})
    assert resp.status_code == 200
    body = resp.content.decode()
    assert 'id="search-results"' in body and "GARCÍA, José" in body
    assert "<html" not in body  # just the fragment
    full = client.get(reverse("patients:search"), {"q": "jose"})
    assert "<html" in full.content.decode() and "GARCÍA, José" in full.content.decode()


def test_search_query_count_does_not_grow(login, clinician, people):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = login(clinician)
    client.get(reverse("patients:search"), {"q": "garcia"})  # warm the session and role caches

    def queries():
        with CaptureQueriesContext(connection) as ctx:
            client.get(reverse("patients:search"), {"q": "garcia"})
        return len(ctx.captured_queries)

    few = queries()
    for i in range(6):
        care_team_grant(
            patient=make_patient(given_name=f"Ana{chr(97 + i)}", family_name="Garcia", ssn=None, phones=None),
            user=clinician,
            care_role="PCP",
        )
    assert queries() == few


# ------------------------------------------------------------------ numbers that may be an MRN or a date of birth
@pytest.mark.parametrize("q", ["19700302", "03021970"])
def test_a_date_of_birth_typed_without_separators(clinician, people, q):
    rows, _ = patient_search(actor=clinician, q=q)
    assert sorted(names(rows)) == ["Ann Marsh", "Maria Garcia"]


def test_a_number_that_is_both_an_mrn_and_a_date_finds_both(clinician, people):
    import datetime

    from patients.models import Patient
    from patients.services import mrn_is_valid

    # A date whose YYYYMMDD is also a valid MRN (the check digit works out): the search cannot know which was meant.
    day = datetime.date(1960, 1, 1)
    while not mrn_is_valid(day.strftime("%Y%m%d")):
        day += datetime.timedelta(days=1)
    number = day.strftime("%Y%m%d")
    Patient.objects.filter(pk=people["ann"].pk).update(mrn=number)
    Patient.objects.filter(pk=people["jose"].pk).update(birth_date=day)
    rows, _ = patient_search(actor=clinician, q=number)
    assert sorted(names(rows)) == ["Ann Marsh", "José García"]


def test_a_huge_page_number_is_not_a_500(login, clinician, people):
    client = login(clinician)
    for page in ["99999999999999999999", "9" * 5000, "-3", "abc", "2.5"]:
        resp = client.get(reverse("patients:search"), {"q": "garcia", "page": page})
        assert resp.status_code == 200, page
    assert client.get(reverse("patients:search"), {"q": "garcia", "page": "10**30"}).context["page"] == 1
    assert (
        client.get(reverse("patients:search"), {"q": "garcia", "page": "99999999999999999999"}).context[
            "page"
        ]
        == 50
    )


def test_result_pages_link_to_the_search_page_from_anywhere(login, clinician, patient):
    for i in range(25):
        care_team_grant(
            patient=make_patient(given_name=f"Ana{i:02d}", family_name="Garcia", ssn=None, phones=None),
            user=clinician,
            care_role="PCP",
        )
    client = login(clinician)
    # The top bar asks from a chart page; its popover shows the same fragment.
    resp = client.get(
        reverse("patients:search"),
        {"q": "garcia"},
        headers={"HX-Request": "true", "HX-Current-URL": f"/patients/{patient.pk}/"},
    )
    body = resp.content.decode()
    assert 'href="/patients/?q=garcia&amp;page=2"' in body
    assert 'href="?q=' not in body
    second = client.get(reverse("patients:search"), {"q": "garcia", "page": 2}).content.decode()
    assert 'href="/patients/?q=garcia&amp;page=1"' in second


# ------------------------------------------------------------------ the word table behind one-fragment searches
def _words(patient):
    from patients.models import PatientNameWord

    return sorted(PatientNameWord.objects.filter(patient=patient).values_list("word", flat=True))


def test_the_database_keeps_each_patients_name_words(clinician, people):
    from patients.models import Patient

    assert _words(people["jose"]) == ["garcia", "jose"]
    assert _words(people["mario"]) == ["garcia", "lopez", "mario"]
    # Any write path that changes a name changes the words (the trigger, not Python, keeps them).
    Patient.objects.filter(pk=people["ann"].pk).update(
        name_search="ann marsh whitfield", family_name="Whitfield"
    )
    assert _words(people["ann"]) == ["ann", "marsh", "whitfield"]
    rows, _ = patient_search(actor=clinician, q="whitf")
    assert names(rows) == ["Ann Whitfield"]
    # A write that leaves the names alone leaves the words alone.
    Patient.objects.filter(pk=people["ann"].pk).update(allergy_status="nka")
    assert _words(people["ann"]) == ["ann", "marsh", "whitfield"]


def test_one_fragment_lists_whole_words_first_then_longer_then_inside_a_name(clinician):
    made = {}
    for given, family in [
        ("John", "Zeta"),
        ("John", "Adams"),
        ("Mary", "Johnson"),
        ("Carl", "Littlejohn"),
        ("Johnny", "Baker"),
        ("John", "Johnson"),
    ]:
        made[(given, family)] = p = make_patient(given_name=given, family_name=family, ssn=None, phones=None)
        care_team_grant(patient=p, user=clinician, care_role="PCP")
    rows, more = patient_search(actor=clinician, q="john")
    # "john" as a word (by family name), then "johnny", "johnson" as words, then "john" inside a word; the
    # patient named both John and Johnson comes once, among the whole-word hits.
    assert names(rows) == [
        "John Adams",
        "John Johnson",
        "John Zeta",
        "Johnny Baker",
        "Mary Johnson",
        "Carl Littlejohn",
    ]
    assert not more


@pytest.mark.parametrize("limit", [1, 2, 3, 4, 5])
def test_pages_of_one_fragment_have_no_gaps_or_repeats(clinician, limit):
    for given, family in [
        ("John", "Zeta"),
        ("John", "Adams"),
        ("Mary", "Johnson"),
        ("Carl", "Littlejohn"),
        ("Johnny", "Baker"),
        ("John", "Johnson"),
        ("Ana", "Bjohns"),
    ]:
        care_team_grant(
            patient=make_patient(given_name=given, family_name=family, ssn=None, phones=None),
            user=clinician,
            care_role="PCP",
        )
    everything, _ = patient_search(actor=clinician, q="john", limit=50)
    paged, offset = [], 0
    while True:
        rows, more = patient_search(actor=clinician, q="john", limit=limit, offset=offset)
        paged += rows
        offset += limit
        if not more:
            break
    assert [p.pk for p in paged] == [p.pk for p in everything]
    assert len(everything) == 7 and len({p.pk for p in everything}) == 7


def test_one_fragment_never_lists_a_merged_alias_or_anothers_patient(clinician, people):
    from patients.models import Patient

    Patient.objects.filter(pk=people["mario"].pk).update(merged_into=people["maria"])
    rows, _ = patient_search(actor=clinician, q="garc")
    assert sorted(names(rows)) == ["José García", "Maria Garcia"]  # not the alias, not the hidden twin


def test_a_transposition_that_trigrams_miss_is_found_by_edit_distance(clinician):
    # "caazres" shares 4 of 8 trigrams with "cazares" (0.33, under the 0.5 threshold): two edits find it.
    p = make_patient(given_name="Diego", family_name="Cazares", ssn=None, phones=None)
    care_team_grant(patient=p, user=clinician, care_role="PCP")
    for q in ("caazres", "cazaers", "diego caazres"):
        rows, _ = patient_search(actor=clinician, q=q)
        assert names(rows) == ["Diego Cazares"], q


def test_a_typo_is_matched_within_one_word_not_across_two(clinician):
    # word_similarity over the whole name let the end of one word and the start of the next make up a match:
    # "dolores catalina" has "res", "es ", "  c", " ca" in a row, as "caazres" has (0.5).
    for given, family in [("Dolores", "Catalina"), ("Andres", "Castro"), ("Abel", "Cazares")]:
        care_team_grant(
            patient=make_patient(given_name=given, family_name=family, ssn=None, phones=None),
            user=clinician,
            care_role="PCP",
        )
    rows, _ = patient_search(actor=clinician, q="caazres")
    assert names(rows) == ["Abel Cazares"]


def test_the_vocabulary_follows_registrations_and_renames(clinician):
    from patients.models import Patient, PatientNameVocabulary

    p = make_patient(given_name="Ingrid", family_name="Thorvaldsen", ssn=None, phones=None)
    care_team_grant(patient=p, user=clinician, care_role="PCP")
    assert PatientNameVocabulary.objects.filter(word__in=["ingrid", "thorvaldsen"]).count() == 2
    assert names(patient_search(actor=clinician, q="thorvladsen")[0]) == ["Ingrid Thorvaldsen"]
    Patient.objects.filter(pk=p.pk).update(name_search="ingrid halvorsen", family_name="Halvorsen")
    assert PatientNameVocabulary.objects.filter(word="halvorsen").exists()
    assert names(patient_search(actor=clinician, q="halvrosen")[0]) == ["Ingrid Halvorsen"]
    # The old word stays in the vocabulary but leads to nobody.
    assert patient_search(actor=clinician, q="thorvladsen")[0] == []


def test_one_fragment_lists_the_closest_words_first(clinician):
    # "barvo": Bravo is one swap away, Barre two edits, Barnes only shares the first three letters' trigrams
    # (0.5, as Barre does; Bravo scores 0.2, so ranking by trigrams alone listed it last).
    for given, family in [("Ana", "Barnes"), ("Luis", "Bravo"), ("Eva", "Barre"), ("Ida", "Bravo")]:
        care_team_grant(
            patient=make_patient(given_name=given, family_name=family, ssn=None, phones=None),
            user=clinician,
            care_role="PCP",
        )
    rows, more = patient_search(actor=clinician, q="barvo")
    assert names(rows) == ["Ida Bravo", "Luis Bravo", "Eva Barre", "Ana Barnes"]
    assert not more
    # paging through the tiers neither skips nor repeats
    assert [names(patient_search(actor=clinician, q="barvo", limit=1, offset=i)[0]) for i in range(4)] == [
        ["Ida Bravo"],
        ["Luis Bravo"],
        ["Eva Barre"],
        ["Ana Barnes"],
    ]


@pytest.mark.parametrize(
    ("a", "b", "d"),
    [
        ("barvo", "bravo", 1),
        ("caazres", "cazares", 1),
        ("smith", "smith", 0),
        ("hnson", "hinton", 2),
        ("", "abc", 3),
        ("abc", "", 3),
    ],
)
def test_edit_distance_counts_a_swap_as_one(a, b, d):
    from patients.selectors import edit_distance

    assert edit_distance(a, b) == d
