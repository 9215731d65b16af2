"""`neptune_query.filters`: `Filter`, `Attribute` and `AttributeFilter`, as neptune-query 1.x
builds them. `str(filter)` is the NQL text neptune-query sends (each operand of AND and OR in
parentheses, values quoted with `"` and `\\` escaped, types in the API's camelCase:
`float_series` is `floatSeries`). Ported from neptune-query's `filters.py`,
`internal/filters.py` and `internal/pattern.py` (Apache-2.0)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Iterable, List, Literal, Optional, Sequence, Union

__all__ = ["Filter", "AttributeFilter", "Attribute", "KNOWN_TYPES"]

KNOWN_TYPES_LITERAL = Literal[
    "bool",
    "datetime",
    "file",
    "float",
    "int",
    "string",
    "string_set",
    "float_series",
    "histogram_series",
    "string_series",
    "file_series",
]

KNOWN_TYPES: Sequence[str] = (
    "float",
    "int",
    "string",
    "bool",
    "datetime",
    "float_series",
    "string_set",
    "string_series",
    "file",
    "histogram_series",
    "file_series",
)
# neptune-query's ALL_TYPES: the same set, in the order of its retrieval layer.
ALL_TYPES: Sequence[str] = (
    "float",
    "int",
    "string",
    "bool",
    "datetime",
    "float_series",
    "string_set",
    "string_series",
    "file",
    "file_series",
    "histogram_series",
)
ALL_AGGREGATIONS = frozenset({"last", "min", "max", "average", "variance"})

# The python names of the types and the API's (NQL's) names.
PYTHON_TO_BACKEND = {
    "float_series": "floatSeries",
    "string_set": "stringSet",
    "string_series": "stringSeries",
    "file": "fileRef",
    "file_series": "fileRefSeries",
    "histogram_series": "histogramSeries",
}
BACKEND_TO_PYTHON = {v: k for k, v in PYTHON_TO_BACKEND.items()}


def backend_type(python_type: str) -> str:
    """An attribute type's NQL name (`float_series` -> `floatSeries`)."""
    return PYTHON_TO_BACKEND.get(python_type, python_type)


def python_type(nql_type: str) -> str:
    """An NQL type's neptune-query name (`floatSeries` -> `float_series`)."""
    return BACKEND_TO_PYTHON.get(nql_type, nql_type)


# --- neptune-query's validators (internal/util.py), with its messages -------------------------


def _validate_string_or_string_list(value, field_name: str) -> None:
    if value is not None:
        if isinstance(value, list):
            if not all(isinstance(item, str) for item in value):
                raise ValueError(f"{field_name} must be a string or list of strings")
        elif not isinstance(value, str):
            raise ValueError(f"{field_name} must be a string or list of strings")


def _validate_list_of_allowed_values(value, allowed_values, field_name: str) -> None:
    if not isinstance(value, Sequence) or not all(isinstance(v, str) and v in allowed_values for v in value):
        raise ValueError(f"{field_name} must be a list of valid values: {sorted(allowed_values)} (got {value!r})")


def _validate_allowed_value(value, allowed_values, field_name: str) -> None:
    if value is not None and (not isinstance(value, str) or value not in allowed_values):
        raise ValueError(f"{field_name} must be one of: {sorted(allowed_values)}")


# --- neptune-query's extended regex (internal/pattern.py) --------------------------------------

_WS = r"[ \t\r\n]"
_OR_PATTERN = re.compile(rf"{_WS}+\|{_WS}+")
_AND_PATTERN = re.compile(rf"{_WS}+&{_WS}+")
_NOT_PATTERN = re.compile(rf"!{_WS}*")
_REPLACEMENTS = {r"\x20": " ", r"\x21": "!"}


@dataclass
class _Conjunction:
    positive: List[str]
    negated: List[str]


def parse_extended_regex(pattern: str) -> List[_Conjunction]:
    """`a & !b | c` -> alternatives of conjunctions of patterns that must (not) match."""

    def transform(part: str) -> str:
        for old, new in _REPLACEMENTS.items():
            part = part.replace(old, new)
        return part

    out = []
    for alternative in _OR_PATTERN.split(pattern.strip()):
        positive, negated = [], []
        for part in _AND_PATTERN.split(alternative):
            if _NOT_PATTERN.match(part):
                negated.append(transform(_NOT_PATTERN.sub("", part, count=1)))
            else:
                positive.append(transform(part))
        out.append(_Conjunction(positive, negated))
    return out


