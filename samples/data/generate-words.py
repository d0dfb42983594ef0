#!/usr/bin/env python3
"""Writes words/*.txt, the generated fallback word lists of samples/word-language.nn (no real word list is
copied): per language, pseudo-words of two to four syllables drawn from a hand-written inventory
of that language's common syllables and endings, 400 per language, from a fixed seed.
The real lists come from Debian's wamerican, wspanish, wfrench, wngerman and witalian
(docs/training-runs.md)."""
import random

SYLLABLES = {
    "english": "th er an in re on at en nd ti es or te of ed is it al ar st to nt ng se ha as ou io le ve co me de hi ri ro ic ne ea ra ce li ch ll be ma si om ur ow ly wh sh ight ough".split(),
    "french": "le de es en re nt on er ou ai an la te ti ur se et me qu ie ue ns un eu au oi ez ait ent eau ette ois ien tion ère é è ç ch gn ll ux".split(),
    "german": "en er ch de ei ie in te ge un st di nd be ic sc ng re au he it ne se sch ung lich keit heit ver zu ß ä ö ü tz pf ck eu".split(),
    "italian": "re la to co di er ra an on no ta ri te ia ne al na li ar ti nt ca zi io zione mente etto ella gli sc ch cc zz ssi ino".split(),
    "spanish": "de es en la os ra ar er el ta co re do ue an ci as ad al ie ci ón ción ento ero ll ñ rr qu ía dad mente ado ido ez".split(),
}
ENDINGS = {
    "english": "s ed ing er ly y e".split(),
    "french": "e es er ent é ez eau".split(),
    "german": "en er e t st ung chen".split(),
    "italian": "o a i e are ere ire".split(),
    "spanish": "o a os as ar er ir".split(),
}

rnd = random.Random(7)
for lang, syl in SYLLABLES.items():
    words = set()
    while len(words) < 400:
        w = "".join(rnd.choice(syl) for _ in range(rnd.randint(2, 4))) + rnd.choice(ENDINGS[lang])
        if len(w) <= 16:
            words.add(w)
    with open(f"words/{lang}.txt", "w", encoding="utf-8") as f:
        f.write("\n".join(sorted(words)) + "\n")
