"""Names as order entry and referrals write them (tests/gold/fresh6_a.csv's misses, fixed by their causes):
the clinical question after the procedure (`bei V.a.`, `for`, `?`, `por dolor en`) names a finding, not what
is imaged; a negated contrast phrase goes on over its noun (`sans injection de produit de contraste`); a
Roman numeral beside a finger counts it (`Finger IV` is no intravenous contrast); the French tariff's
`remnographie`."""
import csv
import os

import orjson
import pytest
from click.testing import CliRunner

from termsvc.cli import cli
from termsvc.suggest.parts import contrast_of
from termsvc.suggest.questions import asked
from termsvc.suggest.rank import read
from termsvc.suggest.text import tokens
import test_suggest_dicom_headers as headers

CID4 = "http://dicom.nema.org/medical/dicom/current/output/chtml/part16/sect_CID_4.html"
suggester, first = headers.suggester, headers.first      # the same fixture and helper as DICOM headers' tests
HAND, THUMB, ABDOMEN, KNEE, PELVIS, NECK = "85562004", "76505004", "818981001", "72696002", "816092008", "45048000"
SHOULDER, INGUINAL, ANKLE, FINGER, LIVER = "16982005", "26893007", "70258002", "7569003", "10200004"


def regions(suggester, name, language):
    return [" ".join(p.alternatives[0]) for p in read(suggester.lexicon, name, language).parts if p.kind == "region"]


def question(suggester, name, language):
    q = read(suggester.lexicon, name, language)
    return [q.segments[k].text for k in sorted(asked(name, tokens(name), q.segments))]


# -- where the question is -----------------------------------------------------------------------------
@pytest.mark.parametrize("name, language, words", [
    ("MRT Knie bei V.a. Erguss", "de", ["bei", "v a", "erguss"]),           # a reason word to the end
    ("CT abdomen ?appendicitis", "en", ["appendicitis"]),                    # a question mark before a word
    ("Echo hals, schildkliernodus?", "nl", ["schildkliernodus"]),           # ... after one: its clause
    ("Rx mano por traumatismo, 4º dedo", "es", ["por", "traumatismo"]),      # to the end of its clause
    ("X-ray left hand, thumb pain", "en", ["thumb", "pain"]),                # a symptom after: its clause
    ("US abdomen RUQ pain", "en", ["pain"]),                                 # ... in the first, it opens one
    ("Thorax pa/lat", "de", [])])
def test_the_clinical_question_runs_from_its_word_or_mark_to_the_end_of_its_clause(suggester, name, language, words):
    assert question(suggester, name, language) == words


# -- what it names is a finding ------------------------------------------------------------------------
@pytest.mark.parametrize("name, language, code", [
    ("Röntgen Hand links bei Schmerzen im Daumen", "de", HAND),
    ("MRI abdomen for right lower quadrant pain", "en", ABDOMEN),
    ("Ecografía de abdomen por dolor en fosa ilíaca derecha", "es", ABDOMEN),
    ("Radiographie du genou gauche pour douleur de la rotule", "fr", KNEE),
    ("Rx bacino per dolore all'anca destra", "it", PELVIS),
    ("MRI knie bij pijn in de enkel", "nl", KNEE),
    ("Rx hombro derecho, ¿fractura de clavícula?", "es", SHOULDER),
    ("Echo hals, schildkliernodus?", "nl", NECK),
    ("X-ray left hand, pain over the thumb", "en", HAND),
    ("Sono Oberbauch, Leber o.B.? V.a. Gallensteine", "de", ABDOMEN)])
def test_a_region_in_the_clinical_question_is_a_finding_beside_the_region_examined(suggester, name, language, code):
    assert first(suggester, name, language) == code


@pytest.mark.parametrize("name, language, code", [
    ("Sonographie bei Knieschmerzen", "de", KNEE), ("Ultrasound for groin lump", "en", INGUINAL),
    ("Rx por dolor de tobillo", "es", ANKLE), ("Echo bij pijn in de lies", "nl", INGUINAL),
    ("Rx mano derecha por traumatismo, 4º dedo", "es", FINGER),          # a clause after the question says it
    ("X-ray thumb, painful hand", "en", THUMB)])
def test_a_region_only_the_question_names_or_one_outside_it_counts_in_full(suggester, name, language, code):
    assert first(suggester, name, language) == code


PANCREAS = "15776009"


@pytest.mark.parametrize("name, language, code", [
    ("TC addome per lo studio del pancreas", "it", PANCREAS),
    ("CT abdomen for assessment of the pancreas", "en", PANCREAS),
    ("MRT Abdomen zur Darstellung des Pankreas", "de", PANCREAS),
    ("IRM abdominale pour bilan du pancréas", "fr", PANCREAS),
    ("RM abdomen para valoración de páncreas", "es", PANCREAS),
    ("CT abdomen ter beoordeling van pancreas", "nl", PANCREAS),
    ("RM abdomen para valoración de lesión hepática", "es", ABDOMEN),   # a finding after it: the question
    ("CT Abdomen bei V.a. Pankreatitis", "de", ABDOMEN)])
