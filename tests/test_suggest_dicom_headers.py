"""Names as DICOM headers carry them (tests/gold/fresh5_a.csv's misses, fixed by their causes): vendor
protocol trees with carets (`Abdomen^Leber_3Phasen`), the plane of a sequence beside a region's Latin
name (`t1_se_cor`), angiography of the lung in every language, and the English lower leg and forearm."""
import pytest

from termsvc.store.reader import Store
from termsvc.suggest.lexicon import Lexicon
from termsvc.suggest.rank import read
from termsvc.suggest.service import Suggester

CID = "http://dicom.nema.org/medical/dicom/current/output/chtml/part16/sect_CID_{}.html"
CID4 = CID.format(4)
ELBOW, HEART, LIVER, ABDOMEN, THORAX, SELLA = "16953009", "80891009", "10200004", "818981001", "816094009", "42575006"
CORONARY, PULMONARY_ARTERY, LUNG = "41801008", "81040000", "39607008"
LOWER_LEG, FOREARM, THIGH = "30021000", "14975008", "68367000"


@pytest.fixture(scope="module")
def suggester(db_path):
    s = Suggester(Store(db_path), Lexicon.load())
    yield s
    s.close()


def first(suggester, name, language, scope=CID4):
    ranked, _parts = suggester.suggest(name, suggester.ranker(scope, None), language, 5)
    return ranked[0].candidate.code if ranked else None


def kinds(suggester, name, language):
    return {s.text: sorted(s.kinds()) for s in read(suggester.lexicon, name, language).segments}


# -- `cor`: the coronal plane among protocol words, the heart elsewhere -----------------------------
@pytest.mark.parametrize("name, language", [("Ellenbogen_re^t1_se_cor", "de"), ("ELBOW_RT^t1_se_cor", "en"),
                                            ("GOMITO_DX^pd_fs_cor_3mm", "it")])
def test_a_plane_beside_sequence_words_is_no_region(suggester, name, language):
    assert kinds(suggester, name, language)["cor"] == ["stop"]
    assert first(suggester, name, language) == ELBOW


@pytest.mark.parametrize("name, language", [("cor", "nl"), ("MRT Cor KM", "de"), ("Cor", "de")])
def test_the_plane_word_alone_or_among_content_words_keeps_its_meaning(suggester, name, language):
    assert kinds(suggester, name, language)["cor"] == ["region"]
    assert first(suggester, name, language) == HEART


def test_a_plane_beside_a_contrast_word_is_a_plane_where_the_name_says_another_region(suggester):
    assert kinds(suggester, "Sella^dyn_KM_cor", "de")["cor"] == ["stop"]
    assert first(suggester, "Sella^dyn_KM_cor", "de") == SELLA


# -- a vendor's protocol tree: the region of its last level names what is imaged ----------------------
@pytest.mark.parametrize("name, language, code", [
    ("Abdomen^Leber_3Phasen", "de", LIVER), ("Leber^Abdomen_3Phasen", "de", ABDOMEN),
    ("ADDOME^Fegato_Trifasico", "it", LIVER), ("Thorax^01_Thorax_KM_Erw", "de", THORAX),
    ("TC TORACE^AngioTC_polmonare", "it", PULMONARY_ARTERY)])
def test_the_last_level_of_a_protocol_tree_names_the_region(suggester, name, language, code):
    assert first(suggester, name, language) == code


def test_without_a_caret_two_regions_are_weighed_as_before(suggester):
    assert first(suggester, "TC torace polmone", "it") in (THORAX, LUNG)
    assert first(suggester, "Abdomen Leber", "de") != PULMONARY_ARTERY


def test_a_guess_on_the_last_level_does_not_outweigh_the_region_of_the_tree(suggester):
    # `Prospettico` (ECG-gated prospectively) is no misspelt prostate, and weighs nothing on the tree
    assert kinds(suggester, "CORONARIE^CardioTC_Prospettico", "it")["prospettico"] == ["stop"]
    assert first(suggester, "CORONARIE^CardioTC_Prospettico", "it") == CORONARY
    assert first(suggester, "CORONARIE^CardioTC_Prospetico", "it") == CORONARY


# -- an angiography of the lung is of the pulmonary arteries, in every language -----------------------
@pytest.mark.parametrize("name, language", [
    ("AngioTC polmonare", "it"), ("Angio-TC polmonari", "it"), ("angioTAC pulmonar", "es"),
    ("ANGIO TC PULMONAR", "es"), ("Angioscanner pulmonaire", "fr"), ("angio-TDM pulmonaire", "fr"),
    ("CT-Pulmonalisangiographie", "de"), ("Angio-CT pulmonal", "de"), ("CTA longen", "nl"),
    ("CT angiografie longen", "nl"), ("CT pulmonary angiography", "en"), ("PULMONARY CTA", "en")])
def test_an_angiography_of_the_lung_is_of_the_pulmonary_arteries(suggester, name, language):
    assert first(suggester, name, language) == PULMONARY_ARTERY
    parts = suggester.parser.parts(read(suggester.lexicon, name, language))
    assert parts["modality"]["code"] == "CT" and parts["contrast"] == "with"


def test_a_catheter_pulmonary_angiography_is_x_ray_angiography(suggester):
    for name, language in (("Angiografia polmonare", "it"), ("Pulmonary angiogram", "en"),
                           ("arteriographie pulmonaire", "fr")):
        assert first(suggester, name, language) == PULMONARY_ARTERY
        assert suggester.parser.parts(read(suggester.lexicon, name, language))["modality"]["code"] == "XA"


# -- the English leg below the knee, the arm below the elbow -----------------------------------------
@pytest.mark.parametrize("name, code", [("LOWER_LEG^Runoff_Stn3", LOWER_LEG), ("Lower leg LT", LOWER_LEG),
                                        ("LWR LEG RT", LOWER_LEG), ("Lower arm", FOREARM), ("UPPER LEG", THIGH)])
def test_english_segments_of_the_limbs(suggester, name, code):
    assert first(suggester, name, "en") == code


def test_a_department_lexicon_may_name_its_own_plane_words(db_path, tmp_path):
    folder = tmp_path / "maps"
    (folder / "lexicon").mkdir(parents=True)
    (folder / "lexicon" / "de.csv").write_text("term,meaning,kind\nkopf,,plane\n", encoding="utf-8")
    lexicon = Lexicon.load([str(folder)])
    assert [s.kinds() for s in read(lexicon, "Knie^t1_kopf", "de").segments][-1] == {"stop"}
    assert [s.kinds() for s in read(lexicon, "Kopf", "de").segments][-1] == {"region"}
