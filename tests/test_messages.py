"""The message catalogue (termsvc/fhir/messages.py): every message id the code names is in it (a
typo would be a 500 on the path that uses it), every entry is used, HL7 ids travel with their
issues and the others do not."""
import pathlib
import re

from termsvc.fhir import messages
from termsvc.fhir.outcome import MESSAGE_ID_EXT, render_issue

ROOT = pathlib.Path(__file__).resolve().parents[1] / "termsvc"
# the message id of messages.text/error("ID", ...), messages.issue(severity, code, "ID", ...) and
# Result.add(severity, code, "ID", ...)
USES = [re.compile(r'messages\.(?:text|error)\(\s*"([\w-]+)"[,)]'),
        re.compile(r'(?:messages\.issue|\.add)\(\s*"\w+",\s*"[\w-]+",\s*"([\w-]+)"[,)]')]


def sources() -> str:
    return "\n".join(p.read_text() for p in ROOT.rglob("*.py") if p.name != "messages.py")


def test_every_message_id_used_is_in_the_catalogue_and_every_entry_is_used():
    code = sources()
    catalogue = set(messages.HL7) | set(messages.OWN)
    used = {m for pattern in USES for m in pattern.findall(code)}
    assert used and used - catalogue == set()
    # an entry is used where its id is written (MSG_* ids are made of the status word: draft, ...)
    assert {m for m in catalogue if f'"{m}"' not in code and not m.startswith("MSG_")} == set()


def test_an_issue_carries_its_hl7_id_and_only_an_hl7_id():
    i = messages.issue("error", "not-found", "UNKNOWN_CODESYSTEM", "not-found", "Coding.system", system="http://x")
    assert i.message_id == "UNKNOWN_CODESYSTEM" and i.expression == ["Coding.system"]
    assert i.text == "A definition for CodeSystem 'http://x' could not be found, so the code cannot be validated"
    assert render_issue(i)["extension"] == [{"url": MESSAGE_ID_EXT, "valueString": "UNKNOWN_CODESYSTEM"}]
    own = messages.issue("error", "invalid", "param-simple", name="count")
    assert own.message_id is None and "extension" not in render_issue(own)
    assert own.text == "The parameter 'count' must be a simple value"
    e = messages.error("VALUESET_VERSION_CHECK", issue_code="exception", tx_type="version-error", version="2",
                       system="http://x", wanted="1.x")
    assert e.message_id == "VALUESET_VERSION_CHECK" and e.status == 400 and e.code == "exception"


def test_version_lists_read_as_the_hl7_messages_write_them():
    assert messages.version_list([]) == ""
    assert messages.version_list(["1.0.0"]) == "1.0.0"
    assert messages.version_list(["1.0.0", "1.2.0"]) == "1.0.0 or 1.2.0"
    assert messages.version_list(["0.1", "1.0.0", "1.2.0"]) == "0.1, 1.0.0 or 1.2.0"