# --- the internal filter tree (internal/filters.py) ---------------------------------------------


@dataclass
class _Attribute:
    name: str
    aggregation: Optional[str] = None
    type: Optional[str] = None

    def __post_init__(self) -> None:
        _validate_allowed_value(self.aggregation, ALL_AGGREGATIONS, "aggregation")
        _validate_allowed_value(self.type, ALL_TYPES, "type")

    def to_query(self) -> str:
        query = f"`{self.name}`"
        if self.type is not None:
            query += f":{backend_type(self.type)}"
        if self.aggregation is not None:
            query = f"{self.aggregation}({query})"
        return query

    def __str__(self) -> str:
        return self.to_query()


class _Filter:
    def to_query(self) -> str:  # pragma: no cover - every subclass has one
        raise NotImplementedError

    def attributes(self) -> Iterable[_Attribute]:
        """Every attribute the filter refers to (for type inference)."""
        return []

    def __str__(self) -> str:
        return self.to_query()

    @staticmethod
    def all(filters: Sequence["_Filter"]) -> "_Filter":
        if not filters or not isinstance(filters, Sequence):
            raise ValueError("At least one filter must be provided to combine with AND.")
        return _AssociativeOperator("AND", list(filters))

    @staticmethod
    def any(filters: List["_Filter"]) -> "_Filter":
        if not filters or not isinstance(filters, list):
            raise ValueError("At least one filter must be provided to combine with OR.")
        return _AssociativeOperator("OR", filters)

    @staticmethod
    def eq(attribute: _Attribute, value) -> "_Filter":
        return _AttributeValuePredicate("==", attribute, value)


_VALUE_OPERATORS = {"==", "!=", ">", ">=", "<", "<=", "MATCHES", "NOT MATCHES", "CONTAINS", "NOT CONTAINS"}


@dataclass
class _AttributeValuePredicate(_Filter):
    operator: str
    attribute: _Attribute
    value: Union[bool, int, float, str, datetime]

    def __post_init__(self) -> None:
        _validate_allowed_value(self.operator, _VALUE_OPERATORS, "operator")
        if not isinstance(self.value, (bool, int, float, str, datetime)):
            raise TypeError(f"Invalid value type: {type(self.value).__name__}. Expected int, float, str, or datetime.")

    def to_query(self) -> str:
        return f"{self.attribute} {self.operator} {self._right_query()}"

    def _right_query(self) -> str:
        if isinstance(self.value, datetime):
            return f'"{self.value.astimezone().isoformat()}"'
        value = str(self.value).replace("\\", r"\\").replace('"', r"\"")
        return f'"{value}"'

    def attributes(self) -> Iterable[_Attribute]:
        return [self.attribute]


@dataclass
class _AttributePredicate(_Filter):
    postfix_operator: str
    attribute: _Attribute

    def to_query(self) -> str:
        return f"{self.attribute} {self.postfix_operator}"

    def attributes(self) -> Iterable[_Attribute]:
        return [self.attribute]


@dataclass
class _AssociativeOperator(_Filter):
    operator: str
    filters: List[_Filter]

    def __post_init__(self) -> None:
        _validate_allowed_value(self.operator, {"AND", "OR"}, "operator")
        if not self.filters:
            raise ValueError(f"At least one filter must be provided to combine with {self.operator}.")

    def to_query(self) -> str:
        return f" {self.operator} ".join(f"({child})" for child in self.filters)

    def attributes(self) -> Iterable[_Attribute]:
        return [a for f in self.filters for a in f.attributes()]


@dataclass
class _PrefixOperator(_Filter):
    operator: str
    filter_: _Filter

    def to_query(self) -> str:
        return f"{self.operator} ({self.filter_})"

    def attributes(self) -> Iterable[_Attribute]:
        return self.filter_.attributes()


def _extended_regex_filter(attribute: _Attribute, pattern: str) -> _Filter:
    return _Filter.any(
        [
            _Filter.all(
                [_AttributeValuePredicate("MATCHES", attribute, p) for p in conj.positive]
                + [_AttributeValuePredicate("NOT MATCHES", attribute, p) for p in conj.negated]
            )
            for conj in parse_extended_regex(pattern)
        ]
    )


