"""Rows of the synthetic sample from the catalogue: queries, category paths and item
titles by templates, hard and easy negatives, label noise, with a seeded random generator
(see :mod:`relevance.tools.synthetic` for what the sample imitates).
"""

from __future__ import annotations

import random
import unicodedata
from collections.abc import Sequence
from typing import Any, NamedTuple, TypeVar

from relevance.schema import category_levels
from relevance.tools.synthetic.catalogue import (
    _ATTRS_FIRST,
    _COLOURS,
    _ENGLISH_MODIFIERS,
    _FILLERS,
    _FOR,
    _HEAD_FIRST,
    _LI,
    _LOCAL_BRANDS,
    _MATERIALS,
    _MODIFIER_NAMES,
    _MODIFIERS,
    _SHOE_WORD,
    _SIZE_VALUES,
    _SIZE_WORD,
    _WORDED_SIZES,
    CATALOGUE,
)
from relevance.tools.synthetic.config import SampleConfig

T = TypeVar("T")


# ---------------------------------------------------------------------------------------
# Relations between leaves, computed once at import.

_N = len(CATALOGUE)
_KEY_INDEX = {leaf.key: i for i, leaf in enumerate(CATALOGUE)}
_LEVELS = [tuple(category_levels(leaf.path)) for leaf in CATALOGUE]


def _shared_levels(a: int, b: int) -> int:
    shared = 0
    for x, y in zip(_LEVELS[a], _LEVELS[b], strict=False):  # paths differ in depth
        if x != y:
            break
        shared += 1
    return shared


def _closest_leaves(i: int) -> tuple[int, ...]:
    """The other leaves sharing the longest path prefix with leaf ``i``: its siblings,
    else its cousins. These make the hard negatives of QC."""
    best, members = 0, []
    for j in range(_N):
        if j != i:
            shared = _shared_levels(i, j)
            if shared > best:
                best, members = shared, [j]
            elif shared == best and shared > 0:
                members.append(j)
    return tuple(members)


_RELATED = tuple(_closest_leaves(i) for i in range(_N))
_PRODUCTS = tuple(tuple(_KEY_INDEX[k] for k in leaf.accessory_for) for leaf in CATALOGUE)
_ACCESSORIES = tuple(tuple(j for j in range(_N) if i in _PRODUCTS[j]) for i in range(_N))
# The (brand, model) products an accessory leaf's items are made for ("case for iPhone 13").
_TARGETS = tuple(tuple(m for p in _PRODUCTS[i] for m in CATALOGUE[p].models) for i in range(_N))
# Easy negatives: another top-level category, and no accessory/product link.
_UNRELATED = tuple(
    tuple(
        j
        for j in range(_N)
        if _LEVELS[j][0] != _LEVELS[i][0] and j not in _PRODUCTS[i] and j not in _ACCESSORIES[i]
    )
    for i in range(_N)
)

# Product lines people search without the brand ("iphone 13", "air max 90"); any other
# model ("Series 9", "1460", "Pro 2") only makes sense with its brand in front.
_STANDALONE_MODELS = (
    "iPhone", "Galaxy", "Redmi", "Pixel", "AirPods", "MacBook", "ThinkPad", "IdeaPad",
    "VivoBook", "XPS", "G-Shock", "DualSense", "Switch", "Steam Deck", "Air Max",
    "Air Force", "Samba", "Superstar", "Supersonic", "EcoTank", "PIXMA", "DeskJet",
    "Soundcore", "Hero", "Osmo", "Technic", "Star Wars", "Pikachu", "Kuromi",
    "Hello Kitty", "Stitch", "Raiden Shogun", "Hu Tao", "Nezuko", "Akatsuki",
    "Yor Forger", "Stradic", "Sedona", "Anthelios", "Lash Princess", "Ruby Woo",
    "Eco-Drive", "Stratocaster", "Flip 6", "WH-1000XM5", "HY300",
)  # fmt: skip


# ---------------------------------------------------------------------------------------
# Items, queries and titles.


class _Item(NamedTuple):
    """A concrete product: what a title describes and a query may ask for."""

    leaf: int
    brand: str | None = None
    model: str | None = None
    colour: str | None = None
    material: str | None = None
    size: str | None = None
    target: tuple[str, str] | None = None  # accessories: the (brand, model) it fits


def pick(rng: random.Random, seq: Sequence[T]) -> T:
    # random.choice rejection-samples an integer; scaling one float is about 3x cheaper
    # and as deterministic (the bias for sequences this short is ~1e-16).
    return seq[int(rng.random() * len(seq))]


