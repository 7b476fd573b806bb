"""Go: games GNU Go plays against itself, AlphaGo's input planes, and its policy network.

* ``GTP`` drives a Go engine over the Go Text Protocol on pipes, with a timeout on every
  answer; ``self_play`` lets GNU Go (Debian ``gnugo``) play one game against itself;
  ``games`` writes them once as SGF files into the data directory and reads them back.
* ``analyse`` computes, for one position, the per-point facts AlphaGo's features are made of
  (liberties, captures, self-atari, legality, eyes); ``encode_games`` turns every position of
  every game into the 48 feature planes of Silver et al. (2016), Extended Data Table 2.
  Moves are played with captures by ``sgfmill.boards.Board``; what is hand-written here is
  tested against it.
* ``policy_net`` is the SL policy network: a 5x5 convolution, eleven 3x3 ones with ``k``
  filters, a 1x1 convolution to one plane and one bias per board point; its logits go into
  a softmax over the board points.

Points are (row, col) with row 0 at the bottom, as in sgfmill and GTP ("A1" is (0, 0)).
"""
from __future__ import annotations

import os
import random
import select
import shutil
import subprocess
import sys
import tempfile
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .data import data_dir

GNUGO_FIX = "install GNU Go: `make data`, or `sudo apt-get install gnugo`"
SGFMILL_FIX = "pip install sgfmill (or `pip install -r requirements.txt`)"

# (name, planes, computed here?, meaning) -- AlphaGo's 48 policy-network input planes
PLANES = [
    ("stone colour", 3, True, "player's stones, opponent's stones, empty points"),
    ("ones", 1, True, "a constant plane of 1s (shows the convolutions where the board ends)"),
    ("turns since", 8, True, "a stone played 1, 2, ..., 7, >= 8 moves ago"),
    ("liberties", 8, True, "the stone's group has 1, 2, ..., 7, >= 8 liberties"),
    ("capture size", 8, True, "a move here captures 0, 1, ..., 6, >= 7 opponent stones"),
    ("self-atari size", 8, True, "a move here leaves its own group of 1, ..., 7, >= 8 stones in atari"),
    ("liberties after move", 8, True, "after a move here its group has 1, ..., 7, >= 8 liberties"),
    ("ladder capture", 1, False, "a move here wins a ladder (needs a search: left zero)"),
    ("ladder escape", 1, False, "a move here escapes a ladder (needs a search: left zero)"),
    ("sensibleness", 1, True, "a move here is legal and does not fill the player's own eye"),
    ("zeros", 1, True, "a constant plane of 0s"),
]
N_PLANES = sum(n for _, n, _, _ in PLANES)                       # 48
OFFSET = dict(zip([p[0] for p in PLANES], np.cumsum([0] + [n for _, n, _, _ in PLANES])))
FEATURE_VERSION = 1                                                 # bump when planes change


def _sgfmill():
    try:
        from sgfmill import boards, common, sgf
    except ImportError as err:
        raise ImportError(f"the Go chapter needs sgfmill: {SGFMILL_FIX}") from err
    return boards, common, sgf


# ---------------------------------------------------------------- GTP and GNU Go

class GTPError(RuntimeError):
    """The engine answered '?', died, or did not answer in time; the message says which."""


def gnugo_path() -> str:
    """Where GNU Go is: on PATH, or Debian's /usr/games/gnugo (not on PATH)."""
    path = shutil.which("gnugo") or ("/usr/games/gnugo" if os.access("/usr/games/gnugo", os.X_OK)
                                     else None)
    if path is None:
        raise FileNotFoundError(f"GNU Go (gnugo) is not installed: {GNUGO_FIX}")
    return path


