#!/usr/bin/python3
"""abi.py — tcpserver's C ABI described once: read from the public header, every copy generated.

The one description is the header itself (dll/include/tcpserver.h): its declarations, their
reference docs, and a few tags in those doc comments for the facts C does not say (@since,
@bool, @out, @array, @bytes, @default, @range, @family — tools/abi/README.md explains them).
This script parses the header strictly (a construct it does not understand is an error naming
the line, never skipped) and writes or checks every file derived from it: the export list
(dll/tcpserver.def), the engine's option table, the raw layers of the Python, C# and Pascal
bindings, and a C++ file through which the compiler confirms what was parsed.

    python3 tools/abi/abi.py --write        regenerate every derived file
    python3 tools/abi/abi.py --check        exit 1, naming each stale file, if one is out of date
    python3 tools/abi/abi.py --pin tools/abi/api-1.2.json
                                            exit 1 if an item of that frozen API changed or went
    python3 tools/abi/abi.py --dump         the parsed description as JSON
    python3 tools/abi/abi.py --snapshot F   freeze the current API into F (once per release)
    --header PATH                           describe another header written to the same
                                            conventions (e.g. the cluster library's); only
                                            tcpserver.h has derived files so far
    --root DIR                              the repository to read and write (default: this one)

Every run also checks the header against the frozen snapshots in tools/abi (api-*.json): a
change to a frozen item stops --write and --check too. Standard library only (Python 3.8+).
Called by hand and by CTest (tests/abi); single-threaded.
"""

from __future__ import annotations

import argparse
import ast
import difflib
import json
import re
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_HEADER = "dll/include/tcpserver.h"
WRITE_COMMAND = "python3 tools/abi/abi.py --write"

Version = Tuple[int, int]
V1_0: Version = (1, 0)


class AbiError(Exception):
    """A problem in the header or a derived file: where it is, what is wrong, what to do."""


# ==========================================================================================
# Scanning: the header's text as comments, directives, declarations and struct members, each
# with its lines, so doc comments can be attached by position.
# ==========================================================================================

@dataclass
class Comment:
    text: str            # without /* */ and the leading " * " of each line; lines kept
    first: int           # line of the opening /*
    last: int            # line of the closing */
    pos: int             # offset of the opening /*
    trailing: bool       # code precedes it on its first line
    owner: Optional["Item"] = None
    documents: List["Item"] = field(default_factory=list)


@dataclass
class Item:
    kind: str            # "pp" (a directive), "decl" (ends with ';' at file level), "field"
    text: str            # tokens separated by single spaces, comments removed
    first: int
    last: int
    start: int
    end: int
    conds: Tuple[str, ...]                    # conditions of the enclosing #if blocks
    fields: List["Item"] = field(default_factory=list)
    trailing: List[Comment] = field(default_factory=list)
    doc: Optional[Comment] = None             # the doc comment of the run it belongs to
    doc_first: bool = False                   # the first item of that run

    def end_line(self) -> int:
        return max([self.last] + [c.last for c in self.trailing])


def tokens_of(text: str) -> List[str]:
    return re.findall(r"\w+|[^\w\s]", text)


def clean_comment(body: str) -> str:
    lines = []
    for raw in body.split("\n"):
        line = raw.strip()
        if line.startswith("*") and not line.startswith("*/"):
            line = line[1:]
        lines.append(line.strip())
    return "\n".join(lines)


def scan(where: str, text: str) -> Tuple[List[Item], List[Comment]]:
    """Splits the header into items and comments; raises AbiError for what C allows but this
    tool does not understand (nested braces, initializers, directives inside declarations)."""
    items: List[Item] = []
    comments: List[Comment] = []
    conds: List[str] = []
    i, n, line = 0, len(text), 1
    code_on_line = False
    decl: List[str] = []
    decl_first = decl_start = 0
    member: List[str] = []
    member_first = member_start = 0
    members: List[Item] = []
    depth = 0

    def fail(at: int, message: str) -> None:
        raise AbiError(f"{where}:{at}: {message}")

    def read_comment(j: int, at: int, trailing: bool) -> Tuple[Comment, int, int]:
        if text.startswith("//", j):
            end = text.find("\n", j)
            end = n if end < 0 else end
            c = Comment(text[j + 2:end].strip(), at, at, j, trailing)
            comments.append(c)
            return c, end, at
        end = text.find("*/", j + 2)
        if end < 0:
            fail(at, "this comment is never closed")
        body = text[j + 2:end]
        c = Comment(clean_comment(body), at, at + body.count("\n"), j, trailing)
        comments.append(c)
        return c, end + 2, c.last

    while i < n:
        ch = text[i]
        if ch == "\n":
            line += 1
            code_on_line = False
            if decl:
                decl.append(" ")
            if member:
                member.append(" ")
            i += 1
            continue
        if text.startswith("/*", i) or text.startswith("//", i):
            _, i, line = read_comment(i, line, code_on_line)
            continue
        if ch == "#" and not code_on_line:
            if decl:
                fail(line, "a preprocessor directive inside a declaration is not understood")
            first, start, j = line, i, i
            parts: List[str] = []
            own: List[Comment] = []
            while j < n and text[j] != "\n":
                if text.startswith("/*", j) or text.startswith("//", j):
                    c, j, line = read_comment(j, line, True)
                    own.append(c)
                    parts.append(" ")
                    continue
                if text.startswith("\\\n", j):
                    parts.append(" ")
                    j += 2
                    line += 1
                    continue
                parts.append(text[j])
                j += 1
            directive = " ".join("".join(parts).split())
            item = Item("pp", directive, first, line, start, j, tuple(conds))
            for c in own:
                c.owner = item
                item.trailing.append(c)
            items.append(item)
            m = re.match(r"#\s*(\w+)\s*(.*)$", directive)
            if not m:
                fail(first, f"a directive abi.py does not understand: {directive}")
            keyword, rest = m.group(1), m.group(2).strip()
            if keyword == "if":
                conds.append(rest)
            elif keyword == "ifdef":
                conds.append(f"defined({rest})")
            elif keyword == "ifndef":
                conds.append(f"!defined({rest})")
            elif keyword in ("elif", "else", "endif"):
                if not conds:
                    fail(first, f"#{keyword} without #if")
                if keyword == "elif":
                    conds[-1] = rest
                elif keyword == "else":
                    conds[-1] = f"!({conds[-1]})"
                else:
                    conds.pop()
            i = j
            code_on_line = True
            continue
        if ch.isspace():
            if decl:
                decl.append(" ")
            if member:
                member.append(" ")
            i += 1
            continue
        code_on_line = True
        if any("__cplusplus" in c for c in conds):
            # Only the extern "C" braces live there; they are not declarations.
            end = text.find("\n", i)
            end = n if end < 0 else end
            code = text[i:end].strip()
            if code not in ('extern "C" {', "}"):
                fail(line, "only 'extern \"C\" {' or '}' may stand in an #ifdef __cplusplus "
                           f"block, not: {code}")
            i = end
            continue
        if not decl:
            decl_first, decl_start = line, i
        if ch == "{":
            if depth:
                fail(line, "nested braces: only flat struct definitions are understood")
            depth = 1
            decl.append(ch)
        elif ch == "}":
            if depth != 1:
                fail(line, "'}' without '{'")
            if member:
                fail(line, f"a struct member without ';': {''.join(member).strip()}")
            depth = 0
            decl.append(ch)
        elif ch == ";":
            if depth == 1:
                if not member:
                    fail(line, "an empty struct member (';' alone)")
                item = Item("field", " ".join(tokens_of("".join(member))), member_first, line,
                            member_start, i + 1, tuple(conds))
                members.append(item)
                items.append(item)
                member = []
                decl.append(ch)
            else:
                decl.append(ch)
                items.append(Item("decl", " ".join(tokens_of("".join(decl))), decl_first, line,
                                  decl_start, i + 1, tuple(conds), members))
                decl, members = [], []
        elif re.match(r"[\w*,()\[\]]", ch):
            decl.append(ch)
            if depth == 1:
                if not member:
                    member_first, member_start = line, i
                member.append(ch)
        else:
            fail(line, f"unexpected character {ch!r}: abi.py understands declarations of "
                       "functions, callback types, structs and integer #defines only")
        i += 1
    if decl:
        fail(decl_first, "this declaration never ends with ';'")
    if conds:
        fail(line, "an #if block is never closed with #endif")
    attach_comments(where, items, comments)
    return items, comments


def attach_comments(where: str, items: List[Item], comments: List[Comment]) -> None:
    """A comment after code on its line belongs to the item that ended just before it; any
    other comment documents the run of items that starts on the next line (items on
    consecutive lines, with no blank line, other comment or #if/#endif between them)."""
    by_end = sorted(items, key=lambda it: it.end)
    by_start = sorted(items, key=lambda it: it.start)
    levels: Dict[int, List[Item]] = {}
    top = [it for it in by_start if it.kind != "field"]
    for it in top:
        levels[id(it)] = top
        for member in it.fields:
            levels[id(member)] = it.fields
    for c in comments:
        if not c.trailing or c.owner:
            continue
        owner = None
        for it in by_end:
            if it.end <= c.pos and it.last == c.first:
                owner = it
        if owner is None:
            raise AbiError(f"{where}:{c.first}: a comment after code must follow a complete "
                           "declaration on its line (put it on a line of its own)")
        c.owner = owner
        owner.trailing.append(c)

    def groupable(it: Item) -> bool:
        return it.kind != "pp" or it.text.startswith("#define ")

    for c in comments:
        if c.trailing:
            continue
        following = [it for it in by_start if it.start > c.pos]
        if not following or following[0].first != c.last + 1 or not groupable(following[0]):
            continue
        level = levels[id(following[0])]
        k = level.index(following[0])
        run = [following[0]]
        while (k + 1 < len(level) and groupable(level[k + 1])
               and level[k + 1].first == level[k].end_line() + 1):
            k += 1
            run.append(level[k])
        for it in run:
            it.doc = c
        run[0].doc_first = True
        c.documents = run


# ==========================================================================================
# Tags: the machine-readable facts in doc comments.
# ==========================================================================================

TAGS = {
    "since": "the API version that added the item (X.Y); without it: 1.0",
    "bool": "an int32_t that is a boolean: the result (no names), or the parameters named",
    "out": "pointer parameters to one value the call writes",
    "array": "pointer parameters to the caller's array (char*: a text buffer)",
    "bytes": "uint8_t* parameters that are byte buffers",
    "default": "an option's default value",
    "range": "an option's bounds, lo..hi",
    "family": "a family of constants (prefixes, names), its description and number ranges",
}
TAG_RE = re.compile(r"(?<![\w@])@([A-Za-z][\w-]*)")


@dataclass
class Tag:
    name: str
    args: str
    line: int
    used: bool = False


def split_tags(where: str, c: Comment) -> Tuple[str, List[Tag]]:
    # `@name` in backquotes is prose that mentions a tag, not a tag.
    masked = re.sub(r"`[^`\n]*`", lambda q: " " * len(q.group(0)), c.text)
    found = list(TAG_RE.finditer(masked))
    prose = c.text[:found[0].start()] if found else c.text
    tags = []
    for k, m in enumerate(found):
        stop = found[k + 1].start() if k + 1 < len(found) else len(c.text)
        line = c.first + c.text[:m.start()].count("\n")
        if m.group(1) not in TAGS:
            raise AbiError(f"{where}:{line}: unknown tag @{m.group(1)} (known: "
                           + ", ".join("@" + t for t in sorted(TAGS)) + ")")
        args = [ln for ln in c.text[m.end():stop].split("\n")
                if not re.fullmatch(r"-{3,}", ln.strip())]
        tags.append(Tag(m.group(1), " ".join(" ".join(args).split()), line))
    return prose, tags


def prose_text(prose: str) -> str:
    """A comment's prose as one paragraph (banner lines of dashes dropped)."""
    lines = [ln for ln in prose.split("\n") if not re.fullmatch(r"-{3,}", ln.strip())]
    return " ".join(" ".join(lines).split())


# ==========================================================================================
# The model: what the header declares.
# ==========================================================================================

VALUE_TYPES = {"int32_t", "uint32_t", "int64_t", "uint64_t", "double"}
POINTEE_SCALARS = {"char", "uint8_t", "int32_t", "uint32_t", "int64_t", "uint64_t", "double"}
SCALAR_SIZES = {"char": 1, "uint8_t": 1, "int32_t": 4, "uint32_t": 4, "int64_t": 8,
                "uint64_t": 8, "double": 8}


@dataclass
class CType:
    base: str
    const: bool = False
    ptr: int = 0

    def __str__(self) -> str:
        return ("const " if self.const else "") + self.base + "*" * self.ptr


@dataclass
class Docs:
    group: str = ""        # the run's doc comment (shared by the items of the run)
    first: bool = False    # first item of its run
    run: int = 1           # items in the run
    own: str = ""          # the item's trailing comment


@dataclass
class Param:
    name: str
    type: CType
    kind: str = ""         # value bool text out array bytes pointer record handle callback


@dataclass
class Func:
    name: str
    ret: CType
    ret_kind: str          # void value bool text pointer handle record
    params: List[Param]
    callback: bool
    since: Version
    line: int
    docs: Docs
    only_if: Optional[str] = None

    def stdcall_bytes(self) -> int:
        """What 32-bit __stdcall pops: each argument rounded up to 4 bytes."""
        return sum(8 if p.type.ptr == 0 and SCALAR_SIZES.get(p.type.base) == 8 else 4
                   for p in self.params)


@dataclass
class Field:
    name: str
    type: CType
    dim: Optional[str]     # the array size as written (a number or a constant's name)
    count: Optional[int]   # its value
    kind: str              # value bool pointer record text pointers
    since: Version
    line: int
    docs: Docs


@dataclass
class Record:
    name: str
    alias: Optional[str]   # the pointer typedef (PLink)
    fields: List[Field]
    since: Version
    line: int
    docs: Docs


@dataclass
class Opaque:
    name: str
    since: Version
    line: int
    docs: Docs