def _make_item(leaf_index: int, rng: random.Random) -> _Item:
    leaf = CATALOGUE[leaf_index]
    brand = model = None
    if leaf.models and rng.random() < 0.8:
        brand, model = pick(rng, leaf.models)
    elif leaf.brands and rng.random() < 0.7:
        brand = pick(rng, leaf.brands)
    targets = _TARGETS[leaf_index]
    return _fit_brand(
        _Item(
            leaf=leaf_index,
            brand=brand,
            model=model,
            colour=pick(rng, leaf.colours) if leaf.colours and rng.random() < 0.8 else None,
            material=(pick(rng, leaf.materials) if leaf.materials and rng.random() < 0.7 else None),
            size=(
                pick(rng, _SIZE_VALUES[leaf.size_kind])
                if leaf.size_kind and rng.random() < 0.7
                else None
            ),
            target=pick(rng, targets) if targets and rng.random() < 0.7 else None,
        )
    )


def _fit_brand(item: _Item) -> _Item:
    """An accessory made by a product maker fits that maker's products: no "HP ink
    cartridge for Canon PIXMA". Third-party brands (Spigen, Ugreen) fit anything."""
    if item.target is None or item.brand is None:
        return item
    maker = item.target[0]
    makers = {brand for brand, _ in _TARGETS[item.leaf]}
    if item.brand in makers and item.brand != maker:
        return item._replace(brand=maker if maker in CATALOGUE[item.leaf].brands else None)
    return item


def _choose_mentions(item: _Item, cfg: SampleConfig, rng: random.Random) -> frozenset[str]:
    """Which of the item's attributes the query names ("term" = the product word)."""
    if item.model and rng.random() < cfg.brand_model_rate:
        return frozenset(("brand", "model") if rng.random() < 0.5 else ("model",))
    mention = {"term"}
    if item.model and rng.random() < 0.3:
        mention.add("model")
        if rng.random() < 0.5:
            mention.add("brand")
    elif item.brand and rng.random() < 0.3:
        mention.add("brand")
    if item.colour and rng.random() < 0.35:
        mention.add("colour")
    if item.material and rng.random() < 0.2:
        mention.add("material")
    if item.size and rng.random() < 0.2:
        mention.add("size")
    if item.target and rng.random() < 0.6:
        mention.add("target")
    return frozenset(mention)


def _size_text(kind: str, value: str, lang: str, *, worded: bool) -> str:
    if kind == "shoe":
        # Korea writes foot length in mm (260), Japan in cm (26cm); EU sizes elsewhere.
        mm = 230 + (int(value) - 36) * 5
        if lang == "ko":
            return f"{mm}mm" if worded else str(mm)
        if lang == "ja":
            return f"{mm / 10:g}cm"
        word = _SHOE_WORD[_LI[lang]]
    elif kind in _WORDED_SIZES:
        word, worded = _SIZE_WORD[_LI[lang]], True
    else:
        return value
    return f"{word} {value}" if worded else value


def _query_brand(brand: str, lang: str, rng: random.Random) -> str:
    local = _LOCAL_BRANDS.get(brand, {}).get(lang)
    return local if local and rng.random() < 0.4 else brand


def _standalone(model: str) -> bool:
    return model.startswith(_STANDALONE_MODELS)


def _render_query(
    item: _Item,
    mention: frozenset[str],
    lang: str,
    rng: random.Random,
    *,
    english_attrs: bool,
    modifier: str | None = None,
) -> str:
    leaf = CATALOGUE[item.leaf]
    head = []  # brand and model
    if item.brand and (
        "brand" in mention or ("model" in mention and not _standalone(item.model or ""))
    ):
        head.append(_query_brand(item.brand, lang, rng))
    if "model" in mention and item.model:
        head.append(item.model)
    if "term" not in mention:  # a brand+model-only query
        return " ".join(head)
    # Code-mixed queries name the colour/material in English ("vestido black").
    attr_lang = "en" if english_attrs else lang
    ai = _LI[attr_lang]
    attrs = []
    if "material" in mention and item.material:
        attrs.append(_MATERIALS[item.material][ai])
    if "colour" in mention and item.colour:
        attrs.append(_COLOURS[item.colour][ai][leaf.genders[ai]])
    if modifier:
        li = _LI[lang]
        attrs.append(_MODIFIERS[modifier][li][leaf.genders[li]])
    size = (
        _size_text(leaf.size_kind, item.size, lang, worded=rng.random() < 0.5)
        if "size" in mention and item.size
        else None
    )
    target = None
    if "target" in mention and item.target:
        brand, model = item.target
        target = model if _standalone(model) and rng.random() < 0.6 else f"{brand} {model}"
    term = leaf.terms[_LI[lang]]
    # "cheap black leather sneakers" / "zapatillas de cuero negras baratas"
    core = [*attrs[::-1], term, size] if lang in _ATTRS_FIRST else [term, *attrs, size]
    if lang in _HEAD_FIRST:
        words = [*head, target, *core]  # "iphone 13 silicone case"
    elif rng.random() < 0.4:
        words = [*head, core[0], target, *core[1:]]  # "nike zapatillas ..."
    else:
        words = [core[0], target, *head, *core[1:]]  # "funda iphone 13 negra"
    return " ".join(word for word in words if word)


