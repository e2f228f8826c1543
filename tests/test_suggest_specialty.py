"""Names as the specialty corners of a department write them, report titles and bilingual names
(tests/gold/fresh7_a.csv's misses, fixed by their causes): nuclear medicine's images and tracers,
interventions by the organ they reach (the device and its placement carry nothing), the calcium score,
the voiding cystourethrogram, the brain seen through the fontanelle, long-leg films, cone-beam CT,
defecography, the upper GI series, a report's heading; and the Portuguese `E` of a protocol tree
(plpt_a): *esquerdo* after a region, the conjunction where it joins two words; and the French `d'`, an
elided word, no side."""
import pytest

from termsvc.suggest.rank import read
import test_suggest_dicom_headers as headers

CID = "http://dicom.nema.org/medical/dicom/current/output/chtml/part16/sect_CID_{}.html"
CID4, CID29 = CID.format(4), CID.format(29)
suggester, first = headers.suggester, headers.first      # the same fixture and helper as DICOM headers' tests
LEFT, RIGHT = "7771000", "24028007"
KIDNEY, GALLBLADDER, STOMACH, BILE_DUCT, SPINE, LIVER = "64033007", "28231008", "69695003", "28273000", "421060004", "10200004"
CORONARY, BLADDER_URETHRA, BRAIN, LOWER_LIMB, RECTUM = "41801008", "110837003", "12738006", "61685007", "34402009"
UPPER_GI, SMALL_BOWEL, ENTIRE_BODY, SUBCLAVIAN_VEIN, KNEE = "110861005", "30315005", "38266002", "9454009", "72696002"
LUNG, HEART, COLON, PARATHYROID = "39607008", "80891009", "71854001", "111002"


def parts(suggester, name, language):
    got = suggester.parser.parts(read(suggester.lexicon, name, language))
    return {k: (v["code"] if isinstance(v, dict) else v) for k, v in got.items()}


# -- the Portuguese E ------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["RM^Ombro_E^DP_FS", "RX joelho E", "Mão_E_AP", "TC^Joelho_E^Osso", "RX OMBRO E AP",
                                  "RX ombro E perfil"])
def test_the_portuguese_e_after_a_region_is_the_left_side(suggester, name):
    assert parts(suggester, name, "pt")["laterality"] == LEFT


@pytest.mark.parametrize("name, region", [("RX tórax PA e perfil", "816094009"),
                                          ("TC tórax e abdómen", "416550000"),
                                          ("RX mão e punho", None)])
def test_the_portuguese_e_joining_two_words_stays_the_conjunction(suggester, name, region):
    got = parts(suggester, name, "pt")
    assert got["laterality"] is None
    if region:
        assert got["region"] == region


def test_the_right_side_beside_it_is_unchanged(suggester):
    assert parts(suggester, "RM^Ombro_D^DP_FS", "pt")["laterality"] == RIGHT


@pytest.mark.parametrize("name, language, side", [("Scintigraphie myocardique d'effort", "fr", None),
                                                  ("Rx l'anca", "it", None), ("IRM^GENOU^D", "fr", RIGHT),
                                                  ("Genou D", "fr", RIGHT)])
def test_a_letter_before_an_apostrophe_is_an_elided_word_not_a_side(suggester, name, language, side):
    assert parts(suggester, name, language)["laterality"] == side


# -- interventions name the organ they reach; the device and its placement carry nothing ------------------
@pytest.mark.parametrize("name, language, code", [
    ("Nephrostomie links", "de", KIDNEY), ("Nephrostomy exchange", "en", KIDNEY),
    ("Nefrostomía derecha", "es", KIDNEY), ("Néphrostomie gauche", "fr", KIDNEY),
    ("Nefrostomia sinistra", "it", KIDNEY), ("Nefrostomiekatheter wissel", "nl", KIDNEY),
    ("Percutaneous cholecystostomy", "en", GALLBLADDER), ("Gastrostomie radiologique", "fr", STOMACH),
    ("PTCD Wechsel", "de", BILE_DUCT), ("Vertebroplastia", "es", SPINE), ("Radioembolisatie", "nl", LIVER),
    ("Colocación de port-a-cath en vena subclavia", "es", SUBCLAVIAN_VEIN),
    ("Port-a-cath placement, subclavian vein", "en", SUBCLAVIAN_VEIN)])
def test_an_intervention_names_the_organ_it_reaches(suggester, name, language, code):
    assert first(suggester, name, language) == code


