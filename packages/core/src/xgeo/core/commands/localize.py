"""``xgeo localize``: the top-k gallery places for query images, with coordinates and scores."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from xgeo.core.checks import arg_type, positive
from xgeo.core.errors import XgeoError


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("images", nargs="+", type=Path, help="query image files")
    parser.add_argument("--method", required=True, help="installed method that wrote the checkpoint, e.g. frgeo")
    parser.add_argument("--checkpoint", required=True, type=Path, help="method checkpoint (.pth.tar)")
    parser.add_argument("--gallery", required=True, type=Path, help="gallery feature file (.h5) with /locations")
    parser.add_argument("--view", default="query", help="which branch embeds the images (default: query)")
    parser.add_argument("--top-k", type=arg_type(int, positive), default=5)
    parser.add_argument("--batch-size", type=arg_type(int, positive), default=32, help="images embedded at a time")
    parser.add_argument("--plot", type=Path, metavar="OUT.png",
                        help="map of the gallery locations with the top-k marked by rank (several images: OUT-1.png, ...)")
    parser.add_argument("--truth", type=float, nargs=2, metavar=("A", "B"),
                        help="true location of the (single) image, in the gallery's crs (lat lon, or easting northing)")


def localize(images: list[Path], method: str, checkpoint: Path, gallery: Path, view: str = "query",
             top_k: int = 5, batch_size: int = 32) -> list[list[dict]]:
    """For each image, its ``top_k`` gallery entries as dicts with id, index (row), location and score."""
    from xgeo.core.features import read_features
    from xgeo.core.methods import get_method
    from xgeo.core.retrieval import search

    plugin = get_method(method)
    if plugin.query_encoder is None:
        raise XgeoError(None, f"method {method!r} offers no query encoder", "use a method that supports `xgeo localize`")
    fs = read_features(gallery)
    if fs.locations is None:
        raise XgeoError(gallery, "gallery feature file has no /locations", "write the gallery features with locations")
    missing = [p for p in images if not Path(p).is_file()]
    if missing:
        raise XgeoError(missing[0], "image not found", "check the query image paths")
    if not len(fs.ids):
        raise XgeoError(gallery, "the gallery feature file has no rows", "embed at least one gallery image")
    encode = plugin.query_encoder(checkpoint, view)
    queries = np.asarray(encode(images, batch_size), dtype=np.float32)
    if queries.shape[1] != fs.features.shape[1]:
        raise XgeoError(gallery, f"gallery features have {fs.features.shape[1]} dims but {method} gives {queries.shape[1]}",
                        "use a gallery written with the same method and checkpoint")
    scores, indices = search(queries, fs.features, k=min(top_k, len(fs.ids)), similarity="cosine")
    return [
        [{"id": str(fs.ids[j]), "index": int(j), "location": [float(v) for v in fs.locations[j]], "score": float(s)}
         for s, j in zip(np.asarray(srow), np.asarray(irow))]
        for srow, irow in zip(scores, indices)
    ]


def plot_paths(out: Path, count: int) -> list[Path]:
    """``out`` for one image, ``<stem>-1<suffix>``, ``<stem>-2<suffix>``, ... for several."""
    return [out] if count == 1 else [out.with_name(f"{out.stem}-{i}{out.suffix}") for i in range(1, count + 1)]


def write_plots(out: Path, images: list[Path], results: list[list[dict]], gallery: Path,
                truth: tuple[float, float] | None = None) -> list[Path]:
    """One map per image: gallery locations, its top-k by rank, the true location when given."""
    from xgeo.core.features import FeatureFile
    from xgeo.core.report import plot_location_map

    with FeatureFile(gallery) as f:
        locations, crs = f.locations, f.crs
    written = []
    for path, image, hits in zip(plot_paths(out, len(images)), images, results, strict=True):
        top = [h["index"] for h in hits]
        written.append(plot_location_map(locations, top, path, truth=truth, crs=crs or "latlon", title=Path(image).name))
    return written


def run(args: argparse.Namespace) -> int:
    if args.plot is not None:
        from xgeo.core.checks import check_output_file

        check_output_file(args.plot, "--plot")
    if args.truth is not None and len(args.images) != 1:
        raise XgeoError(None, f"--truth gives one location but {len(args.images)} images were passed",
                        "pass one image with --truth")
    results = localize(args.images, args.method, args.checkpoint, args.gallery, args.view, args.top_k, args.batch_size)
    for image, hits in zip(args.images, results):
        print(image)
        for rank, hit in enumerate(hits, 1):
            lat, lon = hit["location"]
            print(f"  {rank:>2}. {hit['id']}  ({lat:.6f}, {lon:.6f})  score {hit['score']:.4f}")
    if args.plot is not None:
        for path in write_plots(args.plot, args.images, results, args.gallery, args.truth):
            print(f"map: {path}")
    return 0
