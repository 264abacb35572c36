"""A bilingual (Japanese / English) encyclopedia about an invented world, with planted concept labels.

Why: the paper studies Wikipedia in both languages; offline we need text with the same shape — articles about
people, cities, rivers and companies, the same facts told in both languages with varied wording — and, unlike
Wikipedia, the truth about every mention. Each mention of an entity or a common noun is a span labelled with its
concept (id, type, language, surface form), so later stages can check features against planted truth:
the same surface (token level), the same concept id in other surfaces (synonym, e.g. 猫 / ネコ / cat) and the
same concept type with other ids (semantic commonality, e.g. cat / dog).

Everything is drawn from one seeded `random.Random`, so a seed gives the same world and documents every time.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

LANGUAGES = ("ja", "en")

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


# Templates per fact and language. {slot} is a mention; everything else is literal text. Two or more wordings
# per fact and language, so that the model sees the same fact in varied sentences.
TEMPLATES: dict[str, dict[str, tuple[str, ...]]] = {
    # people
    "person.intro": {
        "en": ("{person} is a {profession} from {city}.", "{person} was a well known {profession} in {city}."),
        "ja": ("{person}は{city}出身の{profession}である。", "{person}は{city}で知られた{profession}である。"),
    },
    "person.born": {
        "en": ("{person} was born in {city} in {month} {year}.", "Born in {month} {year}, {person} grew up in {city}."),
        "ja": ("{person}は{year}年{month}に{city}で生まれた。", "{person}は{year}年{month}生まれで、{city}で育った。"),
    },
    "person.pet": {
        "en": ("{person} kept a {animal} at home.", "At home, {person} lived with a {animal}."),
        "ja": ("{person}は家で{animal}を飼っていた。", "{person}の家には{animal}がいた。"),
    },
    "person.colour": {
        "en": ("The favourite colour of {person} was {colour}.", "{person} liked the colour {colour} best."),
        "ja": ("{person}の好きな色は{colour}だった。", "{person}は{colour}という色を最も好んだ。"),
    },
    "person.work": {
        "en": ("{person} worked for {company} for many years.", "For a long time, {person} was employed by {company}."),
        "ja": ("{person}は長年{company}で働いた。", "{person}は長い間{company}に勤めていた。"),
    },
    # cities
    "city.intro": {
        "en": ("{city} is a city on the {river}.", "{city} is a town that lies on the {river}."),
        "ja": ("{city}は{river}のほとりにある都市である。", "{city}は{river}に面した町である。"),
    },
    "city.population": {
        "en": ("About {population} thousand people live in {city}.", "{city} has a population of {population} thousand."),
        "ja": ("{city}には約{population}千人が住んでいる。", "{city}の人口は{population}千人である。"),
    },
    "city.founded": {
        "en": ("{city} was founded in {year}.", "The city of {city} dates from {year}."),
        "ja": ("{city}は{year}年に築かれた。", "{city}の歴史は{year}年に始まる。"),
    },
    "city.product": {
        "en": ("{city} is famous for its {product}.", "Much of the {product} of the region comes from {city}."),
        "ja": ("{city}は{product}で有名である。", "この地方の{product}の多くは{city}で作られる。"),
    },
    "city.flag": {
        "en": ("The flag of {city} is {colour}.", "{city} flies a {colour} flag."),
        "ja": ("{city}の旗は{colour}である。", "{city}では{colour}の旗が掲げられている。"),
    },
    "city.symbol": {
        "en": ("The {animal} is the symbol of {city}.", "In {city}, the {animal} is a symbol of luck."),
        "ja": ("{city}の象徴は{animal}である。", "{city}では{animal}が幸運の象徴とされる。"),
    },
    # rivers
    "river.intro": {
        "en": ("The {river} is a river that flows through {city}.", "The {river} runs past {city}."),
        "ja": ("{river}は{city}を流れる川である。", "{river}は{city}のそばを流れている。"),
    },
    "river.length": {
        "en": ("The {river} is {length} km long.", "The length of the {river} is {length} kilometres."),
        "ja": ("{river}の長さは{length}キロメートルである。", "{river}は全長{length}キロの川である。"),
    },
    "river.water": {
        "en": ("The water of the {river} looks {colour}.", "People say the {river} is {colour} in spring."),
        "ja": ("{river}の水は{colour}に見える。", "春の{river}は{colour}だと言われる。"),
    },
    "river.fish": {
        "en": ("The {animal} is a common sight along the {river}.", "Along the {river} one often sees a {animal}."),
        "ja": ("{river}の岸には多くの{animal}が住んでいる。", "{river}沿いではよく{animal}を見かける。"),
    },
    "river.city2": {
        "en": ("Further down, the {river} reaches {city2}.", "The {river} also passes {city2}."),
        "ja": ("{river}は下流で{city2}に至る。", "{river}は{city2}も通る。"),
    },
    # companies
    "company.intro": {
        "en": ("{company} is a company based in {city}.", "{company} is a firm with its head office in {city}."),
        "ja": ("{company}は{city}に本社を置く企業である。", "{company}は{city}に拠点を持つ会社である。"),
    },
    "company.founded": {
        "en": ("{company} was founded in {year} by {person}.", "{person} started {company} in {year}."),
        "ja": ("{company}は{year}年に{person}が設立した。", "{person}は{year}年に{company}を創業した。"),
    },
    "company.product": {
        "en": ("{company} makes goods from {product}.", "The main business of {company} is {product}."),
        "ja": ("{company}は{product}の製品を作っている。", "{company}の主な事業は{product}である。"),
    },
    "company.staff": {
        "en": ("{company} has {count} employees.", "About {count} people work at {company}."),
        "ja": ("{company}の従業員は{count}人である。", "{company}では約{count}人が働いている。"),
    },
    "company.logo": {
        "en": ("The logo of {company} is {colour}.", "{company} uses a {colour} logo."),
        "ja": ("{company}のロゴは{colour}である。", "{company}は{colour}のロゴを使っている。"),
    },
}

FACTS = {
    "person": ("person.born", "person.pet", "person.colour", "person.work"),
    "city": ("city.population", "city.founded", "city.product", "city.flag", "city.symbol"),
    "river": ("river.length", "river.water", "river.fish", "river.city2"),
    "company": ("company.founded", "company.product", "company.staff", "company.logo"),
}

SLOT = re.compile(r"\{(\w+)\}")


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


def render(template: str, slots: dict[str, Concept], lang: str, rng: random.Random,
           offset: int) -> tuple[str, list[Span]]:
    """Fill a template; each mention takes one of its concept's surfaces at random and yields a Span."""
    out, spans, pos = [], [], 0
    length = offset
    for m in SLOT.finditer(template):
        literal = template[pos:m.start()]
        out.append(literal)
        length += len(literal)
        concept = slots[m.group(1)]
        surface = rng.choice(concept.surfaces[lang])
        spans.append(Span(length, length + len(surface), concept.id, concept.type, lang, surface))
        out.append(surface)
        length += len(surface)
        pos = m.end()
    out.append(template[pos:])
    return "".join(out), spans


