"""utils.go against references: sgfmill's Board (captures, groups), hand-made positions,
torch.rot90/flip (symmetries), GNU Go itself (GTP), the paper's architecture (parameters)."""
import random
import sys
import time

import pytest
import torch

import utils
from utils import go

sgfmill = pytest.importorskip("sgfmill", reason="sgfmill not installed: pip install sgfmill")
from sgfmill import boards  # noqa: E402

try:
    go.gnugo_path()
    HAVE_GNUGO = True
except FileNotFoundError:
    HAVE_GNUGO = False
needs_gnugo = pytest.mark.skipif(not HAVE_GNUGO, reason="Debian package gnugo not installed "
                                 "(sudo apt-get install gnugo)")


def grid_from(rows: list[str]):
    """A board from text, top row first: 'X' black, 'O' white, '.' empty (row 0 = bottom)."""
    return [[{"X": "b", "O": "w", ".": None}[ch] for ch in row] for row in reversed(rows)]


def random_board(size, n, seed):
    """sgfmill's Board after n random legal-looking moves (its play does the captures)."""
    rng = random.Random(seed)
    b, colour = boards.Board(size), "b"
    for _ in range(n):
        empty = [(r, c) for r in range(size) for c in range(size) if b.get(r, c) is None]
        r, c = rng.choice(empty)
        b.play(r, c, colour)
        colour = "w" if colour == "b" else "b"
    return b


def brute_liberties(grid, stones):
    size = len(grid)
    return {(r + a, c + d) for r, c in stones for a, d in ((-1, 0), (1, 0), (0, -1), (0, 1))
            if 0 <= r + a < size and 0 <= c + d < size and grid[r + a][c + d] is None}


def test_groups_and_liberties_hand_made():
    grid = grid_from([".XO..",
                      "XXO..",
                      "OO...",
                      ".....",
                      "....X"])
    owner, found = go.groups(grid)
    black = found[owner[(4, 1)]]                     # the three black stones at the top left
    assert black["stones"] == {(4, 1), (3, 0), (3, 1)} and black["liberties"] == {(4, 0)}
    white = found[owner[(4, 2)]]
    assert white["stones"] == {(4, 2), (3, 2)} and len(white["liberties"]) == 3
    assert len(found[owner[(2, 0)]]["liberties"]) == 3 and len(found[owner[(0, 4)]]["liberties"]) == 2


def test_analyse_hand_made_capture_suicide_eye():
    grid = grid_from([".XO..",
                      "XXO..",
                      "OO...",
                      ".....",
                      "....."])
    white = go.analyse(grid, "w")["points"]
    assert white[(4, 0)]["legal"] and white[(4, 0)]["captures"] == 3    # takes three stones
    assert white[(4, 0)]["liberties"] == 2                             # (4, 1) and (3, 0) freed
    eye = grid_from(["X.X..", ".X...", ".....", ".....", "....."])   # (4, 1) surrounded by black
    pts = go.analyse(eye, "b")["points"]
    assert pts[(4, 1)]["eye"] and not go.analyse(eye, "w")["points"][(4, 1)]["eye"]
    assert not go.analyse(eye, "w")["points"][(4, 1)]["legal"]          # white there: suicide
    atari = grid_from(["O....", "XO...", ".....", ".....", "....."])
    pts = go.analyse(atari, "b")["points"]
    assert pts[(2, 0)]["self_atari"] == 0 and pts[(2, 0)]["liberties"] == 2
    ko = grid_from([".XO..", "XO...", ".....", ".....", "....."])
    assert go.analyse(ko, "w", ko=(4, 0))["points"][(4, 0)]["legal"] is False
    assert go.analyse(ko, "w")["points"][(4, 0)]["captures"] == 1


def test_black_filling_its_last_liberty_is_suicide():
    grid = grid_from([".XO..", "XXO..", "OO...", ".....", "....."])
    f = go.analyse(grid, "b")["points"][(4, 0)]
    assert not f["legal"] and f["liberties"] == 0


