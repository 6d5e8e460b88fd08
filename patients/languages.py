"""Languages offered at registration: ISO 639-1 codes with English names (ISO 639 is public; the names are the
ISO 639-2 registration authority's English names). The languages US clinics meet most often come first (the
Census Bureau's most-spoken languages at home), then every other code by name. Stored as the code."""

COMMON = [
    ("en", "English"),
    ("es", "Spanish"),
    ("zh", "Chinese"),
    ("vi", "Vietnamese"),
    ("tl", "Tagalog"),
    ("ar", "Arabic"),
    ("ko", "Korean"),
    ("ru", "Russian"),
    ("fr", "French"),
    ("ht", "Haitian Creole"),
    ("pt", "Portuguese"),
    ("de", "German"),
    ("hi", "Hindi"),
    ("pl", "Polish"),
    ("ja", "Japanese"),
    ("fa", "Persian"),
    ("ur", "Urdu"),
    ("bn", "Bengali"),
    ("pa", "Panjabi"),
    ("so", "Somali"),
    ("am", "Amharic"),
    ("ne", "Nepali"),
    ("km", "Khmer"),
    ("hy", "Armenian"),
    ("it", "Italian"),
    ("el", "Greek"),
    ("uk", "Ukrainian"),
]

OTHER = [
    ("af", "Afrikaans"),
    ("sq", "Albanian"),
    ("az", "Azerbaijani"),
    ("eu", "Basque"),
    ("be", "Belarusian"),
    ("bs", "Bosnian"),
    ("bg", "Bulgarian"),
    ("my", "Burmese"),
    ("ca", "Catalan"),
    ("hr", "Croatian"),
    ("cs", "Czech"),
    ("da", "Danish"),
    ("nl", "Dutch"),
    ("et", "Estonian"),
    ("fi", "Finnish"),
    ("ka", "Georgian"),
    ("gu", "Gujarati"),
    ("ha", "Hausa"),
    ("he", "Hebrew"),
    ("hu", "Hungarian"),
    ("is", "Icelandic"),
    ("ig", "Igbo"),
    ("id", "Indonesian"),
    ("ga", "Irish"),
    ("kn", "Kannada"),
    ("kk", "Kazakh"),
    ("rw", "Kinyarwanda"),
    ("ku", "Kurdish"),
    ("ky", "Kirghiz"),
    ("lo", "Lao"),
    ("lv", "Latvian"),
    ("lt", "Lithuanian"),
    ("mk", "Macedonian"),
    ("mg", "Malagasy"),
    ("ms", "Malay"),
    ("ml", "Malayalam"),
    ("mt", "Maltese"),
    ("mr", "Marathi"),
    ("mn", "Mongolian"),
    ("nv", "Navajo"),
    ("no", "Norwegian"),
    ("om", "Oromo"),
    ("ps", "Pushto"),
    ("qu", "Quechua"),
    ("ro", "Romanian"),
    ("sm", "Samoan"),
    ("sr", "Serbian"),
    ("sn", "Shona"),
    ("si", "Sinhala"),
    ("sk", "Slovak"),
    ("sl", "Slovenian"),
    ("sw", "Swahili"),
    ("sv", "Swedish"),
    ("tg", "Tajik"),
    ("ta", "Tamil"),
    ("te", "Telugu"),
    ("th", "Thai"),
    ("bo", "Tibetan"),
    ("ti", "Tigrinya"),
    ("to", "Tonga"),
    ("tr", "Turkish"),
    ("tk", "Turkmen"),
    ("uz", "Uzbek"),
    ("cy", "Welsh"),
    ("xh", "Xhosa"),
    ("yi", "Yiddish"),
    ("yo", "Yoruba"),
    ("zu", "Zulu"),
]

NAMES = dict(COMMON + OTHER)


def choices(current: str = "") -> list:
    """Grouped choices for a select; a stored code not in the list (an import's BCP 47 tag) is kept as it is."""
    out = [("Common", COMMON), ("All languages", sorted(OTHER, key=lambda c: c[1]))]
    if current and current not in NAMES:
        out.insert(0, (current, f"{current} (as recorded)"))
    return out


def name_of(code: str) -> str:
    """The language's name; a regional tag (BCP 47 "en-US", as imported records carry) by its language's name."""
    code = code or ""
    return NAMES.get(code) or NAMES.get(code.split("-")[0].lower(), code)