@dataclass
class Constant:
    name: str
    value: int
    family: str
    since: Version
    line: int
    docs: Docs
    default: Optional[int] = None
    minimum: Optional[int] = None
    maximum: Optional[int] = None
    bounds_text: str = ""  # default and range as written, for the bindings' docs


@dataclass
class Family:
    key: str               # the first prefix or name, e.g. TS_OPT_
    members: List[str]     # prefixes (ending in _) and exact names
    description: str
    ranges: List[Tuple[int, int, str]]
    line: int

    def takes(self, name: str) -> int:
        """How specifically this family claims a constant name (0: not at all)."""
        best = 0
        for member in self.members:
            if member == name:
                return 1000
            if member.endswith("_") and name.startswith(member):
                best = max(best, len(member))
        return best


@dataclass
class Model:
    path: str              # relative to the repository
    stem: str              # TCPSERVER (from the include guard TCPSERVER_H)
    version: Tuple[int, int, int]
    call_macro: str
    api_macro: str
    constants: Dict[str, Constant] = field(default_factory=dict)
    families: List[Family] = field(default_factory=list)
    records: Dict[str, Record] = field(default_factory=dict)
    opaques: Dict[str, Opaque] = field(default_factory=dict)
    callbacks: Dict[str, Func] = field(default_factory=dict)
    exports: Dict[str, Func] = field(default_factory=dict)
    order: List[Tuple[str, str]] = field(default_factory=list)  # (kind, name), header order
    options_family: Optional[str] = None
    imported: Optional["Model"] = None  # the project header it includes (tcpcluster.h: tcpserver.h)

    def family(self, key: str) -> Family:
        return next(f for f in self.families if f.key == key)


def parse_version(where: str, text: str) -> Version:
    m = re.fullmatch(r"(\d+)\.(\d+)", text.strip())
    if not m:
        raise AbiError(f"{where}: @since takes a version X.Y, not '{text}'")
    return int(m.group(1)), int(m.group(2))


def vtext(v: Version) -> str:
    return f"{v[0]}.{v[1]}"


UNIT_SUFFIXES = {"KiB": 10, "MiB": 20, "GiB": 30, "TiB": 40}


def evaluate(where: str, expr: str, names: Dict[str, int]) -> int:
    """An integer expression of the header (literals, + - * << and parentheses, earlier
    constants by name, 16 MiB-style sizes)."""
    text = re.sub(r"\b(0[xX][0-9a-fA-F]+|\d+)[uUlL]*\b", r"\1", expr)
    text = re.sub(r"\b(\d+)\s*(KiB|MiB|GiB|TiB)\b",
                  lambda m: f"({m.group(1)} << {UNIT_SUFFIXES[m.group(2)]})", text)
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError:
        raise AbiError(f"{where}: '{expr}' is not an integer expression") from None

    def value(node: ast.AST) -> int:
        if isinstance(node, ast.Constant) and type(node.value) is int:
            return node.value
        if isinstance(node, ast.Name):
            if node.id not in names:
                raise AbiError(f"{where}: '{node.id}' in '{expr}' is not a constant defined "
                               "before it")
            return names[node.id]
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return -value(node.operand)
        if isinstance(node, ast.BinOp):
            ops: Dict[type, Callable[[int, int], int]] = {
                ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b,
                ast.Mult: lambda a, b: a * b, ast.LShift: lambda a, b: a << b}
            for op, fn in ops.items():
                if isinstance(node.op, op):
                    return fn(value(node.left), value(node.right))
        raise AbiError(f"{where}: '{expr}' uses something other than integers, names, "
                       "+ - * << and parentheses")

    return value(tree.body)


