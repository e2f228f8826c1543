"""`termsvc mappings diff`: what changed between two versions of mapping tables - files, folders, or
two revisions of a folder in git - row by row, with status changes, columns, metadata and coverage."""
import json
import os
import subprocess

import pytest
from click.testing import CliRunner

from termsvc.cli import cli
from termsvc.mappings.diff import diff_tables
from termsvc.mappings.table import read_table

LOCAL = "http://ex.test/cs/local"
EU = "http://ex.test/cs/eu"
TOML = f'url = "http://ex.test/cm/{{name}}"\ntitle = "{{title}}"\nsource_system = "{LOCAL}"\ntarget_system = "{EU}"\n'
OLD = """source_code,source_display,target_code,target_display,relationship,no_map,status,comment,author,reviewer,status_date,freq
CHEST,Chest,X1,Chest,equivalent,,draft,,ana,,,10
HEAD,Head,X3,Head,equivalent,,accepted,check side,ana,jo,2026-01-02,1
KNEE,Knee,X4,Knee,equivalent,,accepted,,ana,jo,2026-01-02,2
FOOT,Foot,X2,Abdomen,related-to,,draft,,ana,,,1
CONS,Consulta,,,,yes,accepted,no imaging,ana,jo,2026-01-02,3
"""
NEW = """source_code,source_display,target_code,target_display,relationship,no_map,status,comment,author,reviewer,status_date,freq
CHEST,Chest,X1,Chest,equivalent,,accepted,,ana,jo,2026-03-04,10
HEAD,Head,X3,Head,equivalent,,accepted,,ana,jo,2026-01-02,1
KNEE,Knee,X5,Knee joint,equivalent,,accepted,,ana,jo,2026-01-02,2
CONS,Consulta,,,,yes,accepted,no imaging,ana,jo,2026-01-02,4
0012,Radiografía,X1,Chest,wider,,draft,,bo,,,7
"""


def write(folder, name, text, title="A table"):
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, f"{name}.csv"), "w", encoding="utf-8") as f:
        f.write(text)
    with open(os.path.join(folder, f"{name}.toml"), "w", encoding="utf-8") as f:
        f.write(TOML.format(name=name, title=title))
    return os.path.join(folder, f"{name}.csv")


def diff(*args):
    return CliRunner().invoke(cli, ["mappings", "diff", *map(str, args), "--no-db"])


def test_rows_added_removed_changed_with_status_changes_and_coverage(tmp_path):
    old, new = write(tmp_path / "a", "t", OLD), write(tmp_path / "b", "t", NEW)
    r = diff(old, new, "--json")
    assert r.exit_code == 1, r.output
    (t,) = json.loads(r.output)["tables"]
    assert t["counts"] == {"added": 2, "removed": 2, "changed": 3, "status_changes": 1}
    # KNEE's target changed: matched by source code and target, that is a row removed and a row added
    assert [(a["row"], a["source_code"], a["target_code"]) for a in t["added"]] == [(4, "KNEE", "X5"), (6, "0012", "X1")]
    assert [(a["row"], a["source_code"], a["target_code"]) for a in t["removed"]] == [(4, "KNEE", "X4"), (5, "FOOT", "X2")]
    chest, head, cons = t["changes"]
    assert chest["status"] == {"old": "draft", "new": "accepted", "author": "ana", "reviewer": "jo", "date": "2026-03-04"}
    assert chest["cells"] == [{"column": "status", "old": "draft", "new": "accepted"},
                              {"column": "reviewer", "old": "", "new": "jo"},
                              {"column": "status_date", "old": "", "new": "2026-03-04"}]
    assert head["status"] is None and head["cells"] == [{"column": "comment", "old": "check side", "new": ""}]
    assert cons["new"]["no_map"] and cons["cells"] == [{"column": "freq", "old": "3", "new": "4"}]   # an extra column
    assert (cons["old"]["row"], cons["new"]["row"]) == (6, 5)
    # the coverage of the table's own source codes: before CHEST was a draft, FOOT unaccepted
    before, after = t["coverage"]["before"], t["coverage"]["after"]
    assert (before["total"], before["mapped"], before["no_map"]) == (5, 2, 1)
    assert (after["total"], after["mapped"], after["no_map"]) == (5, 3, 1)
    text = diff(old, new).output
    assert "== t.csv: 2 added, 2 removed, 3 changed (1 status change(s)); coverage 60.0% of 5 -> 80.0% of 5" in text
    assert "  ~ row 2: CHEST 'Chest' -> X1 'Chest' equivalent [accepted]: status draft -> accepted by jo on" \
           " 2026-03-04; status 'draft' -> 'accepted'; reviewer '' -> 'jo'; status_date '' -> '2026-03-04'" in text
    assert "  + row 6: 0012 'Radiografía' -> X1 'Chest' wider [draft]" in text
    assert "  - row 5 (before): FOOT 'Foot' -> X2 'Abdomen' related-to [draft]" in text
    assert "  ~ row 5 (was 6): CONS 'Consulta' -> no map [accepted]: freq '3' -> '4'" in text


