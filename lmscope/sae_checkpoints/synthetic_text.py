"""A bilingual (Japanese / English) encyclopedia about an invented world, with planted concept labels.

Why: the paper studies Wikipedia in both languages; offline we need text with the same shape — articles about
people, cities, rivers and companies, the same facts told in both languages with varied wording — and, unlike
Wikipedia, the truth about every mention. Each mention of an entity or a common noun is a span labelled with its
concept (id, type, language, surface form), so later stages can check features against planted truth:
the same surface (token level), the same concept id in other surfaces (synonym, e.g. 猫 / ネコ / cat) and the
same concept type with other ids (semantic commonality, e.g. cat / dog).

Glosses: as Wikipedia writes カサト（Kasato） in a Japanese article and Kasato (カサト) in an English one, a share
`glosses` of the mentions is followed by the concept's surface in the other language in brackets, itself a
labelled mention (of the other language). They are the corpus's only text where one concept is written in both
languages side by side — the cross-lingual signal a real bilingual corpus has in glosses, parallel and
code-switched text, and without which a tiny LM has no reason to give 猫 and cat one representation.

Code switches: a share `code_switch` of the mentions is written in the other language in place of the document's
(カサトは rice で有名である), labelled as a mention of that language. Where a gloss puts the two surfaces side by
side, a switch puts them in the same context, so that predicting the next word is the same task for 米 and rice —
the distributional pressure that makes a model give them one representation.

Everything is drawn from one seeded `random.Random`, so a seed gives the same world and documents every time.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

LANGUAGES = ("ja", "en")
GLOSS_BRACKETS = {"ja": ("（", "）"), "en": (" (", ")")}  # around a gloss in a document of that language
GLOSSES = 0.25  # the share of mentions glossed by default (the module docstring)
CODE_SWITCH = 0.15  # the share of mentions written in the other language by default (the module docstring)

# Common nouns: concept key -> (Japanese surfaces, English surfaces). Several surfaces are within-language synonyms.
LEXICON: dict[str, dict[str, tuple[tuple[str, ...], tuple[str, ...]]]] = {
    "colour": {
        "red": (("赤", "赤色"), ("red",)),
        "blue": (("青", "青色"), ("blue",)),
        "green": (("緑", "緑色"), ("green",)),
        "white": (("白", "白色"), ("white",)),
        "black": (("黒", "黒色"), ("black",)),
        "yellow": (("黄色",), ("yellow",)),
        "purple": (("紫", "紫色"), ("purple", "violet")),
    },
    "animal": {
        "cat": (("猫", "ネコ"), ("cat",)),
        "dog": (("犬", "イヌ"), ("dog",)),
        "horse": (("馬", "ウマ"), ("horse",)),
        "bird": (("鳥", "トリ"), ("bird",)),
        "fish": (("魚", "サカナ"), ("fish",)),
        "cow": (("牛", "ウシ"), ("cow",)),
        "sheep": (("羊", "ヒツジ"), ("sheep",)),
        "fox": (("狐", "キツネ"), ("fox",)),
    },
    "substance": {
        "iron": (("鉄",), ("iron",)),
        "copper": (("銅",), ("copper",)),
        "silver": (("銀",), ("silver",)),
        "gold": (("金",), ("gold",)),
        "salt": (("塩",), ("salt",)),
        "sugar": (("砂糖",), ("sugar",)),
        "coal": (("石炭",), ("coal",)),
        "timber": (("木材",), ("timber", "wood")),
        "glass": (("ガラス",), ("glass",)),
        "paper": (("紙",), ("paper",)),
    },
    "crop": {
        "rice": (("米", "お米"), ("rice",)),
        "wheat": (("小麦",), ("wheat",)),
        "tea": (("茶", "お茶"), ("tea",)),
        "cotton": (("綿",), ("cotton",)),
        "beans": (("豆",), ("beans",)),
        "apples": (("りんご", "林檎"), ("apples",)),
    },
    "profession": {
        "doctor": (("医者", "医師"), ("doctor", "physician")),
        "teacher": (("教師", "先生"), ("teacher",)),
        "farmer": (("農家",), ("farmer",)),
        "painter": (("画家",), ("painter", "artist")),
        "engineer": (("技師", "エンジニア"), ("engineer",)),
        "merchant": (("商人",), ("merchant", "trader")),
        "writer": (("作家",), ("writer", "author")),
        "singer": (("歌手",), ("singer",)),
    },
}

MONTHS_EN = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
             "October", "November", "December")

# Syllables (romaji, katakana) for invented names: the English name is the romanisation of the Japanese one,
# so a name is one concept with a surface per language that share no tokens.
SYLLABLES = (
    ("ka", "カ"), ("ki", "キ"), ("ku", "ク"), ("ke", "ケ"), ("ko", "コ"), ("sa", "サ"), ("shi", "シ"),
    ("su", "ス"), ("se", "セ"), ("so", "ソ"), ("ta", "タ"), ("chi", "チ"), ("tsu", "ツ"), ("te", "テ"),
    ("to", "ト"), ("na", "ナ"), ("ni", "ニ"), ("nu", "ヌ"), ("ne", "ネ"), ("no", "ノ"), ("ha", "ハ"),
    ("hi", "ヒ"), ("fu", "フ"), ("he", "ヘ"), ("ho", "ホ"), ("ma", "マ"), ("mi", "ミ"), ("mu", "ム"),
    ("me", "メ"), ("mo", "モ"), ("ya", "ヤ"), ("yu", "ユ"), ("yo", "ヨ"), ("ra", "ラ"), ("ri", "リ"),
    ("ru", "ル"), ("re", "レ"), ("ro", "ロ"), ("wa", "ワ"), ("a", "ア"), ("i", "イ"), ("u", "ウ"),
    ("e", "エ"), ("o", "オ"), ("ga", "ガ"), ("go", "ゴ"), ("da", "ダ"), ("do", "ド"), ("ba", "バ"),
    ("bo", "ボ"), ("za", "ザ"), ("ji", "ジ"),
)


@dataclass(frozen=True)
class Concept:
    """One thing of the world; `surfaces[lang]` lists its surface forms (synonyms) in that language."""

    id: str
    type: str
    surfaces: dict[str, tuple[str, ...]]


@dataclass(frozen=True)
class Span:
    """A planted label: characters [start, end) of a document's text mention `concept_id`."""

    start: int
    end: int
    concept_id: str
    concept_type: str
    lang: str
    surface: str


