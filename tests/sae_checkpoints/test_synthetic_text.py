import re
from collections import Counter

from lmscope.sae_checkpoints import synthetic_text as st

WORD_TYPES = set(st.WORDS.values())


def test_same_seed_same_documents_and_other_seed_others():
    a, b = st.generate(40, seed=3), st.generate(40, seed=3)
    assert [(d.doc_id, d.text, d.spans) for d in a] == [(d.doc_id, d.text, d.spans) for d in b]
    c = st.generate(40, seed=4)
    assert [d.text for d in a] != [d.text for d in c]


def test_every_fact_has_the_same_mentions_in_both_languages():
    # A template pair that disagreed on its slots would tell different facts in the two languages.
    for fact, by_lang in st.TEMPLATES.items():
        slot_sets = {lang: {frozenset(Counter(st.SLOT.findall(t)).items()) for t in templates}
                     for lang, templates in by_lang.items()}
        assert len(slot_sets["en"] | slot_sets["ja"]) == 1, fact


def test_article_pairs_tell_the_same_facts():
    docs = st.generate(60, seed=0, code_switch=0.0)
    assert [d.lang for d in docs] == ["ja", "en"] * 60
    for ja, en in zip(docs[::2], docs[1::2]):
        assert ja.topic == en.topic
        # the slots' mentions, not glosses or the templates' content words (their wordings differ)
        assert (Counter(s.concept_id for s in ja.spans if s.lang == "ja" and s.concept_type not in WORD_TYPES)
                == Counter(s.concept_id for s in en.spans if s.lang == "en" and s.concept_type not in WORD_TYPES))


def test_spans_are_exact_surfaces_of_their_concepts():
    docs = st.generate(80, seed=1)
    lexicon_surfaces = {f"{t}:{k}": set(ja) | set(en) for t, entries in st.LEXICON.items()
                        for k, (ja, en) in entries.items()}
    for doc in docs:
        for span in doc.spans:
            assert doc.text[span.start:span.end] == span.surface
            assert span.lang in st.LANGUAGES  # a gloss is in the other language (the next test)
            # the type names the id (animal:cat), but a number's id names its role (year:1850, length:1850)
            prefix = span.concept_id.split(":")[0]
            assert prefix == span.concept_type or (span.concept_type == "number"
                                                  and prefix in ("year", "length", "population", "count"))
            if span.concept_id in lexicon_surfaces:
                assert span.surface in lexicon_surfaces[span.concept_id]


def test_synonyms_and_shared_types_are_planted():
    spans = [s for d in st.generate(300, seed=0) for s in d.spans]
    surfaces = {}
    for s in spans:
        surfaces.setdefault((s.concept_id, s.lang), set()).add(s.surface)
    # within-language synonyms (e.g. 猫 and ネコ) occur ...
    assert any(len(v) > 1 for (cid, lang), v in surfaces.items() if lang == "ja")
    # ... and one concept type holds several concepts (cat and dog: semantic commonality)
    animals = {s.concept_id for s in spans if s.concept_type == "animal"}
    assert len(animals) >= 4


def test_a_share_of_mentions_is_glossed_by_the_same_concept_in_the_other_language():
    docs = st.generate(400, seed=2, glosses=0.25, code_switch=0.0)
    glossable = glossed = 0
    for doc in docs:
        opening, closing = st.GLOSS_BRACKETS[doc.lang]
        slots = [s for s in doc.spans if s.concept_type not in WORD_TYPES]  # not the template's words and brackets
        for i, span in enumerate(slots):
            if span.lang != doc.lang:
                continue  # a gloss itself
            nxt = slots[i + 1] if i + 1 < len(slots) else None
            if nxt is not None and nxt.lang != doc.lang:
                # right after its mention, in brackets, the same concept in another surface of the other language
                assert doc.text[span.end:nxt.start] == opening and doc.text[nxt.end:nxt.end + len(closing)] == closing
                assert nxt.concept_id == span.concept_id and nxt.surface != span.surface
                # the brackets are labelled too, as the punctuation of the document's language
                brackets = {(s.start, s.end, s.concept_id, s.lang) for s in doc.spans}
                assert (span.end, nxt.start, "punctuation:open", doc.lang) in brackets
                assert (nxt.end, nxt.end + len(closing), "punctuation:close", doc.lang) in brackets
                glossed += 1
            if span.concept_type != "number":
                glossable += 1  # numbers are written alike in both languages: never glossed
    assert 0.2 < glossed / glossable < 0.3
    assert all(s.lang == d.lang for d in st.generate(100, seed=2, glosses=0.0, code_switch=0.0) for s in d.spans)


