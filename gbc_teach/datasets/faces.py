"""Procedurally drawn cartoon faces: an offline stand-in for CelebA (docs/method.md §9).

The paper's second experiment generates CelebA faces for a chosen set of attributes from the
attribute classifiers alone. CelebA cannot be shipped with a course, so this module draws faces
from parameters instead, with binary attributes named after CelebA's:

    Smiling      an open smile with teeth (a dark crescent) instead of a closed, near-flat mouth
    Eyeglasses   two lens frames, a bridge and temples over the eye band
    Blond_Hair   hair (and brows, moustache) from a blond palette instead of black/brown/auburn
    Bangs        a fringe down to just above the brows instead of a high hairline
    Mustache     a moustache between the nose and the mouth

Attributes are independent Bernoulli draws with the rates in RATES. Everything else is a
nuisance that varies continuously (face width/height/jaw, skin tone, hair length and shade, eye
size/spacing/colour/gaze, brows, mouth size, frame shape and colour, clothes, background
gradient, pose, lighting, noise), so a classifier cannot memorise one template per combination.

The five were chosen because each is visible at 32×32 in a place of its own (mouth, eye band,
hair, forehead, upper lip), so they can be learned, and generated, independently.

Each image is a pure function of one row of uniform numbers drawn with numpy from the seed (the
first columns decide the attributes, the rest the nuisances) plus its own pixel noise from a
second stream. So the same seed gives bit-identical images, image i does not depend on n, and
fixing `attrs` changes only the attributes, keeping every nuisance: drawing one seed twice with
one attribute flipped isolates that attribute.
Shapes are implicit (signed distances over the pixel grid) with a one-pixel linear ramp for
anti-aliasing, all vectorised in torch over a chunk of images.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

import numpy as np
import torch

from ..utils import atomic_savefig

ATTRIBUTES = ("Smiling", "Eyeglasses", "Blond_Hair", "Bangs", "Mustache")
RATES = (0.5, 0.4, 0.4, 0.4, 0.35)  # near balance, so that accuracy says more than the base rate
N_UNIFORMS = 96  # nuisance columns per image; the spare ones let a nuisance be added later
CHUNK_PIXELS = 2**15  # pixels rendered at once: small per-layer tensors stay in the CPU cache

SKIN = [(1.0, 0.87, 0.77), (0.96, 0.78, 0.64), (0.87, 0.66, 0.5), (0.72, 0.5, 0.36),
        (0.55, 0.37, 0.25), (0.4, 0.26, 0.18)]
DARK_HAIR = [(0.05, 0.045, 0.045), (0.2, 0.12, 0.07), (0.3, 0.16, 0.08), (0.5, 0.18, 0.07)]
BLOND_HAIR = [(0.85, 0.68, 0.32), (0.95, 0.8, 0.42), (0.99, 0.9, 0.55), (0.96, 0.92, 0.68)]
IRIS = [(0.3, 0.18, 0.08), (0.45, 0.35, 0.15), (0.3, 0.45, 0.25), (0.25, 0.45, 0.7), (0.45, 0.5, 0.55)]
FRAMES = [(0.05, 0.05, 0.05), (0.3, 0.17, 0.08), (0.1, 0.15, 0.45), (0.6, 0.08, 0.1), (0.15, 0.15, 0.2)]


@dataclass
class FaceData:
    images: torch.Tensor  # (N, 3, size, size) float32 in [0, 1]
    attrs: torch.Tensor  # (N, A) float32 in {0, 1}, columns in the order of `names`
    names: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.images)


def _attr_matrix(n: int, u: np.ndarray, attrs) -> np.ndarray:
    """(n, A) in {0, 1}: Bernoulli(RATES) from u, overridden by `attrs` where it is given.

    attrs: None; an (A,) or (n, A) array of 0/1; or a dict {name: 0/1 or an (n,) array of 0/1}
    fixing only those columns."""
    a = (u < np.asarray(RATES)).astype(np.float32)
    if attrs is None:
        return a
    if isinstance(attrs, dict):
        unknown = set(attrs) - set(ATTRIBUTES)
        if unknown:
            raise ValueError(f"unknown attributes {sorted(unknown)}; known: {ATTRIBUTES}")
        for name, v in attrs.items():
            a[:, ATTRIBUTES.index(name)] = np.asarray(v, dtype=np.float32)
        if not np.isin(a, (0, 1)).all():
            raise ValueError(f"attribute values must be 0 or 1, got {attrs}")
        return a
    fixed = np.asarray(attrs, dtype=np.float32)
    if fixed.shape not in ((len(ATTRIBUTES),), (n, len(ATTRIBUTES))) or not np.isin(fixed, (0, 1)).all():
        raise ValueError(f"attrs must be 0/1 of shape ({len(ATTRIBUTES)},) or ({n}, {len(ATTRIBUTES)}),"
                         f" got shape {fixed.shape}")
    return np.broadcast_to(fixed, a.shape).copy()


class _Draw:
    """Hands out the nuisance columns one by one, mapped to [lo, hi) and shaped (N, 1, 1)."""

    def __init__(self, u: np.ndarray):
        self.u, self.k = torch.from_numpy(u.astype(np.float32)), 0

    def __call__(self, lo: float = 0.0, hi: float = 1.0) -> torch.Tensor:
        col = self.u[:, self.k]
        self.k += 1
        return (lo + (hi - lo) * col).view(-1, 1, 1)

    def colour(self, palette) -> torch.Tensor:
        """A colour on the polyline through `palette`: (N, 3, 1, 1)."""
        pal = torch.tensor(palette, dtype=torch.float32)
        pos = self().view(-1) * (len(pal) - 1)
        i = pos.floor().clamp(max=len(pal) - 2).long()
        f = (pos - i).unsqueeze(1)
        return ((1 - f) * pal[i] + f * pal[i + 1]).view(-1, 3, 1, 1)


def _params(u: np.ndarray, a: np.ndarray) -> dict[str, torch.Tensor]:
    """Every shape and colour parameter of every face; attributes only switch between branches, so
    the nuisances are the same whichever attributes are asked for."""
    d, A = _Draw(u), torch.from_numpy(a).view(-1, len(ATTRIBUTES), 1, 1)
    p = {name: A[:, j] for j, name in enumerate(ATTRIBUTES)}  # each (N, 1, 1)
    # pose: face coordinates are the pixel grid in [-1, 1]² rotated, shifted and scaled
    p.update(rot=d(-0.15, 0.15), tx=d(-0.07, 0.07), ty=d(-0.05, 0.05), scale=d(0.9, 1.05))
    p.update(bg0=d.colour([(0.2, 0.3, 0.5), (0.6, 0.75, 0.8), (0.85, 0.8, 0.65), (0.45, 0.6, 0.4),
                           (0.7, 0.55, 0.7), (0.3, 0.3, 0.35)]), bg_mix=d(0.2, 0.9), bg_dir=d(0, 6.3))
    p["bg1"] = 0.5 * p["bg0"] + 0.5 * d(0.1, 0.95).unsqueeze(1)  # second gradient end: towards a random grey
    p.update(shirt=d.colour([(0.8, 0.2, 0.2), (0.2, 0.4, 0.8), (0.9, 0.9, 0.9), (0.2, 0.6, 0.3),
                             (0.15, 0.15, 0.2), (0.9, 0.7, 0.2)]))
    # face: ellipse, narrowed towards the chin by `jaw`
    p.update(fy=d(0.0, 0.05), rx=d(0.43, 0.55), ry=d(0.6, 0.7), jaw=d(0.05, 0.3), skin=d.colour(SKIN))
    p.update(blush=d(0.0, 0.35), shade=d(0.0, 0.25))
    # hair: colour from one of two palettes, length, hairline shape, fringe shape
    dark, blond, shade = d.colour(DARK_HAIR), d.colour(BLOND_HAIR), d(0.85, 1.1)
    p["hair"] = ((p["Blond_Hair"].unsqueeze(1) * blond + (1 - p["Blond_Hair"].unsqueeze(1)) * dark)
                 * shade.unsqueeze(1)).clamp(0, 1)
    p.update(hair_len=d(0.0, 1.0), hair_vol=d(0.04, 0.12), hairline=d(0.62, 0.78), temple=d(0.25, 0.5),
             part=d(-0.15, 0.15), fringe=d(0.03, 0.07), fringe_amp=d(0.005, 0.03), fringe_freq=d(12, 30),
             fringe_phase=d(0, 6.3), fringe_tilt=d(-0.06, 0.06))
    # eyes and brows
    p.update(ey=d(-0.15, -0.05), ex=d(0.16, 0.23), erx=d(0.065, 0.095), eflat=d(0.5, 0.8),
             gaze=d(-0.3, 0.3), iris=d.colour(IRIS), brow_h=d(0.11, 0.16), brow_arch=d(0.0, 0.04),
             brow_t=d(0.02, 0.045), brow_tilt=d(-0.015, 0.025), brow_dark=d(0.45, 0.8))
    # nose and mouth: a closed mouth bends by `sag` (y points down, so sag > 0 is a slight frown)
    p.update(ny=d(0.42, 0.52), nw=d(0.035, 0.06), my=d(0.48, 0.54), mw=d(0.12, 0.19),
             sag=d(-0.015, 0.02), lip_t=d(0.02, 0.035), smile_up=d(0.02, 0.06), smile_depth=d(0.11, 0.16),
             lips=d.colour([(0.75, 0.35, 0.35), (0.6, 0.25, 0.25), (0.85, 0.45, 0.5)]))
    p.update(mu_w=d(0.17, 0.25), mu_t=d(0.06, 0.085), mu_droop=d(-0.01, 0.035), mu_dark=d(0.4, 0.8))
    # glasses: rounded-rectangle rims (gl_round: corner radius over half-height)
    p.update(gl_pad=d(0.03, 0.06), gl_flat=d(0.7, 0.95), gl_round=d(0.3, 1.0), gl_t=d(0.025, 0.045),
             gl_tint=d(0.0, 0.25), frame=d.colour(FRAMES))
    # light: overall gain, a linear ramp in a random direction, a colour cast; pixel noise
    p.update(gain=d(0.85, 1.1), light=d(0.0, 0.2), light_dir=d(0, 6.3), noise=d(0.005, 0.03))
    p["cast"] = 1 + 0.06 * (torch.stack([d(), d(), d()], 1) - 0.5)  # (N, 3, 1, 1)
    assert d.k <= u.shape[1], "reserve more nuisance columns"
    return p


def _cover(sd: torch.Tensor, aa: torch.Tensor) -> torch.Tensor:
    """Coverage of the shape {sd < 0}: a linear ramp one pixel wide (aa) across its boundary."""
    return (sd / -aa).add_(0.5).clamp_(0, 1).unsqueeze(1)  # (B, 1, S, S)


def _ellipse(x, y, cx, cy, rx, ry) -> torch.Tensor:
    """Approximate signed distance to an axis-aligned ellipse (exact on the axes)."""
    r = torch.minimum(torch.as_tensor(rx), torch.as_tensor(ry))
    return torch.hypot((x - cx) / rx, (y - cy) / ry).sub_(1).mul_(r)


def _arc(x, y, cx, cy, w, bend, t) -> torch.Tensor:
    """Signed distance (vertically) to a band of thickness t along y = cy + bend·((x−cx)/w)², |x−cx| < w."""
    s = (x - cx) / w
    return torch.maximum((y - cy - bend * s**2).abs() - t / 2, (x - cx).abs() - w)


def _over(img, colour, alpha) -> torch.Tensor:
    """Paint `colour` over `img` with coverage `alpha` (painter's algorithm)."""
    return torch.lerp(img, colour, alpha)  # img + alpha·(colour − img), one fused pass


def _render(p: dict[str, torch.Tensor], size: int, noise: torch.Tensor) -> torch.Tensor:
    """(B, 3, size, size) images for one chunk of parameters, painted back to front."""
    g = (torch.arange(size, dtype=torch.float32) + 0.5) / size * 2 - 1
    v, u = torch.meshgrid(g, g, indexing="ij")  # v down, u right: (S, S)
    c, s = p["rot"].cos(), p["rot"].sin()
    x = (c * (u - p["tx"]) + s * (v - p["ty"])) / p["scale"]  # face coordinates, (B, S, S)
    y = (-s * (u - p["tx"]) + c * (v - p["ty"])) / p["scale"]
    aa = 2.0 / size / p["scale"]  # one pixel in face units
    one = torch.ones_like(x).unsqueeze(1)

    ramp = (p["bg_dir"].cos() * u + p["bg_dir"].sin() * v + 1) / 2 * p["bg_mix"]
    img = p["bg0"] * one + ramp.unsqueeze(1) * (p["bg1"] - p["bg0"])
    fy, rx, ry, hair = p["fy"], p["rx"], p["ry"], p["hair"]
    # long hair behind the head: a rounded block whose bottom runs from the ears to the shoulders
    bottom = fy + ry * (1.3 * p["hair_len"] - 0.2)
    hw = rx + p["hair_vol"] + 0.04
    back = torch.minimum(_ellipse(x, y, 0, fy - 0.08, hw, ry + p["hair_vol"]),
                         torch.maximum((x.abs() - hw), torch.maximum(fy - 0.1 - y, y - bottom)))
    img = _over(img, hair * 0.8, _cover(back, aa))
    img = _over(img, p["shirt"], _cover(_ellipse(x, y, 0, 1.3, 1.0, 0.5), aa))
    skin, ax = p["skin"], x.abs()  # |x|: one evaluation draws both of a symmetric pair
    neck = torch.maximum(ax - 0.36 * rx, fy + 0.2 - y)
    img = _over(img, skin * 0.85, _cover(neck, aa))
    ey, ex = fy + p["ey"], p["ex"]
    img = _over(img, skin * 0.92, _cover(_ellipse(ax, y, rx, ey + 0.07, 0.07, 0.12), aa))  # ears
    # face: the half-width shrinks towards the chin
    below = ((y - fy) / ry).clamp(0, 1)
    face = _ellipse(x, y, 0, fy, rx * (1 - p["jaw"] * below**2), ry)
    img = _over(img, skin, _cover(face, aa))
    edge = 1 - (face / (0.35 * rx)).neg().clamp(0, 1)  # 1 at the rim, 0 inside
    img = img * (1 - p["shade"] * edge * _cover(face, aa).squeeze(1)).unsqueeze(1)  # some roundness
    # cheeks: a soft pink blob, three pixels of blur
    blob = _ellipse(ax, y, ex + 0.03, ey + 0.22, 0.1, 0.07)
    img = _over(img, torch.tensor([0.9, 0.4, 0.4]).view(1, 3, 1, 1), p["blush"].unsqueeze(1)
                * _cover(blob, 3 * aa))
    # nose: a small curve, a darker skin tone
    my, mw, lips = fy + ry * p["my"], p["mw"], p["lips"] * skin.mean(1, keepdim=True).pow(0.3)
    ny = ey + p["ny"] * (my - ey)  # part of the way from the eyes to the mouth
    img = _over(img, skin * 0.7, _cover(_arc(x, y, 0, ny, p["nw"], -0.03, 0.022), aa))
    # mouth: closed, a thin band bent by `sag`; or an open smile, between an upper curve and a
    # deeper lower curve, both lifted at the corners, with teeth along the top
    closed = _arc(x, y, 0, my, mw, p["sag"], p["lip_t"])
    q = (x / (mw * 1.4)) ** 2
    top = my - 0.01 - p["smile_up"] * q
    smile = torch.maximum(torch.maximum(top - y, y - top - p["smile_depth"] * (1 - q)), ax - mw * 1.4)
    teeth = torch.maximum(smile, y - top - 0.4 * p["smile_depth"])
    sm = p["Smiling"].unsqueeze(1)
    img = _over(img, lips, (1 - sm) * _cover(closed, aa) + sm * _cover(smile - 0.012, aa))
    img = _over(img, torch.tensor([0.35, 0.07, 0.1]).view(1, 3, 1, 1), sm * _cover(smile, aa))
    img = _over(img, torch.tensor([0.97, 0.96, 0.92]).view(1, 3, 1, 1), sm * _cover(teeth, aa))
    # moustache: a band above the upper lip, thickest in the middle, its ends bent by `mu_droop`
    s2 = (x / p["mu_w"]) ** 2
    mu_y = my - 0.5 * p["lip_t"] - 0.02 * p["Smiling"] - 0.035 - p["mu_t"] / 2  # its centre line
    must = torch.maximum((y - mu_y - p["mu_droop"] * s2).abs() - p["mu_t"] * (1 - 0.6 * s2) / 2,
                         ax - p["mu_w"])
    # its colour: the hair's, but never lighter than half the skin, so that it reads on any skin
    mu_col = torch.minimum(hair * p["mu_dark"].unsqueeze(1), 0.5 * skin)
    img = _over(img, mu_col, p["Mustache"].unsqueeze(1) * _cover(must, aa))
    # eyes, in coordinates centred on the nearer eye: outline, white, iris (clipped to the
    # white, looking sideways by `gaze`), pupil; then the brows
    xe, erx, ery = x - x.sign() * ex, p["erx"], p["erx"] * p["eflat"]
    white = _ellipse(xe, y, 0, ey, erx, ery)
    img = _over(img, torch.full((1, 3, 1, 1), 0.15), _cover(white - 0.012, aa))
    img = _over(img, torch.full((1, 3, 1, 1), 0.97), _cover(white, aa))
    gx = p["gaze"] * erx
    img = _over(img, p["iris"], _cover(torch.maximum(_ellipse(xe, y, gx, ey, ery, ery), white), aa))
    img = _over(img, torch.full((1, 3, 1, 1), 0.03), _cover(_ellipse(xe, y, gx, ey, ery / 2, ery / 2), aa))
    tilt = p["brow_tilt"] * x.sign() * xe / erx  # the outer ends up or down a little
    brow = _arc(xe, y - tilt, 0, ey - p["brow_h"], erx * 1.25, p["brow_arch"], p["brow_t"])
    img = _over(img, hair * p["brow_dark"].unsqueeze(1), _cover(brow, aa))
    # hair on top: the hair ellipse above a hairline that is high (no bangs) or a fringe (bangs)
    hx = x / rx
    high = fy - ry * p["hairline"] + p["temple"] * hx**2 + p["part"] * hx
    fringe = (ey - p["brow_h"] - p["fringe"] + 0.05 * hx**2 + p["fringe_tilt"] * hx
              + p["fringe_amp"] * (p["fringe_freq"] * x + p["fringe_phase"]).sin())
    line = p["Bangs"] * fringe + (1 - p["Bangs"]) * high
    cap = torch.maximum(_ellipse(x, y, 0, fy - 0.06, rx + p["hair_vol"], ry + p["hair_vol"]), y - line)
    img = _over(img, hair, _cover(cap, aa))
    # glasses: rounded-rectangle rims (exact signed distance), a bridge, temples to the ears
    a, t = erx + p["gl_pad"], p["gl_t"]
    b = a * p["gl_flat"]
    r = p["gl_round"] * b
    qx, qy = xe.abs() - (a - r), (y - ey).abs() - (b - r)
    lens = torch.hypot(qx.clamp(min=0), qy.clamp(min=0)) + torch.maximum(qx, qy).clamp(max=0) - r
    bridge = torch.maximum((y - ey + 0.3 * b).abs() - t / 2, ax - ex)
    temples = torch.maximum((y - ey + 0.4 * b).abs() - t / 2, torch.maximum(ex + a - ax, ax - rx - 0.04))
    frame = torch.minimum(lens.abs() - t / 2, torch.minimum(bridge, temples))
    gl = p["Eyeglasses"].unsqueeze(1)
    img = _over(img, torch.tensor([0.6, 0.75, 0.85]).view(1, 3, 1, 1),
                gl * p["gl_tint"].unsqueeze(1) * _cover(lens, aa))
    img = _over(img, p["frame"], gl * _cover(frame, aa))
    # lighting and sensor noise
    light = 1 + p["light"] * (p["light_dir"].cos() * u + p["light_dir"].sin() * v)
    img = img * (p["gain"] * light).unsqueeze(1) * p["cast"]
    return (img + p["noise"].unsqueeze(1) * noise).clamp(0, 1)


def draw_faces(n: int, seed: int = 0, attrs=None, size: int = 64) -> FaceData:
    """n faces from `seed`: images (n, 3, size, size) in [0, 1] and their attributes (n, A).

    attrs: None (Bernoulli(RATES)), an (A,) or (n, A) 0/1 array, or a dict such as {"Smiling": 1}
    (values 0/1 or length-n arrays) fixing some attributes. The nuisances do not depend on attrs.
    size: 32 or 64 (any size from 16 up renders)."""
    if n < 0 or size < 16:
        raise ValueError(f"need n >= 0 and size >= 16, got n={n}, size={size}")
    A = len(ATTRIBUTES)
    # two independent streams: one row of uniforms per image (attributes, then nuisances) and the
    # pixel noise; both are filled in image order, so image i is the same for any n
    ss_shape, ss_noise = np.random.SeedSequence(seed).spawn(2)
    u = np.random.default_rng(ss_shape).random((n, A + N_UNIFORMS))
    noise_rng = np.random.default_rng(ss_noise)
    a = _attr_matrix(n, u[:, :A], attrs)
    p = _params(u[:, A:], a)
    out = torch.empty(n, 3, size, size)
    chunk_n = max(1, CHUNK_PIXELS // size**2)
    for i in range(0, n, chunk_n):
        chunk = {k: v[i:i + chunk_n] for k, v in p.items()}
        noise = noise_rng.standard_normal((min(chunk_n, n - i), 3, size, size), dtype=np.float32)
        out[i:i + chunk_n] = _render(chunk, size, torch.from_numpy(noise))
    return FaceData(out, torch.from_numpy(a), ATTRIBUTES)


SHORT = {"Smiling": "Smile", "Eyeglasses": "Glasses", "Blond_Hair": "Blond", "Bangs": "Bangs",
         "Mustache": "Must."}


def preview(path: str, seed: int = 0, size: int = 64, rows: int = 4):
    """Save a figure of `rows` × 8 random faces, then three faces each followed by itself with one
    attribute flipped (same nuisances); return the figure."""
    import matplotlib.pyplot as plt

    def label(at):
        return " ".join(SHORT[k] for k, v in zip(ATTRIBUTES, at) if v) or "none"

    cols, rand, base = 8, draw_faces(rows * 8, seed, size=size), draw_faces(3, seed + 1, size=size)
    cells = [(img, label(at)) for img, at in zip(rand.images, rand.attrs)]
    for k in range(3):
        cells.append((base.images[k], "as drawn: " + label(base.attrs[k])))
        for j, name in enumerate(ATTRIBUTES):
            flipped = base.attrs.clone()
            flipped[k, j] = 1 - flipped[k, j]
            img = draw_faces(3, seed + 1, attrs=flipped, size=size).images[k]
            cells.append((img, ("+" if flipped[k, j] else "−") + SHORT[name]))
        cells += [None] * (cols - 1 - len(ATTRIBUTES))
    fig, axes = plt.subplots(rows + 3, cols, figsize=(cols * 1.3, (rows + 3) * 1.45))
    for ax, cell in zip(axes.flat, cells):
        if cell is not None:
            ax.imshow(cell[0].permute(1, 2, 0).numpy(), interpolation="nearest")
            ax.set_title(cell[1], fontsize=6)
        ax.axis("off")
    fig.suptitle(f"random faces (seed {seed}); below: one face, then one attribute flipped at a time",
                 fontsize=8)
    fig.tight_layout()
    atomic_savefig(fig, path)
    return fig


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description="Draw procedural faces and save a preview figure.")
    ap.add_argument("--preview", default="outputs/faces_preview.png", help="where to save the PNG")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--size", type=int, default=64)
    args = ap.parse_args()
    import matplotlib

    matplotlib.use("Agg")  # a file, no window
    preview(args.preview, seed=args.seed, size=args.size)
    print(f"saved {args.preview}")
