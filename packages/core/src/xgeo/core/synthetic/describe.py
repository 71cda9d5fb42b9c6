"""What a synthetic tile shows, measured from the world's class map, and captions phrased from it.

:func:`tile_facts` measures one tile: land-cover fractions, the number of buildings and of road
segments (connected components), where the buildings and the water lie (one of nine places:
north-west … centre … south-east), whether buildings line a road, and on which side of the water
the buildings are. :func:`captions` turns those facts into five sentences, each naming all the main
facts (buildings with count and place, roads, water, land cover) in a random order and phrasing, so
a caption identifies its tile without repeating another caption word for word.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import ndimage

from xgeo.core.synthetic.world import BARE, BUILDING, ROAD, VEGETATION, WATER

NUMBER_WORDS = ("no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve")
#: (row sign, column sign) -> place word; rows grow southwards
PLACES = {
    (-1, -1): "northwest", (-1, 0): "north", (-1, 1): "northeast",
    (0, -1): "west", (0, 0): "centre", (0, 1): "east",
    (1, -1): "southwest", (1, 0): "south", (1, 1): "southeast",
}
MIN_BUILDING_PX = 6
MIN_ROAD_PX = 12
MIN_WATER_FRACTION = 0.03


def number_word(n: int) -> str:
    """``3`` -> ``"three"``; more than twelve -> ``"many"``."""
    return NUMBER_WORDS[n] if n < len(NUMBER_WORDS) else "many"


@dataclass
class TileFacts:
    """The measured content of one tile (plain data; written to ``synthetic_content.json``)."""

    vegetation: float
    bare: float
    water: float
    road: float
    building: float
    buildings: int
    roads: int
    building_place: str | None
    water_place: str | None
    buildings_by_road: bool
    buildings_side_of_water: str | None

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def scene(self) -> str:
        """A scene-class name as in RSITMD/RSICD file names (``denseresidential_12.tif``)."""
        if self.buildings >= 5:
            return "denseresidential"
        if self.water >= 0.2:
            return "pond"
        if self.buildings >= 2:
            return "sparseresidential"
        if self.roads >= 2:
            return "intersection"
        return "forest" if self.vegetation >= self.bare else "bareland"


def _place(mask: np.ndarray) -> str | None:
    """Where the mask's centroid lies in the tile (None for an empty mask)."""
    if not mask.any():
        return None
    rows, cols = np.nonzero(mask)
    h, w = mask.shape
    third = np.array([h, w]) / 6.0
    off = np.array([rows.mean() + 0.5 - h / 2, cols.mean() + 0.5 - w / 2])
    sign = tuple(int(np.sign(v)) if abs(v) > t else 0 for v, t in zip(off, third, strict=True))
    return PLACES[sign]


def _components(mask: np.ndarray, min_px: int) -> tuple[np.ndarray, int]:
    labels, n = ndimage.label(mask)
    if n == 0:
        return labels, 0
    sizes = ndimage.sum_labels(mask, labels, index=np.arange(1, n + 1))
    return labels, int(np.sum(sizes >= min_px))


def tile_facts(classes: np.ndarray) -> TileFacts:
    """Measure a ``[H, W]`` class-code crop of a :class:`~xgeo.core.synthetic.world.World`."""
    total = float(classes.size)
    frac = {code: float(np.sum(classes == code)) / total for code in (VEGETATION, BARE, WATER, ROAD, BUILDING)}
    building = classes == BUILDING
    road = classes == ROAD
    water = (classes == WATER) if frac[WATER] >= MIN_WATER_FRACTION else np.zeros_like(building)
    _, n_buildings = _components(building, MIN_BUILDING_PX)
    _, n_roads = _components(road, MIN_ROAD_PX)
    by_road = bool(n_roads and n_buildings and (ndimage.binary_dilation(road, iterations=3) & building).any())
    side = None
    if water.any() and n_buildings:
        b_rows, b_cols = np.nonzero(building)
        w_rows, w_cols = np.nonzero(water)
        dr, dc = b_rows.mean() - w_rows.mean(), b_cols.mean() - w_cols.mean()
        side = ("south" if dr > 0 else "north") if abs(dr) >= abs(dc) else ("east" if dc > 0 else "west")
    return TileFacts(
        vegetation=frac[VEGETATION], bare=frac[BARE], water=frac[WATER], road=frac[ROAD], building=frac[BUILDING],
        buildings=n_buildings, roads=n_roads,
        building_place=_place(building) if n_buildings else None,
        water_place=_place(water),
        buildings_by_road=by_road, buildings_side_of_water=side,
    )


