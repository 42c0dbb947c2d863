"""PURE: <Say voice="..."> as users write it -> (provider, voice id, gender), and default voices.

Accepted spellings (prefixes case-insensitive, voice ids kept as written):

    polly.Joanna  Polly.Joanna-Neural  Polly.Ruth-Generative       -> ("polly", "Joanna" ...)
    google.en-US-Wavenet-F  Google.en-US-Standard-C               -> ("google", "en-US-...")
    eleven.Rachel  elevenlabs.Rachel                              -> ("elevenlabs", "Rachel")
    azure.en-US-JennyNeural                                       -> ("azure", "en-US-JennyNeural")
    gtts  gtts.<anything>                                         -> ("gtts", "")
    espeak  espeak.<variant>                                      -> ("espeak", "<variant>")
    woman  alice  ""                                              -> (None, "", "female")
    man                                                           -> (None, "", "male")

A voice with no provider means "the first configured provider's default voice of that gender
for the language". A prefix we do not know (`foo.Bar`) or a bare name (`Joanna`) is an unknown
voice: the chain reports it (13511) and continues as for `woman`.
"""

from __future__ import annotations

import dataclasses

FEMALE = "female"
MALE = "male"

# The product doc's order; gTTS (not in the doc, free but unofficial) sits before espeak.
PROVIDER_ORDER: tuple[str, ...] = ("polly", "google", "elevenlabs", "azure", "gtts", "espeak")

_PREFIXES = {
    "polly": "polly",
    "google": "google",
    "eleven": "elevenlabs",
    "elevenlabs": "elevenlabs",
    "azure": "azure",
    "gtts": "gtts",
    "espeak": "espeak",
}
_GENERIC = {"": FEMALE, "woman": FEMALE, "alice": FEMALE, "man": MALE}


@dataclasses.dataclass(frozen=True, slots=True)
class VoiceRequest:
    """A parsed voice attribute. `provider` None: any provider's default voice of `gender`."""

    provider: str | None
    voice_id: str
    gender: str
    unknown: bool = False


def parse_voice(voice: str) -> VoiceRequest:
    """Parse a <Say> voice attribute (see the module docstring for the spellings)."""
    text = voice.strip()
    generic = _GENERIC.get(text.lower())
    if generic is not None:
        return VoiceRequest(None, "", generic)
    head, dot, rest = text.partition(".")
    provider = _PREFIXES.get(head.lower())
    if provider is None or (not dot and provider not in ("gtts", "espeak")):
        return VoiceRequest(None, "", FEMALE, unknown=True)
    voice_id = "" if provider == "gtts" else rest.strip()
    if provider not in ("gtts", "espeak") and not voice_id:
        return VoiceRequest(None, "", FEMALE, unknown=True)
    return VoiceRequest(provider, voice_id, gender_of(provider, voice_id))


# --- genders and default voices ---------------------------------------------------------------

# Voices whose gender the name does not show. Anything not listed is taken as female (Twilio's
# default voice is a woman's), except Google names, whose gender is looked up below.
_MALE_NAMES = frozenset(
    n.lower()
    for n in (
        # Polly
        "Matthew",
        "Joey",
        "Justin",
        "Kevin",
        "Stephen",
        "Gregory",
        "Brian",
        "Arthur",
        "Russell",
        "Miguel",
        "Enrique",
        "Andres",
        "Pedro",
        "Mathieu",
        "Remi",
        "Hans",
        "Daniel",
        "Giorgio",
        "Adriano",
        "Ricardo",
        "Thiago",
        "Cristiano",
        "Takumi",
        "Liam",
        "Sergio",
        "Geraint",
        "Aiden",
        # ElevenLabs premade
        "Adam",
        "Antoni",
        "Arnold",
        "Josh",
        "Sam",
        "Clyde",
        "Dave",
        "Fin",
        "George",
        "Callum",
        "Charlie",
        "Liam",
        "Will",
        "Eric",
        "Chris",
        "Bill",
        "Brian",
        "Daniel",
        "Roger",
        # Azure (without the Neural suffix)
        "Guy",
        "Davis",
        "Tony",
        "Jason",
        "Andrew",
        "Brian",
        "Christopher",
        "Eric",
        "Ryan",
        "Alvaro",
        "Jorge",
        "Henri",
        "Conrad",
        "Diego",
        "Antonio",
        "Keita",
        "William",
    )
)
_GOOGLE_MALE_SUFFIX = {"en-US": "BDIJ", "en-GB": "BDO", "es-ES": "BE", "fr-FR": "BDG", "de-DE": "BDE"}


