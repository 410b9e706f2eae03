"""Build `shoppers.jsonl` from the hand-written `source/*.txt`: `python -m evals.corpus.build`.

A source line is `act[,act] | message`; the file's name (up to the first dot) is the store whose shoppers the
message was written for. The build is deterministic (every choice comes from a hash of the message), so running it
twice gives the same file:

- split: the whole `HELD_OUT_STORE` is held out; of every other store, about a fifth of the messages are held out
  too. Each written message's split is recorded in `splits.tsv` and never changes: a new message is held out by a
  hash of its own text, so adding lines never moves a held-out message into training (a split by rank within each
  act, as this builder first did, moved earlier held-out messages into training whenever lines were added).
- training-only files: a source file named `<store>.<batch>.train.txt` holds lines written to teach the reader (for
  the acts and boundaries it read worst in cross-validation); they all go to training, so the held-out slice stays
  the one every earlier figure was measured on instead of growing with lines written after those figures were seen.
  A training-only line that reads like a held-out message is still dropped (see `build`).
- variants: about half the written messages get one light variant (a typo, all lowercase without punctuation, or an
  emoji), which inherits its message's split, so no variant of a held-out message is ever trained on.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import sys
from pathlib import Path

from agent.playbook.acts import ACTS
from evals.corpus import CORPUS_FILE, HELD_OUT_STORE, PROBES, Split, Utterance

HERE = Path(__file__).parent
HELD_OUT_SHARE = 0.2
# Every written message's split, recorded: see `assign_splits`.
PINS = HERE / "splits.tsv"
_PINS_HEADER = (
    "# Every written message's split, pinned: adding lines never moves a held-out message into training.\n"
    "# store<TAB>split<TAB>text. `python -m evals.corpus.build` adds new messages (split by a hash of their text).\n"
)
# Source files of lines written only to teach the reader: `fjord-uk.17.train.txt`.
TRAINING_ONLY_SUFFIX = ".train.txt"
VARIANT_SHARE = 0.55
_EMOJI = ("🙏", "😡", "😊", "📦", "😭", "🤔", "🙂", "😤", "!!", "??")
_SAFE_FOR_TYPO = re.compile(r"[A-Za-z]{5,}")


def _rng(text: str, salt: str) -> random.Random:
    return random.Random(hashlib.sha256(f"{salt}:{text}".encode()).hexdigest())


def _normal(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9]+", text.lower()))


def read_sources(folder: Path = HERE / "source") -> list[Utterance]:
    """Every written message, all marked `train` for now."""
    written: list[Utterance] = []
    probes = [_normal(p.text) for p in PROBES]
    for path in sorted(folder.glob("*.txt")):
        store = path.name.split(".")[0]
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip() or line.startswith("#"):
                continue
            labels, _, text = line.partition(" | ")
            acts = tuple(a.strip() for a in labels.split(","))
            unknown = [a for a in acts if a not in ACTS]
            if unknown or not text.strip():
                raise ValueError(f"{path.name}:{number}: unknown act {unknown} or no text")
            if any(p in _normal(text) for p in probes):
                raise ValueError(f"{path.name}:{number}: contains a probe from issue 12 verbatim")
            written.append(
                Utterance(text=text.strip(), acts=acts, store=store, split="train", source=f"{path.name}:{number}")
            )
    _refuse_repeats(written)
    return written


def _refuse_repeats(written: list[Utterance]) -> None:
    """A training-only line must be new words: one that repeats a written message (in its words, any store)
    teaches nothing new, and would stand beside that message under its (store, text) pin."""
    split = {_normal(u.text) for u in written if not is_training_only(u.source)}
    seen: set[str] = set()
    for u in written:
        if is_training_only(u.source):
            if _normal(u.text) in split or _normal(u.text) in seen:
                raise ValueError(f"{u.source}: repeats a message already written")
            seen.add(_normal(u.text))


def read_pins(path: Path = PINS) -> dict[tuple[str, str], Split]:
    """The recorded split of every written message: (store, text) -> split."""
    if not path.exists():
        return {}
    pins: dict[tuple[str, str], Split] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            store, split, text = line.split("\t", 2)
            pins[(store, text)] = "heldout" if split == "heldout" else "train"
    return pins


def _hashed_split(text: str) -> Split:
    share = int(hashlib.sha256(f"split:{text}".encode()).hexdigest()[:8], 16) / 16**8
    return "heldout" if share < HELD_OUT_SHARE else "train"


def is_training_only(source: str) -> bool:
    """A line from a `<store>.<batch>.train.txt` file: written to teach, never held out."""
    return source.split(":")[0].endswith(TRAINING_ONLY_SUFFIX)


def assign_splits(written: list[Utterance], pins: dict[tuple[str, str], Split] | None = None) -> list[Utterance]:
    """The held-out store whole; every other message keeps its recorded split, and a new one is held out by a hash
    of its own text (about a fifth), so adding a line never moves another message in or out of training."""
    pins = read_pins() if pins is None else pins

    def split(u: Utterance) -> Split:
        if u.store == HELD_OUT_STORE:
            return "heldout"
        if is_training_only(u.source):
            # Even when its words are a pinned message's: that message keeps its pin (pins record only the split
            # messages, see `write_pins`), and `build` drops this line if the message is held out.
            return "train"
        return pins.get((u.store, u.text)) or _hashed_split(u.text)

    return [u.model_copy(update={"split": split(u)}) for u in written]


def write_pins(messages: list[Utterance], path: Path = PINS) -> None:
    rows = sorted(
        f"{m.store}\t{m.split}\t{m.text}"
        for m in messages
        if m.origin == "written" and m.store != HELD_OUT_STORE and not is_training_only(m.source)
    )
    path.write_text(_PINS_HEADER + "\n".join(rows) + "\n", encoding="utf-8")


def _typo(text: str, rng: random.Random) -> str | None:
    words = list(_SAFE_FOR_TYPO.finditer(text))
    if not words:
        return None
    match = rng.choice(words)
    word = match.group(0)
    i = rng.randrange(1, len(word) - 1)
    kind = rng.choice(("swap", "drop", "double"))
    if kind == "swap":
        changed = word[: i - 1] + word[i] + word[i - 1] + word[i + 1 :]
    elif kind == "drop":
        changed = word[:i] + word[i + 1 :]
    else:
        changed = word[:i] + word[i] + word[i:]
    return text[: match.start()] + changed + text[match.end() :]


def variant(u: Utterance) -> Utterance | None:
    """At most one light variant of a written message; None for about half of them."""
    rng = _rng(u.text, "variant")
    if rng.random() > VARIANT_SHARE:
        return None
    kind = rng.choice(("typo", "typo", "lower", "emoji"))
    if kind == "typo":
        text = _typo(u.text, rng)
    elif kind == "lower":
        text = re.sub(r"[.!?]+$", "", u.text.lower()).replace("'", "")
    else:
        text = f"{u.text} {rng.choice(_EMOJI)}"
    if not text or text == u.text:
        return None
    return u.model_copy(update={"text": text, "origin": kind})


def build() -> list[Utterance]:
    every = [m for u in assign_splits(read_sources()) for m in (u, variant(u)) if m is not None]
    every.sort(key=lambda m: m.store != HELD_OUT_STORE)  # the held-out store keeps a message it shares
    # Shoppers in different stores say the same short things ("thanks!"); a message held out anywhere is dropped
    # from training everywhere, so nothing held out is ever trained on, even in another store's words.
    held = {_normal(m.text) for m in every if m.split == "heldout"}
    messages: list[Utterance] = []
    seen: set[str] = set()
    for m in every:
        if m.text in seen or (m.split == "train" and _normal(m.text) in held):
            continue
        seen.add(m.text)
        messages.append(m)
    return messages


def main() -> int:
    messages = build()
    lines = (json.dumps(m.model_dump(), ensure_ascii=False) for m in messages)
    (HERE / CORPUS_FILE).write_text("\n".join(lines) + "\n", encoding="utf-8")
    write_pins(assign_splits(read_sources()))
    held = sum(m.split == "heldout" for m in messages)
    print(f"{len(messages)} messages, {held} held out, written to {HERE / CORPUS_FILE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