class Parser:
    """Builds the Model from scanned items; every unknown construct is an error."""

    def __init__(self, root: Path, rel: str, options_family: Optional[str],
                 imported: Optional[Model] = None) -> None:
        self.root, self.rel = root, rel
        self.options_family = options_family
        self.imported = imported
        self.names: Dict[str, int] = {}
        self.options: List[Tuple[Constant, Tag, Tag]] = []

    def where(self, line: int) -> str:
        return f"{self.rel}:{line}"

    def fail(self, line: int, message: str) -> None:
        raise AbiError(f"{self.where(line)}: {message}")

    # ---- types --------------------------------------------------------------------------

    def known_types(self, m: Model) -> Dict[str, str]:
        kinds = {t: "scalar" for t in SCALAR_SIZES}
        kinds["void"] = "void"
        for model in (self.imported, m):
            if model is None:
                continue
            kinds.update({r: "record" for r in model.records})
            kinds.update({o: "opaque" for o in model.opaques})
            kinds.update({c: "callback" for c in model.callbacks})
        return kinds

    def parse_type(self, m: Model, toks: List[str], line: int) -> CType:
        const = False
        k = 0
        if k < len(toks) and toks[k] == "const":
            const, k = True, k + 1
        if k >= len(toks) or not re.fullmatch(r"\w+", toks[k]):
            self.fail(line, f"a type abi.py does not understand: {' '.join(toks)}")
        base = toks[k]
        k += 1
        ptr = 0
        while k < len(toks) and toks[k] == "*":
            ptr, k = ptr + 1, k + 1
        if k != len(toks):
            self.fail(line, f"a type abi.py does not understand: {' '.join(toks)}")
        if base not in self.known_types(m):
            self.fail(line, f"unknown type '{base}' (known: the <stdint.h> integers, double, "
                            "char, void and the records, opaque types and callback types "
                            "declared before it)")
        if ptr > 1:
            self.fail(line, f"{' '.join(toks)}: pointers to pointers are not understood")
        return CType(base, const, ptr)

    def parse_params(self, m: Model, toks: List[str], line: int) -> List[Param]:
        if toks == ["void"]:
            return []
        params: List[Param] = []
        current: List[str] = []
        for t in toks + [","]:
            if t != ",":
                current.append(t)
                continue
            if len(current) < 2 or not re.fullmatch(r"[A-Za-z]\w*", current[-1]):
                self.fail(line, f"a parameter needs a type and a name: {' '.join(current)}")
            name = current[-1]
            if any(p.name == name for p in params):
                self.fail(line, f"two parameters named {name}")
            params.append(Param(name, self.parse_type(m, current[:-1], line)))
            current = []
        return params

    # ---- kinds: what bindings make of each C type -----------------------------------------

    def result_kind(self, m: Model, f: Func, is_bool: bool) -> str:
        t, kinds = f.ret, self.known_types(m)
        if is_bool:
            if str(t) != "int32_t":
                self.fail(f.line, f"@bool on {f.name}, which returns {t}: booleans are int32_t")
            return "bool"
        if t.ptr == 0:
            if t.base == "void":
                return "void"
            if t.base in VALUE_TYPES:
                return "value"
        elif t.base == "char" and t.const:
            return "text"
        elif t.base == "void":
            return "pointer"
        elif kinds[t.base] == "opaque":
            return "handle"
        elif kinds[t.base] == "record" and not t.const:
            return "record"
        self.fail(f.line, f"{f.name} returns {t}, which abi.py has no binding type for")
        return ""

    def param_kind(self, m: Model, f: Func, p: Param, tag: Optional[str]) -> str:
        t, kinds = p.type, self.known_types(m)
        what = f"parameter {p.name} of {f.name}"
        if t.ptr == 0:
            if kinds[t.base] == "callback" and not t.const:
                kind = "callback"
            elif t.base in VALUE_TYPES and not t.const:
                kind = "value"
            else:
                self.fail(f.line, f"{what} is {t}, which abi.py has no binding type for")
            if tag == "bool":
                if str(t) != "int32_t":
                    self.fail(f.line, f"@bool {p.name}: {what} is {t}; booleans are int32_t")
                return "bool"
            if tag:
                self.fail(f.line, f"@{tag} {p.name}: {what} is not a pointer")
            return kind
        if tag == "bool":
            self.fail(f.line, f"@bool {p.name}: {what} is {t}; booleans are int32_t")
        if t.base == "void":
            kind = "pointer"
        elif t.base == "char" and t.const and tag is None:
            kind = "text"
        elif kinds[t.base] == "record" and not t.const:
            kind = "record"
        elif kinds[t.base] == "opaque" and not t.const:
            kind = "handle"
        elif t.base in POINTEE_SCALARS:
            if tag is None:
                self.fail(f.line, f"{what} is {t}: say what it points to with @out {p.name} "
                                  f"(one value the call writes), @array {p.name} (the "
                                  f"caller's array) or @bytes {p.name} (a byte buffer)")
            if tag == "out" and t.const:
                self.fail(f.line, f"@out {p.name}: {what} is const, so nothing is written")
            if tag == "bytes" and t.base != "uint8_t":
                self.fail(f.line, f"@bytes {p.name}: {what} is {t}; byte buffers are uint8_t*")
            return tag
        else:
            self.fail(f.line, f"{what} is {t}, which abi.py has no binding type for")
        if tag:
            self.fail(f.line, f"@{tag} {p.name}: {what} is {t}, which takes no tag")
        return kind

    # ---- the header ------------------------------------------------------------------------

    def parse(self, text: str) -> Model:
        items, comments = scan(self.rel, text)
        directives = [it for it in items if it.kind == "pp"]
        if len(directives) < 3:
            self.fail(1, "a header starts with an include guard (#ifndef X_H / #define X_H)")
        g1 = re.fullmatch(r"#ifndef (\w+)", directives[0].text)
        g2 = re.fullmatch(r"#define (\w+)", directives[1].text)
        if not g1 or not g2 or g1.group(1) != g2.group(1) or not g1.group(1).endswith("_H"):
            self.fail(directives[0].first, "a header starts with an include guard "
                                           "(#ifndef X_H / #define X_H)")
        guard = g1.group(1)
        if directives[-1].text != "#endif":
            self.fail(directives[-1].first, "the header must end with the guard's #endif")
        stem = guard[:-2]
        m = Model(self.rel, stem, (0, 0, 0), "", "", options_family=self.options_family,
                  imported=self.imported)
        if self.imported:
            self.names.update({c.name: c.value for c in self.imported.constants.values()})
        macros: Dict[str, str] = {}
        version: Dict[str, int] = {}
        tags_by_comment: Dict[int, Tuple[str, List[Tag]]] = {}
        for c in comments:
            tags_by_comment[id(c)] = split_tags(self.rel, c)

        # Free comments: sections (a banner of dashes, then a title) and families.
        sections: List[Tuple[int, str]] = []
        for c in comments:
            prose, tags = tags_by_comment[id(c)]
            if c.trailing or c.documents:
                for t in tags:
                    if t.name == "family":
                        self.fail(t.line, "@family belongs in a comment of its own, not in the "
                                          "doc comment of a declaration")
                continue
            for t in tags:
                if t.name != "family":
                    self.fail(t.line, f"@{t.name} in a comment that documents no declaration "
                                      "(put the comment right above it, without a blank line)")
                m.families.append(self.parse_family(t))
            lines = [ln.strip() for ln in prose.split("\n") if ln.strip()]
            if lines and re.fullmatch(r"-{10,}", lines[0]):
                titles = [ln for ln in lines if not re.fullmatch(r"-{3,}", ln)]
                if titles:
                    sections.append((c.first, titles[0].rstrip(".")))
        keys = [f.key for f in m.families]
        if len(set(keys)) != len(keys):
            self.fail(m.families[0].line, "two @family lines start with the same prefix")

        runs: Dict[int, int] = {id(c): len(c.documents) for c in comments}
        for it in items:
            if it.kind == "field":
                continue
            while sections and sections[0][0] < it.first:
                m.order.append(("section", sections.pop(0)[1]))
            if it.kind == "pp":
                self.directive(m, it, guard, macros, version, tags_by_comment, runs)
            else:
                self.declaration(m, it, guard, macros, tags_by_comment, runs)

        for part in ("MAJOR", "MINOR", "PATCH", "NUMBER"):
            if f"{stem}_VERSION_{part}" not in version:
                self.fail(1, f"the header defines no {stem}_VERSION_{part}")
        m.version = (version[f"{stem}_VERSION_MAJOR"], version[f"{stem}_VERSION_MINOR"],
                     version[f"{stem}_VERSION_PATCH"])
        number = m.version[0] * 10000 + m.version[1] * 100 + m.version[2]
        if version[f"{stem}_VERSION_NUMBER"] != number:
            self.fail(1, f"{stem}_VERSION_NUMBER is not MAJOR * 10000 + MINOR * 100 + PATCH")
        for c, default, bounds in self.options:
            c.default = evaluate(self.where(default.line), default.args, self.names)
            lo, _, hi = bounds.args.partition("..")
            c.minimum = evaluate(self.where(bounds.line), lo, self.names)
            c.maximum = evaluate(self.where(bounds.line), hi, self.names)
            c.bounds_text = f"default {default.args}; {bounds.args}"
            if not c.minimum <= c.default <= c.maximum:
                self.fail(c.line, f"{c.name}: the default {c.default} is outside its range "
                                  f"{c.minimum}..{c.maximum}")
        self.check_families(m)
        self.check_unused_tags(comments, tags_by_comment)
        return m

    def parse_family(self, t: Tag) -> Family:
        words = t.args.split()
        members = []
        while words and re.fullmatch(r"[A-Z][A-Z0-9_]*", words[0]):
            members.append(words.pop(0))
        rest = " ".join(words)
        if not members or not rest:
            self.fail(t.line, "@family PREFIX_ [NAME ...] description[: lo-hi label; ...]")
        description, _, ranges_text = rest.partition(":")
        ranges = []
        for part in filter(None, (p.strip() for p in ranges_text.split(";"))):
            r = re.fullmatch(r"(\d+)(?:-(\d+))?\s*(.*)", part)
            if not r:
                self.fail(t.line, f"@family: '{part}' is not a range (lo-hi label)")
            lo = int(r.group(1))
            hi = int(r.group(2)) if r.group(2) else lo
            if hi < lo:
                self.fail(t.line, f"@family: the range {lo}-{hi} is empty")
            ranges.append((lo, hi, r.group(3).strip()))
        for a in ranges:
            for b in ranges:
                if a is not b and a[0] <= b[1] and b[0] <= a[1]:
                    self.fail(t.line, f"@family {members[0]}: ranges {a[0]}-{a[1]} and "
                                      f"{b[0]}-{b[1]} overlap")
        t.used = True
        return Family(members[0], members, description.strip(), ranges, t.line)

    def tags_for(self, it: Item, tags_by_comment: Dict[int, Tuple[str, List[Tag]]],
                 runs: Dict[int, int]) -> Tuple[Docs, List[Tag], List[Tag]]:
        """The item's docs, the tags of its run's doc comment, and its own (trailing) tags."""
        docs = Docs()
        group_tags: List[Tag] = []
        own_tags: List[Tag] = []
        if it.doc is not None:
            prose, group_tags = tags_by_comment[id(it.doc)]
            docs.group, docs.first, docs.run = prose_text(prose), it.doc_first, runs[id(it.doc)]
        for c in it.trailing:
            prose, tags = tags_by_comment[id(c)]
            docs.own = " ".join(filter(None, [docs.own, prose_text(prose)]))
            own_tags += tags
        return docs, group_tags, own_tags

    def since_of(self, group: List[Tag], own: List[Tag]) -> Version:
        for source in (own, group):
            found = [t for t in source if t.name == "since"]
            if len(found) > 1:
                self.fail(found[1].line, "two @since tags for the same item")
            if found:
                found[0].used = True
                return parse_version(self.where(found[0].line), found[0].args)
        return V1_0

    def refuse(self, tags: List[Tag], allowed: Sequence[str], what: str) -> None:
        for t in tags:
            if t.name not in allowed:
                self.fail(t.line, f"@{t.name} does not apply to {what}")

    def directive(self, m: Model, it: Item, guard: str, macros: Dict[str, str],
                  version: Dict[str, int], tags_by_comment: Dict[int, Tuple[str, List[Tag]]],
                  runs: Dict[int, int]) -> None:
        text = it.text
        if re.fullmatch(r"#(if|ifdef|ifndef|elif|else|endif)\b.*", text):
            return
        if re.fullmatch(r'#include (<[\w.]+>|"[\w.]+")', text):
            return  # <stddef.h>, <stdint.h>; a project header's names were imported by load()
        d = re.fullmatch(r"#define (\w+)(?: (.*))?", text)
        if not d:
            self.fail(it.first, f"a directive abi.py does not understand: {text}")
        name, value = d.group(1), (d.group(2) or "").strip()
        inner = [c for c in it.conds if c != f"!defined({guard})"]
        if name == guard:
            return
        docs, group_tags, own_tags = self.tags_for(it, tags_by_comment, runs)
        if inner:
            if not re.fullmatch(r"[A-Z]+_(CALL|API)", name):
                self.fail(it.first, f"#define {name} under #if {inner[-1]}: only the calling "
                                    "convention (X_CALL) and export (X_API) macros may depend "
                                    "on the platform")
            macros[name] = value
            if name.endswith("_CALL"):
                m.call_macro = m.call_macro or name
            else:
                m.api_macro = m.api_macro or name
            self.refuse(group_tags + own_tags, [], f"the macro {name}")
            return
        if (self.imported and re.fullmatch(r"[A-Z]+_CALL", name)
                and value == self.imported.call_macro):
            # The included header's convention under this header's name (TC_CALL TS_CALL).
            macros[name] = value
            m.call_macro = m.call_macro or name
            self.refuse(group_tags + own_tags, [], f"the macro {name}")
            return
        if not value:
            self.fail(it.first, f"#define {name} without a value")
        number = evaluate(self.where(it.first), value, self.names)
        self.names[name] = number
        if re.fullmatch(rf"{m.stem}_VERSION_(MAJOR|MINOR|PATCH|NUMBER)", name):
            version[name] = number
            self.refuse(group_tags + own_tags, [], "the version macros")
            return
        self.refuse(group_tags + own_tags, ["since", "default", "range"], f"the constant {name}")
        families = sorted(((f.takes(name), f) for f in m.families), key=lambda x: -x[0])
        if not families or families[0][0] == 0:
            self.fail(it.first, f"{name} belongs to no constant family: add its prefix to a "
                                "@family line (or a new @family line) in the header's comment "
                                "on constant families")
        family = families[0][1]
        c = Constant(name, number, family.key, self.since_of(group_tags, own_tags), it.first,
                     docs)
        is_option = self.options_family is not None and family.key == self.options_family
        found = {t.name: t for t in group_tags + own_tags if t.name in ("default", "range")}
        if is_option:
            for needed in ("default", "range"):
                if needed not in found:
                    self.fail(it.first, f"option {name} needs @{needed} in its comment "
                                        "(e.g. @default 0 @range 0..1)")
            found["default"].used = found["range"].used = True
            if ".." not in found["range"].args:
                self.fail(found["range"].line, "@range takes lo..hi")
            # Evaluated once every constant is known: a default may name one defined later.
            self.options.append((c, found["default"], found["range"]))
        elif found:
            t = next(iter(found.values()))
            self.fail(t.line, f"@{t.name} applies to options ({self.options_family}*) only")
        m.constants[name] = c
        m.order.append(("constant", name))

    def declaration(self, m: Model, it: Item, guard: str, macros: Dict[str, str],
                    tags_by_comment: Dict[int, Tuple[str, List[Tag]]],
                    runs: Dict[int, int]) -> None:
        toks = it.text.split(" ")
        inner = [c for c in it.conds if c != f"!defined({guard})"]
        only_if = None
        if inner:
            if inner != ["!defined(_WIN32)"]:
                self.fail(it.first, f"a declaration under #if {' && '.join(inner)}: abi.py "
                                    "understands only #if !defined(_WIN32) around declarations")
            only_if = inner[0]
        docs, group_tags, own_tags = self.tags_for(it, tags_by_comment, runs)
        call = m.call_macro or ("TS_CALL" if self.imported else "")
        api = m.api_macro or ("TS_API" if self.imported else "")

        if toks[:2] == ["typedef", "struct"] and "{" in toks:
            self.record(m, it, toks, docs, group_tags, own_tags, tags_by_comment, runs)
        elif toks[:2] == ["typedef", "struct"]:
            s = re.fullmatch(r"typedef struct (\w+) (\w+) ;", it.text)
            if not s or s.group(1) != s.group(2):
                self.fail(it.first, f"an opaque type is 'typedef struct X X;', not: {it.text}")
            self.refuse(group_tags + own_tags, ["since"], "an opaque type")
            name = s.group(1)
            m.opaques[name] = Opaque(name, self.since_of(group_tags, own_tags), it.first, docs)
            m.order.append(("opaque", name))
        elif toks[0] == "typedef":
            k = toks.index("(") if "(" in toks else -1
            if k < 0 or toks[k + 1:k + 3] != [call, "*"] or toks[k + 4] != ")" \
                    or toks[k + 5] != "(" or toks[-2:] != [")", ";"]:
                self.fail(it.first, f"a callback type is 'typedef R ({call}* Name)(params);', "
                                    f"not: {it.text}")
            f = self.function(m, it, toks[k + 3], toks[1:k], toks[k + 6:-2], True, docs,
                              group_tags, own_tags, only_if)
            m.callbacks[f.name] = f
            m.order.append(("callback", f.name))
        elif toks[0] == api and api:
            if call not in toks:
                self.fail(it.first, f"an export is '{api} R {call} Name(params);', not: "
                                    f"{it.text}")
            k = toks.index(call)
            if toks[k + 2] != "(" or toks[-2:] != [")", ";"]:
                self.fail(it.first, f"an export is '{api} R {call} Name(params);', not: "
                                    f"{it.text}")
            f = self.function(m, it, toks[k + 1], toks[1:k], toks[k + 3:-2], False, docs,
                              group_tags, own_tags, only_if)
            if f.name in m.exports:
                self.fail(it.first, f"{f.name} is declared twice")
            m.exports[f.name] = f
            m.order.append(("export", f.name))
        else:
            self.fail(it.first, f"a declaration abi.py does not understand: {it.text}")

    def function(self, m: Model, it: Item, name: str, ret: List[str], params: List[str],
                 callback: bool, docs: Docs, group_tags: List[Tag], own_tags: List[Tag],
                 only_if: Optional[str]) -> Func:
        if not re.fullmatch(r"[A-Za-z]\w*", name):
            self.fail(it.first, f"'{name}' is not a function name")
        what = "a callback type" if callback else "an export"
        self.refuse(group_tags + own_tags, ["since", "bool", "out", "array", "bytes"], what)
        if callback and only_if:
            self.fail(it.first, "a callback type may not depend on the platform")
        f = Func(name, self.parse_type(m, ret, it.first), "", [], callback,
                 self.since_of(group_tags, own_tags), it.first, docs, only_if)
        f.params = self.parse_params(m, params, it.first)
        # Which tags name which parameters (own tags must apply; group tags to some member).
        tagged: Dict[str, str] = {}
        is_bool = False
        for source in (group_tags, own_tags):
            for t in source:
                if t.name == "since":
                    continue
                names = t.args.split()
                if t.name == "bool" and not names:
                    # A run's @bool covers its int32_t results; void and pointer results in
                    # the run ignore it, other numbers are an error (result_kind).
                    if source is own_tags or not (f.ret.ptr or f.ret.base == "void"):
                        is_bool = True
                    t.used = True
                    continue
                if not names:
                    self.fail(t.line, f"@{t.name} names the parameters it applies to")
                for n in names:
                    if any(p.name == n for p in f.params):
                        if tagged.get(n, t.name) != t.name:
                            self.fail(t.line, f"{n} of {name} has two tags: @{tagged[n]} "
                                              f"and @{t.name}")
                        tagged[n] = t.name
                        t.used = True
                    elif source is own_tags:
                        self.fail(t.line, f"@{t.name} {n}: {name} has no parameter {n}")
        f.ret_kind = self.result_kind(m, f, is_bool)
        for p in f.params:
            p.kind = self.param_kind(m, f, p, tagged.get(p.name))
        return f

    def record(self, m: Model, it: Item, toks: List[str], docs: Docs, group_tags: List[Tag],
               own_tags: List[Tag], tags_by_comment: Dict[int, Tuple[str, List[Tag]]],
               runs: Dict[int, int]) -> None:
        s = re.fullmatch(r"typedef struct (\w+) \{ .* \} (\w+)(?: , \* (\w+))? ;", it.text)
        if not s or s.group(1) != s.group(2):
            self.fail(it.first, "a record is 'typedef struct X { members } X, *PX;' (the "
                                f"pointer name optional), not: {it.text[:80]}")
        self.refuse(group_tags + own_tags, ["since"], "a record")
        name = s.group(1)
        rec = Record(name, s.group(3), [], self.since_of(group_tags, own_tags), it.first, docs)
        kinds = self.known_types(m)
        for member in it.fields:
            fdocs, ftags, fown = self.tags_for(member, tags_by_comment, runs)
            self.refuse(ftags + fown, ["since", "bool"], "a struct member")
            ft = member.text.split(" ")
            dim = None
            if len(ft) >= 4 and ft[-1] == "]" and ft[-3] == "[":
                dim, ft = ft[-2], ft[:-3]
            if len(ft) < 2 or not re.fullmatch(r"[A-Za-z]\w*", ft[-1]):
                self.fail(member.first, f"a struct member abi.py does not understand: "
                                        f"{member.text}")
                return
            fname = ft[-1]
            ftype = self.parse_type(m, ft[:-1], member.first)
            count = None
            if dim is not None:
                if re.fullmatch(r"\d+", dim):
                    count = int(dim)
                elif dim in m.constants:
                    count = m.constants[dim].value
                else:
                    self.fail(member.first, f"the array size {dim} is not a number or a "
                                            "constant defined before the record")
            is_bool = any(t.name == "bool" for t in ftags + fown)
            for t in ftags + fown:
                if t.name == "bool":
                    if t.args:
                        self.fail(t.line, "@bool on a struct member takes no names")
                    t.used = True
            if ftype.const:
                self.fail(member.first, f"{fname}: const members are not understood")
            if is_bool:
                if str(ftype) != "int32_t" or dim:
                    self.fail(member.first, f"@bool on {fname}, which is {ftype}")
                kind = "bool"
            elif dim is not None:
                if str(ftype) == "char":
                    kind = "text"
                elif str(ftype) == "void*":
                    kind = "pointers"
                else:
                    self.fail(member.first, f"{fname}: arrays of {ftype} are not understood "
                                            "(char[N] and void*[N] are)")
            elif ftype.ptr == 0 and ftype.base in VALUE_TYPES:
                kind = "value"
            elif str(ftype) == "void*":
                kind = "pointer"
            elif ftype.ptr == 1 and kinds.get(ftype.base) == "record":
                kind = "record"
            else:
                self.fail(member.first, f"{fname} is {ftype}, which abi.py has no binding "
                                        "type for in a record")
            if any(f.name == fname for f in rec.fields):
                self.fail(member.first, f"two members named {fname}")
            rec.fields.append(Field(fname, ftype, dim, count, kind,
                                    self.since_of(ftags, fown), member.first, fdocs))
        m.records[name] = rec
        m.order.append(("record", name))
        # The layout must not depend on which 32-bit ABI lays it out.
        if layout(rec, 4, 8) != layout(rec, 4, 4):
            self.fail(it.first, f"{name}'s layout differs between 32-bit ABIs (Windows aligns "
                                "64-bit members to 8 bytes, i386 Linux to 4): add explicit "
                                "padding before its 64-bit members")

    def check_families(self, m: Model) -> None:
        for fam in m.families:
            seen: Dict[int, str] = {}
            for c in m.constants.values():
                if c.family != fam.key:
                    continue
                if c.value in seen:
                    self.fail(c.line, f"{c.name} = {c.value} takes the number of {seen[c.value]} "
                                      f"in the {fam.description} family: numbers are unique in "
                                      "a family")
                seen[c.value] = c.name
                if fam.ranges and not any(lo <= c.value <= hi for lo, hi, _ in fam.ranges):
                    allowed = "; ".join(f"{lo}-{hi} {label}".strip()
                                        for lo, hi, label in fam.ranges)
                    self.fail(c.line, f"{c.name} = {c.value} is outside the numbers of its "
                                      f"family ({fam.description}: {allowed}): take a number "
                                      "from the range reserved for your work, or reserve a new "
                                      f"range on the @family line (line {fam.line})")

    def check_unused_tags(self, comments: List[Comment],
                          tags_by_comment: Dict[int, Tuple[str, List[Tag]]]) -> None:
        for c in comments:
            for t in tags_by_comment[id(c)][1]:
                if not t.used:
                    self.fail(t.line, f"@{t.name} {t.args} applies to nothing it documents "
                                      "(no such parameter, or the wrong kind of item)")


