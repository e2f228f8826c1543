"""Suggestions for Swedish, Danish and Finnish names (tests/gold/nordic_a.csv and nordic_b.csv, written
before the lexicons; nordic_c.csv and nordic_d.csv, by another hand, before it read them): definite and
plural forms, Finnish cases and compounds, the abbreviations of the three countries' RIS exports, the
survey film, the vessels and the rarer regions of CID 4, over HTTP, through the CLI's eval and in the
engine. The names here are not the gold sets' names: each checks a family of forms, not a row."""

import orjson
import pytest
from click.testing import CliRunner
from conftest import gold_report
from test_suggest_plpt import CID4, CID29, CID244, best, code

from termsvc.cli import cli
from termsvc.suggest.lexicon import Lexicon, singulars
from termsvc.suggest.rank import read
from termsvc.suggest.service import LANGUAGE_NAMES
from termsvc.suggest.text import LANGUAGES

HEAD, SKULL, BRAIN, LUNG, KNEE, HIP_JOINT, WRIST, LUMBAR = ("69536005", "89546000", "12738006", "39607008",
                                                            "72696002", "24136001", "74670003", "122496007")
ABDOMEN, LIVER, SHOULDER, ELBOW = "818981001", "10200004", "16982005", "16953009"
PELVIS, CAROTID, FEMORAL_ARTERY, SUBCLAVIAN, SVC = "816092008", "69105007", "7657000", "36765005", "48345005"
RIGHT, LEFT, BILATERAL = "24028007", "7771000", "51440002"


@pytest.fixture(scope="module")
def suggester(default_suggester):
    return default_suggester


def test_the_three_languages_are_registered():
    assert {"sv", "da", "fi"} <= set(LANGUAGES) and LANGUAGES[-2:] == ("en", "la")
    assert {LANGUAGE_NAMES[n] for n in ("svenska", "dansk", "suomi")} == {"sv", "da", "fi"}
    lexicon = Lexicon.load()
    assert {"sv", "da", "fi"} <= set(lexicon.exact)


# -- definite and plural forms the lexicon does not list: read by the endings --------------------
@pytest.mark.parametrize("language,name,region", [
    ("sv", "Rtg handlederna", WRIST), ("sv", "Rtg armbågarna", ELBOW), ("sv", "MR höftlederna", HIP_JOINT),
    ("da", "Rtg albuerne", ELBOW), ("da", "Rtg skuldrene", SHOULDER), ("da", "Rtg håndleddene", WRIST),
    ("fi", "Maksassa", LIVER), ("fi", "Ranteessa", WRIST), ("fi", "Olkapäiden rtg", SHOULDER)])
def test_definite_plural_and_case_forms(suggester, language, name, region):
    assert best(suggester, name, language)[0] == region


def test_the_endings_are_tried_only_in_their_language():
    assert "handled" in singulars("sv", "handlederna") and "maksa" in singulars("fi", "maksassa")
    assert "maksa" not in singulars("sv", "maksassa") and singulars("fi", "handlederna") == ["handleder"]


# -- compounds: a region and a modality in one word, a finding of a region ---------------------
@pytest.mark.parametrize("language,name,region", [
    ("sv", "Knäröntgen höger", KNEE), ("da", "Knærøntgen", KNEE), ("fi", "Keuhkoröntgen", LUNG),
    ("sv", "DT LUNGEMBOLI", LUNG), ("da", "CT LUNGEEMBOLI", LUNG), ("fi", "Keuhkoembolia TT", LUNG)])
def test_compounds_name_their_region(suggester, language, name, region):
    found, parts = best(suggester, name, language)
    assert found == region and code(parts["region"]) == region


def test_a_finding_compound_after_the_region_is_the_question_not_the_region(suggester):
    assert best(suggester, "UL mavesmerter", "da")[0] == ABDOMEN           # mave|smerter: the belly
    assert best(suggester, "Selkäkipu, lanneselän MK", "fi")[0] == LUMBAR   # the back pain asks, the spine is imaged


# -- the cranium: the head of a cross-sectional exam, else the skull -----------------------------
@pytest.mark.parametrize("language,ct,plain", [("sv", "DT skallen", "Rtg skalle"),
                                               ("da", "CT kraniet", "Røntgen kranie"), ("fi", "Kallon TT", "Kallon rtg")])
def test_a_cranium_word(suggester, language, ct, plain):
    assert best(suggester, ct, language)[0] == HEAD
    assert best(suggester, plain, language)[0] == SKULL


# -- sides, modalities and contrast as the three countries abbreviate them -----------------------
@pytest.mark.parametrize("language,name,side", [
    ("sv", "axel hö", RIGHT), ("sv", "vänster sida", LEFT), ("sv", "fötter bilat", BILATERAL),
    ("da", "skulder hø", RIGHT), ("da", "venstre side", LEFT), ("da", "begge knæ", BILATERAL),
    ("fi", "olkapää oik", RIGHT), ("fi", "vasemmalla puolella", LEFT), ("fi", "polvet molemmin puolin", BILATERAL)])
