"""A small German-like weather / daily-life language: gloss sequences, spoken sentences, dialogue turns.

Glosses follow sign order (time, place, subject, object, verb last: `MORGEN NORD REGEN STARK`,
`HEUTE MUTTER KAFFEE TRINKEN`); the spoken sentence is German verb-second with articles,
prepositions, inflection and spoken-only fillers (`morgen gibt es im norden dann starken regen`,
`heute trinkt meine mutter kaffee`). The preceding dialogue turn is a question or remark that
names part of one clause (`Trinkt deine Mutter heute Kaffee`).

Members of a confusable pair are interchangeable in the grammar (same slot, same neighbours,
same objects); only the spoken sentence (always) and the dialogue turn (usually) name the one
signed. With `twin_context` s > 0 a hidden topic per sentence makes the other glosses tell it in
part (`Grammar.topic_of`): as in real signing, where the sentence's other signs make one reading
of an ambiguous sign likelier, a video-only student can learn it; the teachers know it from text.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# --------------------------------------------------------------------------------------------
# Inventory: gloss -> realisations. Each category lists its glosses in priority order (the
# lexicon of size n takes the confusable pairs first, then categories round-robin).
# --------------------------------------------------------------------------------------------

TIME = {  # spoken variants, context phrase
    "HEUTE": (["heute", "am heutigen tag"], "heute"), "MORGEN": (["morgen", "am morgigen tag"], "morgen"),
    "ABEND": (["am abend", "abends"], "am Abend"), "NACHT": (["in der nacht", "nachts"], "in der Nacht"),
    "WOCHENENDE": (["am wochenende", "am kommenden wochenende"], "am Wochenende"), "MITTAG": (["am mittag", "mittags"], "am Mittag"),
    "MITTWOCH": (["am mittwoch", "am kommenden mittwoch"], "am Mittwoch"), "FREITAG": (["am freitag", "am kommenden freitag"], "am Freitag"),
    "SONNTAG": (["am sonntag", "am kommenden sonntag"], "am Sonntag"), "DONNERSTAG": (["am donnerstag", "am kommenden donnerstag"], "am Donnerstag"),
    "SAMSTAG": (["am samstag", "am kommenden samstag"], "am Samstag"), "MONTAG": (["am montag", "am kommenden montag"], "am Montag"),
    "DIENSTAG": (["am dienstag", "am kommenden dienstag"], "am Dienstag"),
}
REGION = {
    "NORD": (["im norden", "im nördlichen teil"], "im Norden"), "SUED": (["im süden", "im südlichen teil"], "im Süden"),
    "BERG": (["in den bergen", "im bergland"], "in den Bergen"),
    "KUESTE": (["an der küste", "an der see"], "an der Küste"),
    "MITTE": (["in der mitte", "in der landesmitte"], "in der Mitte"),
    "OST": (["im osten", "im östlichen teil"], "im Osten"), "WEST": (["im westen", "im westlichen teil"], "im Westen"),
}
WEATHER = {  # noun variants (noun, gender), verb frame (verb, subject, predicate) or None, context predicate
    "SONNE": ([("sonne", "f"), ("sonnenschein", "m")], ("scheint", "die sonne", ""), "sonnig"),
    "WIND": ([("wind", "m"), ("böen", "pl")], ("weht", "der wind", ""), "windig"),
    "GEWITTER": ([("gewitter", "pl"), ("unwetter", "pl")], None, "Gewitter geben"),
    "REGEN": ([("regen", "m"), ("regenfälle", "pl")], ("regnet", "es", ""), "regnen"),
    "SCHNEE": ([("schnee", "m"), ("schneefall", "m")], ("schneit", "es", ""), "schneien"),
    "FROST": ([("frost", "m"), ("glätte", "f")], None, "Frost geben"),
    "HAGEL": ([("hagel", "m")], ("hagelt", "es", ""), "hageln"),
    "SCHAUER": ([("schauer", "pl"), ("regenschauer", "pl")], None, "Schauer geben"),
    "WOLKE": ([("wolken", "pl"), ("bewölkung", "f")], ("ist", "es", "bewölkt"), "bewölkt"),
    "NEBEL": ([("nebel", "m"), ("dunst", "m")], ("ist", "es", "neblig"), "neblig"),
}
CONTEXT_ADJECTIVES = {"sonnig", "windig", "bewölkt", "neblig"}
INTENSITY = {  # adjective by gender (variants), adverb variants
    "STARK": ({"m": ["starken", "kräftigen"], "f": ["starke", "kräftige"], "pl": ["starke", "kräftige"]},
              ["stark", "kräftig", "heftig"]),
    "SCHWACH": ({"m": ["schwachen", "leichten"], "f": ["schwache", "leichte"], "pl": ["schwache", "leichte"]},
                ["schwach", "leicht", "mäßig"]),
    "VIEL": ({"m": ["viel"], "f": ["viel"], "pl": ["viele"]}, ["viel", "reichlich"]),
    "WENIG": ({"m": ["wenig"], "f": ["wenig"], "pl": ["wenige"]}, ["wenig", "kaum"]),
}
TEMP_ADJ = {"WARM": ["warm", "angenehm warm"], "KALT": ["kalt", "bitterkalt"], "MILD": ["mild", "recht mild"],
            "HEISS": ["heiß", "richtig heiß"], "KUEHL": ["kühl", "ziemlich kühl"]}
TEMP_WORD = {"TEMPERATUR": "temperaturen", "GRAD": "grad", "STEIGEN": "steigen", "SINKEN": "sinken",
             "MINUS": "minus"}
TEMPERATURE_SUBJECTS = ["die temperaturen", "die höchstwerte", "die tiefstwerte", "die werte"]
NUMBER = {"ZEHN": "zehn", "ZWANZIG": "zwanzig", "FUENF": "fünf", "NULL": "null", "DREISSIG": "dreißig",
          "FUENFZEHN": "fünfzehn"}
PERSON = {  # spoken subject variants, person, context subject (the listener's point of view), its person
    "ICH": (["ich"], "1sg", "du", "2sg"), "MUTTER": (["meine mutter", "die mutter"], "3sg", "deine Mutter", "3sg"),
    "WIR": (["wir"], "1pl", "wir", "1pl"), "FREUND": (["mein freund", "ein freund", "mein bester freund"], "3sg", "dein Freund", "3sg"),
    "DU": (["du"], "2sg", "ich", "1sg"), "KIND": (["das kind", "unser kind"], "3sg", "das Kind", "3sg"),
    "FAMILIE": (["die familie", "unsere familie"], "3sg", "eure Familie", "3sg"),
    "VATER": (["mein vater", "der vater"], "3sg", "dein Vater", "3sg"),
}
VERB = {  # forms 1sg 2sg 3sg 1pl, separable particle, objects
    "TRINKEN": (("trinke", "trinkst", "trinkt", "trinken"), "", ("KAFFEE", "TEE", "WASSER")),
    "ARBEITEN": (("arbeite", "arbeitest", "arbeitet", "arbeiten"), "", ()),
    "ESSEN": (("esse", "isst", "isst", "essen"), "", ("BROT", "SUPPE", "KUCHEN", "APFEL")),
    "LESEN": (("lese", "liest", "liest", "lesen"), "", ("BUCH", "ZEITUNG")),
    "SPAZIEREN": (("gehe", "gehst", "geht", "gehen"), "spazieren", ()),
    "KOCHEN": (("koche", "kochst", "kocht", "kochen"), "", ("SUPPE", "KAFFEE", "TEE")),
    "KAUFEN": (("kaufe", "kaufst", "kauft", "kaufen"), "", ("BROT", "KUCHEN", "KAFFEE", "TEE", "APFEL", "BUCH")),
    "SPIELEN": (("spiele", "spielst", "spielt", "spielen"), "", ()),
    "SCHLAFEN": (("schlafe", "schläfst", "schläft", "schlafen"), "", ()),
}
MACHEN = ("mache", "machst", "macht", "machen")
PERSONS = ("1sg", "2sg", "3sg", "1pl")
OBJECT = {
    "KAFFEE": (["kaffee", "einen kaffee"], "Kaffee"), "BROT": (["brot", "ein brot"], "Brot"),
    "SUPPE": (["suppe", "eine suppe"], "Suppe"), "WASSER": (["wasser", "ein glas wasser"], "Wasser"),
    "KUCHEN": (["kuchen", "einen kuchen"], "Kuchen"), "BUCH": (["ein buch", "das buch"], "ein Buch"),
    "ZEITUNG": (["die zeitung", "eine zeitung"], "die Zeitung"), "APFEL": (["einen apfel"], "einen Apfel"),
    "TEE": (["tee", "einen tee"], "Tee"),
}
PLACE = {
    "ZUHAUSE": (["zu hause", "daheim"], "zu Hause"), "PARK": (["im park", "im stadtpark"], "im Park"),
    "GARTEN": (["im garten"], "im Garten"), "SCHULE": (["in der schule"], "in der Schule"),
    "MARKT": (["auf dem markt"], "auf dem Markt"), "CAFE": (["im café"], "im Café"),
    "BUERO": (["im büro"], "im Büro"),
}
CONJ = {"UND": "und"}

CATEGORIES = {"time": TIME, "region": REGION, "weather": WEATHER, "intensity": INTENSITY, "temp_adj": TEMP_ADJ,
              "temp_word": TEMP_WORD, "number": NUMBER, "person": PERSON, "verb": VERB, "object": OBJECT,
              "place": PLACE, "conj": CONJ}
CATEGORY_OF = {g: c for c, table in CATEGORIES.items() for g in table}
INVENTORY_SIZE = len(CATEGORY_OF)

# Candidate confusable pairs, in the order they are used. Members share a category and every
# grammatical context (e.g. KAFFEE and TEE go with the same verbs).
PAIRS = [("REGEN", "SCHNEE"), ("WARM", "HEISS"), ("OST", "WEST"), ("MONTAG", "DIENSTAG"), ("KAFFEE", "TEE"),
         ("MUTTER", "VATER"), ("SCHULE", "BUERO"), ("KALT", "KUEHL"), ("NORD", "SUED"), ("WOLKE", "NEBEL")]

FILLERS = {  # spoken-only adverbials: no gloss, so translation has words the glosses do not give
    "weather": ["dann", "meist", "wieder", "zunächst", "später", "oft", "überall", "teilweise", "zeitweise",
                "gebietsweise", "verbreitet", "örtlich", "anfangs", "allmählich", "weiterhin", "vor allem",
                "ab und zu", "hier und da", "zum teil", "im laufe des tages", "in den nächsten stunden",
                "nach und nach", "voraussichtlich", "wahrscheinlich", "vermutlich", "noch", "kurzzeitig",
                "länger", "eher", "wohl", "erneut", "mancherorts", "bis zum abend", "fast überall",
                "im ganzen land", "auch weiterhin", "nur vereinzelt", "ganz sicher", "wie erwartet", "leider",
                "zum glück", "am ehesten", "meistens", "kurz"],
    "daily": ["gern", "oft", "manchmal", "selten", "immer", "wieder", "lieber", "gemeinsam", "allein",
              "schnell", "lange", "gemütlich", "zusammen", "wie immer", "endlich", "auch", "noch",
              "vielleicht", "bestimmt", "sicher", "meistens", "jeden tag", "am liebsten", "ausnahmsweise",
              "mit freude", "ein bisschen", "in ruhe", "mit den nachbarn", "nach der arbeit", "wie jeden tag",
              "zum ersten mal", "ohne pause", "den ganzen tag", "sehr gern"],
}
JOINS = ["und", "und", "aber", "doch"]   # coordinating: the next clause keeps its own verb-second order

CLAUSE_WEIGHTS = {"weather": 0.35, "temp_adj": 0.15, "temp_number": 0.1, "temp_trend": 0.05, "daily": 0.35}


def _needs(g: str, chosen: list[str]) -> list[str]:
    """Glosses that `g` cannot be used without (a number needs TEMPERATUR and GRAD, an object a verb, ...)."""
    have = set(chosen)
    first = lambda table: [next(iter(table))]  # noqa: E731
    cat = CATEGORY_OF[g]
    if cat == "number":
        need = ["TEMPERATUR", "GRAD"]
    elif g in ("GRAD", "MINUS"):
        need = ["TEMPERATUR", "GRAD"] + ([] if have & set(NUMBER) else first(NUMBER))
    elif g == "TEMPERATUR":
        need = [] if have & {"STEIGEN", "SINKEN"} else ["GRAD"] + ([] if have & set(NUMBER) else first(NUMBER))
    elif g in ("STEIGEN", "SINKEN"):
        need = ["TEMPERATUR"]
    elif cat == "object":
        verbs = [v for v, (_, _, objects) in VERB.items() if g in objects]
        need = [] if have & set(verbs) else verbs[:1]
        need += [] if have & set(PERSON) else first(PERSON)
    elif cat == "intensity":
        need = [] if have & set(WEATHER) else first(WEATHER)
    elif cat == "person":
        need = [] if have & set(VERB) else first(VERB)
    elif cat == "verb":
        need = [] if have & set(PERSON) else first(PERSON)
    else:
        need = []
    return [x for x in dict.fromkeys(need) if x not in have and x != g]


def select_glosses(n: int, n_pairs: int) -> tuple[list[str], list[tuple[str, str]]]:
    """The lexicon: the first `n_pairs` pairs, then every category round-robin, up to n glosses.

    A gloss comes with what it needs to be usable (an object brings a verb, a number brings
    TEMPERATUR and GRAD), so every gloss of the lexicon occurs in the corpus.
    """
    pairs = PAIRS[:n_pairs]
    order = [g for pair in pairs for g in pair]
    tables = [list(t) for t in CATEGORIES.values()]
    for rank in range(max(len(t) for t in tables)):
        order += [t[rank] for t in tables if rank < len(t)]
    chosen: list[str] = []
    for g in order:
        if g in chosen:
            continue
        bundle = _needs(g, chosen) + [g]
        if len(chosen) + len(bundle) <= n:
            chosen += bundle
        if len(chosen) >= n:
            break
    return chosen, pairs


@dataclass
class Sentence:
    glosses: list[str]
    translation: str
    context: str
    named: set = field(default_factory=set)      # glosses the dialogue turn names


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _join(*parts) -> str:
    return " ".join(p for p in parts if p)


NOT_NAMED = ("temp", "grad", "minus")   # roles implied by their clause, never named on their own


class Grammar:
    """Draws sentences over a lexicon. All randomness comes from the generator passed in."""

    def __init__(self, glosses: list[str], pairs: list[tuple[str, str]], p):
        self.p = p
        self.have = set(glosses)
        self.confusable = {g for pair in pairs for g in pair}
        self.slots = {c: [g for g in t if g in self.have] for c, t in CATEGORIES.items()}
        self.clauses = {k: w for k, w in CLAUSE_WEIGHTS.items() if self._possible(k)}
        if not self.clauses:
            raise ValueError("the lexicon allows no clause type")
        # twin_context: the first twin of every pair has topic 0, the second topic 1; the other
        # glosses alternate in lexicon order, so every slot holds glosses of both topics.
        self.topic_of = {a: 0 for a, _ in pairs} | {b: 1 for _, b in pairs}
        others = [g for g in glosses if g not in self.topic_of]
        self.topic_of |= {g: i % 2 for i, g in enumerate(others)}
        s = p.twin_context
        self.topic_weight = (1 + s) / (1 - s) if s < 1 else float("inf")
        self.topic: int | None = None     # the topic of the sentence being drawn (None: no topics)

    def _possible(self, kind: str) -> bool:
        s, have = self.slots, self.have
        return {"weather": bool(s["weather"]),
                "temp_adj": bool(s["temp_adj"]),
                "temp_number": {"TEMPERATUR", "GRAD"} <= have and bool(s["number"]),
                "temp_trend": "TEMPERATUR" in have and bool({"STEIGEN", "SINKEN"} & have),
                "daily": bool(s["person"]) and bool(s["verb"])}[kind]

    # --- sampling helpers
    def pick(self, rng, options: list[str]) -> str:
        w = np.array([self.p.confusable_weight if g in self.confusable else 1.0 for g in options])
        if self.topic is not None:      # the same one draw as without topics, only the weights differ
            on_topic = np.array([self.topic_of[g] == self.topic for g in options])
            if np.isinf(self.topic_weight):
                w = w * on_topic if on_topic.any() else w
            else:
                w = np.where(on_topic, w * self.topic_weight, w)
        return options[int(rng.choice(len(options), p=w / w.sum()))]

    def maybe(self, rng, category: str, prob: float) -> str:
        options = self.slots[category]
        return self.pick(rng, options) if options and rng.random() < prob else ""

    @staticmethod
    def variant(rng, options: list):
        return options[int(rng.integers(len(options)))]

    def mention(self, rng, roles: dict) -> set:
        """Which roles the dialogue turn names: confusable glosses usually, others sometimes."""
        candidates = [r for r, g in roles.items() if g and r not in NOT_NAMED]
        named = set()
        for role in candidates:
            gloss = roles[role]
            prob = self.p.context_confusable_prob if gloss in self.confusable else self.p.context_mention_prob
            if rng.random() < prob:
                named.add(role)
        if not named:
            named.add(self.variant(rng, candidates))
        return named

    def _place_time_region(self, rng, time: str, region: str):
        t = self.variant(rng, TIME[time][0]) if time else ""
        r = self.variant(rng, REGION[region][0]) if region else ""
        options = [x for x, g in (("time", time), ("region", region)) if g]
        front = self.variant(rng, options + ["none"]) if options else "none"
        if front == "time":      # V2: one of time / region goes before the verb
            return t, r
        if front == "region":
            return r, t
        return "", _join(t, r)

    @staticmethod
    def _context_place(named, time, region):
        return (TIME[time][1] if time and "time" in named else "",
                REGION[region][1] if region and "region" in named else "")

    # --- clauses: each returns (glosses, spoken words with a filler slot "<F>", roles, context(named))
    def clause_weather(self, rng):
        time = self.maybe(rng, "time", 0.75)
        region = self.maybe(rng, "region", 0.65)
        weather = self.pick(rng, self.slots["weather"])
        intensity = self.maybe(rng, "intensity", 0.55)
        nouns, verb_frame, ctx_pred = WEATHER[weather]
        front, middle = self._place_time_region(rng, time, region)
        if verb_frame and rng.random() < 0.5:
            verb, subject, pred = verb_frame
            adverb = self.variant(rng, INTENSITY[intensity][1]) if intensity else ""
            if front:
                words = [front, verb, subject, "<F>", middle, adverb, pred]
            elif subject == "es":
                words = ["es", verb, "<F>", middle, adverb, pred]
            else:
                words = [subject, verb, "<F>", middle, adverb, pred]
        else:
            noun, gender = self.variant(rng, nouns)
            adj = self.variant(rng, INTENSITY[intensity][0]["pl" if gender == "pl" else "f" if gender == "f" else "m"]) \
                if intensity else ""
            words = [front, "gibt", "es", "<F>", middle, adj, noun] if front else \
                ["es", "gibt", "<F>", middle, adj, noun]
        roles = {"time": time, "region": region, "weather": weather, "intensity": intensity}

        def context(named):
            ct, cr = self._context_place(named, time, region)
            if "weather" not in named:
                return _join("Wie wird das Wetter", ct, cr)
            ci = self.variant(rng, INTENSITY[intensity][1]) if intensity and "intensity" in named else ""
            if rng.random() < 0.5:
                return _join("Wird es", ct, cr, ci, ctx_pred)
            ending = "werden" if ctx_pred in CONTEXT_ADJECTIVES else ""
            return _join(_cap(ct) if ct else "Es", "soll es" if ct else "soll", cr, ci, ctx_pred, ending)
        return [g for g in (time, region, weather, intensity) if g], words, roles, context

    def clause_temp_adj(self, rng):
        time = self.maybe(rng, "time", 0.75)
        region = self.maybe(rng, "region", 0.65)
        adj = self.pick(rng, self.slots["temp_adj"])
        front, middle = self._place_time_region(rng, time, region)
        verb = self.variant(rng, ["wird", "ist", "bleibt"])
        spoken = self.variant(rng, TEMP_ADJ[adj])
        words = [front, verb, "es", "<F>", middle, spoken] if front else ["es", verb, "<F>", middle, spoken]
        roles = {"time": time, "region": region, "adj": adj}

        def context(named):
            ct, cr = self._context_place(named, time, region)
            if "adj" not in named:
                return _join("Wie sind die Temperaturen", ct, cr)
            if ct and rng.random() < 0.5:
                return _join(_cap(ct), "soll es", cr, TEMP_ADJ[adj][0], "werden")
            return _join("Wird es", ct, cr, TEMP_ADJ[adj][0])
        return [g for g in (time, region, adj) if g], words, roles, context

    def clause_temp_number(self, rng):
        time = self.maybe(rng, "time", 0.7)
        region = self.maybe(rng, "region", 0.6)
        minus = "MINUS" if "MINUS" in self.have and rng.random() < 0.3 else ""
        number = self.pick(rng, self.slots["number"])
        t = self.variant(rng, TIME[time][0]) if time else ""
        r = self.variant(rng, REGION[region][0]) if region else ""
        value = _join("minus" if minus else "", NUMBER[number], "grad")
        form = int(rng.integers(3))
        if form == 0:
            front, middle = self._place_time_region(rng, time, region)
            subject = self.variant(rng, TEMPERATURE_SUBJECTS)
            words = ([front, "liegen", subject] if front else [subject, "liegen"]) + ["<F>", middle, "bei", value]
        elif form == 1:
            words = [self.variant(rng, TEMPERATURE_SUBJECTS), "erreichen", "<F>", t, r, value]
        else:
            words = [r or t or "es", "werden", "<F>", t if r else "", value, "erwartet"]
        roles = {"time": time, "region": region, "temp": "TEMPERATUR", "minus": minus, "number": number,
                 "grad": "GRAD"}

        def context(named):
            ct, cr = self._context_place(named, time, region)
            if "number" not in named:
                return _join("Wie sind die Temperaturen", ct, cr)
            return _join("Werden es", ct, cr, "minus" if minus else "", NUMBER[number], "Grad")
        return [g for g in (time, region, "TEMPERATUR", minus, number, "GRAD") if g], words, roles, context

    def clause_temp_trend(self, rng):
        time = self.maybe(rng, "time", 0.75)
        region = self.maybe(rng, "region", 0.5)
        trend = self.pick(rng, [g for g in ("STEIGEN", "SINKEN") if g in self.have])
        front, middle = self._place_time_region(rng, time, region)
        words = [front, TEMP_WORD[trend], "die temperaturen", "<F>", middle] if front else \
            ["die temperaturen", TEMP_WORD[trend], "<F>", middle]
        roles = {"time": time, "region": region, "temp": "TEMPERATUR", "trend": trend}

        def context(named):
            ct, cr = self._context_place(named, time, region)
            if "trend" not in named:
                return _join("Wie entwickeln sich die Temperaturen", ct, cr)
            return _join(_cap(TEMP_WORD[trend]), "die Temperaturen", ct, cr)
        return [g for g in (time, region, "TEMPERATUR", trend) if g], words, roles, context

    def clause_daily(self, rng):
        time = self.maybe(rng, "time", 0.7)
        person = self.pick(rng, self.slots["person"])
        verb = self.pick(rng, self.slots["verb"])
        forms, particle, objects = VERB[verb]
        objects = [o for o in objects if o in self.have]
        obj = self.pick(rng, objects) if objects and rng.random() < 0.7 else ""
        place = self.maybe(rng, "place", 0.55)
        subjects, person_code, ctx_subject, ctx_code = PERSON[person]
        subj = self.variant(rng, subjects)
        finite = forms[PERSONS.index(person_code)]
        t = self.variant(rng, TIME[time][0]) if time else ""
        o = self.variant(rng, OBJECT[obj][0]) if obj else ""
        pl = self.variant(rng, PLACE[place][0]) if place else ""
        front = self.variant(rng, [x for x, g in (("time", time), ("place", place)) if g] + ["subject"])
        if front == "time":
            words = [t, finite, subj, "<F>", o, pl, particle]
        elif front == "place":
            words = [pl, finite, subj, "<F>", t, o, particle]
        else:
            words = [subj, finite, "<F>", t, o, pl, particle]
        roles = {"time": time, "person": person, "place": place, "object": obj, "verb": verb}

        def context(named):
            ct = TIME[time][1] if time and "time" in named else ""
            cp = PLACE[place][1] if place and "place" in named else ""
            co = OBJECT[obj][1] if obj and "object" in named else ""
            if "verb" in named and "person" in named:
                return _join(_cap(forms[PERSONS.index(ctx_code)]), ctx_subject, ct, co, cp, particle)
            if "verb" in named:
                return _join("Wer", forms[2], ct, co, cp, particle)
            if "person" in named:
                return _join("Was", MACHEN[PERSONS.index(ctx_code)], ctx_subject, ct, cp)
            if co:
                return _join("Gibt es", ct, co, cp)
            return _join("Was ist", ct, cp, "los")
        return [g for g in (time, person, place, obj, verb) if g], words, roles, context

    # --- sentences
    def sentence(self, rng) -> Sentence:
        """A sentence of min_glosses..max_glosses glosses (one clause, or two joined by UND)."""
        kinds = list(self.clauses)
        weights = np.array([self.clauses[k] for k in kinds])
        for _ in range(1000):
            # no extra draw when twin_context is 0: such a corpus stays byte-identical to one made
            # before the parameter existed
            self.topic = int(rng.integers(2)) if self.p.twin_context > 0 else None
            n_clauses = 2 if rng.random() < self.p.two_clause_prob else 1
            chosen = [kinds[int(rng.choice(len(kinds), p=weights / weights.sum()))] for _ in range(n_clauses)]
            parts = [getattr(self, "clause_" + kind)(rng) for kind in chosen]
            glosses = list(parts[0][0])
            for extra in parts[1:]:
                glosses += (["UND"] if "UND" in self.have else []) + list(extra[0])
            if not (self.p.min_glosses <= len(glosses) <= self.p.max_glosses):
                continue
            if any(a == b for a, b in zip(glosses, glosses[1:])):
                continue       # CTC cannot emit a gloss twice in a row without a blank: keep them apart
            return self._assemble(rng, glosses, parts, chosen)
        raise ValueError(f"no sentence of {self.p.min_glosses}..{self.p.max_glosses} glosses in 1000 draws")

    def _assemble(self, rng, glosses, parts, kinds) -> Sentence:
        clauses = []
        for (_, words, _, _), kind in zip(parts, kinds):
            fillers = FILLERS["daily" if kind == "daily" else "weather"]
            filler = self.variant(rng, fillers) if rng.random() < self.p.filler_prob else ""
            clauses.append(_join(*(filler if w == "<F>" else w for w in words)))
        translation = clauses[0]
        for clause in clauses[1:]:
            translation = _join(translation, self.variant(rng, JOINS), clause)
        # the dialogue turn is about one clause; prefer the one holding a confusable gloss
        with_pair = [i for i, part in enumerate(parts) if set(part[0]) & self.confusable]
        if len(with_pair) == 1 and len(parts) > 1 and rng.random() < self.p.context_confusable_prob:
            chosen = with_pair[0]
        else:
            chosen = int(rng.integers(len(parts)))
        _, _, roles, context = parts[chosen]
        named_roles = self.mention(rng, roles)
        named = {roles[r] for r in named_roles if roles.get(r)}
        return Sentence(glosses, translation, _cap(context(named_roles)), named)
