#!/usr/bin/env python3
"""Writes text/sample.txt, the generated fallback text of samples/char-lstm.nn (no real text is
copied): sentences of pseudo-English words from a small grammar (articles, nouns, verbs,
adjectives, punctuation, line breaks), from a fixed seed, about 24 KB: enough for a few training
steps in CI and for the loss to fall. The full run reads Debian's /usr/share/common-licenses
(docs/training-runs.md)."""
import random

ARTICLES = "the a this every one no some".split()
ADJECTIVES = "small quick old red quiet bright long cold dark green soft loud".split()
NOUNS = "cat river model layer network garden letter engine window bird house number".split()
VERBS = "sees trains reads builds follows finds keeps moves learns writes holds opens".split()
ADVERBS = "slowly again often well here today".split()

rnd = random.Random(11)


def phrase():
    words = [rnd.choice(ARTICLES)]
    if rnd.random() < 0.6:
        words.append(rnd.choice(ADJECTIVES))
    words.append(rnd.choice(NOUNS))
    return words


lines = []
line = []
size = 0
while size < 24000:
    s = phrase() + [rnd.choice(VERBS)] + phrase()
    if rnd.random() < 0.4:
        s.append(rnd.choice(ADVERBS))
    sentence = " ".join(s)
    sentence = sentence[0].upper() + sentence[1:] + rnd.choice([".", ".", ".", "!", "?"])
    line.append(sentence)
    size += len(sentence) + 1
    if len(" ".join(line)) > 60:
        lines.append(" ".join(line))
        line = []
lines.append(" ".join(line))
with open("text/sample.txt", "w", encoding="utf-8") as f:
    f.write("\n".join(lines) + "\n")
