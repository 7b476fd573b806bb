"""utils.text: word lists, cleaning, the split by word, encoding, the masked max-over-time
pooling (against a per-word F.conv1d with no padding at all), the filter readback (against the
direct dot product), and the scikit-learn baseline."""

import pytest
import torch
import torch.nn.functional as F

from utils import text

HAVE_LISTS = all((text.DICT_DIR / f).is_file() for _, f in text.LANGUAGES.values())
needs_lists = pytest.mark.skipif(
    not HAVE_LISTS, reason="Debian word lists absent: sudo apt-get install " + " ".join(
        p for p, _ in text.LANGUAGES.values()))

VOCAB = text.build_vocab(["abcdefghijklmnopqrstuvwxyzçã"])


def small_model(seed=0, **kw):
    torch.manual_seed(seed)
    net = text.CharCNN(len(VOCAB), 3, embed_dim=5, widths=(2, 3, 5), filters=4, **kw)
    return net.eval()


def test_missing_lists_name_the_fix(tmp_path):
    (tmp_path / "american-english").write_text("dog\n")
    with pytest.raises(FileNotFoundError, match=r"make data.*apt-get install wngerman"):
        text.read_word_lists(languages=("English", "German"), root=tmp_path)
    assert text.read_word_lists(languages=("English",), root=tmp_path) == {"English": ["dog"]}
    with pytest.raises(ValueError, match="unknown language"):
        text.read_word_lists(languages=("Klingon",), root=tmp_path)


def test_a_list_that_is_not_utf8_says_so(tmp_path):
    (tmp_path / "american-english").write_bytes(b"caf\xe9\n")           # latin-1
    with pytest.raises(text.DataFileError, match="reinstall wamerican"):
        text.read_word_lists(languages=("English",), root=tmp_path)


def test_clean_words_applies_each_rule_and_counts_it():
    raw = {"English": ["dog", "dog's", "Bob", "bob", "taxi", "e-mail", "A.D."],
           "Italian": ["casa", "dell'abuso", "taxi", "precipitevolissimevolmente"],
           "German": ["Hund", "Straße", "TAXI"]}
    words, dropped = text.clean_words(raw, max_len=20)
    assert words == {"English": ["bob", "dog"], "Italian": ["casa"], "German": ["hund", "straße"]}
    assert dropped["English"] == {"possessive": 1, "not letters": 2, "too long": 0,
                                  "duplicate": 1, "in several languages": 1}
    assert dropped["Italian"]["not letters"] == 1 and dropped["Italian"]["too long"] == 1
    assert all(d["in several languages"] == 1 for d in dropped.values())   # taxi, everywhere


def test_split_is_by_word_deterministic_and_sized():
    words = {"A": [f"a{i}" for i in range(100)], "B": [f"b{i}" for i in range(50)]}
    train, test = text.split_words(words, test_fraction=0.2, seed=0)
    assert (len(train["A"]), len(test["A"]), len(train["B"]), len(test["B"])) == (80, 20, 40, 10)
    assert not set(train["A"]) & set(test["A"]) and set(train["A"]) | set(test["A"]) == set(words["A"])
    assert text.split_words(words, seed=0) == (train, test) != text.split_words(words, seed=1)


def test_sample_is_balanced_and_checks_its_size():
    pool = {"A": [f"a{i}" for i in range(30)], "B": [f"b{i}" for i in range(10)]}
    words, labels = text.sample(pool, 8, seed=0)
    assert torch.bincount(labels).tolist() == [8, 8]
    assert all(w.startswith("ab"[int(y)]) for w, y in zip(words, labels))
    assert len(text.sample(pool, None, seed=0)[0]) == 20                 # the smallest: 10 each
    with pytest.raises(ValueError, match="between 1 and 10"):
        text.sample(pool, 11, seed=0)


def test_encode_decode_and_unknown_characters():
    vocab = text.build_vocab(["aab", "ba", "c"], min_count=2)           # 'c' is too rare
    assert vocab == ["_", "<", ">", "?", "a", "b"]
    t = text.encode(["ab", "c", ""], vocab, length=5)
    assert t.tolist() == [[1, 4, 5, 2, 0], [1, 3, 2, 0, 0], [1, 2, 0, 0, 0]]
    assert text.decode(t[0], vocab) == "<ab>" and text.decode(t[1], vocab) == "<?>"
    assert text.encode(["abab"], vocab).shape == (1, 6)
    with pytest.raises(ValueError, match="larger length"):
        text.encode(["abab"], vocab, length=5)


def test_batches_cover_every_word_once_trimmed_to_the_longest():
    tokens = text.encode(["a", "abcdefgh", "ab", "abc", "b"], VOCAB)     # [5, 10]
    labels = torch.arange(5)
    batches = text.WordBatches(tokens, labels, batch_size=2, shuffle=True, device="cpu",
                               generator=torch.Generator().manual_seed(0))
    seen = []
    assert len(batches) == 3
    for X, y in batches:
        n = (X != text.PAD).sum(1)
        assert X.shape[1] == n.max() and torch.equal(X, tokens[y, :X.shape[1]])
        seen += y.tolist()
    assert sorted(seen) == list(range(5))


def test_valid_windows_by_hand():
    t = text.encode(["abc", "a"], VOCAB, length=7)                     # 5 and 3 positions
    assert text.valid_windows(t, 3).tolist() == [[True, True, True, False, False],
                                                 [True, False, False, False, False]]
    assert text.valid_windows(t, 5)[1].tolist() == [True, False, False]  # shorter: first only