@dataclass
class Document:
    doc_id: str
    lang: str
    topic: str  # concept id of the entity the article is about
    text: str
    spans: list[Span] = field(default_factory=list)


@dataclass
class World:
    people: list[dict]
    cities: list[dict]
    rivers: list[dict]
    companies: list[dict]


# The content words of the templates, each a concept of a type: [surface|key] in a template is a labelled mention
# of WORDS[key]:key in that surface, so that a feature on 設立 and 創業 (both "founded") is a synonym by planted
# truth and one on 旗 and ロゴ (flag, logo) a semantic one, as a person labelling it would say. The same key in
# both languages' wordings of a fact is one concept (設立 / founded); particles and other function words stay
# unlabelled.
WORDS = {
    **dict.fromkeys(("born", "grow_up", "found", "work", "live", "keep", "flow", "make", "reach", "pass", "know",
                     "like", "see", "use", "say"), "event"),
    **dict.fromkeys(("flag", "logo", "symbol", "luck"), "emblem"),
    **dict.fromkeys(("population", "length", "employees", "kilometre", "thousand", "people"), "measure"),
    **dict.fromkeys(("city", "town", "river", "home", "region", "water", "shore", "spring", "history"), "place"),
    **dict.fromkeys(("company", "head_office", "business", "goods", "colour"), "thing"),
}