def _title_case(text: str) -> str:
    return " ".join(word[:1].upper() + word[1:] for word in text.split(" "))


def _accessory_for(term: str, target: tuple[str, str], lang: str) -> str:
    """An accessory's title core, like "Case for Apple iPhone 13"; without a second
    preposition when the term has one ("pasek do zegarka Seiko 5", not "... do Seiko 5").
    """
    template = _FOR[_LI[lang]]
    preposition = template.split()[1]
    if preposition != "{prod}" and preposition in term.lower().split():
        template = "{acc} {prod}"
    return template.format(acc=term, prod=" ".join(target))


def _render_title(item: _Item, lang: str, rng: random.Random) -> str:
    """A listing title in ``lang`` naming every attribute of the item."""
    leaf = CATALOGUE[item.leaf]
    li = _LI[lang]
    term = leaf.terms[li]
    colour = _COLOURS[item.colour][li][leaf.genders[li]] if item.colour else None
    material = _MATERIALS[item.material][li] if item.material else None
    size = _size_text(leaf.size_kind, item.size, lang, worded=True) if item.size else None
    if lang == "en":  # English listings capitalise every word (but not "iPhone")
        term, colour, material, size = (
            _title_case(x) if x else x for x in (term, colour, material, size)
        )
    core = _accessory_for(term, item.target, lang) if item.target else term
    if not core[:1].isupper():
        core = core[:1].upper() + core[1:]
    brand_model = " ".join(part for part in (item.brand, item.model) if part)
    if lang in _ATTRS_FIRST:
        head, tail = [brand_model, colour, material, core], [size]
    elif lang == "ja" or item.target:  # "Spigen Handyhülle für iPhone 13", not "... 13 Spigen"
        head, tail = [brand_model, core], [material, colour, size]
    else:
        head, tail = [core, brand_model], [material, colour, size]
    separator = pick(rng, (" ", " ", ", ", " - "))
    title = " ".join(part for part in head if part)
    tail = [part for part in tail if part]
    if tail:
        title += separator + separator.join(tail)
    if rng.random() < 0.4:
        filler = pick(rng, _FILLERS[li])
        title = f"{filler} {title}" if rng.random() < 0.5 else f"{title} {filler}"
    if lang != "en" and rng.random() < 0.1:  # sellers add the English term for search
        title = f"{title} {_title_case(leaf.terms[0])}"
    return title


def _other(values: tuple[Any, ...], current: Any, rng: random.Random) -> Any:
    return pick(rng, [v for v in values if v != current])


def _near_miss(item: _Item, mention: frozenset[str], rng: random.Random) -> _Item | None:
    """A hard negative item for a query naming ``mention`` of ``item``: same product with
    one named attribute changed, an accessory instead of the product (or the reverse),
    or the same brand in a sibling category. None when the item allows none."""
    i = item.leaf
    leaf = CATALOGUE[i]
    kinds = []
    if "model" in mention and len(leaf.models) > 1:
        kinds.append("model")
    if "brand" in mention and "model" not in mention and len(leaf.brands) > 1:
        kinds.append("brand")
    if "colour" in mention and len(leaf.colours) > 1:
        kinds.append("colour")
    if "material" in mention and len(leaf.materials) > 1:
        kinds.append("material")
    if "size" in mention and len(_SIZE_VALUES.get(leaf.size_kind, ())) > 1:
        kinds.append("size")
    if "target" in mention and len(_TARGETS[i]) > 1:
        kinds.append("target")
    if "model" in mention and _ACCESSORIES[i]:
        kinds.append("accessory")
    if "target" in mention and item.target:
        kinds.append("product")
    if _RELATED[i]:
        kinds.append("sibling")
    if not kinds:
        return None
    kind = pick(rng, kinds)
    if kind == "model":
        current = (item.brand, item.model)
        same_brand = [m for m in leaf.models if m[0] == item.brand and m != current]
        brand, model = pick(rng, same_brand or [m for m in leaf.models if m != current])
        return item._replace(brand=brand, model=model)
    if kind == "brand":
        brand = _other(leaf.brands, item.brand, rng)
        models = [m for b, m in leaf.models if b == brand]
        return item._replace(brand=brand, model=pick(rng, models) if models else None)
    if kind in ("colour", "material", "target"):
        values = {"colour": leaf.colours, "material": leaf.materials, "target": _TARGETS[i]}
        return _fit_brand(item._replace(**{kind: _other(values[kind], getattr(item, kind), rng)}))
    if kind == "size":
        return item._replace(size=_other(_SIZE_VALUES[leaf.size_kind], item.size, rng))
    if kind == "accessory":  # query asks for the phone, title sells a case for it
        accessory = _make_item(pick(rng, _ACCESSORIES[i]), rng)
        return _fit_brand(accessory._replace(target=(item.brand or "", item.model or "")))
    if kind == "product":  # query asks for a case, title sells the phone
        products = [p for p in _PRODUCTS[i] if item.target in CATALOGUE[p].models]
        brand, model = item.target or ("", "")
        return _make_item(pick(rng, products), rng)._replace(brand=brand, model=model)
    sibling = pick(rng, _RELATED[i])
    other = _make_item(sibling, rng)
    if item.brand and item.brand in CATALOGUE[sibling].brands and not other.model:
        other = other._replace(brand=item.brand)
    return other


