"""The automatic judgement of a 廃止取次: normalisation invariants (hypothesis) and a table of
realistic cases with the expected outcome."""

from __future__ import annotations

from datetime import date

import jaconv
import kanjize
import pytest
from hypothesis import given
from hypothesis import strategies as st

from jointuse.core.ids import SupplyPointId
from jointuse.customers.model import ContractKind, RetailContract
from jointuse.flows.matching import (
    MatchSettings,
    judge,
    match_address,
    match_name,
    normalise_name,
    normalise_text,
)

POINT = "03" + "5" * 20

NAMES: list[tuple[str, str, str]] = [
    ("山田 太郎", "山田 太郎", "exact"),
    ("山田　太郎", "山田 太郎", "equivalent"),  # ideographic space
    ("山田太郎", "山田 太郎", "equivalent"),
    ("山田 太郎 様", "山田 太郎", "equivalent"),
    ("山田太郎さま", "山田太郎", "equivalent"),
    ("髙橋 一郎", "高橋 一郎", "equivalent"),
    ("渡邊 真一", "渡辺 真一", "equivalent"),
    ("渡邉 真一", "渡辺 真一", "equivalent"),
    ("齋藤 花子", "斎藤 花子", "equivalent"),
    ("山﨑 健", "山崎 健", "equivalent"),
    ("澤田 恵", "沢田 恵", "equivalent"),
    ("濱口 聡", "浜口 聡", "equivalent"),
    ("廣田 誠", "広田 誠", "equivalent"),
    ("ヤマダ タロウ", "やまだ たろう", "equivalent"),
    ("ﾔﾏﾀﾞ ﾀﾛｳ", "ヤマダ タロウ", "equivalent"),  # half-width kana
    ("ＡＢＣ商事", "ABC商事", "equivalent"),  # full-width letters
    ("佐藤 花子", "佐藤 華子", "mismatch"),  # same reading, another person
    ("山田 太郎", "山田 次郎", "mismatch"),
    ("山田 太郎", "山本 太郎", "mismatch"),
    ("鈴木 一郎", "山田 太郎", "mismatch"),
    ("山田 太郎", "山田 太", "mismatch"),
    ("ｷﾖｳｺ", "キョウコ", "equivalent"),  # half-width systems without small kana
    ("キヤノン 太郎", "キャノン 太郎", "equivalent"),
    ("ジョン・スミス", "ジョン スミス", "equivalent"),  # middle dot
    ("ジョ-ジ 田中", "ジョージ 田中", "equivalent"),  # a hyphen typed for ー
    ("山田 太郎（ヤマダ タロウ）", "山田 太郎", "equivalent"),  # reading in brackets
    ("(株)ABC", "株式会社ABC", "equivalent"),
    ("ＡＢＣ㈱", "ABC株式会社", "equivalent"),
    ("(有)山田商店", "有限会社 山田商店", "equivalent"),
    ("斉藤 花子", "齋藤 花子", "equivalent"),  # 斉/齊/斎/齋 as in everyday use
    ("齊藤 花子", "斎藤 花子", "equivalent"),
    ("𠮷田 一", "吉田 一", "equivalent"),
    ("德永 進", "徳永 進", "equivalent"),
    ("國分 太一", "国分 太一", "equivalent"),
    ("櫻井 翔", "桜井 翔", "equivalent"),
    ("嵜本 陽", "崎本 陽", "equivalent"),
    ("髙嶋 礼子", "高島 礼子", "equivalent"),
    ("斉藤 花子", "斉藤 華子", "mismatch"),  # same reading, another person
    ("株式会社ABC", "有限会社ABC", "mismatch"),
    ("ABC株式会社", "株式会社ABC", "mismatch"),  # 前株 and 後株 are different names
    ("ヤマダ タロウ", "山田 太郎", "mismatch"),  # a reading is not the name
    ("山田 花子", "山田 太郎", "mismatch"),  # same family, same address: another person
]