# ------------------------------------------------------------------------------------------ phrasing
def _where(place: str) -> str:
    return "in the middle" if place == "centre" else f"in the {place}"


def _cover(f: TileFacts, rng: np.random.Generator) -> str:
    land = f.vegetation + f.bare
    if land <= 0:
        return "the scene is covered by structures and water"
    green = f.vegetation / land
    if green > 0.7:
        return str(rng.choice(["the ground is mostly green vegetation", "dense green trees cover most of the land",
                               "a green area with lush vegetation"]))
    if green < 0.3:
        return str(rng.choice(["the ground is mostly bare soil", "a bare brown land with little vegetation",
                               "most of the land is bare and brown"]))
    return str(rng.choice(["the land is partly green and partly bare", "patches of vegetation mixed with bare soil",
                           "green fields next to bare brown ground"]))


def _buildings(f: TileFacts, rng: np.random.Generator) -> str:
    if f.buildings == 0:
        return str(rng.choice(["an empty area without buildings", "zero buildings can be seen",
                               "the area is without houses"]))
    n = number_word(f.buildings)
    noun = "building" if f.buildings == 1 else "buildings"
    where = _where(f.building_place or "centre")
    one = f.buildings == 1
    verb, stand = ("is", "stands") if one else ("are", "stand")
    return str(rng.choice([f"there {verb} {n} {noun} {where}", f"{n} {noun} {stand} {where}",
                           f"{n} {'house is' if one else 'houses are'} located {where}",
                           f"a residential area with {n} {noun} {where}"]))


def _roads(f: TileFacts, rng: np.random.Generator) -> str:
    if f.roads == 0:
        return str(rng.choice(["zero roads", "the scene is without roads", "a roadless area"]))
    if f.roads == 1:
        return str(rng.choice(["a single road runs through the scene", "one road crosses the area", "there is one single road"]))
    n = number_word(f.roads)
    return str(rng.choice([f"{n} roads cross the area", f"there are {n} roads", f"{n} grey roads pass through"]))


def _water(f: TileFacts, rng: np.random.Generator) -> str:
    if f.water_place is None:
        return str(rng.choice(["the land is dry without water", "zero lakes or rivers are visible", "the scene is dry"]))
    where = _where(f.water_place)
    size = "large" if f.water > 0.25 else "small"
    return str(rng.choice([f"a {size} lake lies {where}", f"some blue water {where}", f"a {size} pond is {where}"]))


def _relation(f: TileFacts, rng: np.random.Generator) -> str | None:
    options = []
    if f.buildings_by_road:
        options += ["the buildings line the road", "houses are built along the road"]
    if f.buildings_side_of_water is not None:
        s = f.buildings_side_of_water
        options += [f"the buildings are {s} of the water", f"houses stand on the {s} side of the lake"]
    return str(rng.choice(options)) if options else None


def captions(f: TileFacts, rng: np.random.Generator, count: int = 5) -> list[str]:
    """``count`` sentences about a tile, each in a random order and phrasing.

    Every sentence names the building count and place, the roads, the water and the land cover (so it
    tells its tile apart from most others), and sometimes a relation. Absence is said with words that
    survive AMFMN's vocabulary ("zero", "without", "dry"): its stopword list drops "no".
    """
    out: list[str] = []
    for _ in range(count):
        parts = [fn(f, rng) for fn in (_buildings, _roads, _water, _cover)]
        relation = _relation(f, rng)
        if relation and rng.random() < 0.5:
            parts.append(relation)
        chosen = [parts[i] for i in rng.permutation(len(parts))]
        sentence = ", ".join(chosen[:-1]) + " and " + chosen[-1]
        out.append(sentence[0].upper() + sentence[1:] + ".")
    return out