def test_the_exams_purpose_after_a_reason_word_names_what_is_examined(suggester, name, language, code):
    assert first(suggester, name, language) == code
    assert (question(suggester, name, language) == []) == (code == PANCREAS)   # no question: the purpose


def test_a_symptom_compound_names_the_region_of_its_finding(suggester):
    assert regions(suggester, "Echo bij buikpijn", "nl") == ["abdomen"]
    assert regions(suggester, "Röntgen Knieschmerzen", "de") == ["knee"]


@pytest.mark.parametrize("name, language, said", [
    ("Rx mani artrite reumatoide", "it", ["hand"]),                 # no misspelt arteries
    ("Scintigraphie osseuse, métastases", "fr", []),                # no misspelt metatarsus
    ("CT Thorax zum Ausschluss einer Lungenembolie", "de", ["thorax"])])
def test_a_diagnosis_is_a_finding_word_not_a_misspelt_region(suggester, name, language, said):
    assert regions(suggester, name, language) == said


# -- contrast --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name, language, said", [
    ("Scanographie du thorax sans injection de produit de contraste", "fr", "without"),
    ("CT Schädel ohne Gabe von Kontrastmittel", "de", "without"),
    ("TC de abdomen sin administración de contraste", "es", "without"),
    ("Remnographie du genou sans et avec injection de produit de contraste", "fr", "with"),   # with and without
    ("MRT Knie ohne KM, mit KM", "de", "with"), ("CT nativ und KM", "de", "with")])
def test_a_negated_contrast_phrase_goes_on_over_its_noun(suggester, name, language, said):
    assert contrast_of(read(suggester.lexicon, name, language)) == said


# -- a Roman numeral counts fingers and toes ---------------------------------------------------------------
@pytest.mark.parametrize("name, language, region", [
    ("Röntgen Finger IV links", "de", "finger"), ("Rx IV dito mano destra", "it", "finger"),
    ("Zehe II-V rechts", "de", "toe"), ("X-ray finger IV/V", "en", "finger")])
def test_a_roman_numeral_beside_a_finger_or_toe_is_no_contrast(suggester, name, language, region):
    q = read(suggester.lexicon, name, language)
    assert contrast_of(q) is None and [" ".join(p.alternatives[0]) for p in q.parts if p.kind == "region"] == [region]


def test_iv_elsewhere_is_still_intravenous_contrast(suggester):
    assert contrast_of(read(suggester.lexicon, "CT Hand IV", "de")) == "with"
    assert contrast_of(read(suggester.lexicon, "TC dito i.v.", "it")) == "with"


def test_the_french_tariff_names_mri_remnographie(suggester):
    _ranked, parts = suggester.suggest("Remnographie du foie", suggester.ranker(CID4, None), "fr", 1)
    assert parts["modality"]["code"] == "MR" and parts["region"]["code"] == LIVER


# -- end to end -------------------------------------------------------------------------------------------
def test_order_entry_names_over_the_cli(db_path, tmp_path):
    rows = [("A1", "Sono Hand rechts bei V.a. Ganglion am Daumen", "de"),
            ("A2", "Rx bacino, dolore all'anca?", "it"),
            ("A3", "IRM du genou sans injection de produit de contraste", "fr")]
    with open(tmp_path / "orders.csv", "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(("source_code", "source_display", "language"))
        w.writerows(rows)
    (tmp_path / "orders.toml").write_text('url = "http://example.org/fhir/ConceptMap/orders"\n'
                                          'source_system = "http://example.org/cs/orders"\n'
                                          f'target_scope = "{CID4}"\n', encoding="utf-8")
    r = CliRunner().invoke(cli, ["mappings", "suggest", os.path.join(tmp_path, "orders.csv"), "--db", db_path,
                                 "--no-default-mappings", "--json", "--top", "1"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    out = {row["source_code"]: row for row in orjson.loads(r.output)["rows"]}
    assert [out[c]["candidates"][0]["code"] for c in ("A1", "A2", "A3")] == [HAND, PELVIS, KNEE]
    assert out["A3"]["parts"]["contrast"] == "without" and out["A3"]["parts"]["modality"]["code"] == "MR"


def test_order_entry_names_over_http(client):
    body = client.post("/mappings/suggest", json={"target_scope": CID4, "top": 1, "names": [
        "US abdomen for right upper quadrant pain", "Röntgen Finger IV rechts"]}).get_json()
    abdomen, finger = body["rows"]
    assert abdomen["candidates"][0]["code"] == ABDOMEN
    assert finger["candidates"][0]["code"] == FINGER and finger["parts"]["contrast"] is None
