"""A bilingual (Japanese / English) encyclopedia about an invented world, with planted concept labels.

Why: the paper studies Wikipedia in both languages; offline we need text with the same shape — articles about
people, cities, rivers and companies, the same facts told in both languages with varied wording — and, unlike
Wikipedia, the truth about every mention. Each mention of an entity, a common noun, a number and every other word
of the templates (function words and punctuation by what they do) is a span labelled with its concept (id, type,
language, surface form) — all but four words left as literal text (この, とされる, People, one; README, The synthetic
corpus, says what that costs) — so later stages can check features against planted truth:
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


# The words of the templates, each a concept of a type: [surface|key] in a template is a labelled mention of
# WORDS[key]:key in that surface, so that a feature on 設立 and 創業 (both "founded") is a synonym by planted
# truth and one on 旗 and ロゴ (flag, logo) a semantic one, as a person labelling it would say. The same key in
# both languages' wordings of a fact is one concept (設立 / founded). Function words and punctuation are labelled
# by what they do in their sentence, as the paper's annotator read its features' texts: の and "of" (attributive),
# で and "in" before or after a place, に and "in" with a time, である and "is" (be), 。 and "." (a full stop);
# particles with no English counterpart (は: topic, を: object, が: subject) are concepts of their own. Each
# Japanese particle takes the key of the English word its parallel sentence has in that place, where it has one.
# [a/b|key] is either wording, drawn at random per mention: synonyms in one place of one sentence, as writers
# vary their words, so that what sets 勤務した apart from 働いた is nothing the context can predict.
WORDS = {
    **dict.fromkeys(("born", "grow_up", "found", "work", "live", "keep", "flow", "make", "reach", "pass", "know",
                     "like", "see", "use", "say", "date", "lie", "base", "fly", "come", "look"), "event"),
    **dict.fromkeys(("famous", "main", "about", "often", "favourite", "most", "long_time", "many", "much",
                     "common"), "quality"),
    **dict.fromkeys(("flag", "logo", "symbol", "luck"), "emblem"),
    **dict.fromkeys(("population", "length", "employees", "kilometre", "thousand", "people", "year"), "measure"),
    **dict.fromkeys(("city", "town", "river", "home", "region", "water", "shore", "spring", "history",
                     "downstream"), "place"),
    **dict.fromkeys(("company", "head_office", "business", "goods", "colour"), "thing"),
    **dict.fromkeys(("be", "have", "of", "in", "when", "on", "at", "for", "by", "from", "with", "through", "past",
                     "along", "to", "also", "that", "and", "a", "the", "its", "topic", "object", "subject"),
                    "function"),
    **dict.fromkeys(("stop", "comma", "open", "close"), "punctuation"),
}

# Templates per fact and language. {slot} is a mention of an entity or fact, [surface|word] a word of WORDS;
# everything else is literal text. Two wordings per fact and language, so that the model sees the same fact in
# varied sentences.
TEMPLATES: dict[str, dict[str, tuple[str, ...]]] = {
    # people
    "person.intro": {
        "en": ("{person} [is|be] [a|a] {profession} [from|from] {city}[.|stop]",
               "{person} [was|be] [a|a] [well known/well regarded|know] {profession} [in|in] {city}[.|stop]"),
        "ja": ("{person}[は|topic]{city}[出身|from][の|of]{profession}[である|be][。|stop]",
               "{person}[は|topic]{city}[で|in][知られた/名高い|know]{profession}[である|be][。|stop]"),
    },
    "person.born": {
        "en": ("{person} [was|be] [born|born] [in|in] {city} [in|when] {month} {year}[.|stop]",
               "[Born|born] [in|when] {month} {year}[,|comma] {person} [grew up/was raised|grow_up] [in|in] "
               "{city}[.|stop]"),
        "ja": ("{person}[は|topic]{year}[年|year]{month}[に|when]{city}[で|in][生まれた/誕生した|born][。|stop]",
               "{person}[は|topic]{year}[年|year]{month}[生まれ|born][で|and][、|comma]{city}[で|in]"
               "[育った/成長した|grow_up][。|stop]"),
    },
    "person.pet": {
        "en": ("{person} [kept/had|keep] [a|a] {animal} [at|in] [home|home][.|stop]",
               "[At|in] [home|home][,|comma] {person} [lived/stayed|live] [with|with] [a|a] {animal}[.|stop]"),
        "ja": ("{person}[は|topic][家/自宅|home][で|in]{animal}[を|object][飼っていた/育てていた|keep][。|stop]",
               "{person}[の|of][家/自宅|home][には|in]{animal}[が|subject][いた/暮らしていた|live][。|stop]"),
    },
    "person.colour": {
        "en": ("[The|the] [favourite/preferred|favourite] [colour/hue|colour] [of|of] {person} [was|be] "
               "{colour}[.|stop]",
               "{person} [liked/loved|like] [the|the] [colour/hue|colour] {colour} [best|most][.|stop]"),
        "ja": ("{person}[の|of][好きな/愛する|like][色|colour][は|topic]{colour}[だった|be][。|stop]",
               "{person}[は|topic]{colour}[という|that][色|colour][を|object][最も/一番|most]"
               "[好んだ/愛した|like][。|stop]"),
    },
    "person.work": {
        "en": ("{person} [worked/served|work] [for|for] {company} [for many years/for decades|long_time][.|stop]",
               "[For a long time/For many years|long_time][,|comma] {person} [was|be] [employed/hired|work] [by|by] "
               "{company}[.|stop]"),
        "ja": ("{person}[は|topic][長年/長い間|long_time]{company}[で|for][働いた/勤務した|work][。|stop]",
               "{person}[は|topic][長い間/長年|long_time]{company}[に|by][勤めていた/勤務していた|work][。|stop]"),
    },
    # cities
    "city.intro": {
        "en": ("{city} [is|be] [a|a] [city|city] [on|on] [the|the] {river}[.|stop]",
               "{city} [is|be] [a|a] [town|town] [that|that] [lies/sits|lie] [on|on] [the|the] {river}[.|stop]"),
        "ja": ("{city}[は|topic]{river}[の|of][ほとりにある/岸にある|lie][都市/都会|city][である|be][。|stop]",
               "{city}[は|topic]{river}[に|on][面した/臨む|lie][町|town][である|be][。|stop]"),
    },
    "city.population": {
        "en": ("[About/Around|about] {population} [thousand|thousand] [people/residents|people] [live/reside|live] "
               "[in|in] {city}[.|stop]",
               "{city} [has|have] [a|a] [population|population] [of|of] {population} [thousand|thousand][.|stop]"),
        "ja": ("{city}[には|in][約/およそ|about]{population}[千人|thousand][が|subject]"
               "[住んでいる/暮らしている|live][。|stop]",
               "{city}[の|of][人口|population][は|topic]{population}[千人|thousand][である|be][。|stop]"),
    },
    "city.founded": {
        "en": ("{city} [was|be] [founded/established|found] [in|when] {year}[.|stop]",
               "[The|the] [city|city] [of|of] {city} [dates from/goes back to|date] {year}[.|stop]"),
        "ja": ("{city}[は|topic]{year}[年|year][に|when][築かれた/建設された|found][。|stop]",
               "{city}[の|of][歴史/沿革|history][は|topic]{year}[年|year][に|when][始まる/さかのぼる|date][。|stop]"),
    },
    "city.product": {
        "en": ("{city} [is|be] [famous/noted|famous] [for|for] [its|its] {product}[.|stop]",
               "[Much|much] [of|of] [the|the] {product} [of|of] [the|the] [region/area|region] [comes/derives|come] "
               "[from|from] {city}[.|stop]"),
        "ja": ("{city}[は|topic]{product}[で|for][有名/著名|famous][である|be][。|stop]",
               "この[地方/地域|region][の|of]{product}[の|of][多く|much][は|topic]{city}[で|in]"
               "[作られる/生産される|make][。|stop]"),
    },
    "city.flag": {
        "en": ("[The|the] [flag/banner|flag] [of|of] {city} [is|be] {colour}[.|stop]",
               "{city} [flies/raises|fly] [a|a] {colour} [flag/banner|flag][.|stop]"),
        "ja": ("{city}[の|of][旗/フラッグ|flag][は|topic]{colour}[である|be][。|stop]",
               "{city}[では|in]{colour}[の|of][旗/フラッグ|flag][が|subject][掲げられている/掲揚されている|fly][。|stop]"),
    },
    "city.symbol": {
        "en": ("[The|the] {animal} [is|be] [the|the] [symbol/sign|symbol] [of|of] {city}[.|stop]",
               "[In|in] {city}[,|comma] [the|the] {animal} [is|be] [a|a] [symbol/sign|symbol] [of|of] "
               "[luck/fortune|luck][.|stop]"),
        "ja": ("{city}[の|of][象徴/シンボル|symbol][は|topic]{animal}[である|be][。|stop]",
               "{city}[では|in]{animal}[が|subject][幸運/幸福|luck][の|of][象徴/シンボル|symbol]とされる[。|stop]"),
    },
    # rivers
    "river.intro": {
        "en": ("[The|the] {river} [is|be] [a|a] [river/stream|river] [that|that] [flows/runs|flow] "
               "[through|through] {city}[.|stop]",
               "[The|the] {river} [runs/flows|flow] [past|past] {city}[.|stop]"),
        "ja": ("{river}[は|topic]{city}[を|through][流れる|flow][川/河川|river][である|be][。|stop]",
               "{river}[は|topic]{city}[のそばを|past][流れている|flow][。|stop]"),
    },
    "river.length": {
        "en": ("[The|the] {river} [is|be] {length} [km/kilometres|kilometre] [long|length][.|stop]",
               "[The|the] [length|length] [of|of] [the|the] {river} [is|be] {length} [kilometres/km|kilometre]"
               "[.|stop]"),
        "ja": ("{river}[の|of][長さ|length][は|topic]{length}[キロメートル/キロ|kilometre][である|be][。|stop]",
               "{river}[は|topic][全長|length]{length}[キロ/キロメートル|kilometre][の|of][川/河川|river]"
               "[である|be][。|stop]"),
    },
    "river.water": {
        "en": ("[The|the] [water|water] [of|of] [the|the] {river} [looks/seems|look] {colour}[.|stop]",
               "People [say/claim|say] [the|the] {river} [is|be] {colour} [in|when] [spring|spring][.|stop]"),
        "ja": ("{river}[の|of][水|water][は|topic]{colour}[に見える|look][。|stop]",
               "[春|spring][の|of]{river}[は|topic]{colour}[だと|be][言われる/伝えられる|say][。|stop]"),
    },
    "river.fish": {
        "en": ("[The|the] {animal} [is|be] [a common sight/a familiar sight|common] [along|along] [the|the] "
               "{river}[.|stop]",
               "[Along|along] [the|the] {river} one [often/frequently|often] [sees/spots|see] [a|a] {animal}[.|stop]"),
        "ja": ("{river}[の|of][岸|shore][には|along][多くの/たくさんの|many]{animal}[が|subject]"
               "[住んでいる/暮らしている|live][。|stop]",
               "{river}[沿いでは|along][よく/しばしば|often]{animal}[を|object][見かける/目にする|see][。|stop]"),
    },
    "river.city2": {
        "en": ("[Further down/Downstream|downstream][,|comma] [the|the] {river} [reaches/meets|reach] {city2}[.|stop]",
               "[The|the] {river} [also|also] [passes/crosses|pass] {city2}[.|stop]"),
        "ja": ("{river}[は|topic][下流で/川下で|downstream]{city2}[に|to][至る/達する|reach][。|stop]",
               "{river}[は|topic]{city2}[も|also][通る/通過する|pass][。|stop]"),
    },
    # companies
    "company.intro": {
        "en": ("{company} [is|be] [a|a] [company/business|company] [based/located|base] [in|in] {city}[.|stop]",
               "{company} [is|be] [a|a] [firm/company|company] [with|with] [its|its] "
               "[head office/headquarters|head_office] [in|in] {city}[.|stop]"),
        "ja": ("{company}[は|topic]{city}[に|in][本社/本部|head_office][を|object][置く/構える|base]"
               "[企業/会社|company][である|be][。|stop]",
               "{company}[は|topic]{city}[に|in][拠点|head_office][を|object][持つ/構える|base][会社/企業|company]"
               "[である|be][。|stop]"),
    },
    "company.founded": {
        "en": ("{company} [was|be] [founded/established|found] [in|when] {year} [by|by] {person}[.|stop]",
               "{person} [started/set up|found] {company} [in|when] {year}[.|stop]"),
        "ja": ("{company}[は|topic]{year}[年|year][に|when]{person}[が|by][設立した/創立した|found][。|stop]",
               "{person}[は|topic]{year}[年|year][に|when]{company}[を|object][創業した/創立した|found][。|stop]"),
    },
    "company.product": {
        "en": ("{company} [makes/produces|make] [goods/products|goods] [from|from] {product}[.|stop]",
               "[The|the] [main/chief|main] [business/trade|business] [of|of] {company} [is|be] {product}[.|stop]"),
        "ja": ("{company}[は|topic]{product}[の|of][製品/商品|goods][を|object][作っている/製造している|make][。|stop]",
               "{company}[の|of][主な/主要な|main][事業/業務|business][は|topic]{product}[である|be][。|stop]"),
    },
    "company.staff": {
        "en": ("{company} [has|have] {count} [employees/staff|employees][.|stop]",
               "[About/Around|about] {count} [people/persons|people] [work|work] [at|in] {company}[.|stop]"),
        "ja": ("{company}[の|of][従業員/社員|employees][は|topic]{count}[人/名|people][である|be][。|stop]",
               "{company}[では|in][約/およそ|about]{count}[人/名|people][が|subject][働いている/勤務している|work]"
               "[。|stop]"),
    },
    "company.logo": {
        "en": ("[The|the] [logo/badge|logo] [of|of] {company} [is|be] {colour}[.|stop]",
               "{company} [uses/has|use] [a|a] {colour} [logo/badge|logo][.|stop]"),
        "ja": ("{company}[の|of][ロゴ/マーク|logo][は|topic]{colour}[である|be][。|stop]",
               "{company}[は|topic]{colour}[の|of][ロゴ/マーク|logo][を|object][使っている/用いている|use][。|stop]"),
    },
}

FACTS = {
    "person": ("person.born", "person.pet", "person.colour", "person.work"),
    "city": ("city.population", "city.founded", "city.product", "city.flag", "city.symbol"),
    "river": ("river.length", "river.water", "river.fish", "river.city2"),
    "company": ("company.founded", "company.product", "company.staff", "company.logo"),
}

SLOT = re.compile(r"\{(\w+)\}")
MARKUP = re.compile(r"\{(\w+)\}|\[([^|\]]+)\|(\w+)\]")  # a slot, or a word of WORDS


def lexicon_concept(ctype: str, key: str) -> Concept:
    ja, en = LEXICON[ctype][key]
    return Concept(f"{ctype}:{key}", ctype, {"ja": ja, "en": en})


def number_concept(role: str, value: int) -> Concept:
    """A year, length, population or count: one concept per role and value (the year 1850 is not the length 1850),
    all of the type `number`, as a person reading a feature on numbers of every kind would say."""
    return Concept(f"{role}:{value}", "number", {"ja": (str(value),), "en": (str(value),)})


def month_concept(month: int) -> Concept:
    return Concept(f"month:{month}", "month", {"ja": (f"{month}月",), "en": (MONTHS_EN[month - 1],)})


# Each kind of entity is named from its own syllables, as real names of a kind share their sounds (〜子 and 〜郎 for
# people, 〜川 for rivers): a piece of a name then belongs to names of one kind, so that a feature on it is about
# people, or cities, and not about whatever kinds happened to share the syllable.
NAME_SYLLABLES = {"person": SYLLABLES[0::2], "city": SYLLABLES[1::6], "river": SYLLABLES[3::6],
                  "company": SYLLABLES[5::6]}
# The schema allows at most 300 entities of a kind, well inside what the fewest syllables (8: 576 names) can name.


def _invent_names(rng: random.Random, n: int, taken: set[str], syllables: tuple[int, int],
                  kind: str) -> list[tuple[str, str]]:
    """`n` new (romaji, katakana) names from the syllables of `kind`, unique across everything named so far."""
    names = []
    while len(names) < n:
        parts = [rng.choice(NAME_SYLLABLES[kind]) for _ in range(rng.randint(*syllables))]
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
    for i, (en, ja) in enumerate(_invent_names(rng, rivers, taken, (2, 3), "river")):
        river_list.append({"concept": Concept(f"river:{i}", "river", {"ja": (f"{ja}川",), "en": (f"{en} River",)}),
                           "length": number_concept("length", rng.randrange(20, 900)),
                           "colour": pick("colour"), "animal": pick("animal")})
    city_list = []
    for i, (en, ja) in enumerate(_invent_names(rng, cities, taken, (2, 3), "city")):
        city_list.append({"concept": Concept(f"city:{i}", "city", {"ja": (ja, f"{ja}市"), "en": (en,)}),
                          "river": rng.choice(river_list)["concept"],
                          "population": number_concept("population", rng.randrange(5, 950)),
                          "year": number_concept("year", rng.randrange(1200, 1900)),
                          "product": pick(rng.choice(("substance", "crop"))),
                          "colour": pick("colour"), "animal": pick("animal")})
    for river in river_list:
        river["city"], river["city2"] = (c["concept"] for c in rng.sample(city_list, 2))
    person_list = []
    families = _invent_names(rng, max(4, people // 3), taken, (2, 3), "person")
    for i, (given_en, given_ja) in enumerate(_invent_names(rng, people, taken, (2, 2), "person")):
        fam_en, fam_ja = rng.choice(families)
        person_list.append({"concept": Concept(f"person:{i}", "person",
                                               {"ja": (f"{fam_ja}・{given_ja}",), "en": (f"{given_en} {fam_en}",)}),
                            "profession": pick("profession"), "city": rng.choice(city_list)["concept"],
                            "year": number_concept("year", rng.randrange(1800, 2000)),
                            "month": month_concept(rng.randrange(1, 13)),
                            "animal": pick("animal"), "colour": pick("colour")})
    company_list = []
    for i, (en, ja) in enumerate(_invent_names(rng, companies, taken, (2, 3), "company")):
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
    """A word of the templates (WORDS), or a gloss's bracket, as the concept its mention is labelled with."""
    return Concept(f"{WORDS[key]}:{key}", WORDS[key], {lang: (surface,)})