ADDRESSES: list[tuple[str, str, str]] = [
    ("千代田区千代田1-2-3", "千代田区千代田1-2-3", "exact"),
    ("千代田区千代田一丁目二番三号", "千代田区千代田1-2-3", "equivalent"),
    ("千代田区千代田1丁目2番3号", "千代田区千代田1-2-3", "equivalent"),
    ("千代田区千代田１－２－３", "千代田区千代田1-2-3", "equivalent"),
    ("千代田区千代田1の2の3", "千代田区千代田1-2-3", "equivalent"),
    ("千代田区千代田1ー2ー3", "千代田区千代田1-2-3", "equivalent"),  # long-vowel mark as dash
    ("東京都千代田区千代田1-2-3", "千代田区千代田1-2-3", "equivalent"),  # prefecture one side
    ("千代田区 千代田 1-2-3", "千代田区千代田1-2-3", "equivalent"),
    ("千代田区千代田1-2-3 サンハイツ101", "千代田区千代田1-2-3", "equivalent"),  # building one side
    ("千代田区千代田1-2-3 サンハイツ101号室", "千代田区千代田1-2-3サンハイツ101号室", "equivalent"),
    ("港区六本木六丁目十番一号", "港区六本木6-10-1", "equivalent"),
    ("世田谷区三軒茶屋二丁目十一番二十三号", "世田谷区三軒茶屋2-11-23", "equivalent"),
    ("大字上町5番地", "上町5", "equivalent"),
    ("字下町12番地3", "下町12-3", "equivalent"),
    ("千代田区千代田1-2-3 サンハイツ101", "千代田区千代田1-2-3 サンハイツ102", "mismatch"),
    ("千代田区千代田1-2-3", "千代田区千代田1-2-4", "mismatch"),
    ("千代田区千代田1-2-3", "千代田区丸の内1-2-3", "mismatch"),
    ("千代田区千代田1-2-3", "港区千代田1-2-3", "mismatch"),
    ("千代田区千代田1-2", "千代田区千代田1-2-3", "mismatch"),
    ("大阪府大阪市北区梅田1-1", "東京都大阪市北区梅田1-1", "mismatch"),  # prefectures differ
    ("千代田区千代田1-2-3-101", "千代田区千代田1-2-3 サンハイツ101号室", "equivalent"),
    ("千代田区千代田1-2-3 サンハイツ", "千代田区千代田1-2-3 サンハイツ101号室", "equivalent"),
    ("千代田区千代田1-2-3 サンハイツ101", "千代田区千代田1-2-3 ｻﾝﾊｲﾂ 101号室", "equivalent"),
    ("千代田区千代田1-2-3 サンハイツ2号棟101", "千代田区千代田1-2-3 サンハイツ2-101", "equivalent"),
    (
        "千代田区千代田1-2-3 メゾン・ド・ソレイユ101",
        "千代田区千代田1-2-3 メゾンドソレイユ101",
        "equivalent",
    ),
    ("千代田区千代田1-2-3 101", "千代田区千代田1-2-3", "equivalent"),  # room one side only
    ("〒100-0001 千代田区千代田1-2-3", "千代田区千代田1-2-3", "equivalent"),
    ("札幌市中央区北一条西二丁目1番地", "札幌市中央区北1条西2丁目1", "equivalent"),
    ("京都市中京区寺町通御池上る上本能寺前町488", "京都市中京区上本能寺前町488", "equivalent"),
    ("千代田区霞が関一丁目1番1号", "千代田区霞ヶ関1-1-1", "equivalent"),
    ("長野県長野市大字鶴賀1234番地5", "長野市鶴賀1234-5", "equivalent"),
    ("渋谷区神宮前6丁目12番18号 ３F", "渋谷区神宮前6-12-18", "equivalent"),
    ("千代田区千代田1-2-3-101", "千代田区千代田1-2-3-102", "mismatch"),  # another room
    ("千代田区千代田1-2-3 101", "千代田区千代田1-2-3 サンハイツ102号室", "mismatch"),
    ("千代田区千代田1-2-3 Aハイツ101", "千代田区千代田1-2-3 Bコーポ101", "mismatch"),
    ("世田谷区自由が丘1-2-3", "目黒区自由が丘1-2-3", "mismatch"),
    ("千代田区千代田1-23", "千代田区千代田12-3", "mismatch"),
    ("千代田区千代田1-2-3 サンハイツ1203", "千代田区千代田1-2-3 サンハイツ1230", "mismatch"),
]


@pytest.mark.parametrize(("forwarded", "record", "outcome"), NAMES)
def test_names(forwarded: str, record: str, outcome: str) -> None:
    assert match_name(forwarded, record).outcome == outcome


@pytest.mark.parametrize(("forwarded", "record", "outcome"), ADDRESSES)
def test_addresses(forwarded: str, record: str, outcome: str) -> None:
    assert match_address(forwarded, record).outcome == outcome


def test_the_table_is_large_and_has_both_outcomes() -> None:
    outcomes = [o for *_, o in NAMES + ADDRESSES]
    assert len(outcomes) >= 80
    assert outcomes.count("mismatch") >= 20 and outcomes.count("equivalent") >= 50


KANA = st.text(alphabet=st.characters(min_codepoint=0x3041, max_codepoint=0x3093), min_size=1)


@given(st.text(max_size=40))
def test_normalising_is_idempotent(text: str) -> None:
    once = normalise_text(text)
    assert normalise_text(once) == once