def test_a_share_of_mentions_is_code_switched_and_the_pair_still_tells_the_same_facts():
    docs = st.generate(400, seed=2, glosses=0.0, code_switch=0.15)
    switched = translatable = 0
    for ja, en in zip(docs[::2], docs[1::2]):
        slots = {d.lang: [s for s in d.spans if s.concept_type not in WORD_TYPES] for d in (ja, en)}
        # the same concepts in both articles, whichever language each mention is written in
        assert Counter(s.concept_id for s in slots["ja"]) == Counter(s.concept_id for s in slots["en"])
        for doc in (ja, en):
            for span in slots[doc.lang]:
                if span.concept_type == "number":
                    assert span.lang == doc.lang  # written alike in both languages: nothing to switch to
                    continue
                translatable += 1
                switched += span.lang != doc.lang
                assert doc.text[span.start:span.end] == span.surface
    assert 0.12 < switched / translatable < 0.18
    # a switched mention is a surface of the other language in the document's sentence: カサトは rice で有名である
    assert any("で有名" in d.text and any(s.lang == "en" and s.concept_type == "crop" for s in d.spans)
               for d in docs if d.lang == "ja")


def test_the_templates_content_words_are_labelled_one_concept_across_wordings_and_languages():
    for fact, by_lang in st.TEMPLATES.items():
        for template in by_lang["en"] + by_lang["ja"]:
            assert all(key in st.WORDS for _, key in re.findall(r"\[([^|\]]+)\|(\w+)\]", template)), template
    spans = [s for d in st.generate(300, seed=0) for s in d.spans]
    founded = {(s.lang, s.surface) for s in spans if s.concept_id == "event:found"}
    # 設立した and 創業した (a company's founding), 築かれた (a city's), founded and started: one concept
    assert {("ja", "設立した"), ("ja", "創業した"), ("ja", "築かれた"), ("en", "founded"), ("en", "started")} <= founded
    # and each wording's alternatives, drawn per mention in the same place of the same sentence
    assert {("ja", "創立した"), ("ja", "建設された"), ("en", "established"), ("en", "set up")} <= founded
    # 拠点 (a base) is the Japanese wording's head office
    assert ("ja", "拠点") in {(s.lang, s.surface) for s in spans if s.concept_id == "thing:head_office"}
    assert {s.concept_id for s in spans if s.concept_type == "emblem"} == {"emblem:flag", "emblem:logo",
                                                                           "emblem:symbol", "emblem:luck"}
    # function words by what they do: の and "of" one concept, は (topic) one with no English counterpart
    of = {(s.lang, s.surface) for s in spans if s.concept_id == "function:of"}
    assert of == {("ja", "の"), ("en", "of")}
    assert {s.lang for s in spans if s.concept_id == "function:topic"} == {"ja"}
    assert {s.surface for s in spans if s.concept_id == "punctuation:stop"} == {"。", "."}


def test_each_kind_of_entity_is_named_from_its_own_syllables():
    world = st.build_world(__import__("random").Random(0))
    inventories = {kind: {ja for _, ja in syllables} for kind, syllables in st.NAME_SYLLABLES.items()}
    kinds = list(inventories)
    assert all(not inventories[a] & inventories[b] for a in kinds for b in kinds if a < b)  # no syllable shared

    def katakana(name: str) -> set[str]:
        # strip what is not the invented name: 市, 川, 社 and the ・ between family and given name
        return set(name.replace("市", "").replace("川", "").replace("社", "").replace("・", ""))

    for kind, entities in (("person", world.people), ("city", world.cities), ("river", world.rivers),
                           ("company", world.companies)):
        others = set().union(*(inventories[k] for k in kinds if k != kind))
        for entity in entities:
            for surface in entity["concept"].surfaces["ja"]:
                assert not katakana(surface) & others, (kind, surface)