# -- the specialty families, in every language --------------------------------------------------------------
@pytest.mark.parametrize("name, language, code", [
    ("Calcium scoring CT", "en", CORONARY), ("Kalziumscore", "de", CORONARY), ("Puntuación de calcio", "es", CORONARY),
    ("Score de calcium", "fr", CORONARY), ("Score di calcio", "it", CORONARY), ("Kalkscore", "nl", CORONARY),
    ("MCUG", "en", BLADDER_URETHRA), ("MZU", "de", BLADDER_URETHRA), ("CUMS pediátrica", "es", BLADDER_URETHRA),
    ("UCRM", "fr", BLADDER_URETHRA), ("Uretrocistografia", "it", BLADDER_URETHRA), ("MCUG", "nl", BLADDER_URETHRA),
    ("Transfontanellar ultrasound", "en", BRAIN), ("Ecografía transfontanelar", "es", BRAIN),
    ("Échographie transfontanellaire", "fr", BRAIN), ("Sonographie durch die Fontanelle", "de", BRAIN),
    ("Ganzbeinaufnahme im Stehen", "de", LOWER_LIMB), ("Leg length films", "en", LOWER_LIMB),
    ("Goniométrie des membres inférieurs", "fr", LOWER_LIMB), ("Totale beenopname", "nl", LOWER_LIMB),
    ("Defecography", "en", RECTUM), ("Defecografía", "es", RECTUM), ("Défécographie", "fr", RECTUM),
    ("Barium meal", "en", UPPER_GI), ("Magen-Darm-Passage", "de", UPPER_GI), ("TEGD", "es", UPPER_GI),
    ("Maagpassage", "nl", UPPER_GI), ("Transit du grêle", "fr", SMALL_BOWEL), ("Enteroclisi", "it", SMALL_BOWEL),
    ("Squelette complet", "fr", ENTIRE_BODY), ("Esqueleto completo", "es", ENTIRE_BODY),
    ("Lungenventilationsszintigraphie", "de", LUNG), ("V/Q scan", "en", LUNG), ("Longperfusiescintigrafie", "nl", LUNG),
    ("Enema de bario", "es", COLON), ("Lavement opaque", "fr", COLON), ("ETF", "fr", BRAIN),
    ("Pangonométrie", "fr", LOWER_LIMB), ("TEMP-TDM parathyroïdienne", "fr", PARATHYROID),
    ("Myokard-Szintigraphie", "de", HEART), ("Myocardial perfusion SPECT", "en", HEART),
    ("Scintigrafia miocardica da sforzo", "it", HEART), ("Myocardscintigrafie rust en inspanning", "nl", HEART)])
def test_specialty_names_read_as_what_they_image(suggester, name, language, code):
    assert first(suggester, name, language) == code


@pytest.mark.parametrize("name, language", [("Cardiac MRI adenosine stress", "en"), ("Stress-MRT des Herzens", "de"),
                                            ("RM de corazón con estrés farmacológico", "es")])
def test_stress_and_its_agents_are_how_a_cardiac_exam_is_done(suggester, name, language):
    q = read(suggester.lexicon, name, language)
    assert not [p for p in q.parts if p.kind == "word"] and first(suggester, name, language) == HEART


@pytest.mark.parametrize("name, language, code", [
    ("Knochenszintigramm", "de", "NM"), ("Gammagrama óseo", "es", "NM"), ("Scintigramme osseux", "fr", "NM"),
    ("Renogramma", "it", "NM"), ("Lymphoscintigraphy", "en", "NM"), ("Tc-99m sestamibi", "en", "NM"),
    ("68Ga-PSMA", "de", "PT"), ("Ga-68 DOTATOC", "en", "PT"), ("Fluciclovine", "en", "PT"),
    ("Cone beam CT", "nl", "CT"), ("DVT Zähne", "de", "CT"), ("Dentascan", "it", "CT"),
    ("Panoramische foto tanden", "nl", "PX"), ("OPT dentale", "it", "PX"), ("OPT tandfoto", "nl", "PX"),
    ("Tomographie volumique à faisceau conique", "fr", "CT"), ("Venogram", "en", "XA")])
def test_tracers_and_specialty_words_name_the_modality(suggester, name, language, code):
    assert first(suggester, name, language, CID29) == code


# -- a report's heading carries nothing ------------------------------------------------------------------
@pytest.mark.parametrize("title, language", [("Befund: ", "de"), ("Final report - ", "en"), ("Informe: ", "es"),
                                             ("Compte rendu : ", "fr"), ("CR ", "fr"), ("Referto: ", "it"),
                                             ("Verslag ", "nl")])
def test_a_report_title_reads_as_the_exam_it_heads(suggester, title, language):
    exam = {"de": "MRT Knie", "en": "MRI knee", "es": "RM rodilla", "fr": "IRM genou", "it": "RM ginocchio",
            "nl": "MRI knie"}[language]
    assert parts(suggester, title + exam, language) == parts(suggester, exam, language)
    assert parts(suggester, title + exam, language)["modality"] == "MR"
    assert first(suggester, title + exam, language) == KNEE


# -- over HTTP ---------------------------------------------------------------------------------------------
def test_specialty_and_portuguese_names_over_http(client):
    rows = [{"source_display": "Verslag mictiecystografie", "language": "nl"},
            {"source_display": "RM^Joelho_E^T2", "language": "pt"}]
    r = client.post("/mappings/suggest", json={"target_scope": CID4, "rows": rows, "top": 3})
    assert r.status_code == 200
    mcu, knee = r.get_json()["rows"]
    assert mcu["candidates"][0]["code"] == BLADDER_URETHRA and mcu["parts"]["modality"]["code"] == "RF"
    assert knee["candidates"][0]["code"] == KNEE and knee["parts"]["laterality"]["code"] == LEFT
