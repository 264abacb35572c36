from collections import Counter

from lmscope.sae_checkpoints import synthetic_text as st


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
    docs = st.generate(60, seed=0)
    assert [d.lang for d in docs] == ["ja", "en"] * 60
    for ja, en in zip(docs[::2], docs[1::2]):
        assert ja.topic == en.topic
        assert Counter(s.concept_id for s in ja.spans) == Counter(s.concept_id for s in en.spans)


def test_spans_are_exact_surfaces_of_their_concepts():
    docs = st.generate(80, seed=1)
    lexicon_surfaces = {f"{t}:{k}": set(ja) | set(en) for t, entries in st.LEXICON.items()
                        for k, (ja, en) in entries.items()}
    for doc in docs:
        for span in doc.spans:
            assert doc.text[span.start:span.end] == span.surface
            assert span.lang == doc.lang
            assert span.concept_id.split(":")[0] == span.concept_type
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
