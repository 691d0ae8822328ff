"""The automatic judgement of a 廃止取次: normalisation invariants (hypothesis) and a table of
realistic cases with the expected outcome."""

from __future__ import annotations

from datetime import date

import jaconv
import pytest
from hypothesis import given
from hypothesis import strategies as st

from jointuse.core.ids import SupplyPointId
from jointuse.customers.model import ContractKind, RetailContract
from jointuse.flows.matching import judge, match_address, match_name, normalise_text

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
]


@pytest.mark.parametrize(("forwarded", "record", "outcome"), NAMES)
def test_names(forwarded: str, record: str, outcome: str) -> None:
    assert match_name(forwarded, record).outcome == outcome


@pytest.mark.parametrize(("forwarded", "record", "outcome"), ADDRESSES)
def test_addresses(forwarded: str, record: str, outcome: str) -> None:
    assert match_address(forwarded, record).outcome == outcome


def test_the_table_is_large_and_has_both_outcomes() -> None:
    outcomes = [o for *_, o in NAMES + ADDRESSES]
    assert len(outcomes) >= 40
    assert outcomes.count("mismatch") >= 10 and outcomes.count("equivalent") >= 20


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


FORWARDED = {
    "name": {"kanji": "髙橋 一郎", "kana": "タカハシ イチロウ"},
    "address": {
        "postal_code": "1000001",
        "prefecture": "東京都",
        "rest": "千代田区千代田一丁目二番三号",
    },
    "contract_number": "OLD-1",
}
RECORD = {
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