# Templates per fact and language. {slot} is a mention of an entity or fact, [surface|word] a content word
# (WORDS); everything else is literal text. Two or more wordings per fact and language, so that the model sees
# the same fact in varied sentences.
TEMPLATES: dict[str, dict[str, tuple[str, ...]]] = {
    # people
    "person.intro": {
        "en": ("{person} is a {profession} from {city}.", "{person} was a well [known|know] {profession} in {city}."),
        "ja": ("{person}は{city}出身の{profession}である。", "{person}は{city}で[知られた|know]{profession}である。"),
    },
    "person.born": {
        "en": ("{person} was [born|born] in {city} in {month} {year}.",
               "[Born|born] in {month} {year}, {person} [grew up|grow_up] in {city}."),
        "ja": ("{person}は{year}年{month}に{city}で[生まれた|born]。",
               "{person}は{year}年{month}[生まれ|born]で、{city}で[育った|grow_up]。"),
    },
    "person.pet": {
        "en": ("{person} [kept|keep] a {animal} at [home|home].",
               "At [home|home], {person} [lived|live] with a {animal}."),
        "ja": ("{person}は[家|home]で{animal}を[飼っていた|keep]。", "{person}の[家|home]には{animal}がいた。"),
    },
    "person.colour": {
        "en": ("The favourite [colour|colour] of {person} was {colour}.",
               "{person} [liked|like] the [colour|colour] {colour} best."),
        "ja": ("{person}の[好きな|like][色|colour]は{colour}だった。",
               "{person}は{colour}という[色|colour]を最も[好んだ|like]。"),
    },
    "person.work": {
        "en": ("{person} [worked|work] for {company} for many years.",
               "For a long time, {person} was [employed|work] by {company}."),
        "ja": ("{person}は長年{company}で[働いた|work]。", "{person}は長い間{company}に[勤めていた|work]。"),
    },
    # cities
    "city.intro": {
        "en": ("{city} is a [city|city] on the {river}.", "{city} is a [town|town] that lies on the {river}."),
        "ja": ("{city}は{river}のほとりにある[都市|city]である。", "{city}は{river}に面した[町|town]である。"),
    },
    "city.population": {
        "en": ("About {population} [thousand|thousand] [people|people] [live|live] in {city}.",
               "{city} has a [population|population] of {population} [thousand|thousand]."),
        "ja": ("{city}には約{population}[千人|thousand]が[住んでいる|live]。",
               "{city}の[人口|population]は{population}[千人|thousand]である。"),
    },
    "city.founded": {
        "en": ("{city} was [founded|found] in {year}.", "The [city|city] of {city} dates from {year}."),
        "ja": ("{city}は{year}年に[築かれた|found]。", "{city}の[歴史|history]は{year}年に始まる。"),
    },
    "city.product": {
        "en": ("{city} is famous for its {product}.",
               "Much of the {product} of the [region|region] comes from {city}."),
        "ja": ("{city}は{product}で有名である。", "この[地方|region]の{product}の多くは{city}で[作られる|make]。"),
    },
    "city.flag": {
        "en": ("The [flag|flag] of {city} is {colour}.", "{city} flies a {colour} [flag|flag]."),
        "ja": ("{city}の[旗|flag]は{colour}である。", "{city}では{colour}の[旗|flag]が掲げられている。"),
    },
    "city.symbol": {
        "en": ("The {animal} is the [symbol|symbol] of {city}.",
               "In {city}, the {animal} is a [symbol|symbol] of [luck|luck]."),
        "ja": ("{city}の[象徴|symbol]は{animal}である。", "{city}では{animal}が[幸運|luck]の[象徴|symbol]とされる。"),
    },
    # rivers
    "river.intro": {
        "en": ("The {river} is a [river|river] that [flows|flow] through {city}.",
               "The {river} [runs|flow] past {city}."),
        "ja": ("{river}は{city}を[流れる|flow][川|river]である。", "{river}は{city}のそばを[流れている|flow]。"),
    },
    "river.length": {
        "en": ("The {river} is {length} [km|kilometre] long.",
               "The [length|length] of the {river} is {length} [kilometres|kilometre]."),
        "ja": ("{river}の[長さ|length]は{length}[キロメートル|kilometre]である。",
               "{river}は[全長|length]{length}[キロ|kilometre]の[川|river]である。"),
    },
    "river.water": {
        "en": ("The [water|water] of the {river} looks {colour}.",
               "People [say|say] the {river} is {colour} in [spring|spring]."),
        "ja": ("{river}の[水|water]は{colour}に見える。", "[春|spring]の{river}は{colour}だと[言われる|say]。"),
    },
    "river.fish": {
        "en": ("The {animal} is a common sight along the {river}.",
               "Along the {river} one often [sees|see] a {animal}."),
        "ja": ("{river}の[岸|shore]には多くの{animal}が[住んでいる|live]。", "{river}沿いではよく{animal}を[見かける|see]。"),
    },
    "river.city2": {
        "en": ("Further down, the {river} [reaches|reach] {city2}.", "The {river} also [passes|pass] {city2}."),
        "ja": ("{river}は下流で{city2}に[至る|reach]。", "{river}は{city2}も[通る|pass]。"),
    },
    # companies
    "company.intro": {
        "en": ("{company} is a [company|company] based in {city}.",
               "{company} is a [firm|company] with its [head office|head_office] in {city}."),
        "ja": ("{company}は{city}に[本社|head_office]を置く[企業|company]である。",
               "{company}は{city}に[拠点|head_office]を持つ[会社|company]である。"),
    },
    "company.founded": {
        "en": ("{company} was [founded|found] in {year} by {person}.", "{person} [started|found] {company} in {year}."),
        "ja": ("{company}は{year}年に{person}が[設立|found]した。", "{person}は{year}年に{company}を[創業|found]した。"),
    },
    "company.product": {
        "en": ("{company} [makes|make] [goods|goods] from {product}.",
               "The main [business|business] of {company} is {product}."),
        "ja": ("{company}は{product}の[製品|goods]を[作っている|make]。", "{company}の主な[事業|business]は{product}である。"),
    },
    "company.staff": {
        "en": ("{company} has {count} [employees|employees].",
               "About {count} [people|people] [work|work] at {company}."),
        "ja": ("{company}の[従業員|employees]は{count}[人|people]である。",
               "{company}では約{count}[人|people]が[働いている|work]。"),
    },
    "company.logo": {
        "en": ("The [logo|logo] of {company} is {colour}.", "{company} [uses|use] a {colour} [logo|logo]."),
        "ja": ("{company}の[ロゴ|logo]は{colour}である。", "{company}は{colour}の[ロゴ|logo]を[使っている|use]。"),
    },
}

