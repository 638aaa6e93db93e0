"""Form 4 ownership XML parser: every fixture row checked field by field against the XML."""
from __future__ import annotations

import dataclasses
import json
import re
import xml.etree.ElementTree as ET
from datetime import date
from decimal import Decimal

import defusedxml
import pytest

from pipelines.core.errors import DataError
from pipelines.sources.edgar.form4 import (
    apply_amendment,
    form4_to_json,
    form4_to_text,
    mentions_10b5_1_plan,
    parse_form4,
)
from pipelines.sources.edgar.form4_rows import TAG_NAMES
from pipelines.sources.edgar.xml_safety import guarded_expat, parse_xml
from tests.conftest import shared_fixture

FLWS = "form4_1800flowers_P_purchase_3_owners_X0508.xml"
WATER = "form4_374water_A_grant_rsu_and_option_X0508.xml"
SNOW = "form4_snowflake_M_exercise_and_S_sales_X0306.xml"
TCR2 = "form4_tcr2_P_purchase_3_reporting_owners_X0407.xml"
TELOS = "form4_telos_P_purchase_single_owner_X0407.xml"


def raw(name: str) -> bytes:
    return shared_fixture("edgar_form4", name).read_bytes()


def parse(name: str):
    return parse_form4(raw(name), source=name)


# (table, security, date, code, shares, price, A/D, owned after, D/I, nature, footnote ids),
# transcribed by hand from each XML file, in document order.
FLWS_TITLE = "Class A Common Stock, $0.01 par value"
EXPECTED_TRANSACTIONS = {
    FLWS: [
        ("non_derivative", FLWS_TITLE, "2025-04-24", "P", "16000", "5.3569", "A", "8536067", "I", "See Footnotes", ("F1", "F2")),
        ("non_derivative", FLWS_TITLE, "2025-04-24", "P", "16847", "5.4231", "A", "8552914", "I", "See Footnotes", ("F1", "F2")),
        ("non_derivative", FLWS_TITLE, "2025-04-25", "P", "100000", "5.4598", "A", "8652914", "I", "See Footnotes", ("F1", "F2")),
        ("non_derivative", FLWS_TITLE, "2025-04-28", "P", "35000", "5.4173", "A", "8687914", "I", "See Footnotes", ("F1", "F2")),
    ],
    WATER: [
        ("non_derivative", "Common Stock (restricted stock units)", "2025-04-30", "A", "757756", "0", "A", "757756", "D", None, ("F1",)),
        ("derivative", "Stock options (right to buy)", "2025-04-30", "A", "757576", "0", "A", "757756", "D", None, ("F1",)),
    ],
    SNOW: [
        ("non_derivative", "Class A Common Stock", "2022-12-13", "M", "200000", "8.88", "A", "301097", "D", None, ("F1",)),
        ("non_derivative", "Class A Common Stock", "2022-12-13", "S", "73170", "150.841", "D", "227927", "D", None, ("F2", "F3")),
        ("non_derivative", "Class A Common Stock", "2022-12-13", "S", "74907", "151.814", "D", "153020", "D", None, ("F2", "F4")),
        ("non_derivative", "Class A Common Stock", "2022-12-13", "S", "41986", "152.655", "D", "111034", "D", None, ("F2", "F5")),
        ("non_derivative", "Class A Common Stock", "2022-12-13", "S", "5496", "153.872", "D", "105538", "D", None, ("F2", "F6")),
        ("non_derivative", "Class A Common Stock", "2022-12-13", "S", "4441", "154.76", "D", "101097", "D", None, ("F2", "F7")),
        ("derivative", "Stock Option (Right to Buy)", "2022-12-13", "M", "200000", "0", "A", "2219299", "D", None, ("F16",)),
    ],
    TCR2: [
        ("non_derivative", "Common Stock", "2023-05-11", "P", "38765", "1.95", "A", "4338617", "I", "By LP", ("F1", "F2")),
        ("non_derivative", "Common Stock", "2023-05-12", "P", "6183", "1.95", "A", "4344800", "I", "By LP", ("F3", "F2")),
    ],
    TELOS: [
        ("non_derivative", "Common Stock", "2023-05-12", "P", "84603", "2.36", "A", "84603", "I", "By Haley E. Schaufeld Irr Trust", ("F1", "F2")),
        ("non_derivative", "Common Stock", "2023-05-12", "P", "84602", "2.36", "A", "84602", "I", "By Jacob A. Schaufeld Irr Trust", ("F1", "F3")),
        ("non_derivative", "Common Stock", "2023-05-12", "P", "84602", "2.36", "A", "84602", "I", "By Max R. Schaufeld Irr Trust", ("F1", "F4")),
    ],
}


