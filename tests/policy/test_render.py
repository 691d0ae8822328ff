"""The notice is generated from the policy file alone, in ja/en and txt/md/html."""

from __future__ import annotations

import dataclasses
from html.parser import HTMLParser
from importlib import resources

import pytest

from jointuse.core.errors import ValidationError
from jointuse.parties.reference import load_reference
from jointuse.policy.loader import default_policy, parse_policy
from jointuse.policy.model import Lang, Policy
from jointuse.policy.render import NOT_STATED, Format, join_names, render_notice

LANGS: tuple[Lang, ...] = ("ja", "en")
FORMATS: tuple[Format, ...] = ("txt", "md", "html")
VOID = {"meta", "br", "link", "img", "hr", "input"}


class _Html(HTMLParser):
    """Collects the text of a document and checks that its elements nest properly."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.text: list[str] = []
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.errors: list[str] = []
        self.decl: list[str] = []

    def handle_decl(self, decl: str) -> None:
        self.decl.append(decl)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:]}")
            return
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        if self.stack and self.stack[-1] in ("style", "title"):
            return
        self.text.append(data)


def parse_html(doc: str) -> _Html:
    parser = _Html()
    parser.feed(doc)
    parser.close()
    assert parser.errors == []
    assert parser.stack == []
    return parser


def visible_text(doc: str, fmt: Format) -> str:
    """What a reader sees: for HTML, the unescaped text content."""
    return "".join(parse_html(doc).text) if fmt == "html" else doc


def policy_text() -> str:
    return (resources.files("jointuse") / "data" / "policy.toml").read_text(encoding="utf-8")


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("fmt", FORMATS)
def test_notice_contains_everything_the_policy_publishes(lang: Lang, fmt: Format) -> None:
    policy = default_policy()
    text = visible_text(render_notice(policy, lang=lang, fmt=fmt), fmt)

    assert (policy.notice.title_ja if lang == "ja" else policy.notice.title_en) in text
    for kind in policy.party_kinds:
        if not kind.joint_use:  # the platform operator is no joint user of the notice
            assert kind.label(lang) not in text
            continue
        assert f"({kind.number}) {kind.label(lang)}" in text
    for purpose in policy.purposes:
        if not purpose.joint_use:  # provision by consent is no purpose of the notice
            assert purpose.label(lang) not in text
            continue
        # The Japanese note mark sits before the closing "のため", as in the seed notice.
        head = purpose.label(lang).removesuffix("のため") if purpose.note else purpose.label(lang)
        assert f"({purpose.number}) {head}" in text
    for category in policy.categories:
        for item in policy.items_of(category.key):
            assert (item.label(lang) in text) is category.joint_use, item.key
        assert (category.label(lang) in text) is category.joint_use, category.key
    for controller in policy.controllers:
        if not policy.category(controller.category).joint_use:
            continue
        assert (controller.label_ja if lang == "ja" else controller.label_en) in text
        for exc in controller.exceptions:
            assert (exc.label_ja if lang == "ja" else exc.label_en) in text
    for tso in load_reference().parties:
        if tso.kind == "tso":
            assert (tso.name_ja if lang == "ja" else tso.name_en) in text
    for note in policy.notes:
        assert note.mark in text
        if note.url:
            assert note.url in text
    assert "{publisher}" not in text and "{tsos}" not in text
    # The shipped policy leaves address and representative empty: visibly not stated.
    assert text.count(NOT_STATED) == 2
    assert (policy.publisher.name_ja if lang == "ja" else policy.publisher.name_en) in text


def test_japanese_text_reads_like_the_seed_notice() -> None:
    text = render_notice(default_policy(), lang="ja", fmt="txt")
    lines = text.splitlines()
    assert lines[0] == "電気小売事業における個人情報の共同利用について"
    for expected in (
        "1.共同利用する者の範囲",
        "- (1) 小売電気事業者 ※2",
        "- (2) 一般送配電事業者 ※3",
        "- (3) 電力広域的運営推進機関",
        "- (4) 需要抑制契約者 ※4",
        "2.共同利用の目的",
        "- (2) 小売供給契約（離島供給及び最終保障供給に関する契約を含む。）又は電気受給契約"
        "（以下「小売供給等契約」といいます。）の廃止取次 ※5 のため",
        "- (5) ネガワット取引に関する業務遂行のため",
        "3.共同利用する情報項目",
        "- (3) ネガワット取引に関する情報：発電販売量、需要調達量、需要抑制量、ベースライン",
        "4.共同利用の管理責任者",
        "- (1) 基本情報：小売供給等契約を締結している小売電気事業者（但し、離島供給又は"
        "最終保障供給を受けている需要者に関する基本情報については、一般送配電事業者）",
        "- (2) 供給（受電）地点に関する情報：供給（受電）地点を供給区域とする一般送配電事業者",
        "- (3) ネガワット取引に関する情報：需要抑制契約者",
        # Note ※3 exactly as the seed states it, the names coming from the reference data.
        "※3 一般送配電事業者とは、北海道電力ネットワーク株式会社、東北電力ネットワーク株式会社、"
        "東京電力パワーグリッド株式会社、中部電力パワーグリッド株式会社、北陸電力送配電株式会社、"
        "関西電力送配電株式会社、中国電力ネットワーク株式会社、四国電力送配電株式会社、"
        "九州電力送配電株式会社及び沖縄電力株式会社をいいます。",
        "https://www.occto.or.jp/site_info/privacy/negawatt-jigyousya.html",
        f"- 住所：{NOT_STATED}",
        f"- 代表者：{NOT_STATED}",
    ):
        assert expected in lines, expected
    # Section 1's statement carries the note that nothing else references (※1).
    assert any(line.endswith("共同で利用することがあります ※1") for line in lines)
    # Sections come in order.
    order = [lines.index(h) for h in ("1.共同利用する者の範囲", "2.共同利用の目的")]
    assert order == sorted(order)


def test_english_joins_names_without_a_doubled_full_stop() -> None:
    text = render_notice(default_policy(), lang="en", fmt="txt")
    assert "and The Okinawa Electric Power Company, Inc." in text
    assert "Inc.." not in text
    assert join_names(["A", "B", "C"], "ja") == "A、B及びC"
    assert join_names(["A", "B"], "en") == "A and B"
    assert join_names(["A"], "en") == "A"


@pytest.mark.parametrize("lang", LANGS)
def test_html_is_a_complete_lang_attributed_document(lang: Lang) -> None:
    doc = render_notice(default_policy(), lang=lang, fmt="html")
    parsed = parse_html(doc)
    assert parsed.decl == ["DOCTYPE html"]
    assert parsed.tags[0] == ("html", {"lang": lang})
    assert ("meta", {"charset": "utf-8"}) in parsed.tags
    names = [t for t, _ in parsed.tags]
    for tag in ("head", "title", "body", "h1", "h2", "ul", "li", "footer"):
        assert tag in names
    # Note marks link to the notes they name.
    hrefs = {a.get("href") for t, a in parsed.tags if t == "a"}
    ids = {a.get("id") for _, a in parsed.tags if a.get("id")}
    for note in default_policy().notes:
        assert f"#{note.key}" in hrefs and note.key in ids


def _with_hostile_text(policy: Policy) -> Policy:
    notice = dataclasses.replace(
        policy.notice, preamble_en='<script>alert("x")</script> & <b>bold</b>'
    )
    notes = tuple(
        dataclasses.replace(n, url='https://example.org/?a=1&b="2"') if n.key == "n2" else n
        for n in policy.notes
    )
    return dataclasses.replace(policy, notice=notice, notes=notes)


def test_html_escapes_policy_text_but_md_and_txt_keep_it() -> None:
    policy = _with_hostile_text(default_policy())
    doc = render_notice(policy, lang="en", fmt="html")
    assert "<script>" not in doc and "<b>" not in doc
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;" in doc
    assert 'href="https://example.org/?a=1&amp;b=&#34;2&#34;"' in doc
    text = "".join(parse_html(doc).text)
    assert '<script>alert("x")</script> & <b>bold</b>' in text
    assert '<script>alert("x")</script>' in render_notice(policy, lang="en", fmt="txt")


def test_changing_the_policy_file_changes_the_notice() -> None:
    original = policy_text()
    before = render_notice(parse_policy(original), lang="ja", fmt="txt")
    changed = (
        original.replace('address = ""', 'address = "埼玉県さいたま市中央区新都心1-2"')
        .replace("ネガワット取引に関する業務遂行のため", "需要応答の実施のため")
        .replace('key = "interval_data"\njoint_use = false', 'key = "interval_data"\nnumber = 4')
    )
    assert changed.count("需要応答の実施のため") == 1
    after = render_notice(parse_policy(changed), lang="ja", fmt="txt")
    assert after != before
    assert "- (5) 需要応答の実施のため" in after and "ネガワット取引に関する業務遂行" not in after
    assert "- 住所：埼玉県さいたま市中央区新都心1-2" in after
    assert after.count(NOT_STATED) == 1  # the representative is still not stated
    # interval_data now in joint use: listed as item category (4) with its controller.
    assert "- (4) 30分電力量：30分電力量" in after
    assert "- (4) 30分電力量：供給（受電）地点を供給区域とする一般送配電事業者" in after
    assert "30分電力量" not in before


def test_a_category_without_controller_is_visibly_not_stated() -> None:
    policy = default_policy()
    policy = dataclasses.replace(
        policy, controllers=tuple(c for c in policy.controllers if c.category != "negawatt")
    )
    text = render_notice(policy, lang="en", fmt="md")
    assert f"- (3) negawatt trading information: {NOT_STATED}" in text


def test_dangling_note_reference_stays_visible() -> None:
    policy = default_policy()
    kinds = tuple(
        dataclasses.replace(k, note="n9") if k.key == "occto" else k for k in policy.party_kinds
    )
    text = render_notice(dataclasses.replace(policy, party_kinds=kinds), lang="ja", fmt="txt")
    assert "- (3) 電力広域的運営推進機関 ※[n9?]" in text


def test_unknown_format_or_language_is_refused_with_valid_values() -> None:
    with pytest.raises(ValidationError) as err:
        render_notice(default_policy(), fmt="pdf")  # type: ignore[arg-type]
    assert err.value.field == "format" and tuple(err.value.valid) == ("txt", "md", "html")
    with pytest.raises(ValidationError) as err2:
        render_notice(default_policy(), lang="fr")  # type: ignore[arg-type]
    assert err2.value.field == "lang" and "ja, en" in err2.value.message
