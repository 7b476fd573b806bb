"""Words of six languages as tensors of character indices, and a character-level CNN whose
filters are n-gram detectors (Kim 2014: embedding, parallel Conv1d of several widths, ReLU,
max over positions, concatenation, dropout, linear).

The corpus is Debian's word lists (``wamerican``, ``wngerman``, ``wfrench``, ``wspanish``,
``witalian``, ``wportuguese``), read from ``/usr/share/dict``: real words with a real label,
offline. Reading them takes about a second, so nothing is cached.

A word becomes ``<`` + its characters + ``>`` (begin and end marks, so a filter can tell a prefix
or a suffix from the middle of a word), as indices into a vocabulary, padded with index 0 to the
longest word of a batch. Index 0 has a zero embedding and a window that runs into the padding
is left out of the max (``valid_windows``), so padding never wins the max-over-time pooling and
a word's features do not depend on how much padding its batch has.

    raw = text.read_word_lists()
    words, dropped = text.clean_words(raw)
    train_pool, test_pool = text.split_words(words, test_fraction=0.2, seed=0)
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .data import DataFileError

DICT_DIR = Path("/usr/share/dict")
# language -> (Debian package, file in /usr/share/dict)
LANGUAGES = {
    "English": ("wamerican", "american-english"),
    "German": ("wngerman", "ngerman"),
    "French": ("wfrench", "french"),
    "Spanish": ("wspanish", "spanish"),
    "Italian": ("witalian", "italian"),
    "Portuguese": ("wportuguese", "portuguese"),
}
PAD, BOS, EOS, UNK = 0, 1, 2, 3
SPECIALS = ("_", "<", ">", "?")            # how the special indices print
INSTALL = "run `make data`, or `sudo apt-get install " + " ".join(
    pkg for pkg, _ in LANGUAGES.values()) + "`"
DROP_REASONS = ("possessive", "not letters", "too long", "duplicate", "in several languages")


# ---------------------------------------------------------------------------------- the words

def read_word_lists(*, languages=tuple(LANGUAGES), root: str | Path = DICT_DIR
                    ) -> dict[str, list[str]]:
    """The raw lines of each language's word list (UTF-8, one entry a line, empty lines left
    out). Fails at once, naming the missing Debian packages, when a list is absent."""
    root = Path(root)
    unknown = [lang for lang in languages if lang not in LANGUAGES]
    if unknown:
        raise ValueError(f"unknown language(s) {unknown}; known: {', '.join(LANGUAGES)}")
    missing = [lang for lang in languages if not (root / LANGUAGES[lang][1]).is_file()]
    if missing:
        packages = " ".join(LANGUAGES[lang][0] for lang in missing)
        raise FileNotFoundError(
            f"word list(s) for {', '.join(missing)} not found in {root} "
            f"({', '.join(LANGUAGES[lang][1] for lang in missing)}).\n"
            f"Fix: run `make data`, or `sudo apt-get install {packages}`.")
    lists = {}
    for lang in languages:
        path = root / LANGUAGES[lang][1]
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except UnicodeDecodeError as err:
            raise DataFileError(
                f"{path} is not UTF-8 ({err}). Fix: sudo apt-get install --reinstall "
                f"{LANGUAGES[lang][0]}") from err
        lists[lang] = [w.strip() for w in lines if w.strip()]
    return lists


def clean_words(raw: dict[str, list[str]], *, max_len: int = 20
                ) -> tuple[dict[str, list[str]], dict[str, dict[str, int]]]:
    """Lower-cased words made of letters only, each in exactly one language, and how many
    entries each rule dropped per language (``DROP_REASONS``, applied in that order).

    * English possessives ("dog's") go: the list has the bare word too, and "'s" would give
      English away by one character;
    * entries with anything but letters go (Italian elisions "dell'abuso", French compounds
      "vert-de-gris", abbreviations with a dot);
    * everything is lower-cased (German capitalises every noun: the first letter would give
      the language away) and words longer than ``max_len`` letters go;
    * a word that is now twice in one list ("Bob", "bob") is kept once, and a word that is in
      several languages' lists ("taxi", "radio") is dropped from all of them: it has no single
      right answer.
    """
    if max_len < 1:
        raise ValueError(f"max_len must be at least 1, got {max_len}")
    kept, dropped = {}, {}
    for lang, entries in raw.items():
        counts = dict.fromkeys(DROP_REASONS, 0)
        seen = set()
        for w in entries:
            if lang == "English" and w.endswith("'s"):
                counts["possessive"] += 1
                continue
            w = w.lower()
            if not w.isalpha():
                counts["not letters"] += 1
            elif len(w) > max_len:
                counts["too long"] += 1
            elif w in seen:
                counts["duplicate"] += 1
            else:
                seen.add(w)
        kept[lang], dropped[lang] = seen, counts
    languages_of = {}
    for lang, ws in kept.items():
        for w in ws:
            languages_of[w] = languages_of.get(w, 0) + 1
    out = {}
    for lang, ws in kept.items():
        out[lang] = sorted(w for w in ws if languages_of[w] == 1)
        dropped[lang]["in several languages"] = len(ws) - len(out[lang])
    return out, dropped


def split_words(words: dict[str, list[str]], *, test_fraction: float = 0.2, seed: int = 0
                ) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """Split each language's words into a training and a test pool, by word: after
    ``clean_words`` every word is in one language, so it lands in exactly one pool."""
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be between 0 and 1, got {test_fraction}")
    rng = random.Random(seed)
    train, test = {}, {}
    for lang, ws in words.items():
        ws = sorted(ws)
        rng.shuffle(ws)
        n_test = round(len(ws) * test_fraction)
        test[lang], train[lang] = ws[:n_test], ws[n_test:]
    return train, test


def sample(pool: dict[str, list[str]], n_per_language: int | None, *, seed: int
           ) -> tuple[list[str], torch.Tensor]:
    """A balanced sample: ``n_per_language`` words of every language (None: as many as the
    smallest language has), shuffled. Returns the words and their labels (int64 [N], the
    language's position in ``pool``)."""
    smallest = min(len(ws) for ws in pool.values())
    n = smallest if n_per_language is None else n_per_language
    if not 1 <= n <= smallest:
        raise ValueError(f"n_per_language must be between 1 and {smallest:,} (the smallest "
                         f"language's pool), got {n_per_language}; pass None for {smallest:,}")
    rng = random.Random(seed)
    pairs = [(w, i) for i, ws in enumerate(pool.values()) for w in rng.sample(ws, n)]
    rng.shuffle(pairs)
    return [w for w, _ in pairs], torch.tensor([i for _, i in pairs], dtype=torch.long)


# ------------------------------------------------------------------------ characters as indices

def build_vocab(words, *, min_count: int = 1) -> list[str]:
    """Index -> character: the four specials (pad, begin, end, unknown), then every character
    seen at least ``min_count`` times in ``words``, sorted. Rarer ones become unknown."""
    counts: dict[str, int] = {}
    for w in words:
        for c in w:
            counts[c] = counts.get(c, 0) + 1
    return list(SPECIALS) + sorted(c for c, n in counts.items() if n >= min_count)


def encode(words, vocab: list[str], *, length: int | None = None) -> torch.Tensor:
    """int64 [N, length]: '<', the characters' indices (UNK if not in ``vocab``), '>', then PAD.
    ``length`` defaults to the longest word + 2."""
    index = {c: i for i, c in enumerate(vocab) if i >= len(SPECIALS)}
    rows = [[BOS] + [index.get(c, UNK) for c in w] + [EOS] for w in words]
    longest = max((len(r) for r in rows), default=2)
    length = longest if length is None else length
    if longest > length:
        raise ValueError(f"a word needs {longest} positions with its marks, more than "
                         f"length={length}; pass a larger length (or None)")
    out = torch.full((len(rows), length), PAD, dtype=torch.long)
    for i, r in enumerate(rows):
        out[i, :len(r)] = torch.tensor(r)
    return out


def decode(tokens, vocab: list[str]) -> str:
    """The characters of a row of indices, pads left out: [1, 7, 2, 0] -> '<a>'."""
    return "".join(vocab[int(t)] for t in tokens if int(t) != PAD)


class WordBatches:
    """(tokens [B, L_b], labels [B]) minibatches on ``device``; L_b is the longest word of
    the batch (fewer positions to convolve). The order comes from ``generator`` if given,
    else from torch's global generator, which ``utils.set_seed`` seeds."""

    def __init__(self, tokens: torch.Tensor, labels: torch.Tensor, *, batch_size: int,
                 shuffle: bool, device, generator: torch.Generator | None = None):
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        if len(tokens) != len(labels):
            raise ValueError(f"{len(tokens)} words but {len(labels)} labels")
        self.device = torch.device(device)
        self.tokens = tokens.to(self.device)                # [N, L] int64, moved once
        self.labels = labels.to(self.device)                # [N]
        self.lengths = (self.tokens != PAD).sum(1)          # [N]
        self.batch_size, self.shuffle, self.generator = batch_size, shuffle, generator

    def __len__(self) -> int:
        return -(-len(self.labels) // self.batch_size)

    def __iter__(self):
        n = len(self.labels)
        order = torch.randperm(n, generator=self.generator) if self.shuffle else torch.arange(n)
        order = order.to(self.device)
        for start in range(0, n, self.batch_size):
            idx = order[start:start + self.batch_size]
            width = int(self.lengths[idx].max())                # one sync per batch
            yield self.tokens[idx, :width], self.labels[idx]


# --------------------------------------------------------------------------------- the model

def valid_windows(tokens: torch.Tensor, width: int) -> torch.Tensor:
    """bool [B, L - width + 1]: which windows of ``width`` positions lie inside the word
    (marks included). A word shorter than the window keeps its first window, whose padded
    end adds nothing (PAD's embedding is zero): there the filter sees a shorter n-gram."""
    n = (tokens != PAD).sum(1, keepdim=True)                  # [B, 1] positions in the word
    starts = torch.arange(tokens.shape[1] - width + 1, device=tokens.device)   # [T]
    return (starts + width <= n) | (starts == 0)              # [B, T]


class CharCNN(nn.Module):
    """Kim's (2014) sentence CNN on characters: embedding -> Conv1d of each width in ``widths``
    (``filters`` each) -> ReLU -> max over the valid positions -> concat -> dropout -> linear.

    ``mask=False`` pools over every position, padding included (to show what the mask is for).
    """

    def __init__(self, vocab_size: int, num_classes: int, *, embed_dim: int = 32,
                 widths=(2, 3, 4, 5), filters: int = 64, dropout: float = 0.5,
                 mask: bool = True):
        super().__init__()
        self.widths, self.mask = tuple(widths), mask
        self.embed = nn.Embedding(vocab_size, embed_dim, padding_idx=PAD)   # PAD row: zeros
        self.convs = nn.ModuleList(nn.Conv1d(embed_dim, filters, k) for k in self.widths)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(filters * len(self.widths), num_classes)

    def conv_maps(self, tokens: torch.Tensor) -> list[torch.Tensor]:
        """Each width's convolution before the ReLU, [B, filters, L - k + 1] (L is padded up
        to the widest filter), and the matching ``valid_windows`` masks [B, L - k + 1]."""
        if tokens.shape[1] < max(self.widths):
            tokens = F.pad(tokens, (0, max(self.widths) - tokens.shape[1]), value=PAD)
        x = self.embed(tokens).transpose(1, 2)                    # [B, E, L]
        return [(conv(x), valid_windows(tokens, conv.kernel_size[0])) for conv in self.convs]

    def features(self, tokens: torch.Tensor) -> torch.Tensor:
        """The pooled features [B, filters * len(widths)]: max over positions of ReLU(conv)."""
        pooled = []
        for y, ok in self.conv_maps(tokens):                      # y [B, F, T], ok [B, T]
            y = F.relu(y)
            if self.mask:
                y = y.masked_fill(~ok[:, None, :], float("-inf"))
            pooled.append(y.amax(dim=2))                          # [B, F]
        return torch.cat(pooled, dim=1)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.fc(self.dropout(self.features(tokens)))      # [B, classes]


# ------------------------------------------------------------------------ reading the filters

@torch.no_grad()
def ngram_activation(model: CharCNN, ngram: torch.Tensor, *, width_index: int,
                     filter_index: int) -> float:
    """One filter's response to one n-gram (indices [k]), computed directly: the dot product of
    the filter [E, k] with the embedded n-gram [E, k], plus the bias (before the ReLU)."""
    conv = model.convs[width_index]
    e = model.embed.weight[ngram].T                               # [E, k]
    w = conv.weight[filter_index]                                 # [E, k]
    return float((w * e).sum() + conv.bias[filter_index])


@torch.no_grad()
def top_ngrams(model: CharCNN, tokens: torch.Tensor, vocab: list[str], *, width_index: int,
               filter_index: int, k: int = 8, min_count: int = 1, batch_size: int = 2048
               ) -> list[dict]:
    """The ``k`` distinct n-grams of ``tokens`` [N, L] that fire one filter most, from its
    convolution output over all valid windows, among those that occur in at least
    ``min_count`` windows: {'ngram', 'activation' (before ReLU), 'count' (windows), 'spread'
    (max - min activation over those windows: weight sharing makes it zero up to rounding),
    'tokens' (indices [width])}."""
    was = model.training
    model.eval()
    width = model.widths[width_index]
    found: dict[tuple, list] = {}
    try:
        for start in range(0, len(tokens), batch_size):
            t = tokens[start:start + batch_size].to(model.embed.weight.device)
            if t.shape[1] < max(model.widths):
                t = F.pad(t, (0, max(model.widths) - t.shape[1]), value=PAD)
            y, ok = model.conv_maps(t)[width_index]
            act = y[:, filter_index]                              # [B, T]
            windows = t.unfold(1, width, 1)                       # [B, T, width]
            for w, a in zip(windows[ok].tolist(), act[ok].tolist()):
                key = tuple(w)
                if key in found:
                    entry = found[key]
                    entry[0], entry[1] = min(entry[0], a), max(entry[1], a)
                    entry[2] += 1
                else:
                    found[key] = [a, a, 1]
    finally:
        model.train(was)
    frequent = [kv for kv in found.items() if kv[1][2] >= min_count]
    best = sorted(frequent, key=lambda kv: -kv[1][1])[:k]
    return [{"ngram": decode(key, vocab), "activation": hi, "count": n, "spread": hi - lo,
             "tokens": torch.tensor(key)} for key, (lo, hi, n) in best]


@torch.no_grad()
def position_scan(model: CharCNN, ngram: str, carrier: str, vocab: list[str], *,
                  width_index: int, filter_index: int, target: int) -> list[dict]:
    """Insert ``ngram`` (letters only) into ``carrier`` at every position and record, for each
    word: the filter's score at the window on the n-gram ('at', before the ReLU), its pooled
    feature ('pooled') and the probability of class ``target`` ('prob'). Weight sharing makes
    'at' the same everywhere. Returns one dict per position, with the 'word'."""
    if len(ngram) != model.widths[width_index]:
        raise ValueError(f"the n-gram {ngram!r} has {len(ngram)} letters, the filter's width is "
                         f"{model.widths[width_index]}")
    was = model.training
    model.eval()
    device = model.embed.weight.device
    rows = []
    try:
        for p in range(len(carrier) + 1):
            word = carrier[:p] + ngram + carrier[p:]
            x = encode([word], vocab).to(device)                        # [1, n]
            y, _ = model.conv_maps(x)[width_index]                      # [1, F, T]
            feature = width_index * model.convs[width_index].out_channels + filter_index
            rows.append({"word": word, "at": y[0, filter_index, p + 1].item(),   # +1: '<'
                         "pooled": model.features(x)[0, feature].item(),
                         "prob": model(x).softmax(1)[0, target].item()})
    finally:
        model.train(was)
    return rows


def ngram_rates(ngram: str, pool: dict[str, list[str]]) -> dict[str, float]:
    """Per language, the fraction of its words that contain ``ngram`` ('<' and '>' mark the
    start and the end of a word, as in ``encode``): how typical of a language the n-gram is."""
    return {lang: sum(ngram in f"<{w}>" for w in ws) / max(len(ws), 1)
            for lang, ws in pool.items()}


# ---------------------------------------------------------------------- baseline and mistakes

def ngram_baseline(train_words, train_labels, test_words, test_labels, *, max_n: int = 4,
                   C: float = 10.0) -> dict:
    """A bag of character n-grams (1 to ``max_n``, within words, TF-IDF weighted) and a
    logistic regression, from scikit-learn: the classical answer to the same task.
    Returns {'acc', 'preds' (int64 [N_test]), 'n_features'}."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(1, max_n), lowercase=False,
                                 sublinear_tf=True)
    X_train = vectorizer.fit_transform(list(train_words))
    clf = LogisticRegression(C=C, max_iter=2000)
    clf.fit(X_train, torch.as_tensor(train_labels).numpy())
    preds = torch.from_numpy(clf.predict(vectorizer.transform(list(test_words)))).long()
    acc = (preds == torch.as_tensor(test_labels).cpu()).float().mean().item()
    return {"acc": acc, "preds": preds, "n_features": X_train.shape[1]}


def most_confused(matrix: torch.Tensor, classes, *, k: int = 3) -> list[dict]:
    """The ``k`` largest off-diagonal cells of a confusion matrix [true, predicted]:
    {'true', 'predicted', 'count', 'rate' (of the true class's examples)}, largest first."""
    m = matrix.clone().long()
    rows = m.sum(1)
    m.fill_diagonal_(-1)
    values, idx = m.flatten().topk(min(k, m.numel() - len(m)))
    n = m.shape[1]
    return [{"true": classes[i // n], "predicted": classes[i % n], "count": int(v),
             "rate": int(v) / max(int(rows[i // n]), 1)}
            for v, i in zip(values.tolist(), idx.tolist())]


@dataclass
class WordSplit:
    """A sample of words with labels, encoded: words (list), tokens int64 [N, L], labels [N]."""
    words: list
    tokens: torch.Tensor
    labels: torch.Tensor

    def __len__(self) -> int:
        return len(self.words)


def make_split(pool: dict[str, list[str]], n_per_language: int | None, vocab: list[str], *,
               seed: int) -> WordSplit:
    """``sample`` then ``encode``: a balanced, encoded sample of ``pool``."""
    words, labels = sample(pool, n_per_language, seed=seed)
    return WordSplit(words, encode(words, vocab), labels)
