"""Orange Book parsing (products, patent, exclusivity files; release ZIP) and the release diff.

Expected values are read by hand from the recorded May-2026 rows in shared/fixtures/orange_book.
"""
from __future__ import annotations

import hashlib
import io
import zipfile
from datetime import UTC, date, datetime

import pytest

from pipelines.core.errors import DataError
from pipelines.sources.orange_book.diff import diff_releases
from pipelines.sources.orange_book.parse import (
    OrangeBookRowError,
    build_release,
    parse_date,
    parse_exclusivities,
    parse_patents,
    parse_products,
    read_release_dir,
    read_release_zip,
    release_hash,
)
from tests.conftest import shared_fixture

FILES = ("products.txt", "patent.txt", "exclusivity.txt")


def raw(name: str) -> bytes:
    return shared_fixture("orange_book", name).read_bytes()


def text(name: str) -> str:
    return raw(name).decode("ascii")


def zip_of(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def by_key(products):
    return {(p.appl_no, p.product_no): p for p in products}


# ---- products.txt ----------------------------------------------------------------------------

def test_products_all_rows_parse():
    rows, errors = parse_products(text("products.txt"))
    assert errors == []
    assert len(rows) == 35
    assert sum(p.appl_type == "N" for p in rows) == 32
    assert sorted(p.appl_no for p in rows if p.appl_type == "A") == ["088713", "207085", "215328"]


def test_products_fields_of_one_row():
    # BUDESONIDE~AEROSOL, FOAM;RECTAL~UCERIS~SALIX~2MG/ACTUATION~N~205613~001~AB~Oct 7, 2014~Yes~No~RX~
    # SALIX PHARMACEUTICALS INC
    p = by_key(parse_products(text("products.txt"))[0])[("205613", "001")]
    assert (p.ingredient, p.df_route, p.dosage_form, p.route) == (
        "BUDESONIDE", "AEROSOL, FOAM;RECTAL", "AEROSOL, FOAM", "RECTAL")
    assert (p.trade_name, p.applicant, p.strength, p.appl_type) == ("UCERIS", "SALIX", "2MG/ACTUATION", "N")
    assert (p.te_code, p.approval_date, p.approved_pre_1982) == ("AB", date(2014, 10, 7), False)
    assert (p.rld, p.rs, p.type, p.applicant_full_name) == (True, False, "RX", "SALIX PHARMACEUTICALS INC")


def test_products_special_rows():
    products = by_key(parse_products(text("products.txt"))[0])
    # ...~"HY-PAM ""25"""~TEVA~EQ 25MG HYDROCHLORIDE~A~088713~001~~Mar 4, 1985~No~No~DISCN~...
    hy = products[("088713", "001")]
    assert hy.trade_name == 'HY-PAM "25"'
    assert (hy.appl_type, hy.strength, hy.te_code, hy.type) == ("A", "EQ 25MG HYDROCHLORIDE", "", "DISCN")
    assert hy.approval_date == date(1985, 3, 4)
    # ALUPENT ...~N~016402~001~~Approved Prior to Jan 1, 1982~No~No~DISCN~...
    alupent = products[("016402", "001")]
    assert (alupent.approval_date, alupent.approved_pre_1982) == (None, True)
    # EVOCLIN strength carries a Federal Register note; the base strength is "1%".
    evoclin = products[("050801", "001")]
    assert evoclin.strength.startswith("1% **Federal Register determination")
    assert evoclin.strength_base == "1%"
    assert products[("021812", "001")].trade_name == "MEN'S ROGAINE"
    assert products[("021812", "001")].type == "OTC"
    assert products[("022335", "001")].strength == "N/A"
    assert products[("212122", "002")].approval_date == date(2026, 4, 27)
    assert products[("021457", "001")].te_code == "AB2"


def test_products_crlf_and_lf_give_the_same_rows():
    lf = text("products.txt")
    assert "\r" not in lf  # the recorded products.txt is LF
    assert parse_products(lf.replace("\n", "\r\n"))[0] == parse_products(lf)[0]


# ---- patent.txt ------------------------------------------------------------------------------

def test_patents_all_rows_parse_crlf_without_final_newline():
    data = raw("patent.txt")
    assert b"\r\n" in data and not data.endswith(b"\n")
    rows, errors = parse_patents(data.decode("ascii"))
    assert errors == []
    assert len(rows) == 57


def test_patent_fields_use_code_rows_delisted_and_ped():
    rows = parse_patents(text("patent.txt"))[0]
    first = rows[0]  # N~205552~001~9125889~Jun 3, 2031~~~U-1745~~Sep 25, 2015
    assert (first.appl_type, first.appl_no, first.product_no, first.patent_no) == ("N", "205552", "001", "9125889")
    assert (first.expire_date, first.drug_substance, first.drug_product) == (date(2031, 6, 3), False, False)
    assert (first.use_code, first.delisted, first.submission_date, first.ped) == (
        "U-1745", False, date(2015, 9, 25), False)
    # 10004746 on 205552/001: one row per use code U-2242, U-2241, U-1946, U-1684; all kept.
    codes = sorted(r.use_code for r in rows if (r.appl_no, r.product_no, r.patent_no, r.ped)
                   == ("205552", "001", "10004746", False))
    assert codes == ["U-1684", "U-1946", "U-2241", "U-2242"]
    # N~205552~001~8476284*PED~Jun 28, 2027~~~~~
    ped = [r for r in rows if r.ped and r.appl_no == "205552" and r.patent_no == "8476284"]
    assert len(ped) == 1
    assert (ped[0].expire_date, ped[0].listed_no, ped[0].submission_date) == (date(2027, 6, 28), "8476284*PED", None)
    assert (ped[0].drug_substance, ped[0].drug_product, ped[0].use_code) == (False, False, "")
    assert sum(r.ped for r in rows) == 3
    # Delist_Flag Y: 11395889, 10022510, 10695512, all on 207921/001.
    assert sorted(r.patent_no for r in rows if r.delisted) == ["10022510", "10695512", "11395889"]
    # N~214998~003~RE50050~Apr 28, 2036~Y~Y~~~Aug 20, 2024 (reissue, DS and DP)
    re = next(r for r in rows if r.patent_no == "RE50050" and r.product_no == "003")
    assert (re.drug_substance, re.drug_product, re.use_code, re.expire_date) == (True, True, "", date(2036, 4, 28))


# ---- exclusivity.txt -------------------------------------------------------------------------

def test_exclusivities_keep_expired_and_ped_rows():
    rows, errors = parse_exclusivities(text("exclusivity.txt"))
    assert errors == []
    assert len(rows) == 53
    imbruvica = sorted((r.product_no, r.code, r.date) for r in rows if r.appl_no == "205552")
    assert imbruvica == [
        ("001", "NPP", date(2025, 8, 24)), ("001", "ODE-405", date(2029, 8, 24)),
        ("001", "PED", date(2026, 2, 24)), ("001", "PED", date(2030, 2, 24)),
        ("002", "NPP", date(2025, 8, 24)), ("002", "ODE-405", date(2029, 8, 24)),
        ("002", "PED", date(2026, 2, 24)), ("002", "PED", date(2030, 2, 24)),
    ]
    assert any(r.code == "ODE*" and (r.appl_no, r.product_no) == ("218213", "002") for r in rows)


# ---- bad input -------------------------------------------------------------------------------

def test_wrong_column_count_is_reported_with_line_and_raw_text_and_rest_kept():
    lines = text("exclusivity.txt").split("\r\n")
    bad = "N~205552~001~NPP"  # one field short
    lines.insert(3, bad)
    rows, errors = parse_exclusivities("\r\n".join(lines))
    assert len(rows) == 53
    assert len(errors) == 1
    err = errors[0]
    assert isinstance(err, DataError) and isinstance(err, OrangeBookRowError)
    assert (err.file, err.line_no, err.raw) == ("exclusivity.txt", 4, bad)
    assert "expected 5 fields, found 4" in str(err) and "line 4" in str(err)
    assert err.record_key == "N~205552~001~NPP"


def test_unknown_date_text_is_a_row_error():
    lines = text("patent.txt").split("\r\n")
    lines[1] = lines[1].replace("Jun 3, 2031", "Sept 3, 2031")
    lines[2] = lines[2].replace("Jun 3, 2031", "TBD")
    rows, errors = parse_patents("\r\n".join(lines))
    assert len(rows) == 55
    assert [(e.line_no, e.raw) for e in errors] == [(2, lines[1]), (3, lines[2])]
    assert "unknown date text 'Sept 3, 2031'" in str(errors[0])
    with pytest.raises(ValueError):
        parse_date("2031-06-03")
    assert parse_date("Oct 7, 2014") == date(2014, 10, 7)


def test_bad_flag_and_appl_type_are_row_errors():
    header = text("exclusivity.txt").split("\r\n")[0]
    rows, errors = parse_exclusivities(f"{header}\nX~205552~001~NPP~Aug 24, 2025\nN~205552~001~NPP~Aug 24, 2025\n")
    assert len(rows) == 1 and len(errors) == 1
    assert "Appl_Type must be N or A" in str(errors[0])


def test_wrong_header_fails_the_file():
    body = text("exclusivity.txt").replace("Exclusivity_Code", "Code", 1)
    with pytest.raises(DataError, match="exclusivity.txt: header"):
        parse_exclusivities(body)


# ---- release ZIP -----------------------------------------------------------------------------

def test_release_zip_reads_all_three_files():
    members = {f: raw(f) for f in FILES}
    data = zip_of(members)
    release = read_release_zip(data)
    assert (len(release.products), len(release.patents), len(release.exclusivities)) == (35, 57, 53)
    assert release.errors == ()
    assert release.sha256 == hashlib.sha256(data).hexdigest() == release_hash(data)
    # Names are matched by base name, case-insensitively.
    upper = read_release_zip(zip_of({f"EOBZIP/{f.upper()}": d for f, d in members.items()}))
    assert upper.products == release.products


def test_release_hash_changes_with_content():
    members = {f: raw(f) for f in FILES}
    a = zip_of(members)
    assert release_hash(a) == release_hash(bytes(a))
    b = zip_of({**members, "exclusivity.txt": raw("exclusivity.txt")[:-1]})
    assert release_hash(a) != release_hash(b)


def test_truncated_zip_is_a_data_error():
    data = zip_of({f: raw(f) for f in FILES})
    with pytest.raises(DataError, match="truncated or invalid"):
        read_release_zip(data[: len(data) // 2])
    with pytest.raises(DataError, match="truncated or invalid"):
        read_release_zip(b"<html>Service Unavailable</html>")


def test_corrupt_member_is_a_data_error():
    data = bytearray(zip_of({f: raw(f) for f in FILES}))
    start = data.index(b"products.txt") + len(b"products.txt")  # first local header's data begins here
    for i in range(start + 10, start + 60):
        data[i] ^= 0xFF
    with pytest.raises(DataError, match="truncated or invalid"):
        read_release_zip(bytes(data))


def test_zip_missing_a_file_is_a_data_error():
    with pytest.raises(DataError, match="lacks exclusivity.txt"):
        read_release_zip(zip_of({f: raw(f) for f in FILES[:2]}))


def test_release_dir_reads_the_fixture_folder():
    release = read_release_dir(shared_fixture("orange_book", "products.txt").parent)
    assert (len(release.products), len(release.patents), len(release.exclusivities)) == (35, 57, 53)


# ---- release diff ----------------------------------------------------------------------------

T0 = datetime(2026, 6, 10, 12, 0, tzinfo=UTC)
ADDED_PATENT = "N~213756~001~12999999~Jan 1, 2040~~Y~U-4357~~May 1, 2026"
DELIST_FROM = "N~218213~001~11452725~Jul 24, 2036~~~U-3961~~Dec 12, 2023"
DELIST_TO = "N~218213~001~11452725~Jul 24, 2036~~~U-3961~Y~Dec 12, 2023"
MOVE_FROM = "N~022527~001~10543179~Dec 25, 2027~~~U-2719~~Jan 28, 2020"
MOVE_TO = "N~022527~001~10543179~Jun 25, 2028~~~U-2719~~Jan 28, 2020"
REMOVED = "N~212122~001~8703806~May 28, 2030~~~U-2889~~Aug 18, 2020"
ADDED_EXCL = "N~220305~001~ODE-500~Nov 13, 2032"
ADDED_ANDA = ("FINGOLIMOD HYDROCHLORIDE~CAPSULE;ORAL~FINGOLIMOD HYDROCHLORIDE~TEST GENERIC~EQ 0.5MG BASE~A~"
              "299999~001~AB~May 20, 2026~No~No~RX~TEST GENERIC PHARMA INC")


def fixture_release():
    return build_release(text("products.txt"), text("patent.txt"), text("exclusivity.txt"))


def modified_release():
    patents = text("patent.txt")
    for old, new in ((DELIST_FROM, DELIST_TO), (MOVE_FROM, MOVE_TO), (REMOVED + "\r\n", "")):
        assert patents.count(old) == 1
        patents = patents.replace(old, new)
    patents += "\r\n" + ADDED_PATENT
    exclusivity = text("exclusivity.txt") + "\r\n" + ADDED_EXCL
    products = text("products.txt") + ADDED_ANDA + "\n"
    return build_release(products, patents, exclusivity, observed_at=T0)


def test_diff_finds_each_change_with_stable_keys():
    events = diff_releases(fixture_release(), modified_release())
    got = {e.key: e for e in events}
    assert sorted(got) == sorted([
        "orange_book:patent_added:N213756-001:12999999",
        "orange_book:patent_delisted:N218213-001:11452725",
        "orange_book:patent_delisted:N212122-001:8703806",
        "orange_book:patent_expiry_moved:N022527-001:10543179:2028-06-25",
        "orange_book:exclusivity_added:N220305-001:ODE-500:2032-11-13",
        "orange_book:generic_approval:N022527-001:A299999-001",
    ])
    assert all(e.event_time == T0 for e in events)

    added = got["orange_book:patent_added:N213756-001:12999999"]
    assert (added.event_type, added.appl_no, added.product_no) == ("patent_added", "213756", "001")
    assert added.detail["expire_date"] == "2040-01-01" and added.detail["drug_product"] is True
    # KOSELUGO 001 effective LOE was 12364684 (Mar 26, 2029); the new patent takes it to 2040.
    assert (added.detail["effective_loe_before"], added.detail["effective_loe_after"]) == ("2029-03-26", "2040-01-01")

    delisted = got["orange_book:patent_delisted:N218213-001:11452725"].detail
    assert delisted["how"] == "delist_flag"
    # AUGTYRO 001: with 11452725 (Jul 24, 2036) delisted, 12310968 (Jul 20, 2036) is the last patent.
    assert (delisted["effective_loe_before"], delisted["effective_loe_after"]) == ("2036-07-24", "2036-07-20")

    removed = got["orange_book:patent_delisted:N212122-001:8703806"].detail
    assert removed["how"] == "removed" and removed["expire_date"] == "2030-05-28"

    moved = got["orange_book:patent_expiry_moved:N022527-001:10543179:2028-06-25"].detail
    assert (moved["old_expire_date"], moved["new_expire_date"], moved["days_moved"]) == (
        "2027-12-25", "2028-06-25", 183)

    excl = got["orange_book:exclusivity_added:N220305-001:ODE-500:2032-11-13"].detail
    assert (excl["code"], excl["date"], excl["trade_name"]) == ("ODE-500", "2032-11-13", "KOMZIFTI")

    generic = got["orange_book:generic_approval:N022527-001:A299999-001"]
    assert (generic.appl_no, generic.product_no) == ("022527", "001")  # GILENYA 0.5MG, the reference
    assert generic.detail["generic_count_before"] == 0
    assert (generic.detail["te_code"], generic.detail["approval_date"]) == ("AB", "2026-05-20")


def test_diff_of_identical_or_reordered_releases_is_empty():
    assert diff_releases(fixture_release(), fixture_release(), event_time=T0) == []
    lines = text("patent.txt").split("\r\n")
    shuffled = "\r\n".join([lines[0], *reversed(lines[1:])])
    reordered = build_release(text("products.txt"), shuffled, text("exclusivity.txt"))
    assert diff_releases(fixture_release(), reordered, event_time=T0) == []


def test_diff_new_use_code_row_is_not_a_new_patent():
    # 9585883 gains a use code on CAMZYOS 001: the patent itself was already listed.
    patents = text("patent.txt") + "\r\nN~214998~001~9585883~Jun 19, 2034~~~U-9999~~May 1, 2026"
    new = build_release(text("products.txt"), patents, text("exclusivity.txt"))
    assert diff_releases(fixture_release(), new, event_time=T0) == []


def test_diff_with_calendars_passed_in_is_the_same_diff():
    old, new = fixture_release(), modified_release()
    from pipelines.sources.orange_book.calendar import build_calendar

    assert diff_releases(old, new, old_calendar=build_calendar(old), new_calendar=build_calendar(new)) == \
        diff_releases(old, new)


# ---- fast paths ------------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "parser", "checked", "width"), [
    ("products.txt", parse_products, "_product", 14),
    ("patent.txt", parse_patents, "_patent", 10),
    ("exclusivity.txt", parse_exclusivities, "_exclusivity", 5),
])
def test_fast_path_rows_equal_the_checked_builders_rows(name, parser, checked, width):
    from pipelines.sources.orange_book import parse as module

    rows, errors = parser(text(name))
    build = getattr(module, checked)
    lines = [ln for ln in text(name).splitlines()[1:] if ln.strip()]
    assert errors == [] and len(rows) == len(lines)
    for row, line in zip(rows, lines, strict=True):
        fields = line.split("~")
        assert len(fields) == width
        assert row == build(fields) and type(row) is type(build(fields))


def test_whitespace_around_fields_is_stripped_and_unseen_dates_parsed():
    header = text("exclusivity.txt").split("\r\n")[0]
    body = f"{header}\n N~205552~001~NPP ~Aug 24, 2025\nN~205552~001~PED~Sep 9, 2041\n"
    rows, errors = parse_exclusivities(body)
    assert errors == []
    assert [(r.appl_type, r.code, r.date) for r in rows] == [("N", "NPP", date(2025, 8, 24)),
                                                          ("N", "PED", date(2041, 9, 9))]