def gender_of(provider: str, voice_id: str) -> str:
    """Best knowledge of a voice's gender, used to pick the next provider's voice on fallback."""
    if provider == "google":
        lang = "-".join(voice_id.split("-")[:2])
        last = voice_id.rsplit("-", 1)[-1]
        return MALE if len(last) == 1 and last.upper() in _GOOGLE_MALE_SUFFIX.get(lang, "") else FEMALE
    name = voice_id
    if provider == "polly":
        name = voice_id.split("-")[0]
    elif provider == "azure":
        name = voice_id.rsplit("-", 1)[-1].removesuffix("Neural").removesuffix("Multilingual")
    elif provider == "espeak":
        return MALE if voice_id.lower() in ("man", "male", "m") else FEMALE
    return MALE if name.lower() in _MALE_NAMES else FEMALE


# language -> (female, male) default voices per provider.
POLLY_DEFAULTS: dict[str, tuple[str, str]] = {
    "en-US": ("Joanna", "Matthew"),
    "en-GB": ("Amy", "Brian"),
    "en-AU": ("Nicole", "Russell"),
    "es-ES": ("Lucia", "Enrique"),
    "es-MX": ("Mia", "Andres"),
    "es-US": ("Lupe", "Miguel"),
    "fr-FR": ("Lea", "Mathieu"),
    "fr-CA": ("Chantal", "Liam"),
    "de-DE": ("Vicki", "Hans"),
    "it-IT": ("Bianca", "Giorgio"),
    "pt-BR": ("Camila", "Ricardo"),
    "pt-PT": ("Ines", "Cristiano"),
    "ja-JP": ("Mizuki", "Takumi"),
}
AZURE_DEFAULTS: dict[str, tuple[str, str]] = {
    "en-US": ("en-US-JennyNeural", "en-US-GuyNeural"),
    "en-GB": ("en-GB-SoniaNeural", "en-GB-RyanNeural"),
    "es-ES": ("es-ES-ElviraNeural", "es-ES-AlvaroNeural"),
    "es-MX": ("es-MX-DaliaNeural", "es-MX-JorgeNeural"),
    "fr-FR": ("fr-FR-DeniseNeural", "fr-FR-HenriNeural"),
    "de-DE": ("de-DE-KatjaNeural", "de-DE-ConradNeural"),
    "it-IT": ("it-IT-ElsaNeural", "it-IT-DiegoNeural"),
    "pt-BR": ("pt-BR-FranciscaNeural", "pt-BR-AntonioNeural"),
    "ja-JP": ("ja-JP-NanamiNeural", "ja-JP-KeitaNeural"),
}


def normalize_language(language: str) -> str:
    """'en-us' -> 'en-US'; '' -> 'en-US' (the <Say> default)."""
    parts = (language or "en-US").strip().replace("_", "-").split("-")
    if len(parts) >= 2 and len(parts[1]) == 2:
        return "-".join([parts[0].lower(), parts[1].upper(), *parts[2:]])
    return "-".join([parts[0].lower(), *parts[1:]])


def table_default(table: dict[str, tuple[str, str]], gender: str, language: str) -> str:
    """The table's voice for the language (else its first voice of the same base language, else
    en-US) and gender."""
    lang = normalize_language(language)
    pair = table.get(lang)
    if pair is None:
        base = lang.split("-")[0]
        pair = next((v for k, v in table.items() if k.split("-")[0] == base), table["en-US"])
    return pair[1] if gender == MALE else pair[0]