class GTP:
    """A GTP engine in a subprocess: ``send("genmove b")`` returns the answer's text.

    Every answer must arrive within ``timeout`` seconds; on a timeout, an error answer or a
    dead engine the process is killed and ``GTPError`` raised. Use it as a context manager so
    the engine is closed on any error.
    """

    def __init__(self, command: list[str], *, timeout: float = 30.0):
        self.timeout, self.command = timeout, command
        self._err = tempfile.TemporaryFile()                    # stderr, read on failure
        self.proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self._err)
        self._buf = b""

    def send(self, command: str, *, timeout: float | None = None) -> str:
        try:
            self.proc.stdin.write(command.encode() + b"\n")
            self.proc.stdin.flush()
            answer = self._answer(time.monotonic() + (timeout or self.timeout), command)
        except OSError as err:                                  # a broken pipe: it died
            message = f"{self.command[0]} died on {command!r}: {err}{self._stderr()}"
            self.close(kill=True)
            raise GTPError(message) from err
        except GTPError:
            self.close(kill=True)                               # hung or dead: no goodbye
            raise
        if answer.startswith("?"):
            self.close()
            raise GTPError(f"{self.command[0]} refused {command!r}: {answer[1:].strip()}")
        return answer[1:].strip()                               # drop '=' (and any id)

    def _answer(self, deadline: float, command: str) -> str:
        fd = self.proc.stdout.fileno()
        while b"\n\n" not in self._buf:                          # an answer ends in a blank line
            left = deadline - time.monotonic()
            if left <= 0:
                raise GTPError(f"{self.command[0]} did not answer {command!r} in "
                               f"{self.timeout:g} s (killed){self._stderr()}")
            if select.select([fd], [], [], left)[0]:
                chunk = os.read(fd, 65536)
                if not chunk:
                    raise GTPError(f"{self.command[0]} exited on {command!r}{self._stderr()}")
                self._buf += chunk.replace(b"\r", b"")
        answer, self._buf = self._buf.split(b"\n\n", 1)
        return answer.decode(errors="replace").lstrip("\n")

    def _stderr(self) -> str:
        self._err.seek(0)
        text = self._err.read().decode(errors="replace").strip()
        return f"; stderr: {text[-500:]}" if text else ""

    def close(self, *, kill: bool = False) -> None:
        """Ask the engine to quit (or kill it at once), and kill it if it has not gone
        within two seconds."""
        if self.proc.poll() is None:
            try:
                if kill:
                    raise OSError("kill")
                self.proc.stdin.write(b"quit\n")
                self.proc.stdin.close()
                self.proc.wait(timeout=2)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()
        self._err.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def gnugo(*, size: int, level: int, seed: int, komi: float, timeout: float = 30.0) -> GTP:
    """GNU Go in GTP mode on a ``size`` board at strength ``level`` (0-10) with random ``seed``."""
    return GTP([gnugo_path(), "--mode", "gtp", "--boardsize", str(size), "--level", str(level),
                "--seed", str(seed), "--komi", str(komi), "--never-resign"], timeout=timeout)


def self_play(*, size: int, level: int, seed: int, opening: int, komi: float,
              max_moves: int | None = None, timeout: float = 30.0) -> dict:
    """One game of GNU Go against itself. Variety: ``--seed seed``, and the first ``opening``
    moves are random legal points off the edge (drawn from ``seed``), not the engine's.
    Ends after two passes or ``max_moves`` (default 3 x size^2). Returns plain data:
    {'moves': [(colour, (row, col) or None)], 'opening', 'result', 'seconds', ...}."""
    _, common, _ = _sgfmill()
    rng, moves, passes = random.Random(seed), [], 0
    max_moves = max_moves or 3 * size * size
    inner = [(r, c) for r in range(1, size - 1) for c in range(1, size - 1)]
    tick = time.perf_counter()
    with gnugo(size=size, level=level, seed=seed, komi=komi, timeout=timeout) as engine:
        name = f"{engine.send('name')} {engine.send('version')} (level {level})"
        for point in rng.sample(inner, opening):                 # few stones: all legal
            colour = "bw"[len(moves) % 2]
            engine.send(f"play {colour} {common.format_vertex(point)}")
            moves.append((colour, point))
        start = time.perf_counter()
        while passes < 2 and len(moves) < max_moves:
            colour = "bw"[len(moves) % 2]
            vertex = engine.send(f"genmove {colour}")
            move = common.move_from_vertex(vertex, size)      # None for a pass
            passes = passes + 1 if move is None else 0
            moves.append((colour, move))
        engine_s = time.perf_counter() - start
        result = engine.send("final_score")
    return {"size": size, "level": level, "seed": seed, "komi": komi, "opening": opening,
            "moves": moves, "result": result, "engine": name, "engine_moves": len(moves) - opening,
            "engine_seconds": engine_s, "seconds": time.perf_counter() - tick}