def _article(kind: str, entity: dict, facts: list[str], related: list[tuple[str, dict, str]], lang: str,
             rng: random.Random) -> tuple[str, list[Span]]:
    sep = "" if lang == "ja" else " "
    text, spans = "", []
    sentences = [(kind, entity, f"{kind}.intro")] + [(kind, entity, f) for f in facts] + related
    for k, ent, fact in sentences:
        if text:
            text += sep
        sentence, sentence_spans = render(rng.choice(TEMPLATES[fact][lang]), _slots(k, ent), lang, rng,
                                          len(text))
        text += sentence
        spans += sentence_spans
    return text, spans


def _related(entity: dict, by_id: dict[str, tuple[str, dict]]) -> list[tuple[str, dict]]:
    """Entities an article about `entity` may also say a sentence about (a person's city, a city's river...)."""
    return [by_id[entity[key].id] for key in ("city", "river", "company", "person") if key in entity]


def generate(n_documents: int, seed: int = 0, people: int = 120, cities: int = 40, rivers: int = 20,
             companies: int = 40) -> list[Document]:
    """All of `iter_documents` as a list, for a corpus small enough to hold (tests, examples)."""
    return list(iter_documents(n_documents, seed, people, cities, rivers, companies))


def iter_documents(n_documents: int, seed: int = 0, people: int = 120, cities: int = 40, rivers: int = 20,
                   companies: int = 40) -> Iterator[Document]:
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
            text, spans = _article(kind, entity, facts, related, lang, rng)
            yield Document(f"synthetic-{seed}-{i}-{lang}", lang, entity["concept"].id, text, spans)