def test_nothing_changed_is_exit_0_and_bad_input_exit_2(tmp_path):
    old, new = write(tmp_path / "a", "t", OLD), write(tmp_path / "b", "t", OLD)
    r = diff(old, new)
    assert r.exit_code == 0 and "== t.csv: unchanged" in r.output and "1 table(s): 0 changed" in r.output
    # the same rows written otherwise (`;`, CRLF, a BOM, the columns in another order) are the same rows
    moved = [line.split(",") for line in OLD.splitlines()]
    text = "\r\n".join(";".join(cells[1:] + cells[:1]) for cells in moved) + "\r\n"
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "t.csv").write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    (tmp_path / "c" / "t.toml").write_text(TOML.format(name="t", title="A table"))
    assert diff(old, tmp_path / "c" / "t.csv").exit_code == 0
    assert diff(old, tmp_path / "nope.csv").exit_code == 2
    assert diff(old).exit_code == 2                      # a usage error
    assert diff(old, new, "--git", "HEAD").exit_code == 2


def test_folders_tables_added_removed_renamed_columns_and_metadata(tmp_path):
    write(tmp_path / "a", "keep", OLD)
    write(tmp_path / "a", "gone", OLD)
    write(tmp_path / "a", "old-name", OLD, title="Before")
    write(tmp_path / "b", "keep", OLD.replace(",freq\n", ",frequency\n"))
    write(tmp_path / "b", "new", NEW)
    renamed = write(tmp_path / "b", "new-name", OLD, title="After")
    with open(renamed.replace(".csv", ".toml"), "w") as f:      # the same ConceptMap: the table was renamed
        f.write(TOML.format(name="old-name", title="After"))
    r = diff(tmp_path / "a", tmp_path / "b", "--json")
    assert r.exit_code == 1
    tables = {t["name"]: t for t in json.loads(r.output)["tables"]}
    assert tables["gone"]["new_file"] is None and len(tables["gone"]["removed"]) == 5
    assert tables["new"]["old_file"] is None and len(tables["new"]["added"]) == 5
    keep = tables["keep"]
    assert keep["columns_added"] == ["frequency"] and keep["columns_removed"] == ["freq"]
    assert keep["counts"]["changed"] == 5 and keep["changes"][0]["cells"] == [
        {"column": "freq", "old": "10", "new": ""}, {"column": "frequency", "old": "", "new": "10"}]
    moved = tables["new-name"]
    assert (moved["old_file"], moved["new_file"]) == ("old-name.csv", "new-name.csv")
    assert moved["metadata"] == [{"key": "title", "old": "Before", "new": "After"}] and moved["counts"]["changed"] == 0
    text = diff(tmp_path / "a", tmp_path / "b").output
    assert "== gone.csv: table removed (5 rows)" in text and "== new.csv: new table (5 rows)" in text
    assert "  columns added: frequency; removed: freq" in text and "  metadata title: 'Before' -> 'After'" in text