def layout(rec: Record, ptr: int, align64: int = 8) -> Dict[str, int]:
    """Sizes and offsets by C's rules for a pointer size, named as GetAbiLayout() names them
    (align64: the alignment of 64-bit members in a struct, 8 on Windows and x86-64)."""
    out: Dict[str, int] = {}
    offset = biggest = 0
    for f in rec.fields:
        if f.type.ptr:
            size = align = ptr
        else:
            size = SCALAR_SIZES[f.type.base]
            align = min(size, align64)
        total = size * (f.count or 1)
        biggest = max(biggest, align)
        offset = (offset + align - 1) // align * align
        out[f"{rec.name}.{f.name}"] = offset
        offset += total
    out[f"{rec.name}.size"] = (offset + biggest - 1) // biggest * biggest
    return out


def layouts(m: Model, ptr: int) -> Dict[str, int]:
    out = {"ptr": ptr}
    for rec in m.records.values():
        out.update(layout(rec, ptr))
    return out


# ==========================================================================================
# Loading a header (with the project headers it includes).
# ==========================================================================================

OPTIONS_FAMILIES = {"TCPSERVER": "TS_OPT_", "TCPCLUSTER": "TC_OPT_"}


def load(root: Path, rel: str) -> Model:
    path = root / rel
    if not path.is_file():
        raise AbiError(f"{rel}: no such header")
    text = path.read_text(encoding="utf-8")
    imported = None
    for inc in re.findall(r'^\s*#\s*include\s+[<"]([\w.]+)[>"]', text, flags=re.M):
        if inc in ("stddef.h", "stdint.h"):
            continue
        for candidate in (path.parent / inc, root / "dll/include" / inc):
            if candidate.is_file():
                imported = load(root, str(candidate.resolve().relative_to(root.resolve())))
                break
        else:
            raise AbiError(f"{rel}: the included header {inc} was not found")
    guard = re.search(r"#\s*ifndef\s+(\w+)_H\b", text)
    stem = guard.group(1) if guard else ""
    return Parser(root, rel, OPTIONS_FAMILIES.get(stem), imported).parse(text)


# ==========================================================================================
# Facts: the model as plain data (for --dump, the snapshots and the pin check).
# ==========================================================================================

def func_facts(m: Model, f: Func) -> dict:
    facts = {"since": vtext(f.since), "call": m.call_macro, "returns": str(f.ret),
             "result": f.ret_kind, "params": [[p.name, str(p.type), p.kind] for p in f.params]}
    if not f.callback:
        facts["stdcall_bytes"] = f.stdcall_bytes()
        facts["only_if"] = f.only_if
    return facts


def facts_of(m: Model) -> dict:
    constants = {}
    for c in m.constants.values():
        entry = {"value": c.value, "family": c.family, "since": vtext(c.since)}
        if c.default is not None:
            entry["option"] = {"default": c.default, "min": c.minimum, "max": c.maximum}
        constants[c.name] = entry
    return {
        "header": m.path,
        "version": ".".join(map(str, m.version)),
        "exports": {f.name: func_facts(m, f) for f in m.exports.values()},
        "callbacks": {f.name: func_facts(m, f) for f in m.callbacks.values()},
        "constants": constants,
        "records": {
            r.name: {"since": vtext(r.since), "pointer": r.alias,
                     "fields": [[f.name, str(f.type), f.count, f.kind, vtext(f.since)]
                                for f in r.fields],
                     "layout": {"4": layout(r, 4), "8": layout(r, 8)}}
            for r in m.records.values()},
        "opaque": {o.name: {"since": vtext(o.since)} for o in m.opaques.values()},
        "families": {f.key: {"members": f.members, "description": f.description,
                             "ranges": [[lo, hi, label] for lo, hi, label in f.ranges]}
                     for f in m.families},
    }


def dump_json(data: dict, api: Optional[str] = None) -> str:
    """JSON with one entry per line below the top-level sections: readable and diffable."""
    head = {}
    if api:
        head = {"api": api, "note": (
            f"API {api} of {data['header']}, frozen: tools/abi/abi.py --pin fails when one of "
            "these items changes or disappears (new items may only be added). Made once with "
            "--snapshot; never edit or regenerate it.")}
    lines = ["{"]
    entries = list(head.items()) + list(data.items())
    for k, (key, value) in enumerate(entries):
        comma = "," if k + 1 < len(entries) else ""
        if isinstance(value, dict) and value:
            lines.append(f"  {json.dumps(key)}: {{")
            inner = list(value.items())
            for j, (name, entry) in enumerate(inner):
                sep = "," if j + 1 < len(inner) else ""
                lines.append(f"    {json.dumps(name)}: {json.dumps(entry)}{sep}")
            lines.append(f"  }}{comma}")
        else:
            lines.append(f"  {json.dumps(key)}: {json.dumps(value)}{comma}")
    lines.append("}")
    return "\n".join(lines) + "\n"


# ==========================================================================================
# The pin check: a frozen API's items stay exactly as they were; new items carry @since.
# ==========================================================================================

def pin_problems(m: Model, snapshot: dict, name: str) -> List[str]:
    now = facts_of(m)
    api = tuple(int(x) for x in snapshot["api"].split("."))
    problems: List[str] = []

    def same(section: str, what: str) -> None:
        for item, old in snapshot[section].items():
            new = now[section].get(item)
            if new is None:
                problems.append(f"{what} {item} of API {snapshot['api']} is gone")
            elif section == "constants" and "option" in old:
                o, n = old["option"], new.get("option")
                rest_old = {k: v for k, v in old.items() if k != "option"}
                rest_new = {k: v for k, v in new.items() if k != "option"}
                if rest_old != rest_new:
                    problems.append(f"{what} {item} changed: was {rest_old}, is {rest_new}")
                elif n is None or n["default"] != o["default"]:
                    problems.append(f"option {item}'s default changed: was {o['default']}, "
                                    f"is {n and n['default']}")
                elif n["min"] > o["min"] or n["max"] < o["max"]:
                    problems.append(f"option {item}'s range narrowed: was {o['min']}.."
                                    f"{o['max']}, is {n['min']}..{n['max']} (ranges may only "
                                    "widen)")
            elif section == "records":
                problems.extend(record_problems(item, old, new))
            elif new != old:
                problems.append(f"{what} {item} changed: was {json.dumps(old)}, is "
                                f"{json.dumps(new)}")
        for item, new in now[section].items():
            if item not in snapshot[section]:
                since = tuple(int(x) for x in new["since"].split("."))
                if since <= api:
                    problems.append(f"{what} {item} is new after API {snapshot['api']} but says "
                                    f"@since {new['since']}: tag it @since with the next "
                                    "version (e.g. "
                                    f"{api[0]}.{api[1] + 1})")

    same("exports", "export")
    same("callbacks", "callback type")
    same("constants", "constant")
    same("records", "record")
    same("opaque", "opaque type")
    old_version = tuple(int(x) for x in snapshot["version"].split("."))
    new_version = tuple(int(x) for x in now["version"].split("."))
    if new_version[0] != old_version[0] or new_version < old_version:
        problems.append(f"the version went from {snapshot['version']} to {now['version']}: "
                        "within a major version it only grows")
    for key, fam in snapshot["families"].items():
        current = now["families"].get(key)
        if current is None:
            problems.append(f"the constant family {key} is gone")
            continue
        spans = {(lo, hi) for lo, hi, _ in current["ranges"]}
        for lo, hi, label in fam["ranges"]:
            if (lo, hi) not in spans:
                problems.append(f"the number range {lo}-{hi} ({label}) of {key} is no longer "
                                "reserved: reserved ranges stay")
    return [f"{name}: {p}" for p in problems]


def record_problems(item: str, old: dict, new: Optional[dict]) -> List[str]:
    if new is None:
        return [f"record {item} is gone"]
    problems = []
    if new["since"] != old["since"] or new["pointer"] != old["pointer"]:
        problems.append(f"record {item} changed its since or pointer name")
    if new["fields"][:len(old["fields"])] != old["fields"]:
        problems.append(f"record {item}'s members changed: was {old['fields']}, is "
                        f"{new['fields'][:len(old['fields'])]} (members only get added at the end)")
    for ptr in ("4", "8"):
        o, n = old["layout"][ptr], new["layout"][ptr]
        for key, offset in o.items():
            if key.endswith(".size"):
                if n[key] < offset:
                    problems.append(f"{key} (ptr={ptr}) shrank from {offset} to {n[key]}")
            elif n.get(key) != offset:
                problems.append(f"{key} (ptr={ptr}) moved from {offset} to {n.get(key)}")
    return problems


def snapshots(root: Path) -> List[Path]:
    return sorted((root / "tools/abi").glob("api-*.json"))


def check_pins(root: Path, m: Model, only: Optional[Path] = None) -> List[str]:
    problems = []
    for path in [only] if only else snapshots(root):
        snapshot = json.loads(path.read_text(encoding="utf-8"))
        if snapshot.get("header") != m.path:
            if only:
                problems.append(f"{path.name} describes {snapshot.get('header')}, not {m.path}")
            continue
        problems += pin_problems(m, snapshot, path.name)
    return problems


# ==========================================================================================
# Writing helpers.
# ==========================================================================================

def generated_note(m: Model) -> str:
    return (f"Generated by tools/abi/abi.py from {m.path} — do not edit: change the header, "
            f"then run {WRITE_COMMAND}")


def wrap(text: str, prefix: str, width: int = 100, first: Optional[str] = None) -> List[str]:
    first = prefix if first is None else first
    return textwrap.wrap(text, width=width, initial_indent=first, subsequent_indent=prefix,
                         break_long_words=False, break_on_hyphens=False) or [first.rstrip()]


def pack(parts: List[str], first: str, prefix: str, width: int = 100,
         sep: str = ",") -> List[str]:
    """parts joined by sep + space into lines of at most width (first line starts with first,
    the others with prefix), never breaking inside a part."""
    lines, line, fresh = [], first, True
    for k, part in enumerate(parts):
        piece = part + (sep if k + 1 < len(parts) else "")
        if not fresh and len(line) + 1 + len(piece) > width:
            lines.append(line)
            line = prefix + piece
        else:
            line += ("" if fresh else " ") + piece
        fresh = False
    return lines + [line]


def item_docs(d: Docs, extra: str = "") -> Tuple[str, str]:
    """(text for the run, before its first item; text for the item itself)."""
    own = " ".join(filter(None, [d.own, extra]))
    if d.run == 1:
        return "", " ".join(filter(None, [d.group, own]))
    return (d.group if d.first else ""), own


def since_note(since: Version) -> str:
    return f"(API {vtext(since)})" if since > V1_0 else ""


def option_note(c: Constant) -> str:
    if c.default is None:
        return ""
    return f"[{c.bounds_text}]"


def in_order(m: Model, kinds: Sequence[str]) -> List[Tuple[str, str]]:
    """The header's items of these kinds, with the sections they stand in."""
    out: List[Tuple[str, str]] = []
    pending = None
    for kind, name in m.order:
        if kind == "section":
            pending = name
        elif kind in kinds:
            if pending:
                out.append(("section", pending))
                pending = None
            out.append((kind, name))
    return out


def camel(name: str) -> str:
    return name[:1].lower() + name[1:]


def version_macros(m: Model) -> List[Tuple[str, int]]:
    number = m.version[0] * 10000 + m.version[1] * 100 + m.version[2]
    return [(f"{m.stem}_VERSION_{part}", value)
            for part, value in zip(("MAJOR", "MINOR", "PATCH", "NUMBER"), m.version + (number,))]


def constant_docs(m: Model) -> List[Tuple[Constant, str, str, bool]]:
    """Each constant in header order with the doc of its run (on the first of the run), its
    own doc (plus an option's bounds and the API version that added it), and whether a blank
    line goes before it (a new family, or a documented run)."""
    out = []
    previous = None
    for kind, name in m.order:
        if kind != "constant":
            continue
        c = m.constants[name]
        group, own = item_docs(c.docs, " ".join(filter(None, [option_note(c),
                                                               since_note(c.since)])))
        out.append((c, group, own, c.family != previous or bool(group)))
        previous = c.family
    return out


# ==========================================================================================
# Derived files.
# ==========================================================================================

def gen_def(m: Model) -> str:
    lines = ["; tcpserver.def — the export names of tcpserver.dll and libtcpserver.so (undecorated),",
             "; read by dll/CMakeLists.txt (the Linux version script), "
             "cmake/mingw_stdcall_implib.cmake",
             "; and the export tests.",
             *wrap(generated_note(m), "; "),
             "LIBRARY tcpserver",
             "EXPORTS"]
    lines += [f"  {f.name}" for f in m.exports.values()]
    # Comments only on lines of their own: the linkers read "Name @N" as an ordinal.
    lines += ["; The bytes each export's arguments take on 32-bit Windows (__stdcall, the import",
              "; library's _Name@N), computed from tcpserver.h; cmake/mingw_stdcall_implib.cmake",
              "; checks them against the compiled symbols."]
    lines += pack([f"{f.name}@{f.stdcall_bytes()}" for f in m.exports.values()], "; ", "; ",
                  sep="")
    return "\n".join(lines) + "\n"


def cpp_int(v: int) -> str:
    return f"INT64_C({v})" if not -2**31 <= v < 2**31 else str(v)


