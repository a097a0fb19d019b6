"""The fixture backend: a tiny deterministic stand-in for a language model,
shipped with the example so that the real code path of bin/ask.py (chunking,
retrieval, prompt building, one call per prompt, answer files) runs anywhere
without a GPU, weights or network. It reads the same chat messages a real
model gets and answers extractively from the context in the prompt:
summary = the context's first sentences; protagonist / antagonist = the most
and second most frequent personal names; time period = years or centuries
named in the context."""
import re
from collections import Counter

NOT_NAMES = set("""The A An And But Or If In On At Of To For From By With As It Its He She
His Her They Them Their We Our You Your I My Me This That These Those There Here When Where
What Which Who Whom Why How Then Now Yes No Not Nor So Yet Chapter Mr Mrs Miss Sir Lady Lord
Dr Doctor Madame Madam One All Some Any Every Each After Before Upon Into Such Project Gutenberg Title
Author Excerpt Question Answer Context Book Oh Well Do Is Was Be Have Has Had My Dear""".split())


def _context(messages):
    text = messages[-1]["content"]  # the user turn (the system turn names <context> too)
    m = re.search(r"<context>(.*?)</context>", text, re.S)
    return (m.group(1) if m else text).strip(), text


def _names(ctx):
    """Personal names by frequency: capitalised words (with a title such as
    Mr. when present) that also occur inside a sentence, not only first."""
    counts, mid = Counter(), set()
    for m in re.finditer(r"\b(?:(Mr|Mrs|Miss|Dr|Sir|Lady|Lord|Madame|Doctor)\.? )?([A-Z][a-z]{2,})\b", ctx):
        title, word = m.group(1), m.group(2)
        if word in NOT_NAMES:
            continue
        before = ctx[:m.start()].rstrip()
        if title or (before and before[-1] not in ".!?\"'\u201c"):
            mid.add(word)
        counts[(title + " " if title else "") + word] += 1
    # "Mr. Bennet" and "Bennet" are one person: count under the titled form
    for name in list(counts):
        if " " not in name:
            titled = [t for t in counts if t.endswith(" " + name)]
            if titled:
                counts[max(titled, key=counts.get)] += counts.pop(name)
    return [n for n, _ in counts.most_common() if n.split()[-1] in mid]


def complete(messages, model_name):
    ctx, whole = _context(messages)
    q = whole.lower()
    if "summary" in q or "summarize" in q:
        sentences = re.split(r"(?<=[.!?])\s+", " ".join(ctx.split()))
        out = " ".join(sentences[:2])
        return out[:400]
    names = _names(ctx)
    if "protagonist" in q:
        return names[0] if names else "unknown"
    if "antagonist" in q:
        return names[1] if len(names) > 1 else "unknown"
    if "time period" in q or "when" in q:
        years = re.findall(r"\b1[0-9]{3}\b", ctx)
        cent = re.findall(r"\b(?:eighteenth|nineteenth|seventeenth|twentieth) century\b", ctx, re.I)
        if years:
            return "around " + Counter(years).most_common(1)[0][0]
        if cent:
            return cent[0].lower()
        return "unknown (no date in the retrieved text)"
    return "unknown"
