"""The five image domains of branch B, drawn here (METHODS B2; the paper's datasets in brackets).

common scenes (VQAv2)        sky and ground with 1-4 shapes of one colour
remote sensing (RS-VQA)      top-down land cover with a river, a road and buildings
medical (PMC-VQA)            grayscale scan-like slices of four body parts, sometimes a lesion; lettered options
document (DocVQA)            pages with a title bar, one or two text columns, a table, a chart
auto driving (LingoQA)       a road in perspective with lanes, cars and a traffic light, several frames per question

Every question is answerable from the pixels alone and its answer is a short word: counts, yes/no, short open
answers, and for medical the letter of the right option (options shuffled, as in PMC-VQA). The generator is
seeded per (domain, split, index), so a sample never depends on how many others were drawn before it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from PIL import Image, ImageDraw

from lmscope.errors import InputError
from lmscope.mmneuron.choices import LETTERS

DOMAINS = ("common", "remote_sensing", "medical", "document", "driving")

COLOURS = {"red": (220, 40, 40), "yellow": (240, 220, 40), "purple": (150, 60, 200), "white": (245, 245, 245)}
SHAPES = ("circle", "square", "triangle")
LAND = {"forest": (30, 100, 40), "farmland": (170, 190, 70), "desert": (215, 185, 130), "city": (140, 140, 140)}
ORGANS = ("brain", "lung", "liver", "bone")
PLACES = ("left", "right", "upper", "lower")
CHARTS = ("bar", "pie", "line", "none")
TITLE = {"blue": (40, 80, 200), "red": (200, 40, 40), "green": (40, 160, 60), "black": (20, 20, 20)}
LIGHTS = {"red": (230, 30, 30), "yellow": (240, 200, 30), "green": (40, 200, 60)}
CAR_COLOURS = ((200, 30, 30), (30, 60, 200), (230, 230, 230), (240, 200, 30))


@dataclass
class Sample:
    """One question about one image (or several frames): answers in the form the metrics score."""

    images: list[Image.Image]
    question: str
    answers: list[str]
    kind: str  # open | yesno | count | choice
    choices: list[str] = field(default_factory=list)


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def _jitter(rng: random.Random, colour: tuple[int, int, int], amount: int = 20) -> tuple[int, int, int]:
    return tuple(max(0, min(255, c + rng.randint(-amount, amount))) for c in colour)


def _cells(rng: random.Random, size: int, n: int, grid: int = 3) -> list[tuple[int, int, int]]:
    """n distinct cells of a grid x grid layout as (x0, y0, cell size), so shapes never overlap."""
    cell = size // grid
    return [((i % grid) * cell, (i // grid) * cell, cell) for i in rng.sample(range(grid * grid), n)]


def _shape(draw: ImageDraw.ImageDraw, shape: str, box: tuple[int, int, int, int], colour) -> None:
    x0, y0, x1, y1 = box
    if shape == "circle":
        draw.ellipse(box, fill=colour)
    elif shape == "square":
        draw.rectangle(box, fill=colour)
    else:
        draw.polygon([((x0 + x1) // 2, y0), (x1, y1), (x0, y1)], fill=colour)


def common(rng: random.Random, size: int) -> Sample:
    night = rng.random() < 0.5
    image = Image.new("RGB", (size, size), _jitter(rng, (20, 20, 60) if night else (120, 180, 240)))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, size * 2 // 3, size, size), fill=_jitter(rng, (60, 130, 50)))
    n, shape, colour = rng.randint(1, 4), rng.choice(SHAPES), rng.choice(list(COLOURS))
    for x, y, cell in _cells(rng, size, n):
        pad = rng.randint(1, max(1, cell // 6))
        _shape(draw, shape, (x + pad, y + pad, x + cell - pad, y + cell - pad), _jitter(rng, COLOURS[colour], 10))
    asked = rng.choice(SHAPES)
    return rng.choice([
        lambda: Sample([image], f"How many {shape}s are there?", [str(n)], "count"),
        lambda: Sample([image], f"What color are the {shape}s?", [colour], "open"),
        lambda: Sample([image], "What shape are the objects?", [shape], "open"),
        lambda: Sample([image], "Is it night?", [_yes(night)], "yesno"),
        lambda: Sample([image], f"Is there a {asked}?", [_yes(asked == shape)], "yesno"),
    ])()


def remote_sensing(rng: random.Random, size: int) -> Sample:
    land = rng.choice(list(LAND))
    image = Image.new("RGB", (size, size), LAND[land])
    draw = ImageDraw.Draw(image)
    for _ in range(size):  # texture, so land cover is a texture and not one flat colour
        x, y = rng.randrange(size), rng.randrange(size)
        draw.point((x, y), fill=_jitter(rng, LAND[land], 35))
    river, road = rng.random() < 0.5, rng.random() < 0.5
    if river:
        x = rng.randint(size // 4, size * 3 // 4)
        points = [(x + rng.randint(-4, 4), y) for y in range(0, size + 1, size // 6)]
        draw.line(points, fill=_jitter(rng, (40, 90, 200)), width=max(3, size // 12))
    if road:
        y = rng.randint(size // 5, size * 4 // 5)
        draw.line([(0, y), (size, y + rng.randint(-size // 6, size // 6))], fill=(90, 90, 90), width=2)
    buildings = rng.randint(0, 4)
    for x, y, cell in _cells(rng, size, buildings, grid=4):
        side = max(3, cell // 2)
        draw.rectangle((x + 1, y + 1, x + side, y + side), fill=_jitter(rng, (200, 70, 50), 15))
    return rng.choice([
        lambda: Sample([image], "Is there a river?", [_yes(river)], "yesno"),
        lambda: Sample([image], "Is there a road?", [_yes(road)], "yesno"),
        lambda: Sample([image], "How many buildings are there?", [str(buildings)], "count"),
        lambda: Sample([image], "What is the main land cover?", [land], "open"),
        lambda: Sample([image], "Are there more than two buildings?", [_yes(buildings > 2)], "yesno"),
    ])()


def _scan(draw: ImageDraw.ImageDraw, organ: str, size: int, rng: random.Random) -> None:
    s = size

    def g(value: int) -> tuple[int, int, int]:  # a gray, jittered the same in every channel
        v = max(0, min(255, value + rng.randint(-12, 12)))
        return (v, v, v)

    if organ == "brain":
        draw.ellipse((s // 8, s // 10, s * 7 // 8, s * 9 // 10), fill=g(230))
        draw.ellipse((s // 8 + 3, s // 10 + 3, s * 7 // 8 - 3, s * 9 // 10 - 3), fill=g(130))
        draw.ellipse((s * 2 // 5, s // 3, s * 3 // 5, s * 2 // 3), fill=g(40))
    elif organ == "lung":
        draw.rectangle((s // 10, s // 6, s * 9 // 10, s * 5 // 6), fill=g(150))
        draw.ellipse((s // 6, s // 5, s * 9 // 20, s * 4 // 5), fill=g(25))
        draw.ellipse((s * 11 // 20, s // 5, s * 5 // 6, s * 4 // 5), fill=g(25))
        draw.rectangle((s * 9 // 20 + 1, s // 5, s * 11 // 20 - 1, s * 4 // 5), fill=g(235))
    elif organ == "liver":
        draw.ellipse((s // 12, s // 6, s * 11 // 12, s * 5 // 6), fill=g(120))
        draw.ellipse((s // 8, s // 4, s * 3 // 5, s * 2 // 3), fill=g(170))
        draw.ellipse((s * 2 // 3, s // 2, s * 5 // 6, s * 3 // 4), fill=g(90))
    else:
        draw.rectangle((s * 2 // 5, 0, s * 3 // 5, s * 9 // 20), fill=g(240))
        draw.rectangle((s * 2 // 5, s * 11 // 20, s * 3 // 5, s), fill=g(240))
        draw.ellipse((s * 3 // 8, s * 3 // 8, s * 5 // 8, s // 2), fill=g(240))


def _options(rng: random.Random, right: str, pool: tuple[str, ...], shuffle: bool) -> tuple[list[str], str]:
    """The pool as lettered options (shuffled, as in PMC-VQA, or in a fixed order) and the right one's letter."""
    choices = rng.sample(pool, len(pool)) if shuffle else list(pool)
    return choices, LETTERS[choices.index(right)]