@pytest.mark.parametrize("name", sorted(EXPECTED_TRANSACTIONS))
def test_every_transaction_field_by_field(name):
    doc = parse(name)
    expected = EXPECTED_TRANSACTIONS[name]
    assert len(doc.transactions) == len(expected)
    for tx, row in zip(doc.transactions, expected, strict=True):
        table, title, day, code, shares, price, ad, after, di, nature, notes = row
        assert tx.table == table
        assert tx.security_title == title
        assert tx.date == date.fromisoformat(day)
        assert tx.code == code
        assert tx.shares == Decimal(shares)
        assert tx.price == Decimal(price)
        assert tx.acquired_disposed == ad
        assert tx.shares_owned_after == Decimal(after)
        assert tx.ownership == di
        assert tx.nature_of_ownership == nature
        assert tx.footnote_ids == notes
        assert tx.plan_10b5_1 is False  # no fixture footnote mentions a 10b5-1 plan


@pytest.mark.parametrize(
    "name, period, cik, issuer, ticker, aff, signature",
    [
        (FLWS, "2025-04-24", 1084869, "1 800 FLOWERS COM INC", "FLWS", False, "2025-04-28"),
        (WATER, "2025-04-30", 933972, "374Water Inc.", "SCWO", False, "2025-05-02"),
        (SNOW, "2022-12-13", 1640147, "Snowflake Inc.", "SNOW", None, "2022-12-14"),
        (TCR2, "2023-05-11", 1750019, "TCR2 THERAPEUTICS INC.", "TCRR", False, "2023-05-15"),
        (TELOS, "2023-05-12", 320121, "TELOS CORP", "TLS", False, "2023-05-15"),
    ],
)
def test_header_issuer_and_aff10b5one(name, period, cik, issuer, ticker, aff, signature):
    doc = parse(name)
    assert doc.document_type == "4"
    assert doc.period_of_report == date.fromisoformat(period)
    assert doc.date_of_original_submission is None
    assert (doc.issuer.cik, doc.issuer.name, doc.issuer.ticker) == (cik, issuer, ticker)
    assert doc.aff10b5one is aff  # 0 (FLWS, TCR2, Telos), "false" (374Water), absent (Snowflake X0306)
    assert doc.signature_date == date.fromisoformat(signature)


def test_three_owner_fixtures():
    flws = parse(FLWS)
    assert [(o.cik, o.name) for o in flws.owners] == [
        (1959730, "Fund 1 Investments, LLC"),
        (2052009, "PLP Funds Master Fund LP"),
        (1580144, "Pleasant Lake Partners LLC"),
    ]
    tcr2 = parse(TCR2)
    assert [(o.cik, o.name) for o in tcr2.owners] == [
        (1178579, "TANG KEVIN C"),
        (1232621, "TANG CAPITAL MANAGEMENT LLC"),
        (1191935, "TANG CAPITAL PARTNERS LP"),
    ]
    for owner in flws.owners + tcr2.owners:
        assert owner.is_ten_percent_owner is True
        assert (owner.is_director, owner.is_officer, owner.is_other) == (False, False, False)
        assert owner.officer_title is None  # <officerTitle/> in FLWS, absent in TCR2
    assert len(tcr2.signatures) == 3


