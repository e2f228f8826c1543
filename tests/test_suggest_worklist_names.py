"""Names as worklists, tariffs and orders write them (tests/gold/fresh8_a.csv's misses, fixed by their
causes): a name of 16 characters (DICOM's SH) cut mid-word, a word cut in a phrase, one letter replaced,
a misspelling that another language's stop word has the stem of, the cranium of an ultrasound (the brain),
angioplasty (an artery), an implanted port (a device), the babygram, regions by their initials between
slashes, the Polish `klatka`, the clinical question in Polish and Portuguese, the word for side; and from
fresh8_b's, read after its one measurement: a cut word another language reads by its stem, whole-body
diffusion MR, the cranial ultrasound as orders shorten it."""
import pytest

import test_suggest_dicom_headers as headers
from test_suggest_specialty import parts

CID = "http://dicom.nema.org/medical/dicom/current/output/chtml/part16/sect_CID_{}.html"
CID4, CID29 = CID.format(4), CID.format(29)
suggester, first = headers.suggester, headers.first      # the same fixture and helper as DICOM headers' tests
LEFT, RIGHT = "7771000", "24028007"
KNEE, PELVIS, SHOULDER, AXILLA, RIB = "72696002", "816092008", "16982005", "91470000", "113197003"
BRAIN, SKULL, HEAD, ENTIRE_BODY, THORAX, ABDOMEN = "12738006", "89546000", "69536005", "38266002", "816094009", "818981001"
RENAL_ARTERY, CORONARY, SUBCLAVIAN_VEIN, PORTAL_VEIN = "2841007", "41801008", "9454009", "32764006"
ABDOMEN_PELVIS, CAP, NCAP = "818982008", "416775004", "416319003"


# -- cut at 16 characters -----------------------------------------------------------------------------------
@pytest.mark.parametrize("name, language, part, code", [
    ("IRM DU GENOU GAU", "fr", "laterality", LEFT),       # gauche
    ("CT ABDOMEN PELVI", "en", "region", ABDOMEN_PELVIS),  # pelvis: in English too
    ("RODILLA RESONANC", "es", "modality", "MR"),          # resonancia
    ("IRM GENOU AVEC P", "fr", "contrast", "with"),        # a word of a contrast phrase
])
def test_a_name_of_16_characters_ends_in_a_word_cut_short(suggester, name, language, part, code):
    assert len(name) == 16
    assert parts(suggester, name, language)[part] == code


def test_a_cut_word_another_language_reads_by_its_stem_is_still_cut(suggester):
    assert parts(suggester, "MRT SCHULTER REC", "de")["laterality"] == RIGHT     # rechts, not the Polish rece (hands)


def test_a_word_cut_inside_a_phrase_is_completed_to_the_phrase(suggester):
    assert parts(suggester, "IMAGERIE PAR RES", "fr")["modality"] == "MR"     # ... resonance magnetique


def test_a_name_of_another_length_is_not_completed(suggester):
    assert parts(suggester, "IRM DU GENOU GA", "fr")["laterality"] is None          # 15: `ga` is what it says


# -- misspellings ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name, language, code", [("Rö Beckan", "de", PELVIS), ("RX spolla", "it", SHOULDER),
                                                  ("Radio du bassim", "fr", PELVIS)])
def test_one_letter_replaced_in_a_word_of_six_letters_is_a_slip(suggester, name, language, code):
    assert first(suggester, name, language) == code


def test_a_shorter_word_with_a_letter_replaced_is_another_word(suggester):
    assert first(suggester, "hueco axilar", "es") == AXILLA       # not `hueso`, a bone


def test_a_misspelling_in_the_names_language_beats_another_languages_stop_word(suggester):
    got = parts(suggester, "Rx cadrera dcha", "es")        # cadera, not the French `cadre` (a reason)
    assert got["region"] == "29836001" and got["laterality"] == RIGHT


# -- the cranium of an ultrasound is the brain ------------------------------------------------------------------
@pytest.mark.parametrize("name, language, code", [
    ("Schädelsonographie", "de", BRAIN), ("Sono Schädel Säugling", "de", BRAIN), ("Ecografia cranio neonato", "it", BRAIN),
    ("Échographie du crâne nouveau-né", "fr", BRAIN),
    ("Head US neonate", "en", BRAIN), ("USG przezciemiączkowe", "pl", BRAIN), ("Sono Schädel Frühchen", "de", BRAIN),
    ("Echo schedel prematuur", "nl", BRAIN),        # the premature infant carries nothing (`Frühgeb|orene`: no ear)
    ("Radio du crâne", "fr", SKULL), ("Schädel-CT", "de", HEAD), ("Rx craneo", "es", SKULL)])
def test_the_cranium_of_an_ultrasound_is_the_brain(suggester, name, language, code):
    assert first(suggester, name, language) == code


# -- angioplasty is of an artery; a port is a device ----------------------------------------------------------
@pytest.mark.parametrize("name, language, code", [
    ("Renal angioplasty", "en", RENAL_ARTERY), ("Angioplastie rénale", "fr", RENAL_ARTERY),
    ("Angioplastica renale sinistra", "it", RENAL_ARTERY), ("Coronary angioplasty", "en", CORONARY),
    ("PTA Vena subclavia links", "de", SUBCLAVIAN_VEIN)])          # a vein the name says stays the vein