@pytest.mark.parametrize("seed", range(6))
def test_analyse_against_sgfmill(seed):
    """Every empty point of random positions: play it on a copy of sgfmill's Board and compare
    the captures, the suicide rule and the liberties after the move."""
    size = 7
    b = random_board(size, 30 + 4 * seed, seed)
    owner, found = go.groups(b.board)
    for g in found:                                          # groups and liberties
        some = next(iter(g["stones"]))
        ref = b._make_group(*some, g["colour"])
        assert ref.points == g["stones"]
        assert g["liberties"] == brute_liberties(b.board, g["stones"])
    for colour in "bw":
        for p, f in go.analyse(b.board, colour)["points"].items():
            after = b.copy()
            after.play(*p, colour)
            opp = "w" if colour == "b" else "b"
            taken = sum(b.get(*q) == opp and after.get(*q) is None for q in b.board_points)
            suicide = after.get(*p) is None
            assert f["legal"] == (not suicide), (p, colour)
            if not suicide:
                assert f["captures"] == taken
                _, after_groups = go.groups(after.board)
                mine = next(g for g in after_groups if p in g["stones"])
                assert f["liberties"] == len(brute_liberties(after.board, mine["stones"]))
                assert f["self_atari"] == (len(mine["stones"]) if f["liberties"] == 1 else 0)


def test_planes_one_hot_and_legal_mask():
    b = random_board(9, 40, 7)
    ages = {(r, c): i for i, (r, c) in enumerate(b.board_points)}
    x, legal = go.planes(b.board, "b", ages=ages, turn=200)
    assert x.shape == (48, 9, 9) and go.N_PLANES == 48 and x.max() == 1
    off = go.OFFSET
    assert (x[0:3].sum(0) == 1).all() and (x[off["ones"]] == 1).all() and (x[off["zeros"]] == 0).all()
    stones = x[0] + x[1]
    for name in ("turns since", "liberties"):
        assert (x[off[name]:off[name] + 8].sum(0) == stones).all()  # one plane per stone
    for name in ("capture size", "liberties after move"):
        assert (x[off[name]:off[name] + 8].sum(0) == legal).all()   # one plane per legal move
    assert (x[off["ladder capture"]] == 0).all() and not (legal & (stones > 0)).any()
    assert ((x[off["sensibleness"]] == 1) <= legal).all()


def test_symmetries_match_rot90_and_flip():
    size = 5
    perms = go.symmetries(size)
    x = torch.randn(2, 3, size, size)
    refs = [x.rot90(g, dims=(2, 3)) for g in range(4)] + [x.flip(3).rot90(g, dims=(2, 3)) for g in range(4)]
    for g in range(8):
        assert torch.equal(go.transform(x, g, perms), refs[g])
    assert len({tuple(p.tolist()) for p in perms}) == 8
    inverse = perms.argsort(1)
    maps = torch.randn(4, size * size)
    for g in range(8):
        back = go.transform(go.transform(maps, g, perms), g, inverse)
        assert torch.equal(back, maps)


def test_batches_move_labels_with_the_board():
    """Augmented batches: a plane that is one-hot at the move stays one-hot at the new label."""
    n, size = 64, 9
    y = torch.randint(0, size * size, (n,))
    X = torch.zeros(n, 48, size, size, dtype=torch.uint8)
    X.view(n, 48, -1)[torch.arange(n), 0, y] = 1
    X[:, 1, 0, :] = 1                                        # a row that moves too
    data = {"X": X, "y": y}
    batches = go.PositionBatches(data, batch_size=16, shuffle=True, device="cpu", augment=True,
                                 generator=torch.Generator().manual_seed(0))
    moved = 0
    for xb, yb in batches:
        assert torch.equal(xb[:, 0].flatten(1).argmax(1), yb)
        moved += (xb[:, 1, 0, :].sum(1) != size).sum().item()
    assert moved > 0 and len(batches) == 4


def test_policy_net_parameters_and_shapes():
    net = go.policy_net(size=19, k=192)
    hand = (48 * 25 * 192 + 192) + 11 * (192 * 9 * 192 + 192) + 192 + 361
    assert utils.count_params(net) == hand == 3_882_793
    assert net(torch.zeros(2, 48, 19, 19)).shape == (2, 361)
    assert sum(isinstance(m, torch.nn.Conv2d) for m in net) == 13
    assert net.conv13.bias is None and net.bias.bias.shape == (361,)
    small = go.policy_net(size=9, k=8, planes=4)
    assert small(torch.zeros(1, 4, 9, 9)).shape == (1, 81)