def _typo(text: str, rng: random.Random) -> str:
    """One keyboard slip in a word of 4+ letters: swapped, dropped or doubled letter."""
    words = text.split(" ")
    candidates = [k for k, word in enumerate(words) if len(word) >= 4 and word.isalpha()]
    if not candidates:
        return text
    k = pick(rng, candidates)
    word = words[k]
    j = rng.randrange(len(word) - 1)
    slip = rng.random()
    if slip < 0.4:
        word = word[:j] + word[j + 1] + word[j] + word[j + 2 :]
    elif slip < 0.75:
        word = word[:j] + word[j + 1 :]
    else:
        word = word[: j + 1] + word[j:]
    words[k] = word
    return " ".join(words)


def _mess_whitespace(text: str, rng: random.Random) -> str:
    slip = rng.random()
    spaces = [k for k, char in enumerate(text) if char == " "]
    if slip < 0.5 and spaces:
        k = pick(rng, spaces)
        return text[:k] + " " + text[k:]
    if slip < 0.75:
        return " " + text
    return text + pick(rng, (" ", "  "))


def _make_query(
    item: _Item, mention: frozenset[str], lang: str, cfg: SampleConfig, rng: random.Random
) -> str:
    mixed = lang != "en" and rng.random() < cfg.code_mix_rate
    english_attrs = mixed and ("colour" in mention or "material" in mention)
    modifier = pick(rng, _MODIFIER_NAMES) if rng.random() < 0.25 else None
    query = _render_query(item, mention, lang, rng, english_attrs=english_attrs, modifier=modifier)
    if mixed and not english_attrs:
        modifier = pick(rng, _ENGLISH_MODIFIERS)
        query = f"{query} {modifier}" if rng.random() < 0.7 else f"{modifier} {query}"
    if rng.random() < 0.85:  # most real queries are typed in lower case
        query = query.lower()
    if rng.random() < cfg.typo_rate:
        query = _typo(query, rng)
    if rng.random() < cfg.whitespace_rate:
        query = _mess_whitespace(query, rng)
    if rng.random() < cfg.nfd_rate:  # last, so no later edit splits a base from its accent
        query = unicodedata.normalize("NFD", query)
    return query


def make_pair(
    task: str, lang: str, positive: bool, cfg: SampleConfig, rng: random.Random
) -> tuple[str, str]:
    """One (query, candidate) pair in ``lang`` (ISO code) with the given label."""
    item = _make_item(int(rng.random() * _N), rng)
    mention = _choose_mentions(item, cfg, rng)
    query = _make_query(item, mention, lang, cfg, rng)
    hard = not positive and rng.random() < cfg.hard_negative_share
    if task == "QC":
        if positive:
            return query, CATALOGUE[item.leaf].path
        options = list(_RELATED[item.leaf]) if hard else []
        if hard and "model" in mention:
            options += _ACCESSORIES[item.leaf]
        if hard and "target" in mention:
            options += _PRODUCTS[item.leaf]
        other = pick(rng, options or _UNRELATED[item.leaf])
        return query, CATALOGUE[other].path
    if positive:
        shown = item
    else:
        shown = (_near_miss(item, mention, rng) if hard else None) or _make_item(
            pick(rng, _UNRELATED[item.leaf]), rng
        )
    title = _render_title(shown, lang, rng)
    if rng.random() < cfg.whitespace_rate / 2:
        title = _mess_whitespace(title, rng)
    if rng.random() < cfg.nfd_rate:
        title = unicodedata.normalize("NFD", title)
    return query, title