# --- attribute filters ---------------------------------------------------------------------------


@dataclass
class _AttributeNameFilter:
    must_match_regexes: Optional[List[str]] = None
    must_not_match_regexes: Optional[List[str]] = None


@dataclass
class _AttributeFilter:
    """Attributes whose name is one of `name_eq` (when given), matches one of `must_match_any`
    (when given), and whose type is in `type_in`."""

    name_eq: Union[str, List[str], None] = None
    type_in: Sequence[str] = field(default_factory=lambda: list(ALL_TYPES))
    must_match_any: Optional[List[_AttributeNameFilter]] = None

    def leaves(self) -> List["_AttributeFilter"]:
        return [self]

    def matches(self, name: str, python_type_: str) -> bool:
        """Whether an attribute of this name and (neptune-query) type passes. Names match as the
        server matches them: a regex matches anywhere in the name (RE2-style search)."""
        if python_type_ not in self.type_in:
            return False
        if self.name_eq is not None:
            names = [self.name_eq] if isinstance(self.name_eq, str) else self.name_eq
            if name not in names:
                return False
        if self.must_match_any is not None:
            return any(
                all(re.search(p, name) for p in (alt.must_match_regexes or []))
                and not any(re.search(p, name) for p in (alt.must_not_match_regexes or []))
                for alt in self.must_match_any
            )
        return True


@dataclass
class _AttributeFilterAlternative:
    filters: List  # of _AttributeFilter or _AttributeFilterAlternative

    def leaves(self) -> List[_AttributeFilter]:
        return [leaf for f in self.filters for leaf in f.leaves()]

    def matches(self, name: str, python_type_: str) -> bool:
        return any(f.matches(name, python_type_) for f in self.filters)


class BaseAttributeFilter:
    """What `AttributeFilter`s and their alternatives (`a | b`) share."""

    def __or__(self, other: "BaseAttributeFilter") -> "BaseAttributeFilter":
        return BaseAttributeFilter.any(self, other)

    def any(*filters: "BaseAttributeFilter") -> "BaseAttributeFilter":  # noqa: N805 - neptune-query's API
        return _AttributeFilterAlternativePublic(filters=filters)

    def _to_internal(self):  # pragma: no cover - every subclass has one
        raise NotImplementedError


@dataclass
class AttributeFilter(BaseAttributeFilter):
    """Which attributes a fetch returns: `name` is a regex (Neptune's extended syntax: `a & !b |
    c`) or a list of exact names; `type` one type or a list of them (default: every type)."""

    name: Union[str, List[str], None] = None
    type: Union[str, List[str], None] = None

    def __post_init__(self) -> None:
        if self.type is None:
            self.type = list(KNOWN_TYPES)
        elif isinstance(self.type, str):
            self.type = [self.type]
        _validate_string_or_string_list(self.name, "name")
        _validate_list_of_allowed_values(self.type, KNOWN_TYPES, "type")

    def _to_internal(self) -> _AttributeFilter:
        types = list(self.type)
        if isinstance(self.name, str):
            return _AttributeFilter(
                type_in=types,
                must_match_any=[
                    _AttributeNameFilter(
                        must_match_regexes=conj.positive or None,
                        must_not_match_regexes=conj.negated or None,
                    )
                    for conj in parse_extended_regex(self.name)
                ],
            )
        if self.name is None:
            return _AttributeFilter(type_in=types)
        return _AttributeFilter(name_eq=self.name, type_in=types)


@dataclass
class _AttributeFilterAlternativePublic(BaseAttributeFilter):
    filters: Iterable[BaseAttributeFilter]

    def __or__(self, other: "BaseAttributeFilter") -> "BaseAttributeFilter":
        return _AttributeFilterAlternativePublic(tuple(self.filters) + (other,))

    def _to_internal(self) -> _AttributeFilterAlternative:
        return _AttributeFilterAlternative([f._to_internal() for f in self.filters])


@dataclass
class Attribute:
    """An attribute by its exact name, and optionally its type (to tell apart attributes of one
    name with several types). `str(attribute)` is its NQL: `` `name`:type ``."""

    name: str
    type: Optional[str] = None

    def __post_init__(self) -> None:
        _validate_allowed_value(self.type, ALL_TYPES, "type")

    def _to_internal(self) -> _Attribute:
        return _Attribute(name=self.name, type=self.type)

    def __str__(self) -> str:
        return self._to_internal().to_query()