def gen_option_table(m: Model) -> str:
    opts = [c for c in m.constants.values() if c.family == m.options_family]
    lines = ["// option_table.inc — the server options of tcpserver.h (TS_OPT_*): id, name, "
             "default and",
             "// bounds, from each option's @default and @range tags. Included by core/options.h"
             " inside",
             "// namespace ts, after OptionSpec.",
             "// " + generated_note(m).replace(": change", ":\n// change"),
             "inline constexpr OptionSpec kOptionTable[] = {"]
    for c in opts:
        lines.append(f"    {{{c.name}, \"{c.name}\", {cpp_int(c.default)}, {cpp_int(c.minimum)}, "
                     f"{cpp_int(c.maximum)}}},")
    top = max(c.value for c in opts)
    lines += ["};",
              f"// Options are indexed by id: ids are 1..{top}, with gaps where ranges are "
              "reserved.",
              f"inline constexpr int kOptionCount = {top + 1};"]
    return "\n".join(lines) + "\n"


def gen_cluster_option_table(m: Model) -> str:
    """The cluster library's table of TC_OPT_* (cluster/src/options.h's OptionInfo rows,
    indexed by id, row 0 and unused ids empty)."""
    opts = {c.value: c for c in m.constants.values() if c.family == m.options_family}
    top = max(opts)
    lines = [f"// option_table.inc — the node options of {Path(m.path).name} "
             f"({m.options_family}*): name, default and",
             "// bounds by id, from each option's @default and @range tags. Included by "
             "options.cpp inside",
             "// namespace tc.",
             "// " + generated_note(m).replace(": change", ":\n// change"),
             f"static_assert(kOptionCount == {top + 1}, \"options.h: kOptionCount is the "
             f"highest {m.options_family}* + 1\");",
             "const OptionInfo kOptions[kOptionCount] = {"]
    for value in range(top + 1):
        c = opts.get(value)
        if c is None:
            lines.append("    {nullptr, 0, 0, 0},")
        else:
            lines.append(f"    {{\"{c.name}\", {cpp_int(c.default)}, {cpp_int(c.minimum)}, "
                         f"{cpp_int(c.maximum)}}},")
    lines.append("};")
    return "\n".join(lines) + "\n"


# ---- Python -------------------------------------------------------------------------------

PY_VALUES = {"int32_t": "c_int32", "uint32_t": "c_uint32", "int64_t": "c_int64",
             "uint64_t": "c_uint64", "double": "c_double", "uint8_t": "ctypes.c_uint8",
             "char": "c_char"}


def py_pointer_name(m: Model, base: str) -> str:
    if base in m.records:
        return m.records[base].alias or f"POINTER({base})"
    return f"P{base}"


def py_type(m: Model, t: CType, kind: str) -> str:
    if kind in ("value", "bool"):
        return PY_VALUES[t.base]
    if kind == "void":
        return "None"
    if kind in ("text",):
        return "c_char_p"
    if kind in ("out", "array"):
        return "c_char_p" if t.base == "char" else f"POINTER({PY_VALUES[t.base]})"
    if kind in ("bytes", "pointer"):
        return "c_void_p"
    if kind in ("record", "handle"):
        return py_pointer_name(m, t.base)
    if kind == "callback":
        return t.base
    raise AssertionError(kind)


# The Python enums made of constant families (IntEnum, or IntFlag for flags), with the names
# API 1.2's hand-written enums had; a family not listed gets its prefix in CamelCase
# (TS_BACKEND_ -> Backend), so a new family needs no edit here. Members are the constants'
# names without the family's prefix (TS_OK -> ErrorCode.OK).
PY_ENUMS = {
    "TS_ERR_": ("ErrorCode", "IntEnum"),
    "TS_CLOSE_": ("CloseReason", "IntEnum"),
    "TS_OPT_": ("Option", "IntEnum"),
    "TS_QUEUE_": ("SendQueuePolicy", "IntEnum"),
    "TS_FRAMING_": ("Framing", "IntEnum"),
    "TS_LOG_": ("LogLevel", "IntEnum"),
    "TS_CLOSE_FLAG_": ("CloseFlag", "IntFlag"),
    "TS_COUNTER_": ("Counter", "IntEnum"),
    "TS_TLS_": ("TlsVersion", "IntEnum"),  # "Tls" alone would not say what it lists
}


def py_enum_of(fam: Family) -> Tuple[str, str]:
    if fam.key in PY_ENUMS:
        return PY_ENUMS[fam.key]
    words = fam.key.strip("_").split("_")[1:] or [fam.key.strip("_")]
    return "".join(word.capitalize() for word in words), "IntEnum"


def py_member_name(name: str, fam: Family) -> str:
    if name in fam.members:
        return name.split("_", 1)[1]  # an exact name (TS_OK): without the TS_
    prefix = max((p for p in fam.members if p.endswith("_") and name.startswith(p)), key=len)
    member = name[len(prefix):]
    if member[:1].isdigit():
        # Not an identifier (TS_TLS_1_2 -> 1_2): keep the prefix's last word (TLS_1_2).
        member = prefix.rstrip("_").rsplit("_", 1)[-1] + "_" + member
    return member


def py_enum_families(m: Model) -> List[Tuple[Family, List[Constant]]]:
    """The families that become Python enums: those named by a prefix (a family of one exact
    name, such as TS_REMOTE_IP_SIZE, is a plain constant), each with its constants."""
    out = []
    for fam in m.families:
        members = [c for c in m.constants.values() if c.family == fam.key]
        if fam.key.endswith("_") and members:
            out.append((fam, members))
    return out


def py_option_attribute(c: Constant, fam: Family) -> str:
    return py_member_name(c.name, fam).lower()


def gen_python_enums(m: Model, names: List[str]) -> List[str]:
    w = ["# " + "-" * 90, "# Enums: each constant family as an IntEnum (flags: IntFlag) with the same values",
         "# " + "-" * 90, ""]
    for fam, members in py_enum_families(m):
        cls, base = py_enum_of(fam)
        w += ["", f"class {cls}(enum.{base}):"]
        doc = f"{fam.description[:1].upper()}{fam.description[1:]}: the {fam.key}* constants."
        w += wrap(doc + '"""', "    ", first='    """')
        for c in members:
            own = " ".join(filter(None, [c.docs.own, option_note(c), since_note(c.since)]))
            w += wrap(own, "    #: ") if own else []
            w.append(f"    {py_member_name(c.name, fam)} = {c.name}")
        w.append("")
        names.append(cls)
    enums = [py_enum_of(fam)[0] for fam, _ in py_enum_families(m)]
    w += ["", "# Every enum above (tcpserver re-exports them all).", "ENUMS = ("]
    w += pack([f'"{e}"' for e in enums], "    ", "    ")
    w[-1] += ","
    w += [")", ""]
    names.append("ENUMS")
    if m.options_family:
        fam = m.family(m.options_family)
        w += ["", "class OptionAttribute:",
              '    """One server option as an attribute of a class deriving from OptionAttributes',
              "    (tcpserver.Server): reading it calls the owner's _get_option(name, option),",
              '    writing it _set_option(name, option, value)."""',
              "",
              "    def __init__(self, option: int, doc: str) -> None:",
              "        self.option = option",
              "        self.name = ''",
              "        self.__doc__ = doc",
              "",
              "    def __set_name__(self, owner: type, name: str) -> None:",
              "        self.name = name",
              "",
              "    @overload",
              "    def __get__(self, obj: None, owner: Optional[type] = None) -> OptionAttribute: ...",
              "    @overload",
              "    def __get__(self, obj: object, owner: Optional[type] = None) -> int: ...",
              "",
              "    def __get__(self, obj: Any, owner: Optional[type] = None) -> Any:",
              "        if obj is None:",
              "            return self",
              "        return obj._get_option(self.name, self.option)",
              "",
              "    def __set__(self, obj: Any, value: int) -> None:",
              "        obj._set_option(self.name, self.option, value)",
              "", "",
              "class OptionAttributes:",
              f'    """Every server option ({fam.key}*) as an attribute named after it',
              "    (TS_OPT_MAX_LINKS: max_links), documented from the header. tcpserver.Server",
              '    derives from it; OPTION_NAMES maps the names to Option."""',

              ""]
        opts = [c for c in m.constants.values() if c.family == fam.key]
        for c in opts:
            doc = " ".join(filter(None, [c.docs.own, option_note(c), since_note(c.since)]))
            attr = py_option_attribute(c, fam)
            line = f"    {attr} = OptionAttribute({c.name}, {doc!r})"
            if len(line) <= 100:
                w.append(line)
            else:
                w += [f"    {attr} = OptionAttribute(", f"        {c.name},"]
                w += [f"        {part!r}" for part in textwrap.wrap(
                    doc, 80, drop_whitespace=False, break_long_words=False)]
                w[-1] += ")"
        w += ["", "", "# Option attribute (and Server keyword argument) names -> Option.",
              "OPTION_NAMES = {"]
        w += pack([f'"{py_option_attribute(c, fam)}": Option.{py_member_name(c.name, fam)}'
                   for c in opts], "    ", "    ")
        w[-1] += ","
        w += ["}", ""]
        names += ["OptionAttribute", "OptionAttributes", "OPTION_NAMES"]
    return w


def gen_python(m: Model) -> str:
    w: List[str] = []
    w += ['"""The raw ctypes layer of tcpserver.h: constants (each family also an enum), records,',
          "callback types and export prototypes (EXPORTS), the record layouts the header implies",
          "(LAYOUTS), and the server options as attributes (OptionAttributes, OPTION_NAMES).",
          "",
          *wrap(generated_note(m) + ".", ""),
          "tcpserver._native loads the library and binds EXPORTS; tcpserver.server is the "
          "Pythonic API.",
          '"""', "",
          "from __future__ import annotations", "",
          "import ctypes", "import enum", "import sys",
          "from ctypes import (POINTER, Structure, c_char, c_char_p, c_double, c_int32, c_int64,",
          "                    c_uint32, c_uint64, c_void_p)",
          "from typing import Any, Optional, overload", ""]
    names: List[str] = []
    w += py_constants(m, names)
    w += gen_python_enums(m, names)

    w += ["# " + "-" * 90, "# Records", "# " + "-" * 90, ""]
    for rec in m.records.values():
        w += ["", f"class {rec.name}(Structure):"]
        doc = " ".join(filter(None, item_docs(rec.docs)))
        if doc:
            w += wrap(doc + '"""', "    ", first='    """')
        w.append("    _fields_ = [")
        for f in rec.fields:
            if f.kind in ("value", "bool"):
                t = PY_VALUES[f.type.base]
            elif f.kind == "pointer":
                t = "c_void_p"
            elif f.kind == "record":
                t = f"POINTER({f.type.base})"
            elif f.kind == "text":
                t = f"c_char * {f.dim}"
            else:
                t = f"c_void_p * {f.dim}"
            w.append(f'        ("{f.name}", {t}),')
        w += ["    ]", ""]
        names.append(rec.name)
    w.append("")
    for rec in m.records.values():
        if rec.alias:
            w.append(f"{rec.alias} = POINTER({rec.name})")
            names.append(rec.alias)
    for o in m.opaques.values():
        w.append(f"# {o.name} is opaque: a handle is a plain address (an int; None for NULL).")
        w.append(f"P{o.name} = c_void_p")
        names.append(f"P{o.name}")
    w += ["", "# " + "-" * 90,
          f"# Callback types. {m.call_macro} is __stdcall on 32-bit Windows, the C convention "
          "elsewhere.",
          "# " + "-" * 90, "",
          'STDCALL = sys.platform == "win32" and ctypes.sizeof(c_void_p) == 4',
          "FUNCTYPE = ctypes.WINFUNCTYPE if STDCALL else ctypes.CFUNCTYPE", ""]
    names += ["STDCALL", "FUNCTYPE"]
    w += py_callbacks(m, names) + py_exports(m, names)
    w += ["# The record sizes and offsets the header gives for each pointer size, named as",
          "# GetAbiLayout() names them.", "LAYOUTS = {"]
    for ptr in (4, 8):
        pairs = [f'"{k}": {v}' for k, v in layouts(m, ptr).items()]
        pairs[-1] += "},"
        w += pack(pairs, f"    {ptr}: {{", " " * 8)
    w += ["}", ""]
    names.append("LAYOUTS")
    w += py_all(names)
    return "\n".join(w) + "\n"


def py_constants(m: Model, names: List[str]) -> List[str]:
    """The constants section: version macros, every constant, FAMILY_RANGES."""
    w = ["# " + "-" * 90, "# Constants", "# " + "-" * 90, ""]
    for name, value in version_macros(m):
        w.append(f"{name} = {value}")
        names.append(name)
    for c, _group, _own, blank in constant_docs(m):
        w += [""] * blank + [f"{c.name} = {c.value}"]
        names.append(c.name)
    w += ["", "# Numbers reserved for each constant family (the header's @family lines):",
          "# new constants take their numbers from these ranges only.",
          "FAMILY_RANGES = {"]
    for fam in m.families:
        if fam.ranges:
            ranges = ", ".join(f"({lo}, {hi}, {label!r})" for lo, hi, label in fam.ranges)
            w += wrap(ranges + "],", " " * 8, first=f"    {fam.key!r}: [")
    w += ["}", ""]
    names.append("FAMILY_RANGES")
    return w


def py_callbacks(m: Model, names: List[str]) -> List[str]:
    w = []
    for f in m.callbacks.values():
        args = [py_type(m, f.ret, f.ret_kind)] + [py_type(m, p.type, p.kind) for p in f.params]
        w.append(f"{f.name} = FUNCTYPE({', '.join(args)})")
        names.append(f.name)
    return w


def py_exports(m: Model, names: List[str]) -> List[str]:
    w = ["", "# " + "-" * 90,
         "# Exports: (name, restype, argtypes, the API version that added it), in header order.",
         "# Buffers (uint8_t*, void*) are plain addresses (c_void_p); const char* is c_char_p.",
         "# " + "-" * 90, "", "EXPORTS = ["]
    for kind, name in in_order(m, ["export"]):
        if kind == "section":
            w.append(f"    # {name}")
            continue
        f = m.exports[name]
        args = [py_type(m, p.type, p.kind) for p in f.params] or [""]
        args[0] = "[" + args[0]
        args[-1] += f'], "{vtext(f.since)}"),'
        w += pack(args, f'    ("{f.name}", {py_type(m, f.ret, f.ret_kind)}, ', " " * 8)
    w += ["]", ""]
    names.append("EXPORTS")
    return w