def test_sides(suggester, language, name, side):
    assert best(suggester, name, language, CID244)[0] == side
    assert code(best(suggester, name, language)[1]["laterality"]) == side


@pytest.mark.parametrize("language,name,modality", [
    ("sv", "DT", "CT"), ("sv", "Magnetkamera", "MR"), ("sv", "UL", "US"), ("sv", "Slätröntgen", "DX"),
    ("da", "CT-scanning", "CT"), ("da", "Ultralydsscanning", "US"), ("da", "Gennemlysning", "RF"),
    ("fi", "TT", "CT"), ("fi", "MK", "MR"), ("fi", "UÄ", "US"), ("fi", "Kaikukuvaus", "US"),
    ("fi", "Läpivalaisu", "RF"), ("fi", "Luustokartta", "NM"), ("sv", "PET-CT", "PT")])
def test_modalities(suggester, language, name, modality):
    assert best(suggester, name, language, CID29)[0] == modality


def test_contrast_with_without_and_both(suggester):
    names = [("sv", "DT buk med kontrast"), ("sv", "MR hjärna utan kontrastmedel"),
             ("sv", "DT lever nativ och med kontrast"), ("da", "CT thorax m. kontrast"), ("da", "MR hjerne u. kontrast"),
             ("da", "CT abdomen uden og med kontrast"), ("fi", "Vatsan TT tehostettu"),
             ("fi", "Pään TT ilman varjoainetta"), ("fi", "Maksan MK natiivi ja tehosteinen")]
    assert [best(suggester, name, lang)[1]["contrast"] for lang, name in names] == ["with", "without", "with"] * 3


# -- the families of nordic_c's misses, and the words beside them --------------------------------
@pytest.mark.parametrize("language,name,region", [
    ("sv", "Rtg bäckenöversikt", PELVIS), ("sv", "Buköversikt", ABDOMEN), ("da", "Rtg. bækkenoversigt", PELVIS),
    ("da", "Abdomenoversigt", ABDOMEN), ("fi", "Lantion yleiskuva", PELVIS), ("fi", "Vatsan yleiskuva", ABDOMEN)])
def test_a_survey_of_a_region_is_a_plain_film_of_it(suggester, language, name, region):
    """sv `översikt`, da `oversigt`, fi `yleiskuva`, alone or closing a compound, as the German `Übersicht`."""
    found, parts = best(suggester, name, language)
    assert found == region and code(parts["region"]) == region and code(parts["modality"]) == "DX"


@pytest.mark.parametrize("language,name,region", [
    ("sv", "UL halsartärer bilat", CAROTID), ("sv", "Duplex halspulsådror", CAROTID),
    ("da", "UL halspulsårer", CAROTID), ("da", "Duplex halsarterier", CAROTID), ("fi", "Kaulavaltimoiden UÄ", CAROTID),
    ("sv", "UL lårbensartär", FEMORAL_ARTERY), ("da", "UL lårbensarterie", FEMORAL_ARTERY),
    ("fi", "Reisivaltimon UÄ", FEMORAL_ARTERY), ("sv", "UL nyckelbensartär", SUBCLAVIAN),
    ("fi", "Solisvaltimon UÄ", SUBCLAVIAN), ("sv", "DT övre hålven", SVC), ("da", "CT øvre hulvene", SVC),
    ("fi", "Yläonttolaskimon TT", SVC)])
def test_a_vessel_is_the_vessel_not_the_region_it_runs_through(suggester, language, name, region):
    """`halsartärer` is the carotid arteries, not the neck; `övre hålven` the superior vena cava."""
    assert best(suggester, name, language)[0] == region


@pytest.mark.parametrize("language,name,region", [
    ("sv", "MR lillhjärnan", "113305005"), ("da", "MR lillehjernen", "113305005"), ("fi", "Pikkuaivojen MK", "113305005"),
    ("sv", "MR livmoderhalsen", "71252005"), ("fi", "Kohdunkaulan MK", "71252005"), ("da", "Rtg. tolvfingertarmen", "38848004"),
    ("fi", "Pohjukaissuolen läpivalaisu", "38848004"), ("sv", "UL biskoldkörtlarna", "111002"),
    ("da", "Rtg kindbenet", "13881006"), ("fi", "Poskiluun rtg", "13881006"),
    # a region word of three letters is not read by its endings: its definite forms are listed
    ("sv", "UL ögat", "81745001"), ("da", "UL øjet", "81745001"), ("sv", "Rtg hälen", "80144004")])
def test_the_rarer_regions_of_cid_4(suggester, language, name, region):
    assert best(suggester, name, language)[0] == region