def test_single_owner_relationships():
    snow, water, telos = parse(SNOW), parse(WATER), parse(TELOS)
    assert (snow.owners[0].cik, snow.owners[0].is_officer, snow.owners[0].officer_title) == (
        1402349, True, "Chief Financial Officer")
    # 374Water writes only <isOfficer>true</isOfficer>; absent boxes are unchecked.
    assert (water.owners[0].cik, water.owners[0].is_officer, water.owners[0].is_director) == (2064133, True, False)
    assert water.owners[0].officer_title == "Chief Technology Officer"
    assert (telos.owners[0].name, telos.owners[0].is_director, telos.owners[0].is_officer) == (
        "Schaufeld Fredrick", True, False)


def test_374water_exercise_date_is_a_footnote_reference_not_zero():
    option = parse(WATER).transactions[1]
    assert option.table == "derivative"
    assert option.exercise_date is None
    assert option.footnotes_for("exercise_date") == ("F1",)
    assert option.is_footnote_only("exercise_date")
    assert option.conversion_or_exercise_price == Decimal("0.33")
    assert option.expiration_date == date(2035, 4, 29)
    assert option.underlying_security_title == "Common Stock"
    assert option.underlying_shares == Decimal(757576)
    assert not option.is_footnote_only("shares")  # shares has a value AND footnote F1
    assert option.footnotes_for("shares") == ("F1",)


def test_snowflake_derivative_and_code_footnotes():
    doc = parse(SNOW)
    option = doc.transactions[6]
    assert option.exercise_date is None and option.footnotes_for("exercise_date") == ("F16",)
    assert option.expiration_date == date(2029, 8, 26)
    assert option.underlying_shares == Decimal("200000.0")
    # F2 sits inside <transactionCoding>, beside the code.
    assert doc.transactions[1].footnotes_for("code") == ("F2",)
    assert doc.transactions[1].footnotes_for("price") == ("F3",)
    assert len(doc.footnotes) == 16
    assert doc.footnotes["F2"] == "The sales reported in this Form 4 were effected for financial and tax planning purposes."
    assert doc.remarks is None


SNOW_HOLDINGS = [("577218", "F8"), ("178947", "F9"), ("9686", "F10"), ("2755", "F11"),
                 ("9686", "F12"), ("2755", "F13"), ("9686", "F14"), ("2755", "F15")]


def test_holdings_rows():
    snow = parse(SNOW)
    assert len(snow.holdings) == 8
    for holding, (shares, note) in zip(snow.holdings, SNOW_HOLDINGS, strict=True):
        assert (holding.table, holding.security_title) == ("non_derivative", "Class A Common Stock")
        assert holding.shares_owned_after == Decimal(shares)
        assert (holding.ownership, holding.nature_of_ownership, holding.footnote_ids) == ("I", "Trust", (note,))
    telos = parse(TELOS)
    assert [(h.shares_owned_after, h.ownership, h.nature_of_ownership, h.footnote_ids) for h in telos.holdings] == [
        (Decimal(255449), "I", "By Fredrick D. Schaufeld Rev. Trust", ()),
        (Decimal(250000), "I", "By FDS New River Farm 2017 Irrevocable Trust", ()),
        (Decimal(181498), "I", "River Farm Investments, LLC", ()),
        (Decimal(91297), "D", None, ()),
    ]
    assert parse(FLWS).holdings == () and parse(TCR2).holdings == ()


def test_footnote_text_whitespace_is_collapsed():
    doc = parse(WATER)
    assert doc.footnotes["F1"].startswith("Vesting commencement date is March 31, 2025. 25% of the shares vest")
    assert parse(SNOW).footnotes["F1"] == (
        "Includes shares to be issued in connection with the vesting of one or more restricted stock units.")


# --- JSON and text output -------------------------------------------------------------------