def py_all(names: List[str]) -> List[str]:
    return (["__all__ = ["]
            + pack([f'"{n}"' for n in names[:-1]] + [f'"{names[-1]}",'], "    ", "    ")
            + ["]"])


def imported_names(m: Model, python: bool = False) -> List[str]:
    """The names of the included header's types that this header's callbacks and exports
    use (the opaque handles by their pointer name when python), sorted."""
    if m.imported is None:
        return []
    used = set()
    for f in list(m.callbacks.values()) + list(m.exports.values()):
        for t, kind in [(f.ret, f.ret_kind)] + [(p.type, p.kind) for p in f.params]:
            if kind == "callback" and t.base in m.imported.callbacks:
                used.add(t.base)
            elif kind == "handle" and t.base in m.imported.opaques:
                used.add(f"P{t.base}" if python else t.base)
            elif kind == "record" and t.base in m.imported.records:
                used.add(py_pointer_name(m.imported, t.base) if python else t.base)
    return sorted(used)


def py_import(module: str, names: List[str]) -> List[str]:
    first = f"from {module} import ("
    return pack(names[:-1] + [names[-1] + ")"], first, " " * len(first))


def gen_python_cluster(m: Model) -> str:
    """The ctypes layer of a header that includes tcpserver.h (tcpcluster.h): its types come
    from tcpserver._abi, its library is loaded by its own module."""
    names: List[str] = []
    body = py_constants(m, names)
    for o in m.opaques.values():
        body.append(f"# {o.name} is opaque: a handle is a plain address (an int; None for NULL).")
        body.append(f"P{o.name} = c_void_p")
        names.append(f"P{o.name}")
    body += ["", "# " + "-" * 90,
             f"# Callback types ({m.call_macro} is tcpserver.h's convention: FUNCTYPE of "
             "tcpserver._abi).",
             "# " + "-" * 90, ""]
    body += py_callbacks(m, names) + py_exports(m, names)
    body += ["# Each option's (default, minimum, maximum), from its @default and @range tags.",
             "OPTIONS = {"]
    for c in m.constants.values():
        if c.family == m.options_family:
            body.append(f'    "{c.name}": ({c.default}, {c.minimum}, {c.maximum}),')
    body += ["}", ""]
    names.append("OPTIONS")
    ctypes_used = sorted(set(re.findall(r"\b(?:c_\w+|POINTER)\b", "\n".join(body))))
    from_abi = ["FUNCTYPE"] + imported_names(m, python=True)
    head = Path(m.path).name
    w = [f'"""The raw ctypes layer of {head}: constants, the handle, callback types, export '
         "prototypes", "(EXPORTS) and the options' bounds (OPTIONS).", "",
         *wrap(generated_note(m) + ".", ""),
         "tcpserver._cluster_native loads the library and binds EXPORTS; tcpserver.cluster is "
         "the Pythonic API.",
         '"""', "", "from __future__ import annotations", ""]
    w += py_import("ctypes", ctypes_used) + py_import("._abi", from_abi) + ["", ""]
    w += body + py_all(names)
    return "\n".join(w) + "\n"


# ---- C# -------------------------------------------------------------------------------------

CS_VALUES = {"int32_t": "int", "uint32_t": "uint", "int64_t": "long", "uint64_t": "ulong",
             "double": "double", "uint8_t": "byte", "char": "byte"}

# The C# enums made of constant families (their idiomatic names), and the member names that
# API 1.2 gave irregularly; every other member is the constant's name in CamelCase.
CS_ENUMS = {
    "TS_ERR_": ("TcpServerErrorCode", "GetLastErrorCode() values (TS_ERR_*), carried by "
                                      "TcpServerException.Code."),
    "TS_CLOSE_": ("CloseReason", "Why a link closed (TS_CLOSE_*), readable in Disconnected / "
                                 "IdleTimeout."),
    "TS_OPT_": ("TcpServerOption", "Server options (TS_OPT_*), for TcpServer.GetOption / "
                                   "SetOption."),
    "TS_QUEUE_": ("SendQueuePolicy", "What a send over TcpServerOption.SendQueueLimit does "
                                     "(TS_QUEUE_*)."),
    "TS_FRAMING_": ("TcpFraming", "Message framing (TS_FRAMING_*)."),
    "TS_LOG_": ("TcpLogLevel", "Log levels (TS_LOG_*)."),
    "TS_COUNTER_": ("TcpServerCounter", "A server's totals (TS_COUNTER_*), for "
                                        "TcpServer.GetCounter."),
    "TS_TLS_": ("TlsVersion", "TLS versions (TS_TLS_*), for TcpServer.Tls.MinVersion."),
    "TS_TLS_CLIENT_CERT_": ("TlsClientCertMode", "Client certificates (TS_TLS_CLIENT_CERT_*), "
                                                 "for TcpServer.Tls.ClientCertificate."),
    "TS_TLS_INFO_": ("TlsInfo", "What Link.GetTlsInfo reports (TS_TLS_INFO_*)."),
    "TS_TLS_CAUSE_": ("TlsFailureCause", "Why a TLS handshake failed (TS_TLS_CAUSE_*), for "
                                         "TcpServer.Tls.GetFailureCount."),
}
CS_CLUSTER_ENUMS = {
    "TC_ERR_": ("TcpClusterErrorCode", "TcpClusterGetLastErrorCode() values (TC_ERR_*), carried "
                                       "by TcpClusterException.Code."),
    "TC_OPT_": ("TcpClusterOption", "Node options (TC_OPT_*), for TcpClusterNode.GetOption / "
                                    "SetOption."),
    "TC_COUNTER_": ("TcpClusterCounter", "A node's counters (TC_COUNTER_*), for "
                                         "TcpClusterNode.GetCounter."),
    "TC_STATE_": ("TcpClusterState", "A node's state (TC_STATE_*), for TcpClusterNode.State and "
                                     "StateChanged."),
    "TC_SEND_": ("TcpClusterSendFailure", "Why a directed send failed later (TC_SEND_*), in "
                                          "SendFailed."),
    "TC_CHANNEL_": ("TcpClusterChannel", "What a gap was counted on (TC_CHANNEL_*), in Gap."),
}
CS_ENUM_NAMES_1_2 = {
    "TS_OPT_TCP_NODELAY": "TcpNoDelay", "TS_OPT_KEEPALIVE": "KeepAlive",
    "TS_OPT_REUSEPORT": "ReusePort", "TS_OPT_REUSEADDR": "ReuseAddress",
    "TS_OPT_KEEPALIVE_IDLE_S": "KeepAliveIdleSeconds",
    "TS_OPT_KEEPALIVE_INTERVAL_S": "KeepAliveIntervalSeconds",
    "TS_OPT_KEEPALIVE_COUNT": "KeepAliveCount", "TS_OPT_IPV6_ONLY": "IPv6Only",
    "TS_COUNTER_MSGS_IN": "MessagesIn", "TS_COUNTER_MSGS_OUT": "MessagesOut",
    "TS_COUNTER_RECV_PAUSES": "ReceivePauses",
    # Names that would start with a digit.
    "TS_TLS_1_2": "Tls12", "TS_TLS_1_3": "Tls13",
}


