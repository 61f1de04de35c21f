"""The synthetic sample's product catalogue: 98 leaf category paths, each product term,
colour, material and size word in 13 languages, written by hand (see
:mod:`relevance.tools.synthetic` for what the sample imitates and what it does not).

Data, not logic: :mod:`relevance.tools.synthetic.generator` turns it into rows. It is
multilingual on purpose, so ruff's ambiguous-character rules are off for this file alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

from relevance.schema import category_levels

T = TypeVar("T")

# Languages of the catalogue, in the order every translation string below uses.
# "vi" is ISO; the competition files write Vietnamese as "vn" (see OUTPUT_CODE).
LANGS = ("en", "fr", "es", "ko", "pt", "ja", "de", "it", "pl", "ar", "th", "id", "vi")
OUTPUT_CODE = {"vi": "vn"}
_LI = {lang: i for i, lang in enumerate(LANGS)}

# Languages of each task and split, as codes written in the files. QC train lacks
# de/it/pl/ar and QI train lacks de/it/pl/ar/id/vn, as in the competition.
_QC_TRAIN = ("en", "fr", "es", "ko", "pt", "ja")
_QI_TRAIN = (*_QC_TRAIN, "th")
SPLIT_LANGUAGES: dict[tuple[str, str], tuple[str, ...]] = {
    ("QC", "train"): _QC_TRAIN,
    ("QC", "dev"): (*_QC_TRAIN, "de", "it", "pl", "ar"),
    ("QC", "test"): (*_QC_TRAIN, "de", "it", "pl", "ar"),
    ("QI", "train"): _QI_TRAIN,
    ("QI", "dev"): (*_QI_TRAIN, "de", "it", "pl", "ar", "id", "vn"),
    ("QI", "test"): (*_QI_TRAIN, "de", "it", "pl", "ar", "id", "vn"),
}
TASK_FIELDS = {"QC": "category_path", "QI": "item_title"}

# Grammatical gender of a product term, needed to agree a colour adjective with it.
# Romance languages: m, f, mp, fp (plural). Polish: m, f, n, p (non-virile plural).
_GENDERS = {
    "fr": ("m", "f", "mp", "fp"),
    "es": ("m", "f", "mp", "fp"),
    "pt": ("m", "f", "mp", "fp"),
    "it": ("m", "f", "mp", "fp"),
    "pl": ("m", "f", "n", "p"),
}


def _split13(text: str) -> list[str]:
    parts = [part.strip() for part in text.split("|")]
    if len(parts) != len(LANGS):
        raise ValueError(f"expected {len(LANGS)} '|'-separated translations, got {text!r}")
    return parts


# ---------------------------------------------------------------------------------------
# Attribute vocabularies (en | fr | es | ko | pt | ja | de | it | pl | ar | th | id | vi).
# Colours in gendered languages list their forms: m/f/mp/fp (Romance) or m/f/n (Polish,
# whose non-virile plural equals the neuter); a single form is invariable.
_COLOUR_TEXT = {
    "black": "black | noir/noire/noirs/noires | negro/negra/negros/negras | 검은색"
    " | preto/preta/pretos/pretas | ブラック | schwarz | nero/nera/neri/nere"
    " | czarny/czarna/czarne | باللون الأسود | สีดำ | hitam | màu đen",
    "white": "white | blanc/blanche/blancs/blanches | blanco/blanca/blancos/blancas | 흰색"
    " | branco/branca/brancos/brancas | ホワイト | weiß | bianco/bianca/bianchi/bianche"
    " | biały/biała/białe | باللون الأبيض | สีขาว | putih | màu trắng",
    "red": "red | rouge/rouge/rouges/rouges | rojo/roja/rojos/rojas | 빨간색"
    " | vermelho/vermelha/vermelhos/vermelhas | レッド | rot | rosso/rossa/rossi/rosse"
    " | czerwony/czerwona/czerwone | باللون الأحمر | สีแดง | merah | màu đỏ",
    "blue": "blue | bleu/bleue/bleus/bleues | azul/azul/azules/azules | 파란색"
    " | azul/azul/azuis/azuis | ブルー | blau | blu | niebieski/niebieska/niebieskie"
    " | باللون الأزرق | สีน้ำเงิน | biru | màu xanh dương",
    "green": "green | vert/verte/verts/vertes | verde/verde/verdes/verdes | 초록색"
    " | verde/verde/verdes/verdes | グリーン | grün | verde/verde/verdi/verdi"
    " | zielony/zielona/zielone | باللون الأخضر | สีเขียว | hijau | màu xanh lá",
    "grey": "grey | gris/grise/gris/grises | gris/gris/grises/grises | 회색 | cinza"
    " | グレー | grau | grigio/grigia/grigi/grigie | szary/szara/szare | باللون الرمادي"
    " | สีเทา | abu-abu | màu xám",
    "pink": "pink | rose/rose/roses/roses | rosa | 분홍색 | rosa | ピンク | rosa | rosa"
    " | różowy/różowa/różowe | باللون الوردي | สีชมพู | merah muda | màu hồng",
    "beige": "beige | beige/beige/beiges/beiges | beige/beige/beiges/beiges | 베이지색"
    " | bege/bege/beges/beges | ベージュ | beige | beige | beżowy/beżowa/beżowe"
    " | باللون البيج | สีเบจ | krem | màu be",
    "brown": "brown | marron | marrón/marrón/marrones/marrones | 갈색"
    " | marrom/marrom/marrons/marrons | ブラウン | braun | marrone/marrone/marroni/marroni"
    " | brązowy/brązowa/brązowe | باللون البني | สีน้ำตาล | cokelat | màu nâu",
    "yellow": "yellow | jaune/jaune/jaunes/jaunes | amarillo/amarilla/amarillos/amarillas"
    " | 노란색 | amarelo/amarela/amarelos/amarelas | イエロー | gelb"
    " | giallo/gialla/gialli/gialle | żółty/żółta/żółte | باللون الأصفر | สีเหลือง"
    " | kuning | màu vàng",
}

# Words that make queries vary ("cheap", "new"), agreeing like colours. Arabic uses
# phrases that need no agreement ("بسعر رخيص", at a cheap price).
_MODIFIER_TEXT = {
    "cheap": "cheap | pas cher | barato/barata/baratos/baratas | 저렴한"
    " | barato/barata/baratos/baratas | 安い | günstig"
    " | economico/economica/economici/economiche | tani/tania/tanie | بسعر رخيص"
    " | ราคาถูก | murah | giá rẻ",
    "new": "new | neuf/neuve/neufs/neuves | nuevo/nueva/nuevos/nuevas | 신상"
    " | novo/nova/novos/novas | 新品 | neu | nuovo/nuova/nuovi/nuove | nowy/nowa/nowe"
    " | موديل جديد | ใหม่ | baru | mới",
    "mini": "mini | mini | mini | 미니 | mini | ミニ | mini | mini | mini | ميني | มินิ"
    " | mini | mini",
    "large": "large | grand/grande/grands/grandes | grande/grande/grandes/grandes | 대형"
    " | grande/grande/grandes/grandes | 大きいサイズ | groß | grande/grande/grandi/grandi"
    " | duży/duża/duże | حجم كبير | ขนาดใหญ่ | besar | cỡ lớn",
    "cute": "cute | mignon/mignonne/mignons/mignonnes | bonito/bonita/bonitos/bonitas"
    " | 귀여운 | fofo/fofa/fofos/fofas | かわいい | süß | carino/carina/carini/carine"
    " | słodki/słodka/słodkie | كيوت | น่ารัก | lucu | dễ thương",
    "original": "original | original/originale/originaux/originales"
    " | original/original/originales/originales | 정품 | original/original/originais/originais"
    " | 正規品 | original | originale/originale/originali/originali"
    " | oryginalny/oryginalna/oryginalne | أصلي | ของแท้ | original | chính hãng",
}

# Materials as phrases that need no agreement ("en cuir", "aus Leder", "ze skóry").
_MATERIAL_TEXT = {
    "ceramic": "ceramic | en céramique | de cerámica | 세라믹 | de cerâmica | セラミック"
    " | aus Keramik | in ceramica | z ceramiki | من السيراميك | เซรามิก | keramik"
    " | bằng gốm sứ",
    "glass": "glass | en verre | de vidrio | 유리 | de vidro | ガラス製 | aus Glas | in vetro"
    " | ze szkła | من الزجاج | แก้ว | kaca | bằng thủy tinh",
    "steel": "stainless steel | en acier inoxydable | de acero inoxidable | 스테인리스"
    " | de aço inoxidável | ステンレス | aus Edelstahl | in acciaio inox"
    " | ze stali nierdzewnej | من الستانلس ستيل | สแตนเลส | stainless steel | bằng inox",
    "cotton": "cotton | en coton | de algodón | 면 | de algodão | コットン | aus Baumwolle"
    " | in cotone | z bawełny | من القطن | ผ้าฝ้าย | katun | vải cotton",
    "leather": "leather | en cuir | de cuero | 가죽 | de couro | レザー | aus Leder | in pelle"
    " | ze skóry | من الجلد | หนังแท้ | kulit | bằng da",
    "wood": "wooden | en bois | de madera | 원목 | de madeira | 木製 | aus Holz | in legno"
    " | z drewna | من الخشب | ไม้ | kayu | bằng gỗ",
    "plastic": "plastic | en plastique | de plástico | 플라스틱 | de plástico | プラスチック"
    " | aus Kunststoff | in plastica | z plastiku | من البلاستيك | พลาสติก | plastik"
    " | bằng nhựa",
    "silicone": "silicone | en silicone | de silicona | 실리콘 | de silicone | シリコン"
    " | aus Silikon | in silicone | z silikonu | من السيليكون | ซิลิโคน | silikon"
    " | bằng silicon",
    "silver": "sterling silver | en argent | de plata | 은 | de prata | シルバー925"
    " | aus Silber | in argento | ze srebra | من الفضة | เงินแท้ | perak | bằng bạc",
    "gold": "gold | en or | de oro | 골드 | de ouro | ゴールド | aus Gold | in oro | ze złota"
    " | من الذهب | ทอง | emas | bằng vàng",
    "wool": "wool | en laine | de lana | 울 | de lã | ウール | aus Wolle | in lana | z wełny"
    " | من الصوف | ผ้าวูล | wol | bằng len",
    "nylon": "nylon | en nylon | de nailon | 나일론 | de náilon | ナイロン | aus Nylon"
    " | in nylon | z nylonu | من النايلون | ไนลอน | nilon | bằng nylon",
    "aluminium": "aluminium | en aluminium | de aluminio | 알루미늄 | de alumínio | アルミ"
    " | aus Aluminium | in alluminio | z aluminium | من الألومنيوم | อลูมิเนียม"
    " | aluminium | bằng nhôm",
    "cast_iron": "cast iron | en fonte | de hierro fundido | 주물 | de ferro fundido | 鋳鉄"
    " | aus Gusseisen | in ghisa | z żeliwa | من الحديد الزهر | เหล็กหล่อ | besi cor"
    " | bằng gang",
}

# Size values by kind. Clothing, ring and shoe sizes take a size word; the rest are
# written the same in every language, as on real listings.
_SIZE_VALUES: dict[str, tuple[str, ...]] = {
    "apparel": ("XS", "S", "M", "L", "XL", "XXL"),
    "shoe": tuple(str(eu) for eu in range(36, 46)),
    "ring": ("6", "7", "8", "9"),
    "cup": ("250ml", "350ml", "450ml"),
    "bottle": ("120ml", "160ml", "240ml", "300ml"),
    "cream": ("30ml", "50ml", "100ml"),
    "pan": ("20cm", "24cm", "28cm", "32cm"),
    "bed": ("90x200cm", "140x200cm", "160x200cm", "180x200cm"),
    "pillow": ("40x60cm", "50x70cm", "60x60cm"),
    "curtain": ("140x160cm", "140x250cm", "200x260cm"),
    "tree": ("120cm", "150cm", "180cm", "210cm"),
    "plush": ("20cm", "30cm", "45cm", "60cm"),
    "pack": ("10pcs", "20pcs", "50pcs", "100pcs"),
    "flash": ("16GB", "32GB", "64GB", "128GB", "256GB"),
    "phone": ("64GB", "128GB", "256GB", "512GB"),
    "disk": ("256GB", "512GB", "1TB"),
    "charger": ("20W", "25W", "33W", "65W", "100W"),
    "dryer": ("1200W", "1600W", "2000W"),
    "lamp": ("18W", "24W", "36W", "48W"),
    "mah": ("5000mAh", "10000mAh", "20000mAh", "30000mAh"),
    "pad": ("25x21cm", "30x25cm", "80x30cm", "90x40cm"),
    "screen": ('13.3"', '14"', '15.6"', '17.3"'),
    "luggage": ('20"', '24"', '28"'),
    "thickness": ("4mm", "6mm", "8mm", "10mm"),
    "weight": ("2kg", "5kg", "10kg", "20kg"),
    "lumen": ("400lm", "800lm", "1200lm"),
    "reel": ("1000", "2000", "2500", "3000", "4000"),
    "lure": ("5cm", "7cm", "9cm", "12cm"),
    "lace": ("100cm", "120cm", "140cm", "160cm"),
    "strip": ("2m", "5m", "10m", "20m"),
    "band": ("18mm", "20mm", "22mm", "24mm"),
    "tripod": ("1.2m", "1.6m", "2m"),
}
_WORDED_SIZES = ("apparel", "ring", "shoe")
_SIZE_WORD = _split13(
    "size | taille | talla | 사이즈 | tamanho | サイズ | Größe | taglia | rozmiar | مقاس"
    " | ไซส์ | ukuran | size"
)
# Shoe sizes have their own word in some languages ("pointure", "numero"); Korean and
# Japanese write foot length instead of the EU size (see _size_text).
_SHOE_WORD = _split13(
    "size | pointure | talla | - | número | - | Größe | numero | rozmiar | مقاس | ไซส์"
    " | ukuran | size"
)

# Words sellers put in titles ("Free Shipping"): noise the model has to ignore.
_FILLERS = [
    tuple(word.strip() for word in text.split(","))
    for text in _split13(
        "New, High Quality, Hot Sale, Original, Free Shipping"
        " | Nouveau, Haute qualité, Promo, Original, Livraison gratuite"
        " | Nuevo, Alta calidad, Oferta, Original, Envío gratis"
        " | 신상, 고품질, 특가, 정품, 무료배송"
        " | Novo, Alta qualidade, Promoção, Original, Frete grátis"
        " | 新品, 高品質, セール, 正規品, 送料無料"
        " | Neu, Hohe Qualität, Angebot, Original, Kostenloser Versand"
        " | Nuovo, Alta qualità, Offerta, Originale, Spedizione gratuita"
        " | Nowość, Wysoka jakość, Promocja, Oryginał, Darmowa dostawa"
        " | جديد, جودة عالية, عرض خاص, أصلي, شحن مجاني"
        " | ใหม่, คุณภาพสูง, ลดราคา, ของแท้, ส่งฟรี"
        " | Baru, Kualitas Tinggi, Promo, Original, Gratis Ongkir"
        " | Mới, Chất lượng cao, Giảm giá, Chính hãng, Miễn phí vận chuyển"
    )
]

# How a title names an accessory for a product ("Case for iPhone 13", "iPhone 13用 ...").
_FOR = _split13(
    "{acc} for {prod} | {acc} pour {prod} | {acc} para {prod} | {prod}용 {acc}"
    " | {acc} para {prod} | {prod}用 {acc} | {acc} für {prod} | {acc} per {prod}"
    " | {acc} do {prod} | {acc} لـ {prod} | {acc} สำหรับ {prod} | {acc} untuk {prod}"
    " | {acc} cho {prod}"
)

# Some brands are often typed in the local script in these languages.
_LOCAL_BRANDS: dict[str, dict[str, str]] = {
    "Nike": {"ko": "나이키", "ja": "ナイキ", "th": "ไนกี้", "ar": "نايكي"},
    "Adidas": {"ko": "아디다스", "ja": "アディダス", "th": "อาดิดาส", "ar": "أديداس"},
    "Apple": {"ko": "애플", "ja": "アップル", "th": "แอปเปิล", "ar": "آبل"},
    "Samsung": {"ko": "삼성", "ja": "サムスン", "th": "ซัมซุง", "ar": "سامسونج"},
    "Xiaomi": {"ko": "샤오미", "ja": "シャオミ", "th": "เสียวหมี่", "ar": "شاومي"},
    "Sony": {"ko": "소니", "ja": "ソニー", "th": "โซนี่", "ar": "سوني"},
    "LEGO": {"ko": "레고", "ja": "レゴ", "th": "เลโก้", "ar": "ليغو"},
    "Casio": {"ko": "카시오", "ja": "カシオ", "th": "คาสิโอ", "ar": "كاسيو"},
}

# English words that turn up inside non-English queries (code-mixing).
_ENGLISH_MODIFIERS = ("new", "original", "mini", "premium", "vintage", "cute", "set", "pro")

# Word order: in these languages colour and material come before the product term.
_ATTRS_FIRST = ("en", "ko")
# ... and in these the brand/model and an accessory's product come first in a query.
_HEAD_FIRST = ("en", "ko", "ja")


# ---------------------------------------------------------------------------------------
# The catalogue.


@dataclass(frozen=True)
class Leaf:
    """One leaf category: its English path and what the products in it look like."""

    key: str  # short unique name, used to link accessories to products
    path: str  # category path as written in the files
    terms: tuple[str, ...]  # the product term in each language of LANGS
    genders: tuple[str, ...]  # grammatical gender per language ("" where not needed)
    brands: tuple[str, ...]  # includes every brand of ``models``
    models: tuple[tuple[str, str], ...]  # (brand, model)
    colours: tuple[str, ...]
    materials: tuple[str, ...]
    size_kind: str  # key of _SIZE_VALUES, or ""
    accessory_for: tuple[str, ...]  # keys of the leaves this is an accessory for


_ALL_COLOURS = "black white red blue green grey pink beige brown yellow"


def _leaf(
    key: str,
    path: str,
    terms: str,
    *,
    brands: str = "",
    models: str = "",
    colours: str = "",
    materials: str = "",
    size: str = "",
    accessory_for: str = "",
) -> Leaf:
    """A leaf from compact text: ``terms`` is 13 '|'-separated translations with a
    ``:gender`` suffix in fr/es/pt/it/pl; ``models`` is ``Brand/Model; ...``; the other
    lists are space- (colours, materials, accessory_for) or comma-separated (brands).
    """
    words, genders = [], []
    for lang, part in zip(LANGS, _split13(terms), strict=True):
        word, _, gender = part.partition(":")
        expected = _GENDERS.get(lang, ("",))
        if gender not in expected:
            raise ValueError(f"{key}: {lang} term {part!r} needs a gender among {expected}")
        words.append(word.strip())
        genders.append(gender)
    model_pairs = tuple(
        (brand.strip(), model.strip())
        for brand, _, model in (m.partition("/") for m in models.split(";") if m.strip())
    )
    brand_list = [b.strip() for b in brands.split(",") if b.strip()]
    for brand, _ in model_pairs:
        if brand not in brand_list:
            brand_list.append(brand)
    if colours == "*":
        colours = _ALL_COLOURS
    return Leaf(
        key=key,
        path=path,
        terms=tuple(words),
        genders=tuple(genders),
        brands=tuple(brand_list),
        models=model_pairs,
        colours=tuple(colours.split()),
        materials=tuple(materials.split()),
        size_kind=size,
        accessory_for=tuple(accessory_for.split()),
    )


# Paths imitate the real taxonomy's style; several level names contain ", " and a few
# carry full-width notes, because those are what naive parsers get wrong.
CATALOGUE: tuple[Leaf, ...] = (
    # --- home & garden
    _leaf(
        "coffee_cups",
        "home & garden,kitchen,dining & bar,coffee cups",
        "coffee cup | tasse à café:f | taza de café:f | 커피잔 | xícara de café:f"
        " | コーヒーカップ | Kaffeetasse | tazza da caffè:f | filiżanka do kawy:f"
        " | فنجان قهوة | แก้วกาแฟ | cangkir kopi | cốc cà phê",
        brands="Ikea, Bodum, Luminarc",
        colours="*",
        materials="ceramic glass steel",
        size="cup",
    ),
    _leaf(
        "wine_glasses",
        "home & garden,kitchen,dining & bar,wine glasses",
        "wine glass | verre à vin:m | copa de vino:f | 와인잔 | taça de vinho:f | ワイングラス"
        " | Weinglas | bicchiere da vino:m | kieliszek do wina:m | كأس نبيذ | แก้วไวน์"
        " | gelas anggur | ly rượu vang",
        brands="Luminarc, Riedel, Bormioli",
        size="cup",
    ),
    _leaf(
        "frying_pans",
        "home & garden,kitchen,cookware,frying pans",
        "frying pan | poêle à frire:f | sartén:f | 프라이팬 | frigideira:f | フライパン"
        " | Bratpfanne | padella:f | patelnia:f | مقلاة | กระทะ | wajan | chảo chiên",
        brands="Tefal, Tramontina, Zwilling",
        colours="black grey red",
        materials="steel aluminium cast_iron",
        size="pan",
    ),
    _leaf(
        "kitchen_knives",
        "home & garden,kitchen,knives & accessories,kitchen knives",
        "kitchen knife | couteau de cuisine:m | cuchillo de cocina:m | 주방칼"
        " | faca de cozinha:f | 包丁 | Küchenmesser | coltello da cucina:m | nóż kuchenny:m"
        " | سكين مطبخ | มีดทำครัว | pisau dapur | dao nhà bếp",
        brands="Zwilling, Victorinox, Tramontina",
        materials="steel",
    ),
    _leaf(
        "knife_sharpeners",
        "home & garden,kitchen,knives & accessories,knife sharpeners",
        "knife sharpener | aiguiseur de couteaux:m | afilador de cuchillos:m | 칼갈이"
        " | afiador de facas:m | 包丁研ぎ器 | Messerschärfer | affilacoltelli:m"
        " | ostrzałka do noży:f | مسن سكاكين | ที่ลับมีด | pengasah pisau | dụng cụ mài dao",
        brands="Victorinox, Lansky, Zwilling",
    ),
    _leaf(
        "bed_sheets",
        "home & garden,home textile,bedding,bed sheets",
        "bed sheet | drap de lit:m | sábana:f | 침대 시트 | lençol:m | ベッドシーツ"
        " | Bettlaken | lenzuolo:m | prześcieradło:n | ملاءة سرير | ผ้าปูที่นอน | sprei"
        " | ga trải giường",
        brands="Ikea",
        colours="*",
        materials="cotton",
        size="bed",
    ),
    _leaf(
        "pillowcases",
        "home & garden,home textile,bedding,pillowcases",
        "pillowcase | taie d'oreiller:f | funda de almohada:f | 베개 커버 | fronha:f"
        " | 枕カバー | Kissenbezug | federa:f | poszewka na poduszkę:f | كيس وسادة"
        " | ปลอกหมอน | sarung bantal | vỏ gối",
        colours="*",
        materials="cotton",
        size="pillow",
    ),
    _leaf(
        "curtains",
        "home & garden,home textile,curtains",
        "curtain | rideau:m | cortina:f | 커튼 | cortina:f | カーテン | Vorhang | tenda:f"
        " | zasłona:f | ستارة | ผ้าม่าน | gorden | rèm cửa",
        brands="Ikea",
        colours="*",
        materials="cotton",
        size="curtain",
    ),
    _leaf(
        "christmas_trees",
        "home & garden,festive & party supplies,christmas decorations（deactivate）,"
        "christmas trees",
        "christmas tree | sapin de noël:m | árbol de navidad:m | 크리스마스 트리"
        " | árvore de natal:f | クリスマスツリー | Weihnachtsbaum | albero di natale:m"
        " | choinka:f | شجرة عيد الميلاد | ต้นคริสต์มาส | pohon natal | cây thông noel",
        colours="green white pink",
        materials="plastic",
        size="tree",
    ),
    _leaf(
        "balloons",
        "home & garden,festive & party supplies,balloons",
        "balloons | ballons de baudruche:mp | globos:mp | 풍선 | balões:mp | 風船"
        " | Luftballons | palloncini:mp | balony:p | بالونات | ลูกโป่ง | balon | bóng bay",
        colours="*",
        size="pack",
    ),
    _leaf(
        "dog_collars",
        "home & garden,pet products,dog supplies,dog collars",
        "dog collar | collier pour chien:m | collar para perro:m | 강아지 목걸이"
        " | coleira para cachorro:f | 犬用首輪 | Hundehalsband | collare per cani:m"
        " | obroża dla psa:f | طوق كلب | ปลอกคอสุนัข | kalung anjing | vòng cổ cho chó",
        brands="Julius-K9, Ruffwear",
        colours="black red blue pink brown",
        materials="leather nylon",
        size="apparel",
    ),
    _leaf(
        "dog_beds",
        "home & garden,pet products,dog supplies,dog beds",
        "dog bed | lit pour chien:m | cama para perro:f | 강아지 침대 | cama para cachorro:f"
        " | 犬用ベッド | Hundebett | cuccia per cani:f | legowisko dla psa:n | سرير كلب"
        " | ที่นอนสุนัข | kasur anjing | giường cho chó",
        colours="grey beige brown pink",
        size="apparel",
    ),
    _leaf(
        "cat_scratchers",
        "home & garden,pet products,cat supplies,cat scratchers",
        "cat scratcher | griffoir pour chat:m | rascador para gatos:m | 고양이 스크래쳐"
        " | arranhador para gatos:m | 猫の爪とぎ | Kratzbrett für Katzen"
        " | tiragraffi per gatti:m | drapak dla kota:m | عمود خدش للقطط | ที่ลับเล็บแมว"
        " | garukan kucing | trụ cào móng cho mèo",
        colours="grey beige",
        materials="wood",
    ),
    # --- consumer electronics
    _leaf(
        "headphones",
        "consumer electronics,portable audio & video,earphones & headphones",
        "earphones | écouteurs:mp | auriculares:mp | 이어폰 | fones de ouvido:mp | イヤホン"
        " | Kopfhörer | auricolari:mp | słuchawki:p | سماعات أذن | หูฟัง | earphone"
        " | tai nghe",
        brands="Baseus, QCY",
        models="Apple/AirPods Pro 2; Apple/AirPods 3; Sony/WH-1000XM5; Sony/WF-1000XM4;"
        " Xiaomi/Redmi Buds 4; JBL/Tune 510BT; Samsung/Galaxy Buds2 Pro",
        colours="black white blue pink",
    ),
    _leaf(
        "speakers",
        "consumer electronics,portable audio & video,portable speakers",
        "bluetooth speaker | enceinte bluetooth:f | altavoz bluetooth:m | 블루투스 스피커"
        " | caixa de som bluetooth:f | Bluetoothスピーカー | Bluetooth-Lautsprecher"
        " | cassa bluetooth:f | głośnik bluetooth:m | سماعة بلوتوث | ลำโพงบลูทูธ"
        " | speaker bluetooth | loa bluetooth",
        brands="Tronsmart",
        models="JBL/Flip 6; JBL/Charge 5; JBL/Go 3; Sony/SRS-XB13; Anker/Soundcore 2",
        colours="black blue red grey",
    ),
    _leaf(
        "mp3_players",
        "consumer electronics,portable audio & video,mp3 players（deactivate）",
        "mp3 player | lecteur mp3:m | reproductor mp3:m | MP3 플레이어 | leitor de mp3:m"
        " | MP3プレーヤー | MP3-Player | lettore mp3:m | odtwarzacz mp3:m | مشغل MP3"
        " | เครื่องเล่น MP3 | pemutar MP3 | máy nghe nhạc MP3",
        brands="Ruizu, Mechen",
        models="Sony/NW-A306; Sony/NW-E394",
        colours="black red blue",
        size="flash",
    ),
    _leaf(
        "action_cameras",
        "consumer electronics,camera & photo,action cameras",
        "action camera | caméra sport:f | cámara deportiva:f | 액션캠 | câmera de ação:f"
        " | アクションカメラ | Actionkamera | action cam:f | kamera sportowa:f | كاميرا أكشن"
        " | กล้องแอคชั่น | kamera aksi | camera thể thao",
        models="GoPro/Hero 12; GoPro/Hero 11; DJI/Osmo Action 4; Insta360/X3; Akaso/Brave 7",
    ),
    _leaf(
        "tripods",
        "consumer electronics,camera & photo,tripods",
        "tripod | trépied:m | trípode:m | 삼각대 | tripé:m | 三脚 | Stativ | treppiede:m"
        " | statyw:m | حامل ثلاثي القوائم | ขาตั้งกล้อง | tripod | chân máy ảnh",
        brands="Ulanzi, Manfrotto, Neewer",
        materials="aluminium",
        size="tripod",
        accessory_for="action_cameras",
    ),
    _leaf(
        "smart_watches",
        "consumer electronics,smart electronics,wearable devices,smart watches",
        "smart watch | montre connectée:f | reloj inteligente:m | 스마트워치"
        " | relógio inteligente:m | スマートウォッチ | Smartwatch | smartwatch:m"
        " | smartwatch:m | ساعة ذكية | สมาร์ทวอทช์ | jam tangan pintar"
        " | đồng hồ thông minh",
        models="Apple/Watch Series 9; Apple/Watch SE; Samsung/Galaxy Watch 6;"
        " Huawei/Watch GT 4; Xiaomi/Redmi Watch 3; Amazfit/GTR 4",
        colours="black white pink",
    ),
    _leaf(
        "gamepads",
        "consumer electronics,video games,gamepads",
        "gamepad | manette de jeu:f | mando de juegos:m | 게임패드"
        " | controle de videogame:m | ゲームパッド | Gamecontroller | controller:m"
        " | pad do gier:m | يد تحكم للألعاب | จอยเกม | stik game | tay cầm chơi game",
        models="Sony/DualSense; Microsoft/Xbox Wireless Controller; 8BitDo/Pro 2;"
        " Nintendo/Switch Pro Controller",
        colours="black white red",
    ),
    _leaf(
        "handheld_consoles",
        "consumer electronics,video games,handheld game players",
        "handheld game console | console portable:f | consola portátil:f | 휴대용 게임기"
        " | console portátil:m | 携帯ゲーム機 | Handheld-Konsole | console portatile:f"
        " | konsola przenośna:f | جهاز ألعاب محمول | เครื่องเล่นเกมพกพา"
        " | konsol game genggam | máy chơi game cầm tay",
        models="Nintendo/Switch Lite; Nintendo/Switch OLED; Valve/Steam Deck; Anbernic/RG35XX",
        colours="black white yellow",
    ),
    _leaf(
        "projectors",
        "consumer electronics,home audio & video,projectors",
        "projector | vidéoprojecteur:m | proyector:m | 빔프로젝터 | projetor:m"
        " | プロジェクター | Beamer | proiettore:m | projektor:m | جهاز عرض | โปรเจคเตอร์"
        " | proyektor | máy chiếu",
        brands="BenQ",
        models="Magcubic/HY300; Epson/EF-12; Xiaomi/Mi Smart Projector 2",
        colours="white black",
    ),
    # --- phones & telecommunications
    _leaf(
        "mobile_phones",
        "phones & telecommunications,mobile phones",
        "mobile phone | téléphone portable:m | teléfono móvil:m | 휴대폰 | celular:m"
        " | スマートフォン | Handy | cellulare:m | telefon komórkowy:m | هاتف محمول"
        " | โทรศัพท์มือถือ | ponsel | điện thoại di động",
        models="Apple/iPhone 13; Apple/iPhone 14 Pro; Apple/iPhone 15; Samsung/Galaxy S23;"
        " Samsung/Galaxy S24 Ultra; Samsung/Galaxy A54; Xiaomi/Redmi Note 12;"
        " Xiaomi/Redmi Note 13 Pro; Google/Pixel 8; Huawei/P60 Pro",
        colours="black white blue green pink",
        size="phone",
    ),
    _leaf(
        "phone_cases",
        "phones & telecommunications,mobile phone accessories,mobile phone cases & covers",
        "phone case | coque de téléphone:f | funda de móvil:f | 휴대폰 케이스"
        " | capinha de celular:f | スマホケース | Handyhülle | cover per cellulare:f"
        " | etui na telefon:n | جراب هاتف | เคสโทรศัพท์ | casing hp | ốp lưng điện thoại",
        brands="Spigen, Baseus, Ugreen",
        colours="*",
        materials="silicone leather plastic",
        accessory_for="mobile_phones",
    ),
    _leaf(
        "screen_protectors",
        "phones & telecommunications,mobile phone accessories,screen protectors",
        "screen protector | protection d'écran:f | protector de pantalla:m"
        " | 액정 보호 필름 | película de tela:f | 画面保護フィルム | Displayschutzfolie"
        " | pellicola protettiva:f | szkło hartowane:n | واقي شاشة | ฟิล์มกันรอย"
        " | anti gores | kính cường lực",
        brands="Spigen, Baseus, Nillkin",
        accessory_for="mobile_phones",
    ),
    _leaf(
        "phone_chargers",
        "phones & telecommunications,mobile phone accessories,chargers",
        "phone charger | chargeur de téléphone:m | cargador de móvil:m | 휴대폰 충전기"
        " | carregador de celular:m | スマホ充電器 | Handy-Ladegerät"
        " | caricabatterie per cellulare:m | ładowarka do telefonu:f | شاحن هاتف"
        " | ที่ชาร์จโทรศัพท์ | charger hp | củ sạc điện thoại",
        brands="Anker, Baseus, Ugreen, Xiaomi, Samsung",
        colours="black white",
        size="charger",
        accessory_for="mobile_phones",
    ),
    _leaf(
        "power_banks",
        "phones & telecommunications,mobile phone accessories,power bank",
        "power bank | batterie externe:f | batería externa:f | 보조배터리"
        " | carregador portátil:m | モバイルバッテリー | Powerbank | power bank:m"
        " | powerbank:m | باور بانك | พาวเวอร์แบงค์ | power bank | sạc dự phòng",
        brands="Anker, Baseus, Xiaomi, Ugreen",
        colours="black white blue",
        size="mah",
    ),
    # --- computer & office
    _leaf(
        "laptops",
        "computer & office,laptops",
        "laptop | ordinateur portable:m | portátil:m | 노트북 | notebook:m | ノートパソコン"
        " | Laptop | portatile:m | laptop:m | لابتوب | แล็ปท็อป | laptop"
        " | máy tính xách tay",
        models="Lenovo/ThinkPad X1 Carbon; Lenovo/IdeaPad Slim 5; Apple/MacBook Air M2;"
        " Apple/MacBook Pro 14; ASUS/VivoBook 15; HP/Pavilion 15; Dell/XPS 13; Acer/Aspire 5",
        colours="black grey",
        size="disk",
    ),
    _leaf(
        "mice",
        "computer & office,mouse & keyboards,mice",
        "mouse | souris:f | ratón:m | 마우스 | mouse:m | マウス | Maus | mouse:m | mysz:f"
        " | ماوس | เมาส์ | mouse | chuột máy tính",
        brands="Ugreen",
        models="Logitech/MX Master 3S; Logitech/G305; Logitech/M185; Razer/DeathAdder V3",
        colours="black white grey pink",
    ),
    _leaf(
        "keyboards",
        "computer & office,mouse & keyboards,keyboards",
        "keyboard | clavier:m | teclado:m | 키보드 | teclado:m | キーボード | Tastatur"
        " | tastiera:f | klawiatura:f | لوحة مفاتيح | คีย์บอร์ด | keyboard | bàn phím",
        models="Logitech/MX Keys; Logitech/K380; Keychron/K2; Razer/BlackWidow V4",
        colours="black white pink",
    ),
    _leaf(
        "mouse_pads",
        "computer & office,mouse & keyboards,mouse pads",
        "mouse pad | tapis de souris:m | alfombrilla de ratón:f | 마우스 패드 | mousepad:m"
        " | マウスパッド | Mauspad | tappetino per mouse:m | podkładka pod mysz:f"
        " | لوحة ماوس | แผ่นรองเมาส์ | mousepad | bàn di chuột",
        brands="Logitech, Razer, SteelSeries",
        colours="black pink grey",
        size="pad",
    ),
    _leaf(
        "laptop_bags",
        "computer & office,laptop accessories,laptop bags & cases",
        "laptop bag | sacoche pour ordinateur portable:f | funda para portátil:f"
        " | 노트북 가방 | bolsa para notebook:f | ノートパソコンバッグ | Laptoptasche"
        " | borsa per portatile:f | torba na laptopa:f | حقيبة لابتوب | กระเป๋าโน้ตบุ๊ค"
        " | tas laptop | túi đựng laptop",
        brands="Samsonite, Targus, Tomtoc",
        colours="black grey blue",
        materials="leather nylon",
        size="screen",
        accessory_for="laptops",
    ),
    _leaf(
        "printers",
        "computer & office,office electronics,printers",
        "printer | imprimante:f | impresora:f | 프린터 | impressora:f | プリンター"
        " | Drucker | stampante:f | drukarka:f | طابعة | เครื่องพิมพ์ | printer | máy in",
        models="Epson/EcoTank L3250; Canon/PIXMA G3420; HP/DeskJet 2720; Brother/HL-L2350DW",
    ),
    _leaf(
        "ink_cartridges",
        "computer & office,office electronics,ink cartridges",
        "ink cartridge | cartouche d'encre:f | cartucho de tinta:m | 잉크 카트리지"
        " | cartucho de tinta:m | インクカートリッジ | Tintenpatrone"
        " | cartuccia d'inchiostro:f | tusz do drukarki:m | خرطوشة حبر | ตลับหมึก"
        " | cartridge tinta | hộp mực in",
        brands="Epson, Canon, HP, Brother",
        accessory_for="printers",
    ),
    _leaf(
        "usb_drives",
        "computer & office,external storage,usb flash drives",
        "usb flash drive | clé usb:f | memoria usb:f | USB 메모리 | pen drive:m | USBメモリ"
        " | USB-Stick | chiavetta usb:f | pendrive:m | فلاشة USB | แฟลชไดรฟ์ | flashdisk"
        " | USB lưu trữ",
        brands="SanDisk, Kingston, Samsung, Lexar",
        size="flash",
    ),
    _leaf(
        "memory_cards",
        "computer & office,external storage,memory cards",
        "memory card | carte mémoire:f | tarjeta de memoria:f | 메모리 카드"
        " | cartão de memória:m | メモリーカード | Speicherkarte | scheda di memoria:f"
        " | karta pamięci:f | بطاقة ذاكرة | เมมโมรี่การ์ด | kartu memori | thẻ nhớ",
        brands="Kingston, Lexar",
        models="SanDisk/Extreme microSD; Samsung/EVO Plus",
        size="flash",
    ),
    # --- women's clothing
    _leaf(
        "dresses",
        "women's clothing,dresses",
        "dress | robe:f | vestido:m | 원피스 | vestido:m | ワンピース | Kleid | vestito:m"
        " | sukienka:f | فستان | ชุดเดรส | gaun | váy đầm",
        brands="Zara, Shein, H&M",
        colours="*",
        materials="cotton",
        size="apparel",
    ),
    _leaf(
        "blouses",
        "women's clothing,tops & tees,blouses & shirts",
        "blouse | chemisier:m | blusa:f | 블라우스 | blusa:f | ブラウス | Bluse"
        " | camicetta:f | bluzka:f | بلوزة | เสื้อเบลาส์ | blus | áo sơ mi nữ",
        brands="Zara, Shein, Mango",
        colours="*",
        materials="cotton",
        size="apparel",
    ),
    _leaf(
        "womens_tshirts",
        "women's clothing,tops & tees,t-shirts",
        "women's t-shirt | t-shirt femme:m | camiseta de mujer:f | 여성 티셔츠"
        " | camiseta feminina:f | レディースTシャツ | Damen T-Shirt | maglietta donna:f"
        " | koszulka damska:f | تيشيرت نسائي | เสื้อยืดผู้หญิง | kaos wanita | áo thun nữ",
        brands="Nike, Adidas, Uniqlo, Zara",
        colours="*",
        materials="cotton",
        size="apparel",
    ),
    _leaf(
        "skirts",
        "women's clothing,bottoms,skirts",
        "skirt | jupe:f | falda:f | 치마 | saia:f | スカート | Rock | gonna:f | spódnica:f"
        " | تنورة | กระโปรง | rok | chân váy",
        brands="Zara, Mango",
        colours="*",
        materials="cotton wool leather",
        size="apparel",
    ),
    _leaf(
        "womens_jeans",
        "women's clothing,bottoms,jeans",
        "women's jeans | jean femme:m | vaqueros de mujer:mp | 여성 청바지"
        " | calça jeans feminina:f | レディースジーンズ | Damen Jeans | jeans donna:mp"
        " | jeansy damskie:p | جينز نسائي | กางเกงยีนส์ผู้หญิง | celana jeans wanita"
        " | quần jean nữ",
        brands="Levi's, Zara, Mango",
        colours="blue black white grey",
        size="apparel",
    ),
    _leaf(
        "womens_coats",
        "women's clothing,coats & jackets",
        "women's coat | manteau femme:m | abrigo de mujer:m | 여성 코트"
        " | casaco feminino:m | レディースコート | Damenmantel | cappotto donna:m"
        " | płaszcz damski:m | معطف نسائي | เสื้อโค้ทผู้หญิง | mantel wanita | áo khoác nữ",
        brands="Zara, Mango, Uniqlo",
        colours="black beige grey pink brown",
        materials="wool",
        size="apparel",
    ),
    # --- men's clothing
    _leaf(
        "hoodies",
        "men's clothing,hoodies & sweatshirts",
        "hoodie | sweat à capuche:m | sudadera con capucha:f | 후드티 | moletom com capuz:m"
        " | パーカー | Kapuzenpullover | felpa con cappuccio:f | bluza z kapturem:f | هودي"
        " | เสื้อฮู้ด | hoodie | áo hoodie",
        brands="Nike, Adidas, Champion, Uniqlo",
        colours="*",
        materials="cotton",
        size="apparel",
    ),
    _leaf(
        "mens_shirts",
        "men's clothing,shirts",
        "men's shirt | chemise homme:f | camisa de hombre:f | 남성 셔츠"
        " | camisa masculina:f | メンズシャツ | Herrenhemd | camicia uomo:f"
        " | koszula męska:f | قميص رجالي | เสื้อเชิ้ตผู้ชาย | kemeja pria | áo sơ mi nam",
        brands="Uniqlo, Zara, Ralph Lauren",
        colours="white blue black grey pink",
        materials="cotton",
        size="apparel",
    ),
    _leaf(
        "mens_jeans",
        "men's clothing,pants,jeans",
        "men's jeans | jean homme:m | vaqueros de hombre:mp | 남성 청바지"
        " | calça jeans masculina:f | メンズジーンズ | Herren Jeans | jeans uomo:mp"
        " | jeansy męskie:p | جينز رجالي | กางเกงยีนส์ผู้ชาย | celana jeans pria"
        " | quần jean nam",
        brands="Wrangler, Jack & Jones",
        models="Levi's/501; Levi's/511",
        colours="blue black grey",
        size="apparel",
    ),
    _leaf(
        "cargo_pants",
        "men's clothing,pants,cargo pants",
        "cargo pants | pantalon cargo:m | pantalón cargo:m | 카고 바지 | calça cargo:f"
        " | カーゴパンツ | Cargohose | pantaloni cargo:mp | spodnie bojówki:p"
        " | بنطلون كارغو | กางเกงคาร์โก้ | celana kargo | quần túi hộp",
        brands="Dickies, Carhartt",
        colours="black green beige grey",
        materials="cotton",
        size="apparel",
    ),
    _leaf(
        "mens_jackets",
        "men's clothing,jackets & coats,jackets",
        "men's jacket | veste homme:f | chaqueta de hombre:f | 남성 재킷"
        " | jaqueta masculina:f | メンズジャケット | Herrenjacke | giacca uomo:f"
        " | kurtka męska:f | جاكيت رجالي | แจ็คเก็ตผู้ชาย | jaket pria | áo khoác nam",
        brands="The North Face, Columbia, Nike",
        colours="black blue green grey brown",
        materials="leather nylon",
        size="apparel",
    ),
    # --- shoes
    _leaf(
        "mens_sneakers",
        "shoes,men's shoes,men's sneakers",
        "men's sneakers | baskets homme:fp | zapatillas de hombre:fp | 남성 운동화"
        " | tênis masculino:m | メンズスニーカー | Herren Sneaker"
        " | scarpe da ginnastica uomo:fp | buty sportowe męskie:p | حذاء رياضي رجالي"
        " | รองเท้าผ้าใบผู้ชาย | sepatu sneakers pria | giày thể thao nam",
        brands="Puma",
        models="Nike/Air Max 90; Nike/Air Force 1; Adidas/Samba; Adidas/Superstar;"
        " New Balance/574; New Balance/550",
        colours="black white grey blue red",
        materials="leather",
        size="shoe",
    ),
    _leaf(
        "mens_boots",
        "shoes,men's shoes,men's boots",
        "men's boots | bottes homme:fp | botas de hombre:fp | 남성 부츠"
        " | botas masculinas:fp | メンズブーツ | Herrenstiefel | stivali uomo:mp"
        " | buty zimowe męskie:p | حذاء بوت رجالي | รองเท้าบูทผู้ชาย | sepatu boots pria"
        " | giày bốt nam",
        brands="Caterpillar",
        models="Dr. Martens/1460; Timberland/6-Inch Premium",
        colours="black brown beige",
        materials="leather",
        size="shoe",
    ),
    _leaf(
        "high_heels",
        "shoes,women's shoes,women's pumps",
        "high heels | escarpins:mp | zapatos de tacón:mp | 하이힐"
        " | sapato de salto alto:m | ハイヒール | Pumps | scarpe con tacco:fp | szpilki:p"
        " | حذاء بكعب عالٍ | รองเท้าส้นสูง | sepatu hak tinggi | giày cao gót",
        colours="black red beige pink white",
        materials="leather",
        size="shoe",
    ),
    _leaf(
        "womens_sandals",
        "shoes,women's shoes,women's sandals",
        "women's sandals | sandales femme:fp | sandalias de mujer:fp | 여성 샌들"
        " | sandálias femininas:fp | レディースサンダル | Damen Sandalen | sandali donna:mp"
        " | sandały damskie:p | صندل نسائي | รองเท้ารัดส้นผู้หญิง | sandal wanita"
        " | giày sandal nữ",
        brands="Ipanema",
        models="Birkenstock/Arizona; Birkenstock/Gizeh",
        colours="black white beige brown",
        materials="leather",
        size="shoe",
    ),
    _leaf(
        "insoles",
        "shoes,shoe accessories,insoles",
        "insoles | semelles:fp | plantillas:fp | 깔창 | palmilhas:fp | インソール"
        " | Einlegesohlen | solette:fp | wkładki do butów:p | نعال داخلية للأحذية"
        " | แผ่นรองเท้า | insole sepatu | lót giày",
        brands="Scholl",
        size="shoe",
    ),
    _leaf(
        "shoelaces",
        "shoes,shoe accessories,shoelaces",
        "shoelaces | lacets:mp | cordones:mp | 신발끈 | cadarços:mp | 靴ひも"
        " | Schnürsenkel | lacci per scarpe:mp | sznurówki:p | أربطة أحذية"
        " | เชือกผูกรองเท้า | tali sepatu | dây giày",
        colours="*",
        size="lace",
    ),
    # --- sports & entertainment
    _leaf(
        "yoga_mats",
        "sports & entertainment,fitness & body building,yoga mats",
        "yoga mat | tapis de yoga:m | esterilla de yoga:f | 요가 매트 | tapete de yoga:m"
        " | ヨガマット | Yogamatte | tappetino yoga:m | mata do jogi:f | حصيرة يوغا"
        " | เสื่อโยคะ | matras yoga | thảm tập yoga",
        brands="Decathlon, Manduka, Lululemon",
        colours="black pink blue green grey",
        size="thickness",
    ),
    _leaf(
        "dumbbells",
        "sports & entertainment,fitness & body building,dumbbells",
        "dumbbells | haltères:mp | mancuernas:fp | 아령 | halteres:mp | ダンベル"
        " | Hanteln | manubri:mp | hantle:p | دمبلز | ดัมเบล | dumbel | tạ tay",
        brands="Decathlon",
        colours="black pink",
        size="weight",
    ),
    _leaf(
        "bike_helmets",
        "sports & entertainment,cycling,bicycle helmets",
        "bike helmet | casque de vélo:m | casco de bicicleta:m | 자전거 헬멧"
        " | capacete de bicicleta:m | 自転車ヘルメット | Fahrradhelm | casco da bici:m"
        " | kask rowerowy:m | خوذة دراجة | หมวกกันน็อคจักรยาน | helm sepeda"
        " | mũ bảo hiểm xe đạp",
        brands="Giro, Rockbros, Specialized",
        colours="black white red blue",
        size="apparel",
    ),
    _leaf(
        "bike_lights",
        "sports & entertainment,cycling,bicycle lights",
        "bike light | lampe de vélo:f | luz de bicicleta:f | 자전거 라이트"
        " | farol de bicicleta:m | 自転車ライト | Fahrradlicht | luce per bici:f"
        " | lampka rowerowa:f | ضوء دراجة | ไฟจักรยาน | lampu sepeda | đèn xe đạp",
        brands="Rockbros, Cateye",
        size="lumen",
    ),
    _leaf(
        "guitars",
        "sports & entertainment,musical instruments,stringed instruments,guitars",
        "guitar | guitare:f | guitarra:f | 기타 | violão:m | ギター | Gitarre | chitarra:f"
        " | gitara:f | جيتار | กีตาร์ | gitar | đàn guitar",
        models="Yamaha/F310; Yamaha/C40; Fender/Stratocaster; Cort/AD810",
        colours="black white red",
        materials="wood",
    ),
    _leaf(
        "guitar_strings",
        "sports & entertainment,musical instruments,stringed instruments,guitar strings",
        "guitar strings | cordes de guitare:fp | cuerdas de guitarra:fp | 기타 줄"
        " | cordas de violão:fp | ギター弦 | Gitarrensaiten | corde per chitarra:fp"
        " | struny do gitary:p | أوتار جيتار | สายกีตาร์ | senar gitar | dây đàn guitar",
        brands="D'Addario, Elixir, Ernie Ball",
        accessory_for="guitars",
    ),
    _leaf(
        "fishing_reels",
        "sports & entertainment,fishing,fishing reels",
        "fishing reel | moulinet de pêche:m | carrete de pesca:m | 낚시 릴"
        " | molinete de pesca:m | 釣りリール | Angelrolle | mulinello da pesca:m"
        " | kołowrotek wędkarski:m | بكرة صيد | รอกตกปลา | reel pancing | máy câu cá",
        models="Shimano/Sedona; Shimano/Stradic; Daiwa/Ninja",
        size="reel",
    ),
    _leaf(
        "fishing_lures",
        "sports & entertainment,fishing,fishing lures",
        "fishing lure | leurre de pêche:m | señuelo de pesca:m | 낚시 루어"
        " | isca artificial:f | ルアー | Angelköder | esca artificiale:f"
        " | przynęta wędkarska:f | طعم صيد صناعي | เหยื่อปลอม | umpan pancing"
        " | mồi câu giả",
        brands="Rapala, Daiwa",
        colours="red yellow green white",
        size="lure",
    ),
    # --- automobiles, parts & accessories
    _leaf(
        "seat_covers",
        "automobiles, parts & accessories,interior accessories,seat covers",
        "car seat covers | housses de siège auto:fp | fundas de asiento de coche:fp"
        " | 자동차 시트 커버 | capas de banco de carro:fp | 車用シートカバー"
        " | Autositzbezüge | coprisedili auto:mp | pokrowce na siedzenia samochodowe:p"
        " | أغطية مقاعد السيارة | ผ้าหุ้มเบาะรถยนต์ | sarung jok mobil | bọc ghế ô tô",
        colours="black beige grey red",
        materials="leather",
    ),
    _leaf(
        "car_phone_holders",
        "automobiles, parts & accessories,interior accessories,universal car bracket",
        "car phone holder | support téléphone voiture:m | soporte de móvil para coche:m"
        " | 차량용 휴대폰 거치대 | suporte de celular para carro:m | 車載スマホホルダー"
        " | Handyhalterung fürs Auto | supporto cellulare auto:m"
        " | uchwyt samochodowy na telefon:m | حامل هاتف للسيارة | ที่วางโทรศัพท์ในรถ"
        " | holder hp mobil | giá đỡ điện thoại ô tô",
        brands="Baseus, Ugreen",
        colours="black white",
        accessory_for="mobile_phones",
    ),
    _leaf(
        "car_fresheners",
        "automobiles, parts & accessories,interior accessories,air freshener",
        "car air freshener | désodorisant voiture:m | ambientador de coche:m"
        " | 차량용 방향제 | aromatizante de carro:m | 車用芳香剤 | Autoduft"
        " | deodorante per auto:m | zapach samochodowy:m | معطر سيارة | น้ำหอมติดรถยนต์"
        " | pengharum mobil | nước hoa ô tô",
        brands="Little Trees, Areon",
    ),
    _leaf(
        "dash_cams",
        "automobiles, parts & accessories,car electronics,dvr/dash camera",
        "dash cam | caméra embarquée:f | cámara para coche:f | 블랙박스"
        " | câmera veicular:f | ドライブレコーダー | Dashcam | dashcam:f"
        " | wideorejestrator:m | كاميرا سيارة | กล้องติดรถยนต์ | kamera dashboard"
        " | camera hành trình",
        models="70mai/A500S; 70mai/M300; Xiaomi/Mi Dash Cam 2; Viofo/A119 Mini",
    ),
    _leaf(
        "car_chargers",
        "automobiles, parts & accessories,car electronics,car chargers",
        "car charger | chargeur voiture:m | cargador de coche:m | 차량용 충전기"
        " | carregador veicular:m | カーチャージャー | Kfz-Ladegerät"
        " | caricabatterie da auto:m | ładowarka samochodowa:f | شاحن سيارة"
        " | ที่ชาร์จในรถ | charger mobil | tẩu sạc ô tô",
        brands="Baseus, Anker, Ugreen",
        colours="black white",
        size="charger",
        accessory_for="mobile_phones",
    ),
    # --- beauty, health & hair
    _leaf(
        "lipsticks",
        "beauty, health & hair,makeup,lips,lipstick",
        "lipstick | rouge à lèvres:m | pintalabios:m | 립스틱 | batom:m | 口紅"
        " | Lippenstift | rossetto:m | szminka:f | أحمر شفاه | ลิปสติก | lipstik | son môi",
        brands="L'Oréal, Dior",
        models="Maybelline/SuperStay Matte Ink; MAC/Ruby Woo",
        colours="red pink beige brown",
    ),
    _leaf(
        "mascaras",
        "beauty, health & hair,makeup,eyes,mascara",
        "mascara | mascara:m | rímel:m | 마스카라 | rímel:m | マスカラ | Wimperntusche"
        " | mascara:m | tusz do rzęs:m | ماسكارا | มาสคาร่า | maskara | mascara",
        brands="L'Oréal",
        models="Maybelline/Lash Sensational; Essence/Lash Princess",
        colours="black brown",
    ),
    _leaf(
        "sunscreens",
        "beauty, health & hair,skin care,sunscreen",
        "sunscreen | crème solaire:f | protector solar:m | 선크림 | protetor solar:m"
        " | 日焼け止め | Sonnencreme | crema solare:f | krem z filtrem:m | واقي شمس"
        " | ครีมกันแดด | tabir surya | kem chống nắng",
        brands="Neutrogena, Beauty of Joseon",
        models="La Roche-Posay/Anthelios; Biore/UV Aqua Rich",
        size="cream",
    ),
    _leaf(
        "face_masks",
        "beauty, health & hair,skin care,face masks",
        "face mask | masque visage:m | mascarilla facial:f | 마스크팩 | máscara facial:f"
        " | フェイスパック | Gesichtsmaske | maschera viso:f | maseczka do twarzy:f"
        " | قناع للوجه | มาส์กหน้า | masker wajah | mặt nạ dưỡng da",
        brands="Mediheal, Innisfree",
        size="pack",
    ),
    _leaf(
        "hair_dryers",
        "beauty, health & hair,hair care & styling,hair dryers",
        "hair dryer | sèche-cheveux:m | secador de pelo:m | 헤어 드라이어"
        " | secador de cabelo:m | ヘアドライヤー | Haartrockner | asciugacapelli:m"
        " | suszarka do włosów:f | مجفف شعر | ไดร์เป่าผม | hair dryer | máy sấy tóc",
        brands="Philips, Remington, Xiaomi",
        models="Dyson/Supersonic; Dyson/Supersonic HD08",
        colours="black pink white",
        size="dryer",
    ),
    _leaf(
        "hair_straighteners",
        "beauty, health & hair,hair care & styling,hair straighteners",
        "hair straightener | lisseur:m | plancha de pelo:f | 고데기 | chapinha:f"
        " | ヘアアイロン | Glätteisen | piastra per capelli:f | prostownica do włosów:f"
        " | مكواة شعر | เครื่องหนีบผม | catokan rambut | máy duỗi tóc",
        brands="Remington, Philips, Babyliss",
        models="GHD/Platinum+",
        colours="black pink",
    ),
    _leaf(
        "shavers",
        "beauty, health & hair,shaving & hair removal,electric shavers",
        "electric shaver | rasoir électrique:m | afeitadora eléctrica:f | 전기면도기"
        " | barbeador elétrico:m | 電気シェーバー | Elektrorasierer | rasoio elettrico:m"
        " | golarka elektryczna:f | ماكينة حلاقة كهربائية | เครื่องโกนหนวดไฟฟ้า"
        " | alat cukur elektrik | máy cạo râu",
        brands="Xiaomi",
        models="Braun/Series 9; Braun/Series 7; Philips/Series 5000",
    ),
    # --- toys, kids & babies
    _leaf(
        "building_blocks",
        "toys, kids & babies,toys & hobbies,blocks",
        "building blocks | briques de construction:fp | bloques de construcción:mp"
        " | 블록 장난감 | blocos de montar:mp | ブロック玩具 | Bausteine | mattoncini:mp"
        " | klocki:p | مكعبات بناء | ตัวต่อ | mainan balok | đồ chơi lắp ráp",
        brands="Mega Bloks",
        models="LEGO/Technic; LEGO/City; LEGO/Star Wars; LEGO/Creator",
        size="pack",
    ),
    _leaf(
        "rc_cars",
        "toys, kids & babies,toys & hobbies,remote control toys,rc cars",
        "rc car | voiture télécommandée:f | coche teledirigido:m | RC카"
        " | carrinho de controle remoto:m | ラジコンカー | ferngesteuertes Auto"
        " | macchina telecomandata:f | samochód zdalnie sterowany:m"
        " | سيارة تحكم عن بعد | รถบังคับ | mobil remote control | xe điều khiển từ xa",
        models="Wltoys/144001; Traxxas/Slash",
        colours="red blue yellow black",
    ),
    _leaf(
        "plush_toys",
        "toys, kids & babies,toys & hobbies,stuffed animals & plush",
        "plush toy | peluche:f | peluche:m | 봉제 인형 | pelúcia:f | ぬいぐるみ"
        " | Plüschtier | peluche:m | pluszak:m | دمية محشوة | ตุ๊กตาผ้า | boneka"
        " | gấu bông",
        brands="Jellycat",
        models="Pokémon/Pikachu; Sanrio/Kuromi; Sanrio/Hello Kitty; Disney/Stitch",
        size="plush",
    ),
    _leaf(
        "baby_bottles",
        "toys, kids & babies,baby care,feeding,baby bottles",
        "baby bottle | biberon:m | biberón:m | 젖병 | mamadeira:f | 哺乳瓶 | Babyflasche"
        " | biberon:m | butelka dla niemowląt:f | رضاعة أطفال | ขวดนมเด็ก"
        " | botol susu bayi | bình sữa em bé",
        brands="Philips Avent, Pigeon, MAM",
        materials="glass plastic silicone",
        size="bottle",
    ),
    _leaf(
        "diapers",
        "toys, kids & babies,baby care,diapers",
        "diapers | couches:fp | pañales:mp | 기저귀 | fraldas:fp | おむつ | Windeln"
        " | pannolini:mp | pieluchy:p | حفاضات | ผ้าอ้อมสำเร็จรูป | popok | tã bỉm",
        brands="Pampers, Huggies, Merries",
        size="apparel",
    ),
    _leaf(
        "strollers",
        "toys, kids & babies,activity & gear,strollers",
        "stroller | poussette:f | cochecito:m | 유모차 | carrinho de bebê:m | ベビーカー"
        " | Kinderwagen | passeggino:m | wózek dziecięcy:m | عربة أطفال | รถเข็นเด็ก"
        " | stroller | xe đẩy em bé",
        brands="Joie, Chicco",
        models="Babyzen/YOYO2",
        colours="black grey beige",
    ),
    # --- jewelry & accessories
    _leaf(
        "rings",
        "jewelry & accessories,rings",
        "ring | bague:f | anillo:m | 반지 | anel:m | 指輪 | Ring | anello:m"
        " | pierścionek:m | خاتم | แหวน | cincin | nhẫn",
        brands="Pandora, Swarovski",
        materials="silver gold steel",
        size="ring",
    ),
    _leaf(
        "necklaces",
        "jewelry & accessories,necklaces & pendants",
        "necklace | collier:m | collar:m | 목걸이 | colar:m | ネックレス | Halskette"
        " | collana:f | naszyjnik:m | قلادة | สร้อยคอ | kalung | dây chuyền",
        brands="Pandora, Swarovski",
        materials="silver gold steel",
    ),
    _leaf(
        "earrings",
        "jewelry & accessories,earrings",
        "earrings | boucles d'oreilles:fp | pendientes:mp | 귀걸이 | brincos:mp | ピアス"
        " | Ohrringe | orecchini:mp | kolczyki:p | أقراط | ต่างหู | anting | bông tai",
        brands="Pandora, Swarovski",
        materials="silver gold steel",
    ),
    _leaf(
        "hair_clips",
        "jewelry & accessories,hair jewelry,hair clips",
        "hair clip | pince à cheveux:f | pinza para el pelo:f | 집게핀"
        " | presilha de cabelo:f | ヘアクリップ | Haarklammer | pinza per capelli:f"
        " | spinka do włosów:f | مشبك شعر | กิ๊บติดผม | jepit rambut | kẹp tóc",
        colours="*",
        materials="plastic",
    ),
    # --- luggage & bags
    _leaf(
        "shoulder_bags",
        "luggage & bags,women's handbags,shoulder bags",
        "shoulder bag | sac à bandoulière:m | bolso de hombro:m | 숄더백"
        " | bolsa de ombro:f | ショルダーバッグ | Umhängetasche | borsa a tracolla:f"
        " | torebka na ramię:f | حقيبة كتف | กระเป๋าสะพายไหล่ | tas selempang"
        " | túi đeo vai",
        brands="Coach, Michael Kors, Zara",
        colours="*",
        materials="leather",
    ),
    _leaf(
        "wallets",
        "luggage & bags,wallets",
        "wallet | portefeuille:m | cartera:f | 지갑 | carteira:f | 財布 | Geldbörse"
        " | portafoglio:m | portfel:m | محفظة | กระเป๋าสตางค์ | dompet | ví",
        brands="Tommy Hilfiger, Calvin Klein",
        colours="black brown",
        materials="leather",
    ),
    _leaf(
        "backpacks",
        "luggage & bags,backpacks",
        "backpack | sac à dos:m | mochila:f | 백팩 | mochila:f | リュック | Rucksack"
        " | zaino:m | plecak:m | حقيبة ظهر | กระเป๋าเป้ | tas ransel | ba lô",
        brands="Xiaomi, Nike, Herschel, The North Face",
        colours="*",
        materials="nylon leather",
    ),
    _leaf(
        "suitcases",
        "luggage & bags,luggage & travel bags,suitcases",
        "suitcase | valise:f | maleta:f | 캐리어 | mala de viagem:f | スーツケース"
        " | Koffer | valigia:f | walizka:f | حقيبة سفر | กระเป๋าเดินทาง | koper | vali",
        brands="Samsonite, American Tourister",
        colours="black grey blue pink",
        materials="aluminium plastic",
        size="luggage",
    ),
    # --- home improvement
    _leaf(
        "screwdrivers",
        "home improvement,tools,hand tools, sets & storage,screwdrivers",
        "screwdriver | tournevis:m | destornillador:m | 드라이버 | chave de fenda:f"
        " | ドライバー | Schraubendreher | cacciavite:m | śrubokręt:m | مفك براغي | ไขควง"
        " | obeng | tua vít",
        brands="Wera, Stanley, Xiaomi",
    ),
    _leaf(
        "drills",
        "home improvement,tools,power tools,electric drills",
        "electric drill | perceuse:f | taladro:m | 전동 드릴 | furadeira:f | 電動ドリル"
        " | Bohrmaschine | trapano:m | wiertarka:f | مثقاب كهربائي | สว่านไฟฟ้า"
        " | bor listrik | máy khoan",
        models="Makita/DHP482; DeWalt/DCD777; Bosch/GSR 120-LI",
    ),
    _leaf(
        "angle_grinders",
        "home improvement,tools,power tools,angle grinders",
        "angle grinder | meuleuse d'angle:f | amoladora:f | 앵글 그라인더"
        " | esmerilhadeira:f | ディスクグラインダー | Winkelschleifer"
        " | smerigliatrice angolare:f | szlifierka kątowa:f | جلاخة زاوية | เครื่องเจียร"
        " | gerinda tangan | máy mài góc",
        models="Bosch/GWS 7-125; Makita/GA5030; DeWalt/DWE4157",
    ),
    # --- lights & lighting
    _leaf(
        "led_strips",
        "lights & lighting,led lighting,led strips",
        "led strip | ruban led:m | tira led:f | LED 스트립 | fita led:f | LEDテープ"
        " | LED-Streifen | striscia led:f | taśma led:f | شريط LED | ไฟเส้น LED"
        " | lampu strip LED | đèn led dây",
        brands="Philips Hue, Govee",
        size="strip",
    ),
    _leaf(
        "ceiling_lights",
        "lights & lighting,indoor lighting,ceiling lights",
        "ceiling light | plafonnier:m | lámpara de techo:f | 천장 조명"
        " | luminária de teto:f | シーリングライト | Deckenleuchte | plafoniera:f"
        " | lampa sufitowa:f | ضوء سقف | โคมไฟเพดาน | lampu plafon | đèn ốp trần",
        brands="Philips, Ikea, Yeelight",
        colours="white black",
        size="lamp",
    ),
    _leaf(
        "desk_lamps",
        "lights & lighting,indoor lighting,desk lamps",
        "desk lamp | lampe de bureau:f | lámpara de escritorio:f | 책상 스탠드"
        " | luminária de mesa:f | デスクライト | Schreibtischlampe"
        " | lampada da scrivania:f | lampka biurkowa:f | مصباح مكتب | โคมไฟตั้งโต๊ะ"
        " | lampu meja | đèn bàn",
        brands="Xiaomi, Ikea, BenQ",
        colours="white black pink",
    ),
    # --- watches
    _leaf(
        "mens_watches",
        "watches,men's watches",
        "men's watch | montre homme:f | reloj de hombre:m | 남성 시계"
        " | relógio masculino:m | メンズ腕時計 | Herrenuhr | orologio uomo:m"
        " | zegarek męski:m | ساعة رجالية | นาฬิกาผู้ชาย | jam tangan pria | đồng hồ nam",
        models="Casio/G-Shock GA-2100; Casio/F-91W; Seiko/5 Sports; Citizen/Eco-Drive",
        colours="black blue green",
        materials="steel leather",
    ),
    _leaf(
        "womens_watches",
        "watches,women's watches",
        "women's watch | montre femme:f | reloj de mujer:m | 여성 시계"
        " | relógio feminino:m | レディース腕時計 | Damenuhr | orologio donna:m"
        " | zegarek damski:m | ساعة نسائية | นาฬิกาผู้หญิง | jam tangan wanita"
        " | đồng hồ nữ",
        brands="Casio, Fossil, Daniel Wellington",
        colours="pink white black",
        materials="steel leather",
    ),
    _leaf(
        "watchbands",
        "watches,watches accessories,watchbands",
        "watch strap | bracelet de montre:m | correa de reloj:f | 시계줄"
        " | pulseira de relógio:f | 時計バンド | Uhrenarmband | cinturino per orologio:m"
        " | pasek do zegarka:m | سوار ساعة | สายนาฬิกา | tali jam | dây đồng hồ",
        brands="Ugreen, Spigen",
        colours="black white blue pink brown",
        materials="silicone leather steel nylon",
        size="band",
        accessory_for="smart_watches mens_watches",
    ),
    # --- novelty & special use
    _leaf(
        "cosplay_costumes",
        "novelty & special use,costumes & accessories,cosplay costumes（deactivate）",
        "cosplay costume | costume de cosplay:m | disfraz de cosplay:m | 코스프레 의상"
        " | fantasia de cosplay:f | コスプレ衣装 | Cosplay-Kostüm | costume cosplay:m"
        " | kostium cosplay:m | زي تنكري | ชุดคอสเพลย์ | kostum cosplay"
        " | trang phục cosplay",
        models="Genshin Impact/Raiden Shogun; Genshin Impact/Hu Tao; Demon Slayer/Nezuko;"
        " Naruto/Akatsuki; Spy x Family/Yor Forger",
        size="apparel",
    ),
    _leaf(
        "wigs",
        "novelty & special use,costumes & accessories,wigs",
        "wig | perruque:f | peluca:f | 가발 | peruca:f | ウィッグ | Perücke | parrucca:f"
        " | peruka:f | شعر مستعار | วิกผม | wig | tóc giả",
        colours="black white pink blue grey brown",
    ),
)


def _parse_agreeing(source: dict[str, str]) -> dict[str, list[dict[str, str]]]:
    """Adjective -> per language a {gender: form} map ("" for languages without gender)."""
    table: dict[str, list[dict[str, str]]] = {}
    for colour, text in source.items():
        forms = []
        for lang, part in zip(LANGS, _split13(text), strict=True):
            words = part.split("/")
            genders = _GENDERS.get(lang, ("",))
            if len(words) == 1:
                forms.append(dict.fromkeys(genders, words[0]))
            elif lang == "pl" and len(words) == 3:  # the non-virile plural is the neuter
                forms.append(dict(zip(genders, [*words, words[2]], strict=True)))
            elif len(words) == len(genders):
                forms.append(dict(zip(genders, words, strict=True)))
            else:
                raise ValueError(f"{colour!r}: bad {lang} forms {part!r}")
        table[colour] = forms
    return table


_COLOURS = _parse_agreeing(_COLOUR_TEXT)
_MODIFIERS = _parse_agreeing(_MODIFIER_TEXT)
_MODIFIER_NAMES = tuple(_MODIFIER_TEXT)
_MATERIALS = {key: _split13(text) for key, text in _MATERIAL_TEXT.items()}


def _check_catalogue() -> None:
    """Fail at import on a catalogue typo: unknown keys, bad paths, duplicate paths."""
    keys = {leaf.key for leaf in CATALOGUE}
    if len(keys) != len(CATALOGUE) or len({leaf.path for leaf in CATALOGUE}) != len(CATALOGUE):
        raise ValueError("catalogue keys and paths must be unique")
    for leaf in CATALOGUE:
        levels = category_levels(leaf.path)
        if not 2 <= len(levels) <= 4 or leaf.path != leaf.path.lower():
            raise ValueError(f"{leaf.key}: path must be lower-case with 2-4 levels")
        if ",".join(levels) != leaf.path:
            raise ValueError(f"{leaf.key}: path {leaf.path!r} does not round-trip")
        unknown = (
            {c for c in leaf.colours if c not in _COLOURS}
            | {m for m in leaf.materials if m not in _MATERIALS}
            | {a for a in leaf.accessory_for if a not in keys}
        )
        if unknown or (leaf.size_kind and leaf.size_kind not in _SIZE_VALUES):
            raise ValueError(f"{leaf.key}: unknown names {sorted(unknown)} / {leaf.size_kind}")


_check_catalogue()