def test_topk_and_frequency_prior():
    scores = torch.tensor([[0.1, 0.9, 0.5, 0.0], [0.8, 0.1, 0.0, 0.3]])
    y = torch.tensor([2, 3])
    assert go.topk_accuracy(scores, y, ks=(1, 2)) == {"top1": 0.0, "top2": 1.0}
    legal = torch.tensor([[True, False, True, True], [False, True, True, True]])
    assert go.topk_accuracy(scores, y, legal=legal, ks=(1,))["top1"] == 1.0
    prior = go.frequency_prior(torch.tensor([1, 1, 3]), 2)
    assert prior.floor().tolist() == [0, 2, 0, 1] and len(set(prior.tolist())) == 4
    ranked = go.frequency_prior(torch.tensor([], dtype=torch.long), 5).argsort(descending=True)
    assert ranked[0] == 12 and len(set(go.frequency_prior(torch.tensor([0]), 9).tolist())) == 81
    assert go.topk_correct(1)(scores, torch.tensor([1, 0])).item() == 2


@needs_gnugo
def test_gtp_talks_to_gnugo_and_closes():
    with go.gnugo(size=5, level=0, seed=0, komi=0.5) as engine:
        assert engine.send("protocol_version") == "2"
        assert engine.send("name") == "GNU Go"
        move = engine.send("genmove b")
        assert move == "pass" or move[0] in "ABCDE"
        with pytest.raises(go.GTPError, match="refused"):
            engine.send("play b Z99")
    assert engine.proc.poll() is not None                    # the process is gone


def test_gtp_timeout_and_dead_engine():
    silent = go.GTP([sys.executable, "-c", "import time; time.sleep(30)"], timeout=0.5)
    tick = time.monotonic()
    with pytest.raises(go.GTPError, match="did not answer"):
        silent.send("name")
    assert time.monotonic() - tick < 5 and silent.proc.poll() is not None
    dead = go.GTP([sys.executable, "-c", "print('bye')"], timeout=5)
    with pytest.raises(go.GTPError, match="exited|died"):
        dead.send("name")


@needs_gnugo
def test_self_play_sgf_cache_and_features(tmp_path, monkeypatch):
    monkeypatch.setenv("CNN_BOOK_DATA", str(tmp_path))
    games, info = go.games(size=5, level=0, seeds=[3, 4], opening=2, komi=0.5, progress=False)
    assert info["made"] == 2 and info["engine_moves"] > 0
    again, info2 = go.games(size=5, level=0, seeds=[3, 4], opening=2, komi=0.5, progress=False)
    assert info2["made"] == 0 and [g["moves"] for g in again] == [g["moves"] for g in games]
    assert not list(tmp_path.rglob("*.part"))
    g = games[0]
    assert g["opening"] == 2 and g["size"] == 5 and g["komi"] == 0.5
    assert [c for c, _ in g["moves"]] == ["bw"[i % 2] for i in range(len(g["moves"]))]
    for grid, colour, ko, ages, turn, move in go.positions(g):    # the engine plays legally
        if move is not None:
            assert go.analyse(grid, colour, ko=ko)["points"][move]["legal"]
    data, cached = go.cached_features(games, name="test")
    data2, cached2 = go.cached_features(games, name="test")
    assert not cached and cached2 and torch.equal(data["X"], data2["X"])
    assert data["X"].shape[1:] == (48, 5, 5) and data["legal"][torch.arange(len(data["y"])), data["y"]].all()


def test_symmetric_scores_of_an_equivariant_model_agree():
    """A 1x1 convolution sees no direction, so its 8 maps, mapped back, are equal; the
    per-point bias (initialised non-zero here) breaks that."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 1, 1), torch.nn.Flatten())
    X = torch.randint(0, 2, (6, 3, 5, 5)).float()
    maps = go.symmetric_scores(net, X, device="cpu", batch_size=4)
    assert maps.shape == (8, 6, 25) and torch.allclose(maps, maps[:1].expand_as(maps), atol=1e-6)
    biased = go.policy_net(size=5, k=4, planes=3, layers=3)
    torch.nn.init.normal_(biased.bias.bias)
    maps = go.symmetric_scores(biased, X, device="cpu")
    assert not torch.allclose(maps, maps[:1].expand_as(maps), atol=1e-3)
    legal = torch.rand(6, 25) > 0.3
    p = go.move_probs(maps[0], legal)
    assert torch.allclose(p.sum(1), torch.ones(6)) and (p[~legal] == 0).all()
