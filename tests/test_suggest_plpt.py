"""Suggestions for Polish and Portuguese names (tests/gold/plpt_a.csv and plpt_b.csv, written blind):
Polish cases and sides in every gender, Portuguese contractions and the abbreviations of both
countries' catalogues, over HTTP, through the CLI's eval and in the engine. The names here are not
the gold sets' names: each checks a family of forms, not a row."""

import pytest

from conftest import gold_report
from termsvc.suggest.lexicon import Lexicon
from termsvc.suggest.rank import read

CID = "http://dicom.nema.org/medical/dicom/current/output/chtml/part16/sect_CID_{}.html"
CID4, CID29, CID244 = CID.format(4), CID.format(29), CID.format(244)
HEAD, KNEE, FOOT, THORAX, ABDOMEN, LUMBAR = "69536005", "72696002", "56459004", "816094009", "818981001", "122496007"
RIGHT, LEFT, BILATERAL = "24028007", "7771000", "51440002"


@pytest.fixture(scope="module")
def suggester(default_suggester):
    return default_suggester


def best(suggester, name, language, scope=CID4):
    """The best code for a name (None when nothing matches) and the parts of the name."""
    ranked, parts = suggester.suggest(name, suggester.ranker(scope, None), language, 3)
    return (ranked[0].candidate.code if ranked else None), parts


def code(part):
    return part["code"] if isinstance(part, dict) else part


# -- Polish: a region and a side in every case a catalogue writes them --------------------------
@pytest.mark.parametrize("name", ["MR kolano", "MR kolana", "MR kolanie", "RTG obu kolan", "USG w kolanach"])
def test_a_polish_knee_in_every_case(suggester, name):
    assert best(suggester, name, "pl")[0] == KNEE


@pytest.mark.parametrize("name", ["TK głowa", "TK GLOWY", "TK zmiana w głowie"])
def test_a_polish_head_in_every_case(suggester, name):
    assert best(suggester, name, "pl")[0] == HEAD


@pytest.mark.parametrize("name,side", [("stopa prawa", RIGHT), ("stopy prawej", RIGHT), ("RTG stopy lewej", LEFT),
                                       ("kolano lewe", LEFT), ("barku lewego", LEFT), ("stawu prawego", RIGHT),
                                       ("obu stóp", BILATERAL), ("lewostronnie", LEFT), ("prawostronny", RIGHT)])
def test_a_polish_side_in_every_gender_and_case(suggester, name, side):
    assert best(suggester, name, "pl", CID244)[0] == side
    assert code(best(suggester, name, "pl")[1]["laterality"]) == side


def test_polish_contrast_with_without_and_both(suggester):
    contrast = {name: best(suggester, name, "pl")[1]["contrast"]
                for name in ("TK brzucha po podaniu środka kontrastowego", "MR głowy bez kontr.",
                             "TK klatki piersiowej natywne", "TK jamy brzusznej przed i po kontraście")}
    assert list(contrast.values()) == ["with", "without", "without", "with"]


def test_polish_abbreviations_of_the_chest_and_the_spine(suggester):
    assert best(suggester, "TK kl. piers.", "pl")[0] == THORAX      # not the breast (pierś)
    assert best(suggester, "MR odcinka lędźwiowego kręgosłupa", "pl")[0] == LUMBAR


# -- Portuguese: contractions, both countries' words, the catalogues' abbreviations ---------------
@pytest.mark.parametrize("name", ["RM do joelho", "Rx dos joelhos", "dor no joelho", "ECO JOELHO DTO"])
def test_portuguese_contractions_and_abbreviations(suggester, name):
    assert best(suggester, name, "pt")[0] == KNEE


def test_portuguese_of_portugal_and_brazil(suggester):
    assert best(suggester, "TC CE", "pt")[0] == HEAD                # crânio-encefálica, not contrast-enhanced
    assert best(suggester, "US de abdome", "pt")[0] == ABDOMEN
    assert best(suggester, "Ecografia do abdómen", "pt")[0] == ABDOMEN
    assert best(suggester, "Ultrassonografia", "pt", CID29)[0] == "US"
    assert best(suggester, "Cintilografia óssea", "pt", CID29)[0] == "NM"


def test_portuguese_contrast_abbreviated(suggester):
    got = [best(suggester, name, "pt")[1]["contrast"] for name in ("TC tórax c/c", "TC tórax s/c", "RM pelve c/ gadolínio",
                                                                   "TC abdómen sem e com contraste", "TC_TORAX_SEM")]
    assert got == ["with", "without", "with", "with", "without"]


def test_a_french_arm_is_an_mr_angiography_not_a_german_arm(suggester):
    assert best(suggester, "ARM des artères rénales", "fr")[0] == "2841007"
    assert code(best(suggester, "ARM des artères rénales", "fr")[1]["modality"]) == "MR"


def test_a_polish_word_is_read_in_polish_only_in_a_polish_name():
    lexicon = Lexicon.load()
    assert [s.facets[0].kind for s in read(lexicon, "RTG stopy lewej", "pl").segments] == ["modality", "region",
                                                                                            "laterality"]
    # the Polish `l` (left) is no letter of a Spanish name
    assert all(f.language != "pl" for s in read(lexicon, "RX columna L", "es").segments for f in s.facets)


# -- over HTTP and through the CLI ------------------------------------------------------------------
def test_polish_and_portuguese_names_over_http(client):
    rows = [{"source_display": "USG nerek", "language": "pl"}, {"source_display": "Rx da mão esq.", "language": "pt"}]
    r = client.post("/mappings/suggest", json={"target_scope": CID4, "rows": rows, "top": 2})
    assert r.status_code == 200
    kidney, hand = r.get_json()["rows"]
    assert kidney["candidates"][0]["code"] == "64033007" and "(pl)" in kidney["candidates"][0]["why"]
    assert hand["candidates"][0]["code"] == "85562004" and hand["parts"]["laterality"]["code"] == LEFT
    assert hand["parts"]["modality"]["code"] == "DX"


@pytest.mark.parametrize("gold,top1", [("plpt_a.csv", 97), ("plpt_b.csv", 90)])
def test_the_polish_and_portuguese_gold_sets(db_path, gold, top1):
    report = gold_report(db_path, gold)
    assert set(report["ranking"]) == {"pl", "pt", "overall"}
    assert all(report["ranking"][lang]["top1"] >= top1 for lang in ("pl", "pt"))
    assert report["ranking"]["overall"]["top5"] >= 95
    assert all(p["accuracy"] >= 90 for p in report["parts"].values()) and len(report["parts"]) == 4