def test_html_report(tmp_path):
    old, new = write(tmp_path / "a", "t", OLD), write(tmp_path / "b", "t", NEW.replace("Radiografía", "<b>Rx</b>"))
    page = tmp_path / "d.html"
    r = diff(old, new, "--html", page)
    assert r.exit_code == 1 and "== t.csv" in r.output
    html = page.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and "<script" not in html
    assert "&lt;b&gt;Rx&lt;/b&gt;" in html and "<b>Rx</b>" not in html
    assert "status draft &rarr; accepted by jo on 2026-03-04" in html
    assert '<b>comment</b>: <del class="old">check side</del> &rarr; <ins class="new"></ins>' in html
    assert "coverage 60.0% of 5 &rarr; 80.0% of 5" in html
    r = diff(old, new, "--html", "-")
    assert r.output.startswith("<!DOCTYPE html>")


def test_rows_of_one_key_are_matched_in_order(tmp_path):
    header = "source_code,target_code,relationship,comment\n"
    old = read_table(write(tmp_path / "a", "t", header + "A,X1,equivalent,first\nA,X1,equivalent,second\n"))
    new = read_table(write(tmp_path / "b", "t", header + "A,X1,equivalent,first\nA,X1,equivalent,2nd\n"
                                                           "A,X1,equivalent,third\n"))
    d = diff_tables(old, new)
    assert [c.cells for c in d.changed] == [[{"column": "comment", "old": "second", "new": "2nd"}]]
    assert [r["comment"] for r in d.added] == ["third"] and d.removed == []


# -- git ------------------------------------------------------------------------------------------

def git(repo, *args):
    subprocess.run(["git", "-c", "user.name=T", "-c", "user.email=t@example.org", "-c", "commit.gpgsign=false",
                    *args], cwd=repo, check=True, capture_output=True)


@pytest.fixture
def repo(tmp_path):
    """A department's git repository of tables (in tables/): three commits."""
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "README").write_text("tables\n")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "start")                         # HEAD~2: no tables yet
    write(repo / "tables", "t", OLD)
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "first version")                 # HEAD~1
    write(repo / "tables", "t", NEW)
    write(repo / "tables", "u", OLD)
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "reviewed")                      # HEAD
    return repo


def test_git_revisions_of_a_folder(repo):
    r = diff("--git", "HEAD~1..HEAD", repo / "tables", "--json")
    assert r.exit_code == 1, r.output
    data = json.loads(r.output)
    assert data["old"] == f"HEAD~1:{repo / 'tables'}" and data["new"] == f"HEAD:{repo / 'tables'}"
    tables = {t["name"]: t for t in data["tables"]}
    assert tables["t"]["counts"] == {"added": 2, "removed": 2, "changed": 3, "status_changes": 1}
    assert tables["u"]["old_file"] is None
    # before the folder existed: every table is new; the working tree (unchanged) against HEAD: nothing
    assert {t["old_file"] for t in json.loads(diff("--git", "HEAD~2..HEAD", repo / "tables", "--json").output)["tables"]} \
        == {None}
    assert diff("--git", "HEAD", repo / "tables").exit_code == 0
    # an edit not yet committed: REV.. is the working tree
    write(repo / "tables", "u", OLD.replace("check side", "left"))
    r = diff("--git", "HEAD..", repo / "tables")
    assert r.exit_code == 1 and "comment 'check side' -> 'left'" in r.output
    # one table of the folder, from anywhere in the repository
    r = diff("--git", "HEAD~1..HEAD", repo / "tables" / "t.csv", "--json")
    assert [t["name"] for t in json.loads(r.output)["tables"]] == ["t"]


def test_git_errors_are_exit_2(repo, tmp_path):
    for args, message in ((("--git", "nosuchrev..HEAD", repo / "tables"), "nosuchrev"),
                          (("--git", "--output=x", repo / "tables"), "is not a range of revisions"),
                          (("--git", "HEAD...HEAD", repo / "tables"), "is not a range of revisions"),
                          (("--git", "HEAD", tmp_path / "no" / "where"), "no such folder")):
        r = diff(*args)
        assert r.exit_code == 2 and message in r.output, (args, r.output)
    (tmp_path / "plain").mkdir()
    r = diff("--git", "HEAD", tmp_path / "plain")
    assert r.exit_code == 2 and "not a git repository" in r.output.lower()