TOP_KEYS = {"document_type", "period_of_report", "issuer", "owners", "transactions", "holdings", "aff10b5one"}
OWNER_KEYS = {"cik", "name", "is_director", "is_officer", "is_ten_percent_owner", "is_other", "officer_title"}
TX_KEYS = {"table", "security_title", "date", "code", "shares", "price", "acquired_disposed",
           "shares_owned_after", "ownership", "nature_of_ownership", "footnote_ids"}


@pytest.mark.parametrize("name", sorted(EXPECTED_TRANSACTIONS))
def test_form4_to_json_shape_and_types(name):
    out = form4_to_json(parse(name))
    assert json.loads(json.dumps(out)) == out  # plain JSON types only
    assert set(out) == TOP_KEYS
    assert set(out["issuer"]) == {"cik", "name", "ticker"} and isinstance(out["issuer"]["cik"], int)
    for owner in out["owners"]:
        assert set(owner) == OWNER_KEYS and isinstance(owner["cik"], int)
    for tx in out["transactions"]:
        assert set(tx) == TX_KEYS
        assert tx["table"] in ("non_derivative", "derivative")
        assert tx["acquired_disposed"] in ("A", "D") and tx["ownership"] in ("D", "I")
        assert isinstance(tx["footnote_ids"], list)
        for key in ("shares", "price", "shares_owned_after"):
            assert type(tx[key]) in (int, float)
    for holding in out["holdings"]:
        assert set(holding) <= TX_KEYS and {"table", "shares_owned_after", "ownership"} <= set(holding)
    assert out["aff10b5one"] in (True, False, None)


def test_form4_to_json_values():
    flws = form4_to_json(parse(FLWS))
    assert flws["period_of_report"] == "2025-04-24"
    assert flws["issuer"] == {"cik": 1084869, "name": "1 800 FLOWERS COM INC", "ticker": "FLWS"}
    first = flws["transactions"][0]
    assert first["shares"] == 16000 and type(first["shares"]) is int
    assert first["price"] == 5.3569 and type(first["price"]) is float
    assert first["date"] == "2025-04-24" and first["footnote_ids"] == ["F1", "F2"]
    assert flws["aff10b5one"] is False
    snow = form4_to_json(parse(SNOW))
    assert snow["aff10b5one"] is None
    assert snow["transactions"][0]["nature_of_ownership"] is None
    assert snow["holdings"][0] == {"table": "non_derivative", "security_title": "Class A Common Stock",
                                   "shares_owned_after": 577218, "ownership": "I",
                                   "nature_of_ownership": "Trust", "footnote_ids": ["F8"]}
    assert form4_to_json(parse(TCR2))["owners"][1] == {
        "cik": 1232621, "name": "TANG CAPITAL MANAGEMENT LLC", "is_director": False, "is_officer": False,
        "is_ten_percent_owner": True, "is_other": False, "officer_title": None}


def test_form4_to_text_is_a_readable_table():
    text = form4_to_text(parse(TCR2))
    assert "TCR2 THERAPEUTICS INC." in text and "TANG CAPITAL PARTNERS LP" in text
    assert "4,338,617" in text and "By LP" in text
    assert "absent" in form4_to_text(parse(SNOW))  # no aff10b5One element in X0306


# --- 10b5-1 detection -------------------------------------------------------------------------

def test_plan_detection_from_footnote_text():
    original = raw(TCR2)
    plan_text = b"These shares were purchased pursuant to a Rule 10b5-1 trading plan adopted on March 1, 2023."
    doc = parse_form4(original.replace(b"These shares were purchased in multiple transactions at $1.95.", plan_text))
    # F3 is attached to the second row only.
    assert [t.plan_10b5_1 for t in doc.transactions] == [False, True]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Effected pursuant to a Rule 10b5-1 trading plan adopted by the reporting person on May 1, 2023.", True),
        ("Sold under a 10b5\u20111 plan.", True),
        ("Made pursuant to a trading plan under Rule 10b-5-1.", True),
        ("This transaction was not made pursuant to a Rule 10b5-1 plan.", False),
        ("The sales reported in this Form 4 were effected for financial and tax planning purposes.", False),
        ("Weighted-average price. Not a plan trade. Bought under a 10b5-1 plan.", True),
    ],
)
def test_mentions_10b5_1_plan(text, expected):
    assert mentions_10b5_1_plan(text) is expected