def to_sgf(game: dict) -> bytes:
    """The game as SGF; the random opening moves carry the comment 'random opening move'."""
    _, _, sgf = _sgfmill()
    record = sgf.Sgf_game(size=game["size"])
    root = record.get_root()
    root.set("KM", game["komi"])
    root.set("PB", game["engine"])
    root.set("PW", game["engine"])
    root.set("RE", game["result"])
    root.set("GC", f"GNU Go self-play, --level {game['level']} --seed {game['seed']}; the first "
                   f"{game['opening']} moves are random legal moves, not the engine's")
    for i, (colour, move) in enumerate(game["moves"]):
        node = record.extend_main_sequence()
        node.set_move(colour, move)
        if i < game["opening"]:
            node.set("C", "random opening move")
    return record.serialise()


def read_sgf(path) -> dict:
    """An SGF game record as {'size', 'komi', 'moves', 'opening', 'result'}."""
    _, _, sgf = _sgfmill()
    record = sgf.Sgf_game.from_bytes(Path(path).read_bytes())
    nodes = record.get_main_sequence()[1:]
    moves = [node.get_move() for node in nodes]
    opening = sum(n.has_property("C") and n.get("C").startswith("random") for n in nodes)
    return {"size": record.get_size(), "komi": record.get_komi(), "moves": moves,
            "opening": opening, "result": record.get_root().get("RE"), "path": str(path)}


def game_dir(*, size: int, level: int, opening: int, komi: float) -> Path:
    """Where the games of one setting live: one SGF file per seed."""
    return data_dir() / "go" / f"gnugo-{size}x{size}-level{level}-open{opening}-komi{komi:g}"


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.part")
    try:
        tmp.write_bytes(data)
        tmp.replace(path)                                       # whole file, or none
    finally:
        tmp.unlink(missing_ok=True)


