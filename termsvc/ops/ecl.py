"""A small SNOMED CT Expression Constraint Language (ECL) evaluator.

    evaluate(conn, cs_id, "<< 363679005 |Imaging| MINUS 363679005") -> set of concept ids

Supported: `*`, a concept id with an optional `|term|`, `<` (descendants), `<<`
(descendants or self), `>` (ancestors), `>>` (ancestors or self), `<!` (children),
`>!` (parents), `<<!` / `>>!` (children / parents or self), `^` (members of a
reference set), parentheses, and the binary operators AND (also `,`), OR and MINUS
(case-insensitive). As ECL requires, different binary operators are not mixed
without parentheses; a chain of the same operator is evaluated left to right.
Valid ECL beyond that (refinements `:`, dotted attributes, cardinalities, filters `{{ }}`)
raises Unsupported naming the part: the server cannot say which concepts it selects. Anything
that is no ECL raises ValueError.

Semantics follow the store: hierarchy = `closure` / `edge` of the code system (active
inferred is-a), `^` = `refset_member` rows of the code system, `*` = every active
concept, a bare id = that concept (inactive ones too; unknown ids give no concepts).
"""
import re
import sqlite3
from collections.abc import Iterable
from typing import Any

_TOKEN = re.compile(r"""
    \s*(?:
      (?P<term>\|[^|]*\|)
     |(?P<op><<!|>>!|<<|>>|<!|>!|<|>|\^|\*|\(|\)|,)
     |(?P<id>\d{6,18})
     |(?P<word>[A-Za-z]+)
     |(?P<other>\S)
    )""", re.VERBOSE)

_CHUNK = 500
Token = tuple[str | None, str | None]   # (kind, text); (None, None) past the end
# the parsed expression: ("id", code), ("*",), (operator, node) or (AND|OR|MINUS, node, node)
Node = tuple[Any, ...]


class Unsupported(ValueError):
    """Valid ECL this evaluator does not evaluate (a refinement, a filter...)."""


# the ECL characters that start what this evaluator does not evaluate -> what they start
UNSUPPORTED = {":": "refinements", ".": "dotted attributes", "{": "filters / cardinality", "[": "cardinalities"}


def tokenize(expression: str) -> list[Token]:
    tokens: list[Token] = []
    pos = 0
    expression = expression.strip()
    while pos < len(expression):
        m = _TOKEN.match(expression, pos)
        if not m or m.end() == pos:
            break
        pos = m.end()
        kind = m.lastgroup
        assert kind is not None   # (every alternative of _TOKEN is a named group)
        value = m.group(kind)
        if kind == "term":
            continue  # |term| annotations are ignored
        if kind == "word":
            up = value.upper()
            if up in ("AND", "OR", "MINUS"):
                tokens.append(("bin", up))
                continue
            raise ValueError(f"ECL: unsupported keyword or text {value!r}")
        if kind == "other":
            if value in UNSUPPORTED:
                raise Unsupported(f"ECL: unsupported {UNSUPPORTED[value]} at {value!r} (position {m.start(kind) + 1})")
            hint = {"!": "negation", "=": "attribute values"}.get(value, "syntax")
            raise ValueError(f"ECL: unsupported {hint} at {value!r} (position {m.start(kind) + 1})")
        if kind == "op" and value == ",":
            tokens.append(("bin", "AND"))
            continue
        tokens.append((kind, value))
    if not tokens:
        raise ValueError("ECL: empty expression")
    return tokens


class _Parser:
    def __init__(self, tokens: list[Token]):
        self.t = tokens
        self.i = 0

    def peek(self) -> Token:
        return self.t[self.i] if self.i < len(self.t) else (None, None)

    def take(self) -> Token:
        tok = self.peek()
        self.i += 1
        return tok

    def parse(self) -> Node:
        node = self.compound()
        if self.i != len(self.t):
            raise ValueError(f"ECL: unexpected {self.peek()[1]!r}")
        return node

    def compound(self) -> Node:
        node = self.sub()
        op = None
        while self.peek()[0] == "bin":
            this = self.take()[1]
            if op is not None and this != op:
                raise ValueError(f"ECL: {op} and {this} must not be mixed without parentheses")
            op = this
            node = (op, node, self.sub())
        return node

    def sub(self) -> Node:
        kind, value = self.peek()
        if kind == "op" and value in ("<<!", ">>!", "<<", ">>", "<!", ">!", "<", ">"):
            self.take()
            return (value, self.sub_focus())
        return self.sub_focus()

    def sub_focus(self) -> Node:
        kind, value = self.take()
        if kind == "op" and value == "^":
            return ("^", self.sub_focus_plain())
        if kind == "op" and value == "(":
            node = self.compound()
            if self.take() != ("op", ")"):
                raise ValueError("ECL: missing ')'")
            return node
        self.i -= 1
        return self.sub_focus_plain()

    def sub_focus_plain(self) -> Node:
        kind, value = self.take()
        if kind == "id":
            return ("id", value)
        if kind == "op" and value == "*":
            return ("*",)
        if kind == "op" and value == "(":
            node = self.compound()
            if self.take() != ("op", ")"):
                raise ValueError("ECL: missing ')'")
            return node
        if kind == "op" and value in ("<<", "<", ">>", ">", "<!", ">!", "<<!", ">>!"):
            return (value, self.sub_focus())
        if kind is None:
            raise ValueError("ECL: expression ends early")
        raise ValueError(f"ECL: unexpected {value!r}")