def _attribute(attribute: Union[str, Attribute]) -> Attribute:
    return Attribute(name=attribute) if isinstance(attribute, str) else attribute


class Filter:
    """A condition on experiments or runs: `Filter.eq("config/lr", 0.01)`, `Filter.name("^exp")`,
    ..., combined with `&`, `|` and `~`. `str(f)` is the NQL neptune-query sends."""

    def __init__(self, internal: _Filter) -> None:
        self._internal = internal

    def __repr__(self) -> str:
        return f"Filter({str(self)!r})"

    @staticmethod
    def name(name: Union[str, List[str]]) -> "Filter":
        """The name (`sys/name`) matches this extended regex, or is one of these names."""
        name_attribute = Attribute(name="sys/name", type="string")
        if isinstance(name, str):
            return Filter.matches(name_attribute, name)
        return Filter(_Filter.any([_Filter.eq(name_attribute._to_internal(), n) for n in name]))

    @staticmethod
    def eq(attribute: Union[str, Attribute], value) -> "Filter":
        """The attribute's value equals `value`."""
        return Filter._compare("==", attribute, value)

    @staticmethod
    def ne(attribute: Union[str, Attribute], value) -> "Filter":
        """The attribute's value is not `value`."""
        return Filter._compare("!=", attribute, value)

    @staticmethod
    def gt(attribute: Union[str, Attribute], value) -> "Filter":
        """The attribute's value is greater than `value`."""
        return Filter._compare(">", attribute, value)

    @staticmethod
    def ge(attribute: Union[str, Attribute], value) -> "Filter":
        """The attribute's value is at least `value`."""
        return Filter._compare(">=", attribute, value)

    @staticmethod
    def lt(attribute: Union[str, Attribute], value) -> "Filter":
        """The attribute's value is less than `value`."""
        return Filter._compare("<", attribute, value)

    @staticmethod
    def le(attribute: Union[str, Attribute], value) -> "Filter":
        """The attribute's value is at most `value`."""
        return Filter._compare("<=", attribute, value)

    @staticmethod
    def matches(attribute: Union[str, Attribute], pattern: str) -> "Filter":
        """The string attribute matches this extended regex (`a & !b | c`)."""
        return Filter(_extended_regex_filter(_attribute(attribute)._to_internal(), pattern))

    @staticmethod
    def contains_all(attribute: Union[str, Attribute], values: Union[str, List[str]]) -> "Filter":
        """The set (or string) contains every one of `values`."""
        return Filter._contains_each("contains_all", "CONTAINS", attribute, values)

    @staticmethod
    def contains_none(attribute: Union[str, Attribute], values: Union[str, List[str]]) -> "Filter":
        """The set (or string) contains none of `values`."""
        return Filter._contains_each("contains_none", "NOT CONTAINS", attribute, values)

    @staticmethod
    def exists(attribute: Union[str, Attribute]) -> "Filter":
        """The object has the attribute."""
        return Filter(_AttributePredicate("EXISTS", _attribute(attribute)._to_internal()))

    @staticmethod
    def _compare(operator: str, attribute: Union[str, Attribute], value) -> "Filter":
        return Filter(_AttributeValuePredicate(operator, _attribute(attribute)._to_internal(), value))

    @staticmethod
    def _contains_each(method: str, operator: str, attribute: Union[str, Attribute], values) -> "Filter":
        """The AND of `operator` over `values` (one string, or a non-empty list of them)."""
        attribute = _attribute(attribute)
        if values == []:
            raise ValueError(
                f"Invalid value for `{method}` filter. Expected str, or non-empty list of str, but got "
                "an empty list"
            )
        if isinstance(values, str):
            values = [values]
        return Filter(_Filter.all([_AttributeValuePredicate(operator, attribute._to_internal(), v) for v in values]))

    def __and__(self, other: "Filter") -> "Filter":
        return Filter(_Filter.all([self._to_internal(), other._to_internal()]))

    def __or__(self, other: "Filter") -> "Filter":
        return Filter(_Filter.any([self._to_internal(), other._to_internal()]))

    def __invert__(self) -> "Filter":
        return Filter(_PrefixOperator("NOT", self._to_internal()))

    def _to_internal(self) -> _Filter:
        return self._internal

    def __str__(self) -> str:
        return self._to_internal().to_query()