FACTS = {
    "person": ("person.born", "person.pet", "person.colour", "person.work"),
    "city": ("city.population", "city.founded", "city.product", "city.flag", "city.symbol"),
    "river": ("river.length", "river.water", "river.fish", "river.city2"),
    "company": ("company.founded", "company.product", "company.staff", "company.logo"),
}

SLOT = re.compile(r"\{(\w+)\}")
MARKUP = re.compile(r"\{(\w+)\}|\[([^|\]]+)\|(\w+)\]")  # a slot, or a content word


def lexicon_concept(ctype: str, key: str) -> Concept:
    ja, en = LEXICON[ctype][key]
    return Concept(f"{ctype}:{key}", ctype, {"ja": ja, "en": en})


def number_concept(ctype: str, value: int) -> Concept:
    return Concept(f"{ctype}:{value}", ctype, {"ja": (str(value),), "en": (str(value),)})


def month_concept(month: int) -> Concept:
    return Concept(f"month:{month}", "month", {"ja": (f"{month}月",), "en": (MONTHS_EN[month - 1],)})


def _invent_names(rng: random.Random, n: int, taken: set[str], syllables: tuple[int, int]) -> list[tuple[str, str]]:
    """`n` new (romaji, katakana) names, unique across everything named so far."""
    names = []
    while len(names) < n:
        parts = [rng.choice(SYLLABLES) for _ in range(rng.randint(*syllables))]
        romaji = "".join(p[0] for p in parts).capitalize()
        if romaji in taken:
            continue
        taken.add(romaji)
        names.append((romaji, "".join(p[1] for p in parts)))
    return names