def render(template: str, slots: dict[str, Concept], lang: str, rng: random.Random, offset: int,
           glosses: float = 0.0, code_switch: float = 0.0) -> tuple[str, list[Span]]:
    """Fill a template; each slot's mention takes one of its concept's surfaces at random and yields a Span, as
    does each word of WORDS (one of its wordings at random) and each gloss's bracket. A slot's mention whose
    concept is written differently in the other language is, with probability `code_switch`, written in the other
    language instead; else, with probability `glosses`, followed by one of the other language's surfaces in
    brackets, a Span of the other language (the module docstring)."""
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
        if m.group(1) is None:  # a word of WORDS, one of its interchangeable wordings
            word = rng.choice(m.group(2).split("/"))
            mention(word, word_concept(m.group(3), word, lang), lang)
            continue
        concept = slots[m.group(1)]
        translatable = set(concept.surfaces[other]) != set(concept.surfaces[lang])
        if code_switch and translatable and rng.random() < code_switch:
            mention(rng.choice(concept.surfaces[other]), concept, other)
            continue
        mention(rng.choice(concept.surfaces[lang]), concept, lang)
        if glosses and translatable and rng.random() < glosses:
            mention(opening, word_concept("open", opening, lang), lang)
            mention(rng.choice(concept.surfaces[other]), concept, other)
            mention(closing, word_concept("close", closing, lang), lang)
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