@pytest.mark.parametrize("language,name,modality", [
    ("sv", "Positronemissionstomografi", "PT"), ("da", "Røntgengennemlysning", "RF"), ("sv", "Kärlröntgen", "XA"),
    ("da", "Tandrøntgen", "IO"), ("fi", "Tähystys", "ES"), ("fi", "Luuntiheyden mittaus", "BMD"),
    ("fi", "Panoraamakuva", "PX"), ("sv", "Panoramabild", "PX"), ("da", "Ortopantomogram", "PX")])
def test_modalities_written_out(suggester, language, name, modality):
    assert best(suggester, name, language, CID29)[0] == modality


def test_a_nordic_word_is_read_in_its_own_language():
    lexicon = Lexicon.load()
    # the Swedish `hö` (right) in a Swedish name; the Finnish `ua` (ultrasound) in a Finnish one
    kinds = [s.facets[0].kind for s in read(lexicon, "MR knä hö", "sv").segments]
    assert kinds == ["modality", "region", "laterality"]
    assert [s.facets[0].kind for s in read(lexicon, "UA maksa", "fi").segments] == ["modality", "region"]
    assert all(f.language != "fi" for s in read(lexicon, "TAC de cráneo", "es").segments for f in s.facets)


# -- over HTTP and through the CLI ------------------------------------------------------------------
def test_nordic_names_over_http(client):
    rows = [{"source_display": "Rtg handleden vä", "language": "sv"},
            {"source_display": "MR af højre skulder", "language": "da"},
            {"source_display": "Lannerangan MK", "language": "fi"},
            {"source_display": "Doppler halspulsådror hö", "language": "sv"},       # a vessel, not the neck
            {"source_display": "Rtg. bækkenoversigt", "language": "da"},            # a survey film of the pelvis
            {"source_display": "Alaonttolaskimon TT varjoaineella", "language": "fi"}]
    r = client.post("/mappings/suggest", json={"target_scope": CID4, "rows": rows, "top": 2})
    assert r.status_code == 200
    wrist, shoulder, spine, carotid, pelvis, ivc = r.get_json()["rows"]
    assert wrist["candidates"][0]["code"] == WRIST and wrist["parts"]["laterality"]["code"] == LEFT
    assert wrist["parts"]["modality"]["code"] == "DX" and "(sv)" in wrist["candidates"][0]["why"]
    assert shoulder["candidates"][0]["code"] == SHOULDER and shoulder["parts"]["laterality"]["code"] == RIGHT
    assert spine["candidates"][0]["code"] == LUMBAR and spine["parts"]["modality"]["code"] == "MR"
    assert carotid["candidates"][0]["code"] == CAROTID and carotid["parts"]["laterality"]["code"] == RIGHT
    assert pelvis["candidates"][0]["code"] == PELVIS and pelvis["parts"]["modality"]["code"] == "DX"
    assert ivc["candidates"][0]["code"] == "64131007" and ivc["parts"]["contrast"] == "with"


@pytest.mark.parametrize("gold", ["nordic_a.csv", "nordic_b.csv", "nordic_c.csv", "nordic_d.csv"])
def test_the_nordic_gold_sets(db_path, gold):
    report = gold_report(db_path, gold)
    assert set(report["ranking"]) == {"sv", "da", "fi", "overall"}
    assert all(report["ranking"][lang]["top1"] >= 95 for lang in ("sv", "da", "fi"))
    assert report["ranking"]["overall"]["top5"] >= 98
    assert report["baseline"]["overall"]["top1"] < 50
    assert all(p["accuracy"] >= 95 for p in report["parts"].values()) and len(report["parts"]) == 4


def test_a_language_column_named_in_the_language_itself(tmp_path, db_path):
    """`Språk`, `Sprog`, `Kieli` (and the Polish `Język`) name the language column as `language` does: the Danish
    `ve` (left) of `Knie ve` is read only when the row says Danish (a two-letter word is read in its language)."""
    (tmp_path / "t.toml").write_text(f'url = "http://example.org/fhir/ConceptMap/t"\nsource_system = '
                                     f'"http://example.org/cs/t"\ntarget_scope = "{CID4}"\n', encoding="utf-8")
    sides = {}
    for header in ("Språk", "Język", "Remark"):
        (tmp_path / "t.csv").write_text(f"source_code,source_display,{header}\n1,Knie ve,da\n", encoding="utf-8")
        r = CliRunner().invoke(cli, ["mappings", "suggest", str(tmp_path / "t.csv"), "--json", "--db", db_path,
                                     "--no-default-mappings"])
        assert r.exit_code == 0, r.output
        (row,) = orjson.loads(r.output)["rows"]
        assert row["candidates"][0]["code"] == KNEE
        sides[header] = code(row["parts"]["laterality"])
    assert sides == {"Språk": LEFT, "Język": LEFT, "Remark": None}