def build_world(rng: random.Random, people: int = 120, cities: int = 40, rivers: int = 20,
                companies: int = 40) -> World:
    """Entities with their facts; every mentionable thing is a `Concept`."""
    taken: set[str] = set()
    pick = lambda ctype: lexicon_concept(ctype, rng.choice(sorted(LEXICON[ctype])))  # noqa: E731

    river_list = []
    for i, (en, ja) in enumerate(_invent_names(rng, rivers, taken, (2, 3))):
        river_list.append({"concept": Concept(f"river:{i}", "river", {"ja": (f"{ja}川",), "en": (f"{en} River",)}),
                           "length": number_concept("length", rng.randrange(20, 900)),
                           "colour": pick("colour"), "animal": pick("animal")})
    city_list = []
    for i, (en, ja) in enumerate(_invent_names(rng, cities, taken, (2, 3))):
        city_list.append({"concept": Concept(f"city:{i}", "city", {"ja": (ja, f"{ja}市"), "en": (en,)}),
                          "river": rng.choice(river_list)["concept"],
                          "population": number_concept("population", rng.randrange(5, 950)),
                          "year": number_concept("year", rng.randrange(1200, 1900)),
                          "product": pick(rng.choice(("substance", "crop"))),
                          "colour": pick("colour"), "animal": pick("animal")})
    for river in river_list:
        river["city"], river["city2"] = (c["concept"] for c in rng.sample(city_list, 2))
    person_list = []
    families = _invent_names(rng, max(4, people // 3), taken, (2, 3))
    for i, (given_en, given_ja) in enumerate(_invent_names(rng, people, taken, (2, 2))):
        fam_en, fam_ja = rng.choice(families)
        person_list.append({"concept": Concept(f"person:{i}", "person",
                                               {"ja": (f"{fam_ja}・{given_ja}",), "en": (f"{given_en} {fam_en}",)}),
                            "profession": pick("profession"), "city": rng.choice(city_list)["concept"],
                            "year": number_concept("year", rng.randrange(1800, 2000)),
                            "month": month_concept(rng.randrange(1, 13)),
                            "animal": pick("animal"), "colour": pick("colour")})
    company_list = []
    for i, (en, ja) in enumerate(_invent_names(rng, companies, taken, (2, 3))):
        company_list.append({"concept": Concept(f"company:{i}", "company",
                                                {"ja": (f"{ja}社",), "en": (f"{en} Company", f"{en} Corp")}),
                             "city": rng.choice(city_list)["concept"],
                             "person": rng.choice(person_list)["concept"],
                             "year": number_concept("year", rng.randrange(1850, 2020)),
                             "product": pick("substance"),
                             "count": number_concept("count", rng.randrange(10, 9000)),
                             "colour": pick("colour")})
    for person in person_list:
        person["company"] = rng.choice(company_list)["concept"]
    return World(person_list, city_list, river_list, company_list)


def _slots(kind: str, entity: dict) -> dict[str, Concept]:
    """The mentions a template about `entity` may use: the entity itself under its kind, and its facts."""
    return {kind: entity["concept"], **{k: v for k, v in entity.items() if k != "concept"}}


def word_concept(key: str, surface: str, lang: str) -> Concept:
    """A content word of the templates (WORDS) as the concept its mention is labelled with."""
    return Concept(f"{WORDS[key]}:{key}", WORDS[key], {lang: (surface,)})


def render(template: str, slots: dict[str, Concept], lang: str, rng: random.Random, offset: int,
           glosses: float = 0.0, code_switch: float = 0.0) -> tuple[str, list[Span]]:
    """Fill a template; each slot's mention takes one of its concept's surfaces at random and yields a Span, as
    does each content word. A slot's mention whose concept is written differently in the other language is, with
    probability `code_switch`, written in the other language instead; else, with probability `glosses`, followed
    by one of the other language's surfaces in brackets, a Span of the other language (the module docstring)."""
    other = LANGUAGES[1 - LANGUAGES.index(lang)]
    opening, closing = GLOSS_BRACKETS[lang]
    out, spans = [], []
    length = offset

    def literal(text: str) -> None:
        nonlocal length
        out.append(text)
        length += len(text)

    def mention(surface: str, concept: Concept, surface_lang: str) -> None:
        spans.append(Span(length, length + len(surface), concept.id, concept.type, surface_lang, surface))
        literal(surface)

    pos = 0
    for m in MARKUP.finditer(template):
        literal(template[pos:m.start()])
        pos = m.end()
        if m.group(1) is None:  # a content word
            mention(m.group(2), word_concept(m.group(3), m.group(2), lang), lang)
            continue
        concept = slots[m.group(1)]
        translatable = set(concept.surfaces[other]) != set(concept.surfaces[lang])
        if code_switch and translatable and rng.random() < code_switch:
            mention(rng.choice(concept.surfaces[other]), concept, other)
            continue
        mention(rng.choice(concept.surfaces[lang]), concept, lang)
        if glosses and translatable and rng.random() < glosses:
            literal(opening)
            mention(rng.choice(concept.surfaces[other]), concept, other)
            literal(closing)
    literal(template[pos:])
    return "".join(out), spans


def _article(kind: str, entity: dict, facts: list[str], related: list[tuple[str, dict, str]], lang: str,
             rng: random.Random, glosses: float, code_switch: float) -> tuple[str, list[Span]]:
    sep = "" if lang == "ja" else " "
    text, spans = "", []
    sentences = [(kind, entity, f"{kind}.intro")] + [(kind, entity, f) for f in facts] + related
    for k, ent, fact in sentences:
        if text:
            text += sep
        sentence, sentence_spans = render(rng.choice(TEMPLATES[fact][lang]), _slots(k, ent), lang, rng,
                                          len(text), glosses, code_switch)
        text += sentence
        spans += sentence_spans
    return text, spans


def _related(entity: dict, by_id: dict[str, tuple[str, dict]]) -> list[tuple[str, dict]]:
    """Entities an article about `entity` may also say a sentence about (a person's city, a city's river...)."""
    return [by_id[entity[key].id] for key in ("city", "river", "company", "person") if key in entity]


def generate(n_documents: int, seed: int = 0, people: int = 120, cities: int = 40, rivers: int = 20,
             companies: int = 40, glosses: float = GLOSSES, code_switch: float = CODE_SWITCH) -> list[Document]:
    """All of `iter_documents` as a list, for a corpus small enough to hold (tests, examples)."""
    return list(iter_documents(n_documents, seed, people, cities, rivers, companies, glosses, code_switch))


def iter_documents(n_documents: int, seed: int = 0, people: int = 120, cities: int = 40, rivers: int = 20,
                   companies: int = 40, glosses: float = GLOSSES,
                   code_switch: float = CODE_SWITCH) -> Iterator[Document]:
    """`n_documents` articles per language, in pairs: article i in Japanese and in English tell the same facts
    about the same entity, in the same order, each with its own choice of wording and synonyms.
    Articles have all or all but one of their entity's facts, plus one or two sentences about each related
    entity, so lengths vary and some are shorter than a 64-token window (as real articles are) and get
    skipped downstream. Yielded one by one, so that a corpus of any size is never held whole."""
    rng = random.Random(seed)
    world = build_world(rng, people, cities, rivers, companies)
    entities = ([("person", e) for e in world.people] + [("city", e) for e in world.cities]
                + [("river", e) for e in world.rivers] + [("company", e) for e in world.companies])
    by_id = {e["concept"].id: (kind, e) for kind, e in entities}
    for i in range(n_documents):
        kind, entity = entities[rng.randrange(len(entities))]
        facts = rng.sample(FACTS[kind], rng.randint(len(FACTS[kind]) - 1, len(FACTS[kind])))
        related = []
        for k, e in _related(entity, by_id):
            related += [(k, e, f) for f in rng.sample(FACTS[k], rng.randint(1, 2))]
        for lang in LANGUAGES:
            text, spans = _article(kind, entity, facts, related, lang, rng, glosses, code_switch)
            yield Document(f"synthetic-{seed}-{i}-{lang}", lang, entity["concept"].id, text, spans)