def medical(rng: random.Random, size: int, shuffle_choices: bool = False) -> Sample:
    organ = rng.choice(ORGANS)
    dark = rng.randint(0, 25)
    image = Image.new("RGB", (size, size), (dark, dark, dark))  # grayscale in three channels, as scans reach VLMs
    draw = ImageDraw.Draw(image)
    _scan(draw, organ, size, rng)
    lesion = rng.random() < 0.5
    place = rng.choice(PLACES)
    if lesion:
        cx = {"left": size // 4, "right": size * 3 // 4}.get(place, size // 2 + rng.randint(-size // 8, size // 8))
        cy = {"upper": size // 4, "lower": size * 3 // 4}.get(place, size // 2 + rng.randint(-size // 8, size // 8))
        r = max(2, size // 14)
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=(255, 255, 255))
    asks = [("Which organ is shown in this image?", organ, ORGANS),
            ("Is there a lesion in this image?", _yes(lesion), ("yes", "no"))]
    if lesion:
        asks.append(("Where is the lesion located?", place, PLACES))
    question, right, pool = rng.choice(asks)
    choices, letter = _options(rng, right, pool, shuffle_choices)
    return Sample([image], question, [letter], "choice", choices)


def document(rng: random.Random, size: int) -> Sample:
    image = Image.new("RGB", (size, size), _jitter(rng, (250, 250, 245), 5))
    draw = ImageDraw.Draw(image)
    title = rng.choice(list(TITLE))
    draw.rectangle((2, 2, size - 3, 2 + size // 10), fill=TITLE[title])
    columns, table, chart = rng.randint(1, 2), rng.random() < 0.5, rng.choice(CHARTS)
    top, bottom = 4 + size // 10, size // 2 if (table or chart != "none") else size - 3
    width = (size - 6) // columns
    for c in range(columns):
        for y in range(top + 1, bottom, 3):
            x0 = 3 + c * width
            draw.line((x0, y, x0 + width - 3 - rng.randint(0, width // 3), y), fill=(70, 70, 70))
    half = size // 2
    if table:
        for k in range(4):
            draw.line((3, half + 2 + k * (half - 6) // 3, half - 3, half + 2 + k * (half - 6) // 3), fill=(0, 0, 0))
            draw.line((3 + k * (half - 6) // 3, half + 2, 3 + k * (half - 6) // 3, size - 4), fill=(0, 0, 0))
    box = (half + 2, half + 2, size - 4, size - 4)
    if chart == "bar":
        for k in range(3):
            x = box[0] + 1 + k * (box[2] - box[0]) // 3
            draw.rectangle((x, box[3] - rng.randint(3, box[3] - box[1]), x + (box[2] - box[0]) // 4, box[3]),
                           fill=(60, 110, 200))
    elif chart == "pie":
        draw.pieslice(box, 0, rng.randint(90, 270), fill=(220, 120, 40))
        draw.pieslice(box, 0, 360, outline=(0, 0, 0))
    elif chart == "line":
        ys = [rng.randint(box[1], box[3]) for _ in range(5)]
        xs = [box[0] + k * (box[2] - box[0]) // 4 for k in range(5)]
        draw.line(list(zip(xs, ys)), fill=(200, 40, 40), width=2)
    return rng.choice([
        lambda: Sample([image], "What kind of chart is on the page?", [chart], "open"),
        lambda: Sample([image], "Is there a table?", [_yes(table)], "yesno"),
        lambda: Sample([image], "How many columns of text are there?", [str(columns)], "count"),
        lambda: Sample([image], "What color is the title bar?", [title], "open"),
    ])()


def _road(size: int, cars: list[tuple[int, float]], light: str, rng: random.Random) -> Image.Image:
    """One frame: cars as (lane, depth 0 near .. 1 far), drawn far to near."""
    image = Image.new("RGB", (size, size), (130, 180, 235))
    draw = ImageDraw.Draw(image)
    horizon = size * 2 // 5
    draw.rectangle((0, horizon, size, size), fill=(70, 140, 60))
    mid = size // 2
    draw.polygon([(mid - 2, horizon), (mid + 2, horizon), (size, size), (0, size)], fill=(95, 95, 100))
    for y in range(horizon + 2, size, 5):
        draw.line((mid, y, mid, y + 2), fill=(250, 250, 250))
    draw.line((size - 7, horizon - 12, size - 7, horizon + 6), fill=(40, 40, 40), width=1)
    draw.ellipse((size - 10, horizon - 16, size - 4, horizon - 10), fill=LIGHTS[light])
    for lane, depth in sorted(cars, key=lambda c: -c[1]):
        y = horizon + (1 - depth) * (size - horizon) * 0.8
        w = 3 + (1 - depth) * size / 4
        x = mid + lane * (y - horizon) * 0.45 - w / 2
        draw.rectangle((x, y - w * 0.6, x + w, y), fill=CAR_COLOURS[(lane + 1) % len(CAR_COLOURS)])
    return image


def driving(rng: random.Random, size: int, frames: int) -> Sample:
    n, light = rng.randint(1, 3), rng.choice(list(LIGHTS))
    lanes = rng.sample([-1, 0, 1], n)
    depths = [rng.uniform(0.2, 0.8) for _ in lanes]
    closer = rng.random() < 0.5
    step = 0.25 / max(1, frames - 1)
    images = []
    for t in range(frames):  # the car in our lane (lane 0, if any; else the first) moves between frames
        lead = lanes.index(0) if 0 in lanes else 0
        moved = [d - step * t if (k == lead and closer) else d + step * t if k == lead else d
                 for k, d in enumerate(depths)]
        images.append(_road(size, list(zip(lanes, moved)), light, rng))
    return rng.choice([
        lambda: Sample(images, "How many cars are ahead?", [str(n)], "count"),
        lambda: Sample(images, "What color is the traffic light?", [light], "open"),
        lambda: Sample(images, "Is the car in front getting closer?", [_yes(closer)], "yesno"),
        lambda: Sample(images, "Should we stop?", [_yes(light == "red")], "yesno"),
    ])()


def sample(domain: str, split: str, index: int, seed: int, size: int, frames: int = 2,
           shuffle_choices: bool = False) -> Sample:
    """The index-th sample of a domain's split; the same arguments always draw the same sample.

    Medical options come in a fixed order unless `shuffle_choices`: finding the right option's letter among
    shuffled ones is a lookup the tiny LLaVA does not learn in minutes of CPU training (0.41 against a
    question-prior baseline of 0.34 after 1,000 steps), while the other domains are learnt."""
    rng = random.Random(f"{seed}/{domain}/{split}/{index}")
    if domain not in DOMAINS:
        raise InputError(f"unknown synthetic domain {domain!r}: one of {', '.join(DOMAINS)}")
    if domain == "driving":
        return driving(rng, size, frames)
    if domain == "medical":
        return medical(rng, size, shuffle_choices)
    return {"common": common, "remote_sensing": remote_sensing, "document": document}[domain](rng, size)
