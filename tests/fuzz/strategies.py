"""Generated bad input for the fuzz suite: each strategy draws a value a careless or hostile client might send.

`markup(token)` carries a unique marker that must never come back unescaped (tests/fuzz/checks.py).
Control characters (NUL and C0/C1) are a separate strategy so their tests can be told apart: the edge middleware
refuses them with a 400 (issue 18, item 3).
"""

from hypothesis import strategies as st

CONTROL = [chr(c) for c in (*range(0, 9), 11, 12, *range(14, 32), 127, 0x85)]

BAD_DATES = [
    "2026-02-30",
    "2026-13-01",
    "0000-00-00",
    "0001-01-01",
    "9999-12-31",
    "10000-01-01",
    "-2026-01-01",
    "2026-1-1T25:61",
    "2026-06-31T24:00",
    "31/12/2026",
    "1e9",
    "yesterday",
    "2026-01-01T00:00:00+99:00",
]
HUGE_NUMBERS = [
    "9" * 400,
    "-" + "9" * 30,
    "1e309",
    "-1e309",
    "NaN",
    "Infinity",
    "-0",
    "0x10",
    "1_000",
    "2147483648",
    "9223372036854775808",
    "-9223372036854775809",
    "١٢٣",  # Arabic-Indic digits
    "3.4028235e+38",
]
WRONG_TYPES = ["[]", "{}", "null", "true", "[1,2]", '{"a": 1}', "None", "undefined", "on", "", " "]
INVALID_IDS = [
    "0",
    "-1",
    "00000000-0000-0000-0000-000000000000",
    "not-a-uuid",
    "%",
    "..",
    "../../etc/passwd",
    "' OR 1=1 --",
    "1;DROP TABLE patients_patient",
    "a" * 300,
    "𝕏",
    "%2e%2e%2f",
]


@st.composite
def markup(draw, token: str) -> str:
    """A reflected-markup probe named by `token`."""
    shape = draw(st.sampled_from(["script", "img", "attr", "svg"]))
    return {
        "script": f"<script>{token}</script>",
        "img": f'"><img src=x onerror={token}>',
        "attr": f"' onmouseover='{token}' x='",
        "svg": f"<svg onload={token}>",
    }[shape]


def plain_bad(token: str):
    """Bad values without control characters."""
    printable = st.text(
        alphabet=st.characters(blacklist_categories=("Cc", "Cs"), max_codepoint=0x1FFFF), max_size=40
    )
    return st.one_of(
        markup(token),
        st.sampled_from(BAD_DATES),
        st.sampled_from(HUGE_NUMBERS),
        st.sampled_from(WRONG_TYPES),
        st.sampled_from(INVALID_IDS),
        printable,
        st.integers(min_value=-(10**30), max_value=10**30).map(str),
        st.builds(lambda n, c: c * n, st.sampled_from([256, 1001, 5000, 70_000]), st.sampled_from("aé9<")),
        st.tuples(markup(token), printable).map("".join),
    )


def control_bad(token: str):
    """Values with at least one control character somewhere; NUL half the time (PostgreSQL refuses it in text, so
    it is the one that reaches furthest)."""
    ctrl = st.one_of(st.just("\x00"), st.sampled_from(CONTROL))
    return st.one_of(
        ctrl,
        st.tuples(st.sampled_from(["", "Smith", "2026-01-01", "12", token]), ctrl, st.text(max_size=5)).map(
            "".join
        ),
    )


def bad_value(token: str, kind: str):
    return control_bad(token) if kind == "control" else plain_bad(token)


MALFORMED_JSON = [
    b"{",
    b'{"a": }',
    b"[" * 5000,
    b'{"resourceType": "Patient", "id": ' + b"9" * 5000 + b"}",
    b'{"a": "\\ud800"}',
    b"\xff\xfe\x00{",
    b'{"__proto__": {"x": 1}}',
    b"null",
    b'"just a string"',
]
MALFORMED_XML = [
    b"<",
    b"<Message><Header></Message>",
    b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>',
    b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
    b'<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">]><l>&d;</l>',
    b"<Message xmlns='http://www.ncpdp.org/schema/SCRIPT'>" + b"<Body>" * 3000,
    b"\x00<Message/>",
    b"<Message><Body><Unknown/></Body></Message>",
]