def xml(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def cs_summary(text: str, indent: str) -> List[str]:
    if not text:
        return []
    return wrap(f"<summary>{xml(text)}</summary>", indent + "/// ")


def cs_comment(text: str, indent: str) -> List[str]:
    return wrap(text, indent + "// ") if text else []


def cs_type(m: Model, t: CType, kind: str, where: str) -> str:
    if kind in ("value", "bool"):
        return CS_VALUES[t.base]
    if kind == "void":
        return "void"
    if kind == "text":
        return "byte[]" if where == "export" else "IntPtr"
    if kind == "out":
        return f"out {CS_VALUES[t.base]}"
    if kind == "array":
        return f"{CS_VALUES[t.base]}[]"
    if kind in ("bytes", "pointer", "record", "handle"):
        return "IntPtr"
    if kind == "callback":
        return t.base
    raise AssertionError(kind)


def cs_declaration(m: Model, f: Func, where: str, head: str, indent: str) -> List[str]:
    """head + "Ret Name(params);" packed into lines, never breaking inside a parameter."""
    ret = cs_type(m, f.ret, f.ret_kind, "result")
    params = [f"{cs_type(m, p.type, p.kind, where)} {camel(p.name)}" for p in f.params] or [""]
    params[0] = f"{head}{ret} {f.name}({params[0]}"
    params[-1] += ");"
    return pack(params, indent, indent + "    ")


def leading_blank(d: Docs) -> List[str]:
    """A blank line before the first item of a documented run."""
    return [""] if d.group and d.first else []


def gen_csharp_native(m: Model) -> str:
    w = ["// TcpServerNative.g.cs — the raw P/Invoke layer of tcpserver.h: records, callback "
         "types,",
         "// constants and every export, one for one (the rest of TcpServerNative, the library",
         "// resolver and the layout check, is TcpServerNative.cs).",
         *wrap(generated_note(m) + ".", "// "),
         "//",
         "// Marshalling, so nothing is converted behind the caller's back: "
         "CallingConvention.Winapi is",
         "// stdcall on 32-bit Windows and the platform default elsewhere (TS_CALL); int32 "
         "booleans stay",
         "// int; pointers (TcpLink*, buffers, handles) are IntPtr; const char* arguments are",
         "// NUL-terminated UTF-8 byte arrays (TcpServerNative.Utf8z) and const char* results "
         "IntPtr",
         "// (TcpServerNative.PtrToUtf8; the library owns them).",
         "using System;", "using System.Collections.Generic;",
         "using System.Runtime.InteropServices;", "",
         "namespace TcpServerLib", "{"]
    for rec in m.records.values():
        fixed = any(f.kind == "text" for f in rec.fields)
        w += cs_summary(" ".join(filter(None, item_docs(rec.docs))) + f" (tcpserver.h {rec.name})",
                        "    ")
        w += ["    [StructLayout(LayoutKind.Sequential)]",
              f"    public {'unsafe ' if fixed else ''}struct {rec.name}", "    {"]
        for f in rec.fields:
            group, own = item_docs(f.docs)
            w += cs_comment(group, "        ")
            w += cs_summary(own, "        ")
            if f.kind in ("value", "bool"):
                w.append(f"        public {CS_VALUES[f.type.base]} {f.name};")
            elif f.kind in ("pointer", "record"):
                w.append(f"        public IntPtr {f.name};")
            elif f.kind == "text":
                dim = f"TcpServerNative.{f.dim}" if f.dim in m.constants else f.dim
                w.append(f"        public fixed byte {f.name}[{dim}];")
            elif f.kind == "pointers":
                if f.count != 4:
                    raise AbiError(f"{m.path}:{f.line}: C# has a type for void*[4] only "
                                   "(ReservedPointers); teach abi.py gen_csharp_native another")
                w.append(f"        public ReservedPointers {f.name};")
        w += ["    }", ""]
    w += ["    /// <summary>The header's <c>void* Reserved[4]</c> (C# has no fixed arrays of "
          "pointers).</summary>",
          "    [StructLayout(LayoutKind.Sequential)]",
          "    public struct ReservedPointers", "    {", "        public IntPtr P0, P1, P2, P3;",
          "    }", ""]
    w += cs_callbacks(m)
    w += ["", "    /// <summary>Every export and constant of tcpserver.h.</summary>",
          "    public static partial class TcpServerNative", "    {",
          '        public const string Library = "tcpserver";',
          "        const CallingConvention Conv = CallingConvention.Winapi;", ""]
    w += cs_constants(m) + cs_exports(m)
    w += ["", "        /// <summary>The record sizes and offsets the header gives for a pointer "
              "size (4 or 8), named",
          "        /// as GetAbiLayout() names them.</summary>",
          "        public static Dictionary<string, long> HeaderLayout(int pointerSize)",
          "        {",
          "            var result = new Dictionary<string, long>();"]
    for ptr in (4, 8):
        w.append(f"            if (pointerSize == {ptr})")
        w.append("            {")
        for k, v in layouts(m, ptr).items():
            w.append(f'                result["{k}"] = {v};')
        w.append("            }")
    w += ["            return result;", "        }", "    }", "}"]
    return "\n".join(w) + "\n"


def cs_callbacks(m: Model) -> List[str]:
    """A delegate for each callback type (in the namespace)."""
    w: List[str] = []
    for kind, name in in_order(m, ["callback"]):
        if kind == "section":
            continue
        f = m.callbacks[name]
        group, own = item_docs(f.docs, since_note(f.since))
        w += leading_blank(f.docs) + cs_comment(group, "    ")
        w += cs_summary(own, "    ")
        w.append("    [UnmanagedFunctionPointer(CallingConvention.Winapi)]")
        w += cs_declaration(m, f, "callback", "public delegate ", "    ")
    return w


def cs_constants(m: Model) -> List[str]:
    """The version macros and every constant (in the native class)."""
    w = [f"        public const int {name} = {value};" for name, value in version_macros(m)]
    for c, group, own, blank in constant_docs(m):
        w += [""] * blank + cs_comment(group, "        ") + cs_summary(own, "        ")
        t = "int" if -2**31 <= c.value < 2**31 else "long"
        w.append(f"        public const {t} {c.name} = {c.value};")
    return w


def cs_exports(m: Model) -> List[str]:
    """A DllImport for each export (in the native class, whose Library and Conv they use)."""
    w: List[str] = []
    for kind, name in in_order(m, ["export"]):
        if kind == "section":
            w += ["", f"        // ---- {name} " + "-" * max(4, 80 - len(name))]
            continue
        f = m.exports[name]
        group, own = item_docs(f.docs, since_note(f.since))
        w += leading_blank(f.docs) + cs_comment(group, "        ")
        w += cs_summary(own, "        ")
        w.append("        [DllImport(Library, CallingConvention = Conv)]")
        w += cs_declaration(m, f, "export", "public static extern ", "        ")
    return w


def gen_csharp_cluster_native(m: Model) -> str:
    """The P/Invoke layer of a header that includes tcpserver.h (tcpcluster.h): its delegates,
    constants and exports in a class of their own, beside TcpServerNative's types."""
    head = Path(m.path).name
    w = [f"// TcpClusterNative.g.cs — the raw P/Invoke layer of {head} (libtcpcluster.so, the "
         "cluster",
         "// library): callback types, constants and every export, one for one. The idiomatic "
         "API is",
         "// TcpClusterNode.cs.",
         *wrap(generated_note(m) + ".", "// "),
         "//",
         "// Marshalling as in TcpServerNative.g.cs (whose types, e.g. TOnReceiveEx, it uses): "
         "int32",
         "// booleans stay int, handles and buffers are IntPtr, const char* arguments are "
         "UTF-8 byte",
         "// arrays (TcpServerNative.Utf8z), const char* results IntPtr. The library is built "
         "on Linux",
         "// only: elsewhere the first call throws DllNotFoundException, which TcpClusterNode "
         "reports",
         "// as a TcpClusterException saying so.",
         "using System;", "using System.Runtime.InteropServices;", "",
         "namespace TcpServerLib", "{"]
    w += cs_callbacks(m)
    w += ["", f"    /// <summary>Every export and constant of {head}.</summary>",
          "    public static class TcpClusterNative", "    {",
          '        public const string Library = "tcpcluster";',
          "        const CallingConvention Conv = CallingConvention.Winapi;", ""]
    w += cs_constants(m) + cs_exports(m)
    w += ["    }", "}"]
    return "\n".join(w) + "\n"


def cs_member_name(name: str, family: Family) -> str:
    if name in CS_ENUM_NAMES_1_2:
        return CS_ENUM_NAMES_1_2[name]
    short = name[:name.index("_") + 1]  # TS_, TC_
    prefix = max((p for p in family.members if p.endswith("_") and name.startswith(p)),
                 key=len, default=short)
    if name in family.members:
        prefix = short
    return "".join(part.capitalize() for part in name[len(prefix):].split("_"))


def gen_csharp_enums(m: Model) -> str:
    return cs_enums(m, "TcpServerEnums.g.cs", "TcpServerNative", CS_ENUMS,
                    " (API 1.2 named a few otherwise)")


def gen_csharp_cluster_enums(m: Model) -> str:
    return cs_enums(m, "TcpClusterEnums.g.cs", "TcpClusterNative", CS_CLUSTER_ENUMS, "")


def cs_enums(m: Model, file: str, native: str, enums: Dict[str, Tuple[str, str]],
             naming_note: str) -> str:
    w = [f"// {file} — the header's int32 constant families as .NET enums (same "
         "values).",
         *wrap(generated_note(m) + ".", "// "),
         f"// Member names are the constants' names in CamelCase{naming_note}.",
         f"using N = TcpServerLib.{native};", "", "namespace TcpServerLib", "{"]
    first = True
    for key, (enum, summary) in enums.items():
        fam = next((f for f in m.families if f.key == key), None)
        if fam is None:
            raise AbiError(f"{m.path}: abi.py's enum table names the family {key}, which the "
                           "header no longer declares")
        if not first:
            w.append("")
        first = False
        w += cs_summary(summary, "    ")
        w += [f"    public enum {enum}", "    {"]
        for c in m.constants.values():
            if c.family != key:
                continue
            own = " ".join(filter(None, [c.docs.own, since_note(c.since)]))
            w += cs_summary(own, "        ")
            w.append(f"        {cs_member_name(c.name, fam)} = N.{c.name},")
        w.append("    }")
    w.append("}")
    return "\n".join(w) + "\n"


# ---- Pascal ---------------------------------------------------------------------------------

PAS_VALUES = {"int32_t": "Integer", "uint32_t": "Cardinal", "int64_t": "Int64",
              "uint64_t": "UInt64", "double": "Double", "uint8_t": "Byte", "char": "AnsiChar"}
PAS_POINTERS = {"int32_t": "PInteger", "uint32_t": "PCardinal", "int64_t": "PInt64",
                "uint64_t": "PUInt64", "double": "PDouble", "uint8_t": "PByte",
                "char": "PAnsiChar"}
PAS_CALL = "{$IFDEF TS_STDCALL}stdcall{$ELSE}cdecl{$ENDIF}"
# The exports that UTcpServer redeclares with Pascal types (String, Boolean, Pascal callbacks):
# TcpServerApi declares them alone; every other export is in TcpServerImports.inc, shared by
# both units. A name here that UTcpServer does not redeclare is simply missing there.
PAS_WRAPPED_BY_UTCPSERVER = (
    "StartTcpServer", "StopTcpServer", "SetEventProc", "SetConnectProc", "SetThreadExitProc",
    "SetLogProc", "WriteLog", "GetLocalIP", "GetVersionText", "GetLastErrorText",
    "GetCloseReasonText", "GetAbiLayout", "SetTlsCertificateFile")


def pas_comment(text: str, indent: str) -> List[str]:
    if not text:
        return []
    text = text.replace("{", "(").replace("}", ")")
    return wrap(text + " }", indent + "  ", first=indent + "{ ")


def pas_type(m: Model, t: CType, kind: str) -> str:
    if kind == "value":
        return PAS_VALUES[t.base]
    if kind == "bool":
        return "LongBool"
    if kind == "text":
        return "PAnsiChar"
    if kind == "out":
        return PAS_VALUES[t.base]
    if kind in ("array", "bytes"):
        return PAS_POINTERS[t.base]
    if kind == "pointer":
        return "Pointer"
    if kind in ("record", "handle"):
        return f"P{t.base}"
    if kind == "callback":
        return t.base
    raise AssertionError(kind)


def pas_declaration(m: Model, f: Func, head: str, indent: str,
                    anonymous: bool = False) -> List[str]:
    """head + "function Name(params): Ret;" packed into lines, never breaking a parameter
    (without the name for a callback type, or a procedure variable when anonymous)."""
    keyword = "procedure" if f.ret_kind == "void" else "function"
    name = "" if f.callback or anonymous else " " + f.name
    ret = "" if f.ret_kind == "void" else ": " + pas_type(m, f.ret, f.ret_kind)
    params = [("var " if p.kind == "out" else "") + f"{p.name}: {pas_type(m, p.type, p.kind)}"
              for p in f.params]
    if not params:
        return [f"{indent}{head}{keyword}{name}{ret};"]
    params[0] = f"{head}{keyword}{name}({params[0]}"
    params[-1] += f"){ret};"
    return pack(params, indent, indent + "  ", sep=";")


def pas_import(m: Model, f: Func) -> List[str]:
    group, own = item_docs(f.docs, since_note(f.since))
    out = leading_blank(f.docs) + pas_comment(group, "") + pas_comment(own, "")
    out += pas_declaration(m, f, "", "")
    out.append(f"  {PAS_CALL}; external TS_LIBRARY name '{f.name}';")
    return out


def pas_header(m: Model, name: str, job: str) -> List[str]:
    return wrap(f"{name} — {job} {generated_note(m)}. }}", "  ", first="{ ")


def gen_pascal_consts(m: Model) -> str:
    w = pas_header(m, "TcpServerConsts.inc", "the constants of tcpserver.h, one for one, "
                   "included in the const section of TcpServerApi (the raw mirror) and "
                   "UTcpServer (the original interface), so both units export them.")
    w += ["", "  { The shared library: tcpserver.dll on Windows, libtcpserver.so (linked as "
              "-ltcpserver)", "    elsewhere. }",
          "  TS_LIBRARY = {$IFDEF MSWINDOWS}'tcpserver.dll'{$ELSE}'tcpserver'{$ENDIF};", "",
          "  { Compile-time version; GetVersion returns the loaded library's. }"]
    w += pas_constants(m)
    return "\n".join(w) + "\n"


def pas_constants(m: Model) -> List[str]:
    """The version macros and every constant (in a const section)."""
    w = [f"  {name} = {value};" for name, value in version_macros(m)]
    for c, group, own, blank in constant_docs(m):
        w += [""] * blank + pas_comment(group, "  ")
        line = f"  {c.name} = {c.value};"
        note = pas_comment(own, "")
        if own and len(line) + 1 + len(note[0]) <= 100 and len(note) == 1:
            w.append(f"{line} {note[0]}")
        else:
            w += pas_comment(own, "  ")
            w.append(line)
    return w


def pas_callback_types(m: Model) -> List[str]:
    """A procedural type for each callback type (in a type section)."""
    w: List[str] = []
    for kind, name in in_order(m, ["callback"]):
        if kind == "section":
            continue
        f = m.callbacks[name]
        group, own = item_docs(f.docs, since_note(f.since))
        w += leading_blank(f.docs) + pas_comment(group, "  ") + pas_comment(own, "  ")
        w += pas_declaration(m, f, f"{f.name} = ", "  ")
        w.append(f"    {PAS_CALL};")
    return w


def gen_pascal_cluster_api(m: Model) -> str:
    """The raw unit of a header that includes tcpserver.h (tcpcluster.h). Its exports are
    procedure variables, bound when the library is loaded (TcpClusterBind.inc): a program
    that uses the unit starts where the library is missing and can say why."""
    head = Path(m.path).name
    w = [f"{{ TcpClusterApi — the raw mirror of {m.path} (libtcpcluster.so, the cluster",
         "  library): every constant, the node handle, every callback type and every export, "
         "with the C",
         "  names and C types (LongBool for the int32 booleans, PAnsiChar for UTF-8 strings). "
         "No logic",
         "  lives here.", ""]
    w += wrap(generated_note(m) + ".", "  ", first="  ")
    w += ["",
          "  The exports are procedure variables, nil until TcpClusterClass.LoadTcpCluster "
          "binds them:",
          "  the library is built on Linux only (where hiredis is found), so a program using "
          "this unit",
          "  still starts where it is missing, and LoadTcpCluster says why. Most programs use",
          "  TcpClusterClass (TTcpClusterNode) instead. }",
          "unit TcpClusterApi;", "",
          "{$IFDEF FPC}{$mode delphi}{$ENDIF}",
          f"{{ {m.call_macro} of the header is TS_CALL of tcpserver.h. }}",
          "{$IFDEF MSWINDOWS}{$DEFINE TS_STDCALL}{$ENDIF}", "", "interface", "",
          "uses", "  TcpServerApi;", "", "const",
          "  { The shared library (LoadTcpCluster also reads $TCPCLUSTER_LIBRARY). There is no "
          "Windows",
          "    build: Debian ships no hiredis for mingw. }",
          "  TC_LIBRARY = {$IFDEF MSWINDOWS}'tcpcluster.dll'{$ELSE}'libtcpcluster.so.1'{$ENDIF};",
          "", "  { Compile-time version; TcpClusterGetVersion returns the loaded library's. }"]
    w += pas_constants(m) + ["", "type"]
    for o in m.opaques.values():
        w += pas_comment(f"{o.name}: " + " ".join(filter(None, item_docs(o.docs,
                                                                          since_note(o.since)))),
                         "  ")
        w += [f"  T{o.name} = record end;", f"  P{o.name} = ^T{o.name};"]
    w += pas_callback_types(m)
    w += ["", "var",
          f"  {{ The exports of {head}: nil until LoadTcpCluster binds them all. }}"]
    for kind, name in in_order(m, ["export"]):
        if kind == "section":
            w += ["", f"  {{ ---- {name} ---- }}"]
            continue
        f = m.exports[name]
        group, own = item_docs(f.docs, since_note(f.since))
        w += leading_blank(f.docs) + pas_comment(group, "  ") + pas_comment(own, "  ")
        w += pas_declaration(m, f, f"{f.name}: ", "  ", anonymous=True)
        w.append(f"    {PAS_CALL};")
    w += ["", "implementation", "", "end."]
    return "\n".join(w) + "\n"


def gen_pascal_cluster_bind(m: Model) -> str:
    w = pas_header(m, "TcpClusterBind.inc", f"binds every export of {Path(m.path).name} "
                   "(the procedure variables of TcpClusterApi) to the loaded library. Included "
                   "by TcpClusterClass.LoadTcpCluster, where Find (the export's address, or "
                   "an error naming it) is declared.")
    for f in m.exports.values():
        w.append(f"@TcpClusterApi.{f.name} := Find('{f.name}');")
    return "\n".join(w) + "\n"


def gen_pascal_option_props(m: Model) -> str:
    """The options as published properties of TTcpServerComponent (TcpServerComponent.pas
    includes this in its published section): a new option appears in the Object Inspector
    with no hand edit. Names as C#'s TcpServerOption members; 0..1 options are Booleans."""
    w = pas_header(m, "TcpServerOptionProps.inc", "every server option of tcpserver.h as a "
                   "published property of TTcpServerComponent (included in its published "
                   "section): Int64, or Boolean for the options whose range is 0..1; stored in "
                   "the form only when set.")
    fam = m.family(m.options_family) if m.options_family else None
    for c in m.constants.values():
        if fam is None or c.family != fam.key:
            continue
        name = cs_member_name(c.name, fam)
        own = " ".join(filter(None, [c.docs.own, option_note(c), since_note(c.since)]))
        w += pas_comment(own, "    ")
        if c.minimum == 0 and c.maximum == 1:
            w += [f"    property {name}: Boolean index {c.name}",
                  "      read GetFlag write SetFlag stored OptionStored;"]
        else:
            w += [f"    property {name}: Int64 index {c.name}",
                  "      read GetOption write SetOption stored OptionStored;"]
    return "\n".join(w) + "\n"


def gen_pascal_imports(m: Model) -> str:
    w = pas_header(m, "TcpServerImports.inc", "the exports of tcpserver.h whose Pascal "
                   "declaration is the same in the raw mirror (TcpServerApi) and in the "
                   "original interface (UTcpServer): numbers, pointers, PAnsiChar and LongBool "
                   "(the C int32 booleans) only. The including unit defines TS_STDCALL on "
                   "Windows and has the types of TcpServerApi in scope.")
    for kind, name in in_order(m, ["export"]):
        if kind == "section":
            w += ["", f"{{ ---- {name} ---- }}"]
            continue
        if name in PAS_WRAPPED_BY_UTCPSERVER:
            continue
        w += pas_import(m, m.exports[name])
    return "\n".join(w) + "\n"


def gen_pascal_api(m: Model) -> str:
    missing = [n for n in PAS_WRAPPED_BY_UTCPSERVER if n not in m.exports]
    if missing:
        raise AbiError(f"{m.path}: PAS_WRAPPED_BY_UTCPSERVER in abi.py names {missing}, which "
                       "the header does not export")
    w = ["{ TcpServerApi — the raw mirror of dll/include/tcpserver.h: every constant, the "
         "records, every",
         "  callback type and every export, with the C names and C types (LongBool for the "
         "int32",
         "  booleans, PAnsiChar for UTF-8 strings). No logic lives here.", ""]
    w += wrap(generated_note(m) + ".", "  ", first="  ")
    w += ["",
          "  Most programs use UTcpServer instead: the interface of the original Delphi unit, "
          "with Pascal",
          "  strings, Boolean results and exception-safe callbacks. Use this unit when you want "
          "the C ABI",
          "  exactly as it is (your callbacks must then be declared with the calling convention "
          "below and",
          "  must never let an exception escape). }",
          "unit TcpServerApi;", "",
          "{$IFDEF FPC}{$mode delphi}{$PACKRECORDS C}{$ELSE}{$ALIGN 8}{$ENDIF}",
          "{ TS_CALL of the header: __stdcall on Windows (Win64 has one convention and ignores "
          "it),",
          "  the platform's C convention elsewhere. }",
          "{$IFDEF MSWINDOWS}{$DEFINE TS_STDCALL}{$ENDIF}", "", "interface", "",
          "const", "{$I TcpServerConsts.inc}", "", "type"]
    for rec in m.records.values():
        w += pas_comment(" ".join(filter(None, item_docs(rec.docs))) + f" ({rec.name})", "  ")
        w += [f"  P{rec.name} = ^T{rec.name};", f"  T{rec.name} = record"]
        for f in rec.fields:
            if f.kind == "value":
                t = PAS_VALUES[f.type.base]
            elif f.kind == "bool":
                t = "LongBool"
            elif f.kind == "pointer":
                t = "Pointer"
            elif f.kind == "record":
                t = f"P{f.type.base}"
            elif f.kind == "text":
                t = f"array[0..{f.dim} - 1] of AnsiChar"
            else:
                t = f"array[0..{f.count - 1}] of Pointer"
            group, own = item_docs(f.docs)
            w += pas_comment(group, "    ")
            line = f"    {f.name}: {t};"
            note = pas_comment(own, "")
            if own and len(note) == 1 and len(line) + 1 + len(note[0]) <= 100:
                w.append(f"{line} {note[0]}")
            else:
                w += pas_comment(own, "    ") + [line]
        w += ["  end;", ""]
    aliases = [(r.alias, r.name) for r in m.records.values() if r.alias]
    if aliases:
        w.append("  { The original unit's names for the same records. }")
        for alias, name in aliases:
            w += [f"  {alias} = P{name};", f"  T{alias[1:]} = T{name};"]
        w.append("")
    for o in m.opaques.values():
        w += pas_comment(f"{o.name}: " + " ".join(filter(None, item_docs(o.docs,
                                                                          since_note(o.since)))),
                         "  ")
        w += [f"  T{o.name} = record end;", f"  P{o.name} = ^T{o.name};", ""]
    w += pas_callback_types(m)
    w += ["", "{ Exports whose UTcpServer counterpart has a Pascal shape (strings, Boolean, "
              "Pascal callbacks). }"]
    for name in PAS_WRAPPED_BY_UTCPSERVER:
        w += pas_import(m, m.exports[name])
    w += ["", "{$I TcpServerImports.inc}", "", "implementation", "", "end."]
    return "\n".join(w) + "\n"


def gen_pascal_layout(m: Model) -> str:
    w = pas_header(m, "TcpServerLayout.inc", "UTcpServer.CompareAbiLayout's comparisons: the "
                   "pointer size and every size and offset of the records, named as "
                   "GetAbiLayout() names them. Included inside that function, where Compare "
                   "is declared.")
    w.append("Compare('ptr', SizeOf(Pointer));")
    for rec in m.records.values():
        w.append(f"Compare('{rec.name}.size', SizeOf(T{rec.name}));")
        for f in rec.fields:
            w.append(f"Compare('{rec.name}.{f.name}', NativeInt(@P{rec.name}(nil)^.{f.name}));")
    return "\n".join(w) + "\n"


def gen_pascal_import_list(m: Model) -> str:
    w = pas_header(m, "TcpServerImportList.inc", "every export of tcpserver.h, referenced by "
                   "address for test_imports (linking fails if the library lacks one).")
    for f in m.exports.values():
        w.append(f"Imported('{f.name}', @TcpServerApi.{f.name});")
    return "\n".join(w) + "\n"


# ---- C++: the compiler confirms the description -------------------------------------------

def gen_header_check(m: Model) -> str:
    return header_check(m, "abi_header_check.cpp",
                        "// Compiled with the library in every build, the 32- and 64-bit "
                        "Windows cross builds too;")


def gen_cluster_header_check(m: Model) -> str:
    return header_check(m, "cluster_header_check.cpp",
                        "// Compiled with the cluster library's tests (tests/cluster), wherever "
                        "it is built;")


def header_check(m: Model, file: str, where: str) -> str:
    w = [f"// {file} — makes the compiler confirm what tools/abi/abi.py read from",
         f"// {Path(m.path).name}: every constant's value, every export's and callback type's "
         "exact type",
         "// (calling convention included) and the record layouts it computed for this pointer "
         "size.",
         where,
         "// it defines nothing. A failure here means abi.py misread the header: fix abi.py.",
         *wrap(generated_note(m) + ".", "// "),
         "#include <cstddef>", "#include <type_traits>", "", f'#include "{Path(m.path).name}"',
         "", "namespace {", "constexpr bool kPtr4 = sizeof(void*) == 4;",
         "template <class A, class B>", "constexpr bool same = std::is_same<A, B>::value;",
         "}  // namespace", "",
         'static_assert(sizeof(void*) == 4 || sizeof(void*) == 8, "abi.py knows 4- and 8-byte '
         'pointers only");']
    for name, value in version_macros(m):
        w.append(f'static_assert({name} == {value}, "{name}");')
    for c in m.constants.values():
        w.append(f'static_assert({c.name} == {cpp_int(c.value)}, "{c.name}");')

    def fn_type(f: Func) -> str:
        params = ", ".join(str(p.type) for p in f.params)
        return f"{f.ret} ({m.call_macro}*)({params})"

    for f in m.callbacks.values():
        w += [f"static_assert(same<{f.name},", f"                   {fn_type(f)}>,",
              f'              "{f.name}");']
    for f in m.exports.values():
        lines = [f"static_assert(same<decltype(&{f.name}),", f"                   {fn_type(f)}>,",
                 f'              "{f.name}");']
        if f.only_if:
            lines = [f"#if {f.only_if}"] + lines + ["#endif"]
        w += lines
    for rec in m.records.values():
        if rec.alias:
            w.append(f'static_assert(same<{rec.alias}, {rec.name}*>, "{rec.alias}");')
        four, eight = layout(rec, 4), layout(rec, 8)
        for key in four:
            name = key.split(".", 1)[1]
            what = f"sizeof({rec.name})" if name == "size" else f"offsetof({rec.name}, {name})"
            w.append(f'static_assert({what} == (kPtr4 ? {four[key]} : {eight[key]}), "{key}");')
    return "\n".join(w) + "\n"


# The derived files of each header (by its include guard's stem).
OUTPUTS: Dict[str, List[Tuple[str, Callable[[Model], str]]]] = {
    "TCPSERVER": [
        ("dll/tcpserver.def", gen_def),
        ("dll/src/core/option_table.inc", gen_option_table),
        ("bindings/python/tcpserver/_abi.py", gen_python),
        ("bindings/csharp/TcpServerNative.g.cs", gen_csharp_native),
        ("bindings/csharp/TcpServerEnums.g.cs", gen_csharp_enums),
        ("bindings/pascal/TcpServerConsts.inc", gen_pascal_consts),
        ("bindings/pascal/TcpServerOptionProps.inc", gen_pascal_option_props),
        ("bindings/pascal/TcpServerImports.inc", gen_pascal_imports),
        ("bindings/pascal/TcpServerApi.pas", gen_pascal_api),
        ("bindings/pascal/TcpServerLayout.inc", gen_pascal_layout),
        ("bindings/pascal/tests/TcpServerImportList.inc", gen_pascal_import_list),
        ("tests/abi/abi_header_check.cpp", gen_header_check),
    ],
    "TCPCLUSTER": [
        ("cluster/src/option_table.inc", gen_cluster_option_table),
        ("bindings/python/tcpserver/_cluster_abi.py", gen_python_cluster),
        ("bindings/csharp/TcpClusterNative.g.cs", gen_csharp_cluster_native),
        ("bindings/csharp/TcpClusterEnums.g.cs", gen_csharp_cluster_enums),
        ("bindings/pascal/TcpClusterApi.pas", gen_pascal_cluster_api),
        ("bindings/pascal/TcpClusterBind.inc", gen_pascal_cluster_bind),
        ("tests/cluster/cluster_header_check.cpp", gen_cluster_header_check),
    ],
}
# The header of each stem that has derived files: --write and --check without --header do
# them all.
HEADERS = {"TCPSERVER": DEFAULT_HEADER, "TCPCLUSTER": "cluster/include/tcpcluster.h"}


def derived(m: Model) -> List[Tuple[str, str]]:
    return [(path, gen(m)) for path, gen in OUTPUTS.get(m.stem, [])]


# ==========================================================================================
# Command line.
# ==========================================================================================

def check_files(root: Path, files: List[Tuple[str, str]], header: str) -> List[str]:
    problems = []
    for rel, content in files:
        path = root / rel
        current = path.read_text(encoding="utf-8") if path.is_file() else None
        if current == content:
            continue
        if current is None:
            problems.append(f"{rel} is missing: it is generated from {header}; run: "
                            f"{WRITE_COMMAND}")
            continue
        diff = list(difflib.unified_diff(current.splitlines(), content.splitlines(),
                                         f"{rel} (committed)", f"{rel} (from {header})",
                                         lineterm="", n=1))
        shown = diff[:40] + ([f"... {len(diff) - 40} more diff lines"] if len(diff) > 40 else [])
        problems.append(f"{rel} is out of date with {header}; run: {WRITE_COMMAND}\n"
                        + "\n".join("    " + line for line in shown))
    return problems


def write_or_check(root: Path, m: Model, header: str, write: bool) -> int:
    """--write or --check for one header: 0, or 1 after saying what is wrong."""
    pins = check_pins(root, m)
    if pins:
        print("abi.py: the header breaks a frozen API (frozen items never change; add new "
              "names instead):", file=sys.stderr)
        for p in pins:
            print("  " + p, file=sys.stderr)
        return 1
    files = derived(m)
    if not files:
        print(f"abi.py: {header} parsed ({len(m.exports)} exports, {len(m.constants)} "
              "constants); no derived files are registered for it (OUTPUTS in abi.py)")
        return 0
    if write:
        written = []
        for rel, content in files:
            path = root / rel
            if not path.is_file() or path.read_text(encoding="utf-8") != content:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(content, encoding="utf-8")
                written.append(rel)
        print(f"abi.py: {len(written)} of {len(files)} files derived from {header} rewritten"
              + "".join(f"\n  {rel}" for rel in written))
        return 0
    problems = check_files(root, files, header)
    if problems:
        for p in problems:
            print("abi.py: " + p, file=sys.stderr)
        return 1
    print(f"abi.py: all {len(files)} files derived from {header} are current "
          f"({len(m.exports)} exports, {len(m.callbacks)} callback types, "
          f"{len(m.constants)} constants, {len(m.records)} records)")
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--write", action="store_true", help="regenerate every derived file")
    what.add_argument("--check", action="store_true",
                      help="exit 1 if a derived file is out of date or a frozen item changed")
    what.add_argument("--pin", metavar="SNAPSHOT", help="check the header against one frozen API")
    what.add_argument("--dump", action="store_true", help="print the description as JSON")
    what.add_argument("--snapshot", metavar="FILE", help="freeze the current API into FILE")
    parser.add_argument("--header", help=f"the header (default: {DEFAULT_HEADER}; --write and "
                                         "--check without it do every header in HEADERS)")
    parser.add_argument("--root", default=str(ROOT), help="the repository (default: this one)")
    args = parser.parse_args(argv)
    root = Path(args.root)
    header = args.header or DEFAULT_HEADER
    if Path(header).is_absolute():
        header = str(Path(header).resolve().relative_to(root.resolve()))
    try:
        if (args.write or args.check) and args.header is None:
            status = 0
            for each in HEADERS.values():
                status |= write_or_check(root, load(root, each), each, args.write)
            return status
        m = load(root, header)
        if args.dump:
            sys.stdout.write(dump_json(facts_of(m)))
            return 0
        if args.snapshot:
            if Path(args.snapshot).exists():
                raise AbiError(f"{args.snapshot} exists: a frozen API is never made again")
            api = f"{m.version[0]}.{m.version[1]}"
            Path(args.snapshot).write_text(dump_json(facts_of(m), api), encoding="utf-8")
            print(f"abi.py: froze API {api} of {header} into {args.snapshot}")
            return 0
        if args.pin:
            problems = check_pins(root, m, Path(args.pin))
            if problems:
                print("abi.py: the header breaks a frozen API (frozen items never change; "
                      "add new names instead):", file=sys.stderr)
                for p in problems:
                    print("  " + p, file=sys.stderr)
                return 1
            snapshot = json.loads(Path(args.pin).read_text(encoding="utf-8"))
            total = sum(len(snapshot[s]) for s in ("exports", "callbacks", "constants",
                                                   "records", "opaque"))
            print(f"abi.py: {header} keeps all {total} items of API {snapshot['api']} "
                  f"({len(snapshot['exports'])} exports, {len(snapshot['constants'])} "
                  "constants, record layouts for 4- and 8-byte pointers)")
            return 0
        return write_or_check(root, m, header, args.write)
    except AbiError as error:
        print(f"abi.py: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