@given(KANA)
def test_hiragana_katakana_and_half_width_forms_compare_equal(kana: str) -> None:
    katakana = jaconv.hira2kata(kana)
    half = jaconv.z2h(katakana, kana=True)
    assert normalise_text(kana) == normalise_text(katakana) == normalise_text(half)
    assert match_name(kana, half).outcome in ("exact", "equivalent")


def _contract(point: str = POINT, end: date | None = None) -> RetailContract:
    return RetailContract(
        "OLD-1", ContractKind.STANDARD, "r-old", "c-1", SupplyPointId(point), date(2020, 1, 1), end
    )


FORWARDED: dict[str, object] = {
    "name": {"kanji": "髙橋 一郎", "kana": "タカハシ イチロウ"},
    "address": {
        "postal_code": "1000001",
        "prefecture": "東京都",
        "rest": "千代田区千代田一丁目二番三号",
    },
    "contract_number": "OLD-1",
}
RECORD: dict[str, object] = {
    "name": {"kanji": "高橋 一郎", "kana": "タカハシ イチロウ"},
    "address": {"postal_code": "1000001", "prefecture": "東京都", "rest": "千代田区千代田1-2-3"},
}


def test_judgement_ok_when_everything_is_equivalent() -> None:
    result, reasons, fields = judge(
        forwarded=FORWARDED, record=RECORD, contract=_contract(), point=POINT, wished_date=None
    )
    assert (result, reasons) == ("ok", [])
    assert fields["name"]["outcome"] == "equivalent" and fields["name"]["score"] == 1.0
    assert fields["address"]["outcome"] == "equivalent"


@pytest.mark.parametrize(
    ("contract", "record", "expected"),
    [
        (None, None, ["no_such_contract"]),
        (_contract("03" + "6" * 20), None, ["contract_not_at_point"]),
        (_contract(end=date(2024, 5, 1)), RECORD, ["contract_already_ending"]),
        (
            _contract(),
            {**RECORD, "name": {"kanji": "高橋 二郎", "kana": "タカハシ ジロウ"}},
            ["name_mismatch"],
        ),
        (
            _contract(),
            {
                **RECORD,
                "address": {
                    "postal_code": "1000001",
                    "prefecture": "東京都",
                    "rest": "千代田区千代田1-2-4",
                },
            },
            ["address_mismatch"],
        ),
    ],
)
def test_judgement_ng_names_each_reason(
    contract: RetailContract | None, record: dict[str, object] | None, expected: list[str]
) -> None:
    result, reasons, fields = judge(
        forwarded=FORWARDED, record=record, contract=contract, point=POINT, wished_date=None
    )
    assert result == "ng" and reasons == expected
    if record is not None and "mismatch" in expected[0]:
        assert fields[expected[0].split("_")[0]]["score"] < 1.0


# --- more invariants -------------------------------------------------------------------------

ASCII_WORD = st.text(alphabet="ABCXYZabcxyz0123456789", min_size=1, max_size=12)
SMALL = "ァィゥェォッャュョヮ"
LARGE = "アイウエオツヤユヨワ"


@given(ASCII_WORD)
def test_full_and_half_width_letters_and_digits_compare_equal(word: str) -> None:
    full = "".join(chr(ord(c) + 0xFEE0) for c in word)
    assert normalise_text(full) == normalise_text(word)
    assert match_name(full, word).outcome == ("exact" if full == word else "equivalent")


@given(st.text(alphabet=SMALL + LARGE, min_size=1, max_size=12))
def test_small_kana_fold_to_full_size(kana: str) -> None:
    large = kana.translate(str.maketrans(SMALL, LARGE))
    assert normalise_text(kana) == normalise_text(large) == large


@given(
    KANA,
    st.lists(st.sampled_from([" ", "\u3000", "・"]), max_size=3),
    st.sampled_from(["", "様", "さま", " 様", "\u3000さま"]),
)
def test_spaces_dots_and_honorifics_do_not_make_a_difference(
    kana: str, gaps: list[str], honorific: str
) -> None:
    spaced = "".join(g + c for g, c in zip(gaps + [""] * len(kana), kana, strict=False))
    assert match_name(spaced + honorific, kana).outcome in ("exact", "equivalent")


@given(st.text(max_size=40))
def test_name_normalising_is_idempotent(text: str) -> None:
    once = normalise_name(text)
    assert normalise_name(once) == once