# --- amendments -------------------------------------------------------------------------------

def _as_amendment(body: bytes, original_date: str = "2025-04-28") -> bytes:
    body = body.replace(b"<documentType>4</documentType>", b"<documentType>4/A</documentType>")
    return body.replace(b"<periodOfReport>2025-04-24</periodOfReport>",
                        b"<periodOfReport>2025-04-24</periodOfReport>"
                        + f"<dateOfOriginalSubmission>{original_date}</dateOfOriginalSubmission>".encode())


def test_amendment_fields_and_replacement():
    original = parse(FLWS)
    restated = raw(FLWS).replace(b"<value>35000</value>", b"<value>36000</value>")
    amendment = parse_form4(_as_amendment(restated))
    assert amendment.document_type == "4/A" and amendment.is_amendment
    assert amendment.date_of_original_submission == date(2025, 4, 28)
    merged = apply_amendment(original, amendment)
    assert merged.transactions[3].shares == Decimal(36000)  # the restated row wins
    assert merged.document_type == "4/A"
    assert apply_amendment(None, amendment) is amendment


def test_amendment_without_rows_keeps_original_rows():
    original = parse(FLWS)
    no_rows = re.sub(rb"<nonDerivativeTable>.*</nonDerivativeTable>", b"", raw(FLWS), flags=re.DOTALL)
    amendment = parse_form4(_as_amendment(no_rows))
    assert amendment.transactions == ()
    merged = apply_amendment(original, amendment)
    assert merged.transactions == original.transactions
    assert merged.footnotes == original.footnotes


def test_amendment_must_match_issuer_and_be_a_4a():
    with pytest.raises(DataError, match="not an amendment"):
        apply_amendment(parse(FLWS), parse(FLWS))
    with pytest.raises(DataError, match="issuer CIK"):
        apply_amendment(parse(TCR2), parse_form4(_as_amendment(raw(FLWS))))


# --- bad input --------------------------------------------------------------------------------