def test_pooling_equals_a_per_word_convolution_without_padding():
    """The reference: each word alone, unpadded (padded to the widest filter only if it is
    shorter), through F.conv1d and a plain max. Batched, padded and masked must agree."""
    net = small_model()
    words = ["a", "ab", "ção", "abcdefghij", "xyz"]
    batch = text.encode(words, VOCAB, length=16)
    got = net.features(batch)                                          # [5, 12]
    for i, w in enumerate(words):
        alone = text.encode([w], VOCAB)
        x = net.embed(alone).transpose(1, 2)                           # [1, E, n]
        ref = []
        for conv in net.convs:
            k = conv.kernel_size[0]
            xk = F.pad(x, (0, max(0, k - x.shape[2])))                 # zeros = PAD's embedding
            ref.append(F.relu(F.conv1d(xk, conv.weight, conv.bias)).amax(2))
        assert torch.allclose(got[i], torch.cat(ref, 1)[0], atol=1e-6), w


def test_padding_never_wins_and_does_not_change_the_output():
    net = small_model()
    with torch.no_grad():
        for conv in net.convs:
            conv.bias += 5.0                         # an all-padding window would score 5 + 0
    short, long = text.encode(["ab", "abc"], VOCAB, length=6), text.encode(["ab", "abc"], VOCAB, length=30)
    assert torch.allclose(net(short), net(long), atol=1e-6)
    unmasked = small_model(mask=False)
    unmasked.load_state_dict(net.state_dict())
    assert not torch.allclose(unmasked.features(long), net.features(long))   # padding won


def test_readback_equals_the_direct_dot_product():
    net = small_model(1)
    words = ["chat", "schach", "ação", "bacalhau", "a"]
    tokens = text.encode(words, VOCAB)
    for wi, k in enumerate(net.widths):
        maps, ok = net.conv_maps(tokens)[wi]                           # [5, 4, T], [5, T]
        for i in range(len(words)):
            for t in torch.nonzero(ok[i]).flatten().tolist():
                window = tokens[i, t:t + k]
                for f in range(4):
                    direct = text.ngram_activation(net, window, width_index=wi, filter_index=f)
                    assert abs(direct - maps[i, f, t].item()) < 1e-5
        top = text.top_ngrams(net, tokens, VOCAB, width_index=wi, filter_index=2, k=5)
        acts = [r["activation"] for r in top]
        assert acts == sorted(acts, reverse=True) and len({r["ngram"] for r in top}) == len(top)
        for r in top:
            assert abs(r["activation"] - text.ngram_activation(
                net, r["tokens"], width_index=wi, filter_index=2)) < 1e-5
            assert r["spread"] < 1e-5                                   # same n-gram, same value
    common = text.top_ngrams(net, tokens, VOCAB, width_index=0, filter_index=1, k=3, min_count=2)
    bigrams = [f"<{w}>"[i:i + 2] for w in words for i in range(len(w) + 1)]
    twice = {g for g in bigrams if bigrams.count(g) >= 2}               # <a, ac, ch, ha
    assert len(common) == 3 and {r["ngram"] for r in common} <= twice
    assert all(r["count"] == bigrams.count(r["ngram"]) for r in common)


def test_position_scan_scores_the_ngram_the_same_everywhere():
    net = small_model(2)
    rows = text.position_scan(net, "sch", "banana", VOCAB, width_index=1, filter_index=3, target=0)
    assert [r["word"] for r in rows[:2]] == ["schbanana", "bschanana"] and len(rows) == 7
    direct = text.ngram_activation(net, text.encode(["sch"], VOCAB)[0, 1:4], width_index=1,
                                   filter_index=3)
    assert all(abs(r["at"] - direct) < 1e-5 and r["pooled"] >= max(direct, 0) - 1e-6 for r in rows)
    with pytest.raises(ValueError, match="width is 3"):
        text.position_scan(net, "sc", "banana", VOCAB, width_index=1, filter_index=0, target=0)


def test_ngram_rates_and_most_confused_by_hand():
    pool = {"German": ["schach", "tisch", "hund"], "French": ["chat", "chien"]}
    assert text.ngram_rates("sch", pool) == {"German": 2 / 3, "French": 0.0}
    assert text.ngram_rates("<ch", pool) == {"German": 0.0, "French": 1.0}
    m = torch.tensor([[5, 3, 0], [1, 9, 0], [4, 0, 2]])
    top = text.most_confused(m, ["a", "b", "c"], k=2)
    assert [(r["true"], r["predicted"], r["count"]) for r in top] == [("c", "a", 4), ("a", "b", 3)]
    assert top[0]["rate"] == pytest.approx(4 / 6)


def test_baseline_separates_separable_languages():
    train = ["schaf", "schule", "tisch", "fisch", "ação", "nação", "canção", "razão"] * 3
    labels = torch.tensor([0, 0, 0, 0, 1, 1, 1, 1] * 3)
    out = text.ngram_baseline(train, labels, ["schrank", "lição"], torch.tensor([0, 1]))
    assert out["acc"] == 1.0 and out["preds"].tolist() == [0, 1] and out["n_features"] > 20


@needs_lists
def test_the_real_lists_clean_into_disjoint_languages():
    words, dropped = text.clean_words(text.read_word_lists())
    assert set(words) == set(text.LANGUAGES)
    assert min(len(ws) for ws in words.values()) > 20000
    seen = {}
    for lang, ws in words.items():
        for w in ws:
            assert w.isalpha() and w == w.lower() and len(w) <= 20
            assert seen.setdefault(w, lang) == lang, w
    assert dropped["English"]["possessive"] > 10000
    assert "dell'abuso" not in words["Italian"]