@given(st.integers(1, 30), st.integers(1, 60), st.integers(1, 60))
def test_block_numbers_in_every_notation_compare_equal(c: int, b: int, g: int) -> None:
    k = kanjize.number2kanji
    kanji = f"港区六本木{k(c)}丁目{k(b)}番{k(g)}号"
    forms = [
        f"港区六本木{c}丁目{b}番{g}号",
        f"港区六本木{c}-{b}-{g}",
        f"港区六本木{c}の{b}の{g}",
        "港区六本木"
        + f"{c}－{b}－{g}".translate(str.maketrans("0123456789", "０１２３４５６７８９")),
        f"東京都港区六本木{c}-{b}-{g}",
    ]
    for form in forms:
        assert match_address(kanji, form).outcome == "equivalent", form
    assert match_address(kanji, f"港区六本木{c}-{b}-{g + 1}").outcome == "mismatch"


# --- the judgement: every reason, and what the screen shows -------------------------------------


def test_a_different_person_at_the_same_address_is_ng() -> None:
    record = {**RECORD, "name": {"kanji": "高橋 花子", "kana": "タカハシ ハナコ"}}
    result, reasons, fields = judge(
        forwarded=FORWARDED, record=record, contract=_contract(), point=POINT, wished_date=None
    )
    assert (result, reasons) == ("ng", ["name_mismatch"])
    assert fields["address"]["outcome"] == "equivalent"
    assert fields["name"]["outcome"] == "mismatch" and 0 < fields["name"]["score"] < 1
    assert fields["name_kana"]["outcome"] == "mismatch"  # shown, decides nothing on its own


def test_the_forwarded_point_and_an_ending_contract() -> None:
    forwarded = {**FORWARDED, "supply_point_id": "03 5555 5555 5555 5555 5555"}
    result, reasons, fields = judge(
        forwarded=forwarded, record=RECORD, contract=_contract(), point=POINT, wished_date=None
    )
    assert result == "ok" and fields["supply_point_id"]["outcome"] == "equivalent"
    other = {**FORWARDED, "supply_point_id": "03" + "4" * 20}
    result, reasons, fields = judge(
        forwarded=other, record=RECORD, contract=_contract(), point=POINT, wished_date=None
    )
    assert (result, reasons) == ("ng", ["point_mismatch"])
    # A move-out in flight (an input flag): ending although the contract has no end date yet.
    result, reasons, _ = judge(
        forwarded=FORWARDED,
        record=RECORD,
        contract=_contract(),
        point=POINT,
        wished_date=None,
        ending=True,
    )
    assert reasons == ["contract_already_ending"]
    # An end after the wished date does not stop the switch.
    result, reasons, _ = judge(
        forwarded=FORWARDED,
        record=RECORD,
        contract=_contract(end=date(2024, 6, 1)),
        point=POINT,
        wished_date=date(2024, 5, 1),
    )
    assert result == "ok"


def test_contract_numbers_compare_after_normalisation() -> None:
    forwarded = {**FORWARDED, "contract_number": "ＯＬＤ－1"}
    _, _, fields = judge(
        forwarded=forwarded, record=RECORD, contract=_contract(), point=POINT, wished_date=None
    )
    assert fields["contract_number"] == {
        "forwarded": "OLD-1",
        "record": "OLD-1",
        "outcome": "equivalent",
    }
    _, _, fields = judge(
        forwarded=FORWARDED, record=RECORD, contract=_contract(), point=POINT, wished_date=None
    )
    assert fields["contract_number"]["outcome"] == "exact"
    _, reasons, fields = judge(
        forwarded=FORWARDED, record=None, contract=None, point=POINT, wished_date=None
    )
    assert reasons == ["no_such_contract"] and fields["contract_number"]["outcome"] == "mismatch"


def test_partial_parts_are_flagged_for_review_not_refused() -> None:
    forwarded = {
        **FORWARDED,
        "name": {"kanji": "髙橋 一郎", "kana": "タカハシ イチロー"},
        "address": {
            "postal_code": "100-0002",
            "prefecture": "東京都",
            "rest": "千代田区千代田一丁目二番三号 サンハイツ101",
        },
    }
    result, reasons, fields = judge(
        forwarded=forwarded, record=RECORD, contract=_contract(), point=POINT, wished_date=None
    )
    assert (result, reasons) == ("ok", [])
    assert fields["review"] == ["address", "name_kana", "postal_code", "building"]
    assert fields["address"]["building"]["one_side_only"] is True
    assert fields["address"]["postal_code_matches"] is False
    quiet = MatchSettings(review_below=0.0, review_partial=False)
    _, _, fields = judge(
        forwarded=forwarded,
        record=RECORD,
        contract=_contract(),
        point=POINT,
        wished_date=None,
        settings=quiet,
    )
    assert "review" not in fields


def test_the_judgement_is_json_for_the_record() -> None:
    import json

    _, _, fields = judge(
        forwarded=FORWARDED, record=RECORD, contract=_contract(), point=POINT, wished_date=None
    )
    assert json.loads(json.dumps(fields)) == fields