BOMB = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<ownershipDocument><remarks>&lol9;</remarks></ownershipDocument>"""

EXTERNAL = b"""<?xml version="1.0"?>
<!DOCTYPE ownershipDocument [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<ownershipDocument><remarks>&xxe;</remarks></ownershipDocument>"""

EXTERNAL_DTD = b"""<?xml version="1.0"?>
<!DOCTYPE ownershipDocument SYSTEM "http://127.0.0.1:9/evil.dtd">
<ownershipDocument/>"""


def test_truncated_xml():
    body = raw(FLWS)
    with pytest.raises(DataError, match="malformed or truncated XML at line") as err:
        parse_form4(body[: len(body) // 2], source="flws-half")
    assert err.value.source == "flws-half"


@pytest.mark.parametrize("payload", [BOMB, EXTERNAL, EXTERNAL_DTD], ids=["billion-laughs", "external-entity", "external-dtd"])
def test_dtd_bombs_and_external_entities_are_refused(payload):
    with pytest.raises(DataError, match="DTD .* refused"):
        parse_form4(payload)


def test_missing_issuer():
    body = re.sub(rb"<issuer>.*?</issuer>", b"", raw(TCR2), flags=re.DOTALL)
    with pytest.raises(DataError, match="missing required element issuer"):
        parse_form4(body)


def test_missing_document_type():
    body = raw(TELOS).replace(b"<documentType>4</documentType>", b"")
    with pytest.raises(DataError, match="missing required element documentType"):
        parse_form4(body)


def test_missing_issuer_cik():
    body = raw(TELOS).replace(b"<issuerCik>0000320121</issuerCik>", b"")
    with pytest.raises(DataError, match="issuer/issuerCik"):
        parse_form4(body)


def test_other_document_type_is_refused():
    body = raw(TELOS).replace(b"<documentType>4</documentType>", b"<documentType>3</documentType>")
    with pytest.raises(DataError, match="documentType '3' is not a Form 4"):
        parse_form4(body)


def test_root_in_another_namespace():
    body = raw(FLWS).replace(b"<ownershipDocument>", b'<ownershipDocument xmlns="http://example.com/other">', 1)
    with pytest.raises(DataError, match="namespace 'http://example.com/other'"):
        parse_form4(body)


def test_root_is_not_ownership_document():
    with pytest.raises(DataError, match="root element is <feed>"):
        parse_form4(b"<feed><entry/></feed>")


def test_non_utf8_bytes():
    # No XML declaration in the FLWS file, so UTF-8 applies; 0xE9 alone is not UTF-8.
    body = raw(FLWS).replace(b"Fund 1 Investments, LLC</rptOwnerName>", b"Fund 1 Investm\xe9nts</rptOwnerName>")
    with pytest.raises(DataError, match="not valid utf-8 .* byte 0xe9"):
        parse_form4(body)


def test_declared_latin1_decodes():
    body = raw(TELOS).replace(b'<?xml version="1.0"?>', b'<?xml version="1.0" encoding="ISO-8859-1"?>')
    body = body.replace(b"Schaufeld Fredrick", b"Schaufeld Fr\xe9d\xe9rick")
    assert parse_form4(body).owners[0].name == "Schaufeld Fr\u00e9d\u00e9rick"


def test_bad_number_names_the_element():
    body = raw(TCR2).replace(b"<value>38765</value>", b"<value>38,765</value>")
    with pytest.raises(DataError, match=r"nonDerivativeTransaction\[0\]/transactionAmounts/transactionShares: '38,765'"):
        parse_form4(body)


def test_bad_boolean_and_bad_date():
    with pytest.raises(DataError, match="isTenPercentOwner: 'yes' is not a boolean"):
        parse_form4(raw(TCR2).replace(b"<isTenPercentOwner>1</isTenPercentOwner>", b"<isTenPercentOwner>yes</isTenPercentOwner>", 1))
    with pytest.raises(DataError, match="periodOfReport: '05/11/2023'"):
        parse_form4(raw(TCR2).replace(b"<periodOfReport>2023-05-11</periodOfReport>", b"<periodOfReport>05/11/2023</periodOfReport>"))


def test_empty_payload():
    with pytest.raises(DataError, match="empty payload"):
        parse_form4(b"  \n")


# --- fast paths: same results as the plain ones -------------------------------------------------

def test_field_footnotes_follow_field_order_not_document_order():
    # TCR2 row 0: F1 on transactionPricePerShare, then F2 on natureOfOwnership further down.
    row = parse(TCR2).transactions[0]
    assert row.field_footnotes == (("nature_of_ownership", ("F2",)), ("price", ("F1",)))
    assert row.footnote_ids == ("F1", "F2")



def test_footnote_ids_are_stripped_distinct_and_never_blank():
    body = raw(TCR2).replace(b'<footnoteId id="F1"/>', b'<footnoteId id="F1"/><footnoteId id=" F1 "/><footnoteId id=""/>', 1)
    body = body.replace(b'<footnoteId id="F2"/>', b'<footnoteId id=" "/>', 1)
    row = parse_form4(body).transactions[0]
    assert row.field_footnotes == (("price", ("F1",)),)
    assert row.footnote_ids == ("F1",)

def test_first_bad_value_in_field_order_is_reported():
    # The bad date comes first in the document, but owned-after is checked first.
    body = raw(TCR2).replace(b"<value>2023-05-11</value>", b"<value>11/05/2023</value>", 1)
    body = body.replace(b"<value>4338617</value>", b"<value>4,338,617</value>")
    with pytest.raises(DataError, match=r"sharesOwnedFollowingTransaction: '4,338,617' is not a number") as err:
        parse_form4(body)
    assert err.value.record_key == "nonDerivativeTransaction[0]/postTransactionAmounts/sharesOwnedFollowingTransaction"
    only_date = raw(TCR2).replace(b"<value>2023-05-11</value>", b"<value>11/05/2023</value>", 1)
    with pytest.raises(DataError, match=r"nonDerivativeTransaction\[0\]/transactionDate: '11/05/2023' is not a YYYY-MM-DD"):
        parse_form4(only_date)


@pytest.mark.parametrize("text, expected", [
    ("2023-05-11-04:00", date(2023, 5, 11)),  # offset suffix: not the fromisoformat fast path
    ("2023-05-11Z", date(2023, 5, 11)),
    ("2023-02-30", "is not a valid date"),
    ("2023-W19-4", "is not a YYYY-MM-DD date"),  # an ISO week date, which fromisoformat would take
    ("20230511", "is not a YYYY-MM-DD date"),
])
def test_transaction_dates(text, expected):
    body = raw(TCR2).replace(b"<value>2023-05-11</value>", b"<value>" + text.encode() + b"</value>", 1)
    if isinstance(expected, date):
        assert parse_form4(body).transactions[0].date == expected
    else:
        with pytest.raises(DataError, match=re.escape(f"transactionDate: {text!r} {expected}")):
            parse_form4(body)


@pytest.mark.parametrize("name", sorted(EXPECTED_TRANSACTIONS))
def test_records_hold_every_field(name):
    # Records are built without __init__ for speed: each must still hold all of its fields and
    # compare equal to the same record built by its __init__.
    doc = parse(name)
    for record in (doc, doc.issuer, *doc.owners, *doc.transactions, *doc.holdings, *doc.signatures):
        assert set(vars(record)) == {f.name for f in dataclasses.fields(record)}, type(record).__name__
        assert dataclasses.replace(record) == record


def test_seeded_names_do_not_change_the_tree():
    body = raw(SNOW)
    seeded = parse_xml(body, plain=True, names=TAG_NAMES)
    assert ET.tostring(seeded) == ET.tostring(parse_xml(body, plain=True)) == ET.tostring(ET.fromstring(body))
    # expat adds every name it meets to its table: a shared seed must not grow with untrusted names.
    seed = {"value": "value"}
    guarded_expat(ET.TreeBuilder(), seed).Parse(b"<ownershipDocument><newName newAttribute='1'/></ownershipDocument>", True)
    assert seed == {"value": "value"}


# Each guard stands on its own: with the DTD guard lifted, the next one down still refuses.
ENTITY_DECL = b'<!DOCTYPE r [<!ENTITY e "x">]><r>&e;</r>'
UNPARSED_ENTITY = b'<!DOCTYPE r [<!NOTATION png SYSTEM "png"><!ENTITY e SYSTEM "e.png" NDATA png>]><r/>'
EXTERNAL_REF = b'<!DOCTYPE r [<!ENTITY e SYSTEM "file:///etc/passwd">]><r>&e;</r>'


@pytest.mark.parametrize("payload, lifted, refused", [
    (ENTITY_DECL, ("StartDoctypeDeclHandler",), defusedxml.EntitiesForbidden),
    (UNPARSED_ENTITY, ("StartDoctypeDeclHandler", "EntityDeclHandler"), defusedxml.EntitiesForbidden),
    (EXTERNAL_REF, ("StartDoctypeDeclHandler", "EntityDeclHandler"), defusedxml.ExternalReferenceForbidden),
], ids=["entity-declaration", "unparsed-entity", "external-entity-reference"])
def test_each_expat_guard_refuses_on_its_own(payload, lifted, refused):
    parser = guarded_expat(ET.TreeBuilder())
    for handler in lifted:
        setattr(parser, handler, None)
    with pytest.raises(refused):
        parser.Parse(payload, True)


def test_expat_errors_read_as_data_errors():
    # expat counts columns from 0: the "&" is the 20th character.
    with pytest.raises(DataError, match="malformed or truncated XML at line 1, column 19: undefined entity"):
        parse_form4(b"<ownershipDocument>&e;</ownershipDocument>")
