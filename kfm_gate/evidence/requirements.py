"""Characters a regular expression needs: a cheap, sound test before the real search.

Every match of ``\\b\\d{3}-\\d{2}-\\d{4}\\b`` contains a digit, and every match of an e-mail
pattern contains ``@``. :func:`necessary_test` reads a pattern's syntax tree and finds one such
*requirement*: a set of character classes of which at least one character of every match is a
member. A value with no such character cannot match, so the pre-filter skips the (much slower)
search of the full pattern. The requirement is compiled with the same engine (``regex``) and the
same flags as the pattern, so case folding and Unicode classes (``\\d`` is every decimal digit)
mean the same thing in both.

``engine`` is the module the pattern runs in (``regex``, as Presidio uses, or ``re``); the
requirement is compiled with it. The analysis is conservative: whatever it does not understand (look-arounds, back references,
scoped flags, syntax only the ``regex`` module has) gives no requirement from that part, and a
pattern without a requirement gets no test (the full search always runs). The tree comes from
the standard library's parser (``re._parser``, Python 3.11+); if it cannot parse a pattern,
there is no test.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Iterable
from typing import Any

import regex  # type: ignore[import-untyped]

#: syntax the standard parser would read differently from the ``regex`` module
_REGEX_ONLY = ("[[", "\\p", "\\P", "\\X", "\\N{", "(?V", "{e", "--", "&&", "||", "~~")
#: a POSIX class (``[:digit:]``), which only the ``regex`` module reads as one
_POSIX_CLASS = r"\[:\^?[A-Za-z]+:\]"
#: characters a requirement must reject to be worth testing (the text of ordinary values)
_ORDINARY = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ '"

Atom = tuple[str, Any]
Requirement = tuple[Atom, ...]  # at least one character matching one atom must occur


def _category_syntax(name: str) -> str | None:
    return {
        "CATEGORY_DIGIT": r"\d",
        "CATEGORY_NOT_DIGIT": r"\D",
        "CATEGORY_SPACE": r"\s",
        "CATEGORY_NOT_SPACE": r"\S",
        "CATEGORY_WORD": r"\w",
        "CATEGORY_NOT_WORD": r"\W",
    }.get(name)


def _escape(code: int) -> str:
    return f"\\x{{{code:x}}}" if code > 0xFF else f"\\x{code:02x}"


def _class_syntax(items: list[tuple[Any, Any]]) -> str | None:
    """``[...]`` for the items of an ``IN`` node; ``None`` for a negated or unknown class."""
    parts = []
    for op, av in items:
        name = str(op)
        if name == "LITERAL":
            parts.append(_escape(av))
        elif name == "RANGE":
            parts.append(f"{_escape(av[0])}-{_escape(av[1])}")
        elif name == "CATEGORY":
            syntax = _category_syntax(str(av))
            if syntax is None:
                return None
            parts.append(syntax)
        else:  # NEGATE and anything else: too broad or not understood
            return None
    return "[" + "".join(parts) + "]" if parts else None


def _atom_syntax(atom: Atom) -> str | None:
    kind, value = atom
    if kind == "lit":
        return _escape(value)
    return _class_syntax(value) if kind == "in" else None


def _syntax(requirement: Requirement) -> str | None:
    """The requirement as one-character syntax, or None when an atom cannot be written."""
    parts = [_atom_syntax(a) for a in requirement]
    return None if any(p is None for p in parts) else "|".join(str(p) for p in parts)


def _ordinary(requirement: Requirement, flags: int, engine: Any = regex) -> int:
    """How many ordinary characters (letters, space) the requirement accepts (lower: better);
    a requirement that cannot be written back as syntax counts as accepting everything."""
    syntax = _syntax(requirement)
    if syntax is None:
        return len(_ORDINARY) + 1
    try:
        compiled = engine.compile(syntax, flags=flags)
    except Exception:
        return len(_ORDINARY) + 1
    return sum(1 for ch in _ORDINARY if compiled.match(ch))


def _rank(requirement: Requirement, flags: int) -> tuple[int, int]:
    return _ordinary(requirement, flags), len(requirement)


def _requirements(nodes: Iterable[tuple[Any, Any]], flags: int) -> list[Requirement]:
    """Requirements that every match of the node sequence meets (all of them)."""
    found: list[Requirement] = []
    for op, av in nodes:
        name = str(op)
        if name == "LITERAL":
            found.append((("lit", av),))
        elif name == "IN":
            if _class_syntax(av) is not None:
                found.append((("in", av),))
        elif name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
            low, _high, sub = av
            if low >= 1:
                found.extend(_requirements(sub, flags))
        elif name == "SUBPATTERN":
            _group, add_flags, del_flags, sub = av
            if not add_flags and not del_flags:  # scoped flags change what a class means
                found.extend(_requirements(sub, flags))
        elif name == "ATOMIC_GROUP":
            found.extend(_requirements(av, flags))
        elif name == "BRANCH":
            _none, branches = av
            union: list[Atom] = []
            for branch in branches:
                options = _requirements(branch, flags)
                if not options:
                    break  # a branch without a requirement: the alternation has none
                ranked = sorted((_rank(r, flags), i) for i, r in enumerate(options))
                union.extend(options[ranked[0][1]])
            else:
                if union:
                    found.append(tuple(union))
        # AT, ANY, NOT_LITERAL, ASSERT(_NOT), GROUPREF(_EXISTS), ...: no requirement
    return found


def _parse(pattern: str, flags: int, engine: Any) -> Any:
    """The standard parser's tree of ``pattern``, or None when that tree may not describe
    what ``engine`` matches (syntax only the ``regex`` module knows, POSIX classes) or the
    pattern does not parse."""
    if engine is regex and (
        any(token in pattern for token in _REGEX_ONLY) or re.search(_POSIX_CLASS, pattern)
    ):
        return None
    parse_flags = flags & (re.VERBOSE | re.IGNORECASE | re.MULTILINE | re.DOTALL | re.ASCII)
    try:
        return importlib.import_module("re._parser").parse(pattern, parse_flags)
    except Exception:  # not parseable by the standard parser: nothing known
        return None


def necessary_syntax(pattern: str, flags: int = 0, engine: Any = regex) -> tuple[str, int] | None:
    """``(syntax, flags)`` of a requirement of ``pattern``: a regular expression matching one
    character, which every string the pattern can match contains; ``None`` when no selective
    requirement is found (then the full search must always run)."""
    tree = _parse(pattern, flags, engine)
    if tree is None:
        return None
    all_flags = (flags | int(tree.state.flags)) & ~(re.VERBOSE | re.DEBUG)
    selective = [
        r for r in _requirements(list(tree), all_flags) if _ordinary(r, all_flags, engine) == 0
    ]
    if not selective:
        return None
    best = min(selective, key=len)  # the first of the shortest, as found
    return str(_syntax(best)), all_flags


def min_width(pattern: str, flags: int = 0, engine: Any = regex) -> int:
    """The fewest characters a match of ``pattern`` has (0 when unknown): a shorter value
    cannot match. Not used with full case folding, where one character can match two."""
    if engine is regex and flags & (regex.FULLCASE | regex.V1):
        return 0
    tree = _parse(pattern, flags, engine)
    return 0 if tree is None else max(0, int(tree.getwidth()[0]))


def necessary_test(
    requirements: Iterable[tuple[str, int] | None], shortest: int = 0, engine: Any = regex
) -> Callable[[str], bool] | None:
    """One test for several patterns: True when a value has at least ``shortest`` characters
    and meets the requirement of at least one pattern; ``None`` when a pattern has no
    requirement (it must always be searched)."""
    by_flags: dict[int, list[str]] = {}
    for found in requirements:
        if found is None:
            return None
        by_flags.setdefault(found[1], []).append(found[0])
    if not by_flags:
        return None
    searches = [
        engine.compile("|".join(f"(?:{s})" for s in sorted(set(group))), flags=f).search
        for f, group in sorted(by_flags.items())
    ]
    if len(searches) == 1:
        (search,) = searches
        return lambda value: len(value) >= shortest and search(value) is not None
    return lambda value: len(value) >= shortest and any(s(value) is not None for s in searches)