def games(*, size: int, level: int, seeds, opening: int, komi: float, workers: int = 2,
          timeout: float = 30.0, progress: bool = True) -> tuple[list[dict], dict]:
    """The self-play games for ``seeds``, made once and cached as SGF files (one per seed,
    each written atomically), then read back from the files. ``workers`` engines play at once.
    Returns (games, info): info has how many were made now, their time and moves."""
    folder = game_dir(size=size, level=level, opening=opening, komi=komi)
    folder.mkdir(parents=True, exist_ok=True)
    path = {s: folder / f"game-{s:05d}.sgf" for s in seeds}
    todo = [s for s in seeds if not path[s].exists()]
    info = {"made": len(todo), "cached": len(path) - len(todo), "seconds": 0.0,
            "engine_moves": 0, "engine_seconds": 0.0, "folder": str(folder)}
    tick = time.perf_counter()

    def one(seed):
        game = self_play(size=size, level=level, seed=seed, opening=opening, komi=komi,
                         timeout=timeout)
        _write_atomic(path[seed], to_sgf(game))
        return game

    if todo:
        gnugo_path()                                            # fail now, with the fix
        with ThreadPoolExecutor(max_workers=workers) as pool:
            for i, game in enumerate(pool.map(one, todo), 1):
                info["engine_moves"] += game["engine_moves"]
                info["engine_seconds"] += game["engine_seconds"]
                if progress and (i % max(1, len(todo) // 10) == 0 or i == len(todo)):
                    print(f"  played {i}/{len(todo)} games, {time.perf_counter() - tick:.0f} s",
                          file=sys.stdout, flush=True)
    info["seconds"] = time.perf_counter() - tick
    return [read_sgf(path[s]) for s in seeds], info


# ---------------------------------------------------------------- board analysis

def _neighbours(size: int) -> list[list[tuple[int, int]]]:
    return [[(r + dr, c + dc) for dr, dc in ((-1, 0), (1, 0), (0, -1), (0, 1))
             if 0 <= r + dr < size and 0 <= c + dc < size] for r in range(size) for c in range(size)]


def groups(grid) -> tuple[dict, list[dict]]:
    """Solidly connected groups of a board (``grid[row][col]`` is 'b', 'w' or None):
    (point -> group index, [{'colour', 'stones': set, 'liberties': set}])."""
    size = len(grid)
    nbr = _neighbours(size)
    owner, found = {}, []
    for r in range(size):
        for c in range(size):
            colour = grid[r][c]
            if colour is None or (r, c) in owner:
                continue
            g = {"colour": colour, "stones": set(), "liberties": set()}
            todo = [(r, c)]
            owner[(r, c)] = len(found)
            while todo:                                         # flood fill one group
                p = todo.pop()
                g["stones"].add(p)
                for q in nbr[p[0] * size + p[1]]:
                    if grid[q[0]][q[1]] is None:
                        g["liberties"].add(q)
                    elif grid[q[0]][q[1]] == colour and q not in owner:
                        owner[q] = len(found)
                        todo.append(q)
            found.append(g)
    return owner, found


def analyse(grid, colour: str, *, ko=None) -> dict:
    """What a move by ``colour`` at each empty point would do, without playing it:
    {point: {'legal', 'captures', 'liberties', 'self_atari', 'eye'}}, and the groups.

    A move is illegal on the simple-ko point ``ko`` and when it would leave its own group
    without liberties and capture nothing (suicide; GNU Go forbids it). 'liberties' counts the
    group's liberties after the move, captured stones next to it included; 'self_atari' is
    the group's size when that count is 1, else 0. 'eye': every neighbour is the player's and
    the opponent holds at most one diagonal (none on the edge).
    """
    size = len(grid)
    nbr = _neighbours(size)
    owner, found = groups(grid)
    out = {}
    for r in range(size):
        for c in range(size):
            if grid[r][c] is not None:
                continue
            p, near = (r, c), nbr[r * size + c]
            own = {owner[q] for q in near if grid[q[0]][q[1]] == colour}
            opp = {owner[q] for q in near if grid[q[0]][q[1]] not in (None, colour)}
            caught = [g for g in opp if found[g]["liberties"] == {p}]
            merged = {p}.union(*(found[g]["stones"] for g in own))
            libs = {q for q in near if grid[q[0]][q[1]] is None}
            libs = libs.union(*(found[g]["liberties"] for g in own)) - {p}
            for g in caught:                                    # freed points next to us
                libs |= {s for s in found[g]["stones"]
                         if any(q in merged for q in nbr[s[0] * size + s[1]])}
            legal = p != ko and len(libs) > 0
            diagonal = [(r + a, c + b) for a in (-1, 1) for b in (-1, 1)
                        if 0 <= r + a < size and 0 <= c + b < size]
            enemy = sum(grid[q[0]][q[1]] not in (None, colour) for q in diagonal)
            eye = (len(own) > 0 and all(grid[q[0]][q[1]] == colour for q in near)
                   and enemy <= (1 if len(diagonal) == 4 else 0))
            out[p] = {"legal": legal, "captures": sum(len(found[g]["stones"]) for g in caught),
                      "liberties": len(libs),
                      "self_atari": len(merged) if legal and len(libs) == 1 else 0, "eye": eye}
    return {"points": out, "owner": owner, "groups": found}


def planes(grid, colour: str, *, ko=None, ages=None, turn: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The 48 feature planes [48, size, size] (uint8, 0/1) of a position with ``colour`` to
    move, and its legal-move mask [size, size] (bool). ``ages[(row, col)]`` is the turn a stone
    was played on (the current move is turn ``turn``); one-hot planes clip at their last plane."""
    size = len(grid)
    x = np.zeros((N_PLANES, size, size), np.uint8)
    legal = np.zeros((size, size), bool)
    facts = analyse(grid, colour, ko=ko)
    x[OFFSET["ones"]] = 1
    for g in facts["groups"]:
        k = min(len(g["liberties"]), 8) - 1
        for r, c in g["stones"]:
            x[0 if g["colour"] == colour else 1, r, c] = 1
            x[OFFSET["liberties"] + k, r, c] = 1
            if ages is not None:
                x[OFFSET["turns since"] + min(turn - ages[(r, c)], 8) - 1, r, c] = 1
    for (r, c), f in facts["points"].items():
        x[2, r, c] = 1
        if not f["legal"]:
            continue
        legal[r, c] = True
        x[OFFSET["capture size"] + min(f["captures"], 7), r, c] = 1
        if f["self_atari"]:
            x[OFFSET["self-atari size"] + min(f["self_atari"], 8) - 1, r, c] = 1
        x[OFFSET["liberties after move"] + min(f["liberties"], 8) - 1, r, c] = 1
        x[OFFSET["sensibleness"], r, c] = not f["eye"]
    return x, legal


def positions(game: dict):
    """Replay a game (captures by sgfmill's Board) and yield, before every move:
    (grid, colour to move, simple-ko point, ages, turn, move)."""
    boards, _, _ = _sgfmill()
    board, ko, ages = boards.Board(game["size"]), None, {}
    for turn, (colour, move) in enumerate(game["moves"]):
        yield board.board, colour, ko, ages, turn, move
        if move is None:
            ko = None
            continue
        ko = board.play(move[0], move[1], colour)
        ages[move] = turn


def encode_games(games_: list[dict], *, progress: bool = True) -> dict:
    """Every engine move of every game (not the random opening moves, not passes) as a
    training example: X uint8 [N, 48, S, S], y int64 [N] (row * S + col), legal bool [N, S*S],
    game int64 [N] (index in ``games_``), black bool [N] (black to move)."""
    xs, ys, legal, game_id, black = [], [], [], [], []
    tick = time.perf_counter()
    for i, game in enumerate(games_):
        size = game["size"]
        for grid, colour, ko, ages, turn, move in positions(game):
            if move is None or turn < game["opening"]:
                continue
            x, ok = planes(grid, colour, ko=ko, ages=ages, turn=turn)
            xs.append(x)
            legal.append(ok.reshape(-1))
            ys.append(move[0] * size + move[1])
            game_id.append(i)
            black.append(colour == "b")
        if progress and (i + 1) % max(1, len(games_) // 5) == 0:
            print(f"  encoded {i + 1}/{len(games_)} games, {len(ys):,} positions, "
                  f"{time.perf_counter() - tick:.0f} s", flush=True)
    return {"X": torch.from_numpy(np.stack(xs)), "y": torch.tensor(ys),
            "legal": torch.from_numpy(np.stack(legal)), "game": torch.tensor(game_id),
            "black": torch.tensor(black)}


def cached_features(games_: list[dict], *, name: str, progress: bool = True) -> tuple[dict, bool]:
    """``encode_games`` once; then read back from a tensor file in the data directory named
    after ``name`` (the games' setting and seeds) and the feature version. Returns (data, cached)."""
    path = data_dir() / "go" / f"features-v{FEATURE_VERSION}-{name}.pt"
    if path.exists():
        return torch.load(path), True
    data = encode_games(games_, progress=progress)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.part")
    try:
        torch.save(data, tmp)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return data, False


# ---------------------------------------------------------------- symmetries and batches

def symmetries(size: int) -> torch.Tensor:
    """The 8 symmetries of the board as index maps [8, size*size]: transformed.flatten()[i] =
    original.flatten()[perm[g, i]]; g = rotations by 0, 90, 180, 270 degrees, then the same
    after a left-right flip."""
    idx = torch.arange(size * size).view(size, size)
    return torch.stack([(idx.flip(1) if g >= 4 else idx).rot90(g % 4).flatten() for g in range(8)])


def transform(x: torch.Tensor, g, perms: torch.Tensor) -> torch.Tensor:
    """Apply symmetry ``g`` (an int, or one per example [B]) to planes [B, C, S, S] or maps
    [B, S*S]; ``perms`` from ``symmetries``. The inverse of g is ``perms.argsort(1)``."""
    if x.ndim == 2:                                             # move maps [B, S*S]
        return x.gather(1, perms[g].expand(len(x), -1) if isinstance(g, int) else perms[g])
    flat = x.flatten(2)                                         # [B, C, S*S]
    index = perms[g].expand(len(x), -1) if isinstance(g, int) else perms[g]
    return flat.gather(2, index[:, None, :].expand_as(flat)).view_as(x)


class PositionBatches:
    """(planes, move) minibatches of ``encode_games`` data, kept on ``device``.

    x is float [B, C, S, S] (the planes in ``planes``, default all 48), y int64 [B].
    ``augment`` gives each example one of the 8 board symmetries at random (the paper did).
    The order and the symmetries come from ``generator``, else torch's global generator.
    """

    def __init__(self, data: dict, *, batch_size: int, shuffle: bool, device, planes=None,
                 augment: bool = False, generator: torch.Generator | None = None):
        self.device = torch.device(device)
        X = data["X"] if planes is None else data["X"][:, list(planes)]
        self.X, self.y = X.to(self.device), data["y"].to(self.device)   # uint8, int64
        self.batch_size, self.shuffle, self.augment = batch_size, shuffle, augment
        self.generator = generator
        size = X.shape[-1]
        self.perms = symmetries(size).to(self.device)              # [8, S*S]
        self.inverse = self.perms.argsort(1)                        # where each point goes

    def __len__(self) -> int:
        return -(-len(self.y) // self.batch_size)

    def __iter__(self):
        n = len(self.y)
        order = torch.randperm(n, generator=self.generator) if self.shuffle else torch.arange(n)
        for start in range(0, n, self.batch_size):
            idx = order[start:start + self.batch_size].to(self.device)
            x, y = self.X[idx].float(), self.y[idx]                     # [B, C, S, S], [B]
            if self.augment:
                g = torch.randint(0, 8, (len(idx),), generator=self.generator).to(self.device)
                x = transform(x, g, self.perms)
                y = self.inverse[g, y]                                  # where the move went
            yield x, y


# ---------------------------------------------------------------- the policy network

class PositionBias(nn.Module):
    """One learnable bias per board point, added to the 1x1 convolution's map and flattened:
    [B, 1, S, S] -> [B, S*S] logits. Unlike a convolution's bias it may differ by place."""

    def __init__(self, size: int):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(size * size))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1) + self.bias


def policy_net(*, size: int = 19, k: int = 192, planes: int = N_PLANES, layers: int = 13) -> nn.Sequential:
    """AlphaGo's SL policy network (Silver et al. 2016): conv 5x5 (pad 2) with ``k`` filters,
    ``layers - 2`` convs 3x3 (pad 1) with ``k`` filters, ReLU after each, a 1x1 conv to one
    filter without bias, then one bias per point. Returns logits [B, size*size]; the softmax
    over the points is applied by the loss (cross-entropy) and by ``.softmax(1)``."""
    body = [("conv1", nn.Conv2d(planes, k, 5, padding=2)), ("relu1", nn.ReLU())]
    for i in range(2, layers):
        body += [(f"conv{i}", nn.Conv2d(k, k, 3, padding=1)), (f"relu{i}", nn.ReLU())]
    body += [(f"conv{layers}", nn.Conv2d(k, 1, 1, bias=False)), ("bias", PositionBias(size))]
    return nn.Sequential(OrderedDict(body))


# ---------------------------------------------------------------- scoring moves

def topk_correct(k: int):
    """A ``utils.fit`` metric: how many of the batch's moves are among the ``k`` best scores."""
    def metric(y_hat: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return (y_hat.topk(k, dim=1).indices == y[:, None]).any(1).sum()
    metric.__name__ = f"top{k}_correct"
    return metric


@torch.no_grad()
def move_scores(model: nn.Module, batches, *, device) -> torch.Tensor:
    """The model's logits [N, S*S] for every position of ``batches`` (unshuffled), on the CPU."""
    model.eval()
    return torch.cat([model(x.to(device)).float().cpu() for x, _ in batches])


def topk_accuracy(scores: torch.Tensor, y: torch.Tensor, *, legal: torch.Tensor | None = None,
                  ks=(1, 5)) -> dict:
    """Top-k accuracy of move scores [N, S*S] against moves [N], the illegal points removed
    first when ``legal`` [N, S*S] is given: {'top1': ..., 'top5': ...}."""
    if legal is not None:
        scores = scores.masked_fill(~legal.to(scores.device), float("-inf"))
    best = scores.topk(max(ks), dim=1).indices                          # [N, max k]
    hit = best == y.to(best.device)[:, None]
    return {f"top{k}": hit[:, :k].any(1).float().mean().item() for k in ks}


def move_probs(scores: torch.Tensor, legal: torch.Tensor) -> torch.Tensor:
    """Softmax over the legal points only: probabilities [N, S*S], 0 on illegal points."""
    return scores.masked_fill(~legal.to(scores.device), float("-inf")).softmax(1)


@torch.no_grad()
def symmetric_scores(model: nn.Module, X: torch.Tensor, *, device, batch_size: int = 512) -> torch.Tensor:
    """The model's logits for each of the 8 symmetric copies of every position X [N, C, S, S],
    each mapped back onto the original board: [8, N, S*S]. A model that has learnt that Go
    does not change under rotation and reflection gives 8 equal maps."""
    model.eval()
    perms = symmetries(X.shape[-1]).to(device)
    inverse = perms.argsort(1)
    out = []
    for start in range(0, len(X), batch_size):
        x = X[start:start + batch_size].to(device).float()              # [B, C, S, S]
        out.append(torch.stack([transform(model(transform(x, g, perms)).float(), g, inverse)
                                for g in range(8)]).cpu())              # [8, B, S*S]
    return torch.cat(out, 1)


def frequency_prior(y: torch.Tensor, size: int) -> torch.Tensor:
    """How often each point was the move in ``y`` [N]: a baseline that ignores the position.
    Ties are broken towards the centre by less than one count, so its ranking is unique."""
    counts = torch.bincount(y, minlength=size * size).double()
    r, c = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    off_centre = ((r - (size - 1) / 2) ** 2 + (c - (size - 1) / 2) ** 2).flatten()
    return counts + 0.5 / (1 + off_centre + 1e-3 * torch.arange(size * size))   # float64


# ---------------------------------------------------------------- drawing

def board_stones(x: torch.Tensor, black: bool) -> tuple[np.ndarray, np.ndarray]:
    """Black and white stones [S, S] (bool) from planes [48, S, S] and who is to move."""
    own, opp = x[0].bool().numpy(), x[1].bool().numpy()
    return (own, opp) if black else (opp, own)


def show_position(ax, x: torch.Tensor, black: bool, *, probs=None, move=None, title=None):
    """Draw a position (from its planes) on a wooden board, with an optional move map
    (probabilities [S*S], as a green heat map) and the move actually played (a red ring)."""
    from matplotlib.patches import Circle

    size = x.shape[-1]
    b, w = board_stones(x.cpu(), black)
    ax.set_facecolor("#dcb35c")
    if probs is not None:
        p = probs.reshape(size, size).detach().cpu().float().numpy()
        ax.imshow(p, origin="lower", cmap="Greens", extent=(-0.5, size - 0.5, -0.5, size - 0.5),
                  vmin=0, vmax=max(p.max(), 1e-9), alpha=0.9, zorder=0)
    for i in range(size):
        ax.plot([0, size - 1], [i, i], color="k", lw=0.5, zorder=1)
        ax.plot([i, i], [0, size - 1], color="k", lw=0.5, zorder=1)
    for stones, face in ((b, "black"), (w, "white")):
        for r, c in zip(*np.nonzero(stones)):
            ax.add_patch(Circle((c, r), 0.45, facecolor=face, edgecolor="k", lw=0.6, zorder=2))
    if move is not None:
        ax.add_patch(Circle((move % size, move // size), 0.42, fill=False, edgecolor="red",
                            lw=2, zorder=3))
    letters = "ABCDEFGHJKLMNOPQRST"[:size]
    ax.set_xticks(range(size), list(letters), fontsize=7)
    ax.set_yticks(range(size), [str(i + 1) for i in range(size)], fontsize=7)
    ax.set_xlim(-0.6, size - 0.4)
    ax.set_ylim(-0.6, size - 0.4)
    ax.set_aspect("equal")
    ax.tick_params(length=0)
    if title:
        ax.set_title(title, fontsize=9)
    return ax