def parse(expression: str) -> Node:
    return _Parser(tokenize(expression)).parse()


class _Eval:
    def __init__(self, conn: sqlite3.Connection, cs_id: int):
        self.c = conn
        self.cs = cs_id
        self._all: set[int] | None = None

    def all_active(self) -> set[int]:
        if self._all is None:
            self._all = {r[0] for r in self.c.execute(
                "SELECT id FROM concept WHERE cs_id=? AND inactive=0", (self.cs,))}
        return self._all

    def _many(self, sql: str, ids: Iterable[int]) -> set[int]:
        out: set[int] = set()
        ids = list(ids)
        for k in range(0, len(ids), _CHUNK):
            part = ids[k:k + _CHUNK]
            out.update(r[0] for r in self.c.execute(sql % ",".join("?" * len(part)), part))
        return out

    def run(self, node: Node) -> set[int]:
        kind = node[0]
        if kind == "id":
            row = self.c.execute("SELECT id FROM concept WHERE cs_id=? AND code=?", (self.cs, node[1])).fetchone()
            return {row[0]} if row else set()
        if kind == "*":
            return set(self.all_active())
        if kind in ("AND", "OR", "MINUS"):
            left = self.run(node[1])
            right = self.run(node[2])
            return left & right if kind == "AND" else left | right if kind == "OR" else left - right
        if kind == "^":
            return self.members(node[1])
        operand = node[1]
        if operand == ("*",):
            return self.wildcard(kind)
        focus = self.run(operand)
        if kind in ("<", "<<"):
            out = self._many("SELECT descendant_id FROM closure WHERE ancestor_id IN (%s)", focus)
        elif kind in (">", ">>"):
            out = self._many("SELECT ancestor_id FROM closure WHERE descendant_id IN (%s)", focus)
        elif kind in ("<!", "<<!"):
            out = self._many("SELECT child_id FROM edge WHERE parent_id IN (%s)", focus)
        else:
            out = self._many("SELECT parent_id FROM edge WHERE child_id IN (%s)", focus)
        if kind in ("<<", ">>", "<<!", ">>!"):
            out |= focus
        return out

    def wildcard(self, kind: str) -> set[int]:
        if kind in ("<<", ">>", "<<!", ">>!"):
            return set(self.all_active())
        col = "descendant_id" if kind in ("<", "<!") else "ancestor_id"
        if kind in ("<!",):
            col = "child_id"
        if kind in (">!",):
            col = "parent_id"
        table = "closure" if kind in ("<", ">") else "edge"
        return {r[0] for r in self.c.execute(
            f"SELECT DISTINCT t.{col} FROM {table} t JOIN concept c ON c.id = t.{col} WHERE c.cs_id=?",
            (self.cs,))}

    def members(self, operand: Node) -> set[int]:
        if operand == ("*",):
            return {r[0] for r in self.c.execute(
                "SELECT DISTINCT concept_id FROM refset_member WHERE cs_id=?", (self.cs,))}
        refsets = self.run(operand)
        codes = self._codes(refsets) if operand[0] != "id" else [operand[1]]
        out: set[int] = set()
        for k in range(0, len(codes), _CHUNK):
            part = codes[k:k + _CHUNK]
            out.update(r[0] for r in self.c.execute(
                "SELECT concept_id FROM refset_member WHERE cs_id=? AND refset IN (%s)"
                % ",".join("?" * len(part)), [self.cs, *part]))
        return out

    def _codes(self, ids: Iterable[int]) -> list[str]:
        out: list[str] = []
        ids = list(ids)
        for k in range(0, len(ids), _CHUNK):
            part = ids[k:k + _CHUNK]
            out.extend(r[0] for r in self.c.execute(
                "SELECT code FROM concept WHERE id IN (%s)" % ",".join("?" * len(part)), part))
        return out


def evaluate(conn: sqlite3.Connection, cs_id: int, expression: str) -> set[int]:
    """Concept ids (of code system `cs_id`) matching the ECL `expression`.
    Raises ValueError for syntax this evaluator does not support."""
    return _Eval(conn, cs_id).run(parse(expression))


__all__ = ["evaluate", "parse", "tokenize"]