def test_angioplasty_names_the_artery_of_the_organ_beside_it(suggester, name, language, code):
    assert first(suggester, name, language) == code


@pytest.mark.parametrize("name, language", [("Impianto port", "it"), ("Port-Implantation", "de"),
                                            ("Port insertion", "en"), ("Colocación de port", "es")])
def test_an_implanted_port_is_a_device_not_the_portal_vein(suggester, name, language):
    assert first(suggester, name, language) != PORTAL_VEIN
    assert parts(suggester, name, language)["region"] is None


@pytest.mark.parametrize("name, language", [("Vena porta", "it"), ("tronc porte", "fr"), ("veine porte", "fr")])
def test_the_portal_vein_is_still_the_portal_vein(suggester, name, language):
    assert first(suggester, name, language) == PORTAL_VEIN


# -- the babygram, initials between slashes, the Polish klatka -----------------------------------------------
@pytest.mark.parametrize("name, language", [("Babygramm", "de"), ("babygramme", "fr"), ("Babygram neonato", "it")])
def test_the_babygram_is_a_radiograph_of_the_whole_body(suggester, name, language):
    got = parts(suggester, name, language)
    assert got["region"] == ENTIRE_BODY and got["modality"] == "DX"


@pytest.mark.parametrize("name, language", [("Skeletal survey NAI", "en"), ("Bilan squelettique", "fr"),
                                            ("Serie ósea infantil", "es"), ("Skelettstatus Kind", "de")])
def test_the_skeletal_survey_is_a_radiograph_of_the_whole_body(suggester, name, language):
    got = parts(suggester, name, language)
    assert got["region"] == ENTIRE_BODY and got["modality"] == "DX"


def test_the_french_body_scanner_is_a_whole_body_ct(suggester):
    got = parts(suggester, "Body scanner polytraumatisé", "fr")
    assert got["region"] == ENTIRE_BODY and got["modality"] == "CT"


@pytest.mark.parametrize("name", ["WB_DWIBS", "DWIBS^Staging", "PET-CT WB"])
def test_whole_body_as_protocols_abbreviate_it(suggester, name):
    assert first(suggester, name, "en") == ENTIRE_BODY


@pytest.mark.parametrize("name, code", [("CT C/A/P", CAP), ("CT T/A/P", CAP), ("CT N/C/A/P w contrast", NCAP),
                                        ("MRI C/T/L spine", "421060004")])
def test_regions_by_their_initials_between_slashes(suggester, name, code):
    assert first(suggester, name, "en") == code


def test_the_polish_cage_alone_is_the_thorax(suggester):
    assert first(suggester, "TK klatki", "pl") == THORAX


# -- the clinical question in Polish and Portuguese; findings in the other languages ---------------------------
@pytest.mark.parametrize("name, language, code", [
    ("RTG klatki ?zapalenie płuc", "pl", THORAX), ("TK głowy z powodu upadku", "pl", HEAD),
    ("TC crânio por queda", "pt", HEAD), ("Rx tórax por suspeita de pneumonia", "pt", THORAX),
    ("CT Schädel Blutung", "de", HEAD), ("CT head ?SAH", "en", HEAD)])
def test_the_clinical_question_names_a_finding_not_what_is_imaged(suggester, name, language, code):
    assert first(suggester, name, language) == code


# -- the word for side ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name, language, side", [("Radio genou côté gauche", "fr", LEFT),
                                                  ("RX spalla lato dx", "it", RIGHT), ("Rö Knie re.seitig", "de", RIGHT)])
def test_the_word_for_side_carries_nothing_and_the_french_side_is_no_rib(suggester, name, language, side):
    got = parts(suggester, name, language)
    assert got["laterality"] == side and got["region"] in (KNEE, SHOULDER)


@pytest.mark.parametrize("name", ["côtes droites", "Radio côtes G", "gril costal gauche"])
def test_the_ribs_are_still_the_ribs(suggester, name):
    assert first(suggester, name, "fr") == RIB


# -- over HTTP ---------------------------------------------------------------------------------------------
def test_worklist_names_over_http(client):
    rows = [{"source_display": "MRI CERVICAL SPI", "language": "en"},
            {"source_display": "Schädelsonographie", "language": "de"},
            {"source_display": "Renal angioplasty", "language": "en"},
            {"source_display": "Impianto port", "language": "it"}]
    r = client.post("/mappings/suggest", json={"target_scope": CID4, "rows": rows, "top": 3})
    assert r.status_code == 200
    spine, brain, artery, port = r.get_json()["rows"]
    assert spine["candidates"][0]["code"] == "122494005" and spine["parts"]["modality"]["code"] == "MR"
    assert brain["candidates"][0]["code"] == BRAIN and brain["parts"]["modality"]["code"] == "US"
    assert artery["candidates"][0]["code"] == RENAL_ARTERY
    assert port["parts"]["region"] is None and PORTAL_VEIN not in [c["code"] for c in port["candidates"]]
