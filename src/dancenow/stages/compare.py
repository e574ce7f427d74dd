"""compare: the metrics.json of several `dancenow evaluate` runs as one table, HTML (for the Snakemake report) and CSV.

One row per evaluated model (a target, or an ablation variant of one); the columns are the metrics of
`dancenow evaluate`, each with the number of frames it was computed over. The best value of each column among rows
of the same target is shown in bold; a re-detection rate below metrics.REDETECTION_WARNING is marked.
"""

import csv
import html
import json
import logging
from pathlib import Path

from ..conf import section
from ..errors import UserError
from ..io.atomic import atomic_path
from ..metrics import REDETECTION_WARNING

log = logging.getLogger(__name__)

# (column, metrics.json key or (key, statistic), format, is higher better)
COLUMNS = [
    ("held-out frames with a person", "frames_with_person", "{:d}", None),
    ("person re-detected", "redetection_rate", "{:.0%}", True),
    ("SSIM", ("ssim", "mean"), "{:.4f}", True),
    ("PSNR (dB)", ("psnr", "mean"), "{:.2f}", True),
    ("LPIPS", ("lpips", "mean"), "{:.4f}", False),
    ("pose distance (px)", "pose_distance_px", "{:.2f}", False),
    ("pose distance (body height)", "pose_distance_rel", "{:.4f}", False),
    ("pose distance over frames", "pose_distance_frames", "{:d}", None),
    ("flicker", "flicker", "{:.3f}", False),
    ("frame change generated / real", None, "{}", None),
    ("high frequencies generated / real", ("high_frequency", "ratio"), "{:.2f}", None),
    ("SSIM on the person", ("person_region", "ssim", "mean"), "{:.4f}", True),
    ("high frequencies on the person generated / real", ("person_region", "high_frequency", "ratio"), "{:.2f}",
     None),
]


def value(m, key):
    if key is None:
        return f"{m['generated_change']:.2f} / {m['real_change']:.2f}"
    for k in key if isinstance(key, tuple) else (key,):
        m = m.get(k) if isinstance(m, dict) else None
    return m


def read(paths, names):
    if len(paths) != len(names):
        raise UserError(f"compare: {len(paths)} metrics files but {len(names)} names")
    rows = []
    for path, name in zip(paths, names):
        try:
            rows.append((str(name), json.loads(Path(path).read_text())))
        except (OSError, json.JSONDecodeError) as e:
            raise UserError(f"compare: cannot read {path} as a metrics.json of `dancenow evaluate`: {e}") from None
    return rows


def best_per_column(rows):
    """{(row index, column index)} of the best value of each column among the rows of one group (the name's part
    before the first '/')."""
    best = set()
    groups = {}
    for i, (name, _) in enumerate(rows):
        groups.setdefault(name.split("/")[0], []).append(i)
    for j, (_, key, _, higher) in enumerate(COLUMNS):
        if higher is None:
            continue
        for members in groups.values():
            vals = [(value(rows[i][1], key), i) for i in members]
            vals = [(v, i) for v, i in vals if isinstance(v, (int, float)) and v == v]
            if len(vals) > 1:
                top = (max if higher else min)(v for v, _ in vals)
                best |= {(i, j) for v, i in vals if v == top}
    return best


def cell(v, fmt):
    return "n/a" if v is None else fmt.format(v)


def too_few_redetected(m):
    """Whether a model's generated person was re-detected in too few held-out frames (or in none to count)."""
    rate = m.get("redetection_rate")
    return not (isinstance(rate, (int, float)) and rate >= REDETECTION_WARNING)


def write_html(rows, path):
    best = best_per_column(rows)
    head = "".join(f"<th>{html.escape(c)}</th>" for c, *_ in COLUMNS)
    body = []
    for i, (name, m) in enumerate(rows):
        cells = []
        for j, (_, key, fmt, _) in enumerate(COLUMNS):
            text = html.escape(cell(value(m, key), fmt))
            if key == "redetection_rate" and too_few_redetected(m):
                text = f"<span class='warn'>&#9888; {text}</span>"
            cells.append(f"<td><b>{text}</b></td>" if (i, j) in best else f"<td>{text}</td>")
        body.append(f"<tr><th>{html.escape(name)}</th>{''.join(cells)}</tr>")
    low = [name for name, m in rows if too_few_redetected(m)]
    warning = (f"<p class='warn'>&#9888; The pose estimator re-detected the generated person in fewer than "
               f"{REDETECTION_WARNING:.0%} of the held-out frames of: {html.escape(', '.join(low))}. Their pose "
               f"distance speaks for those frames alone (see 'pose distance over frames'): the generator does not "
               f"draw a recognisable person yet.</p>") if low else ""
    page = (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>dancenow metrics</title><style>"
            f"table{{border-collapse:collapse;font-family:sans-serif}}td,th{{border:1px solid #999;padding:4px 8px;"
            f"text-align:right}}.warn{{color:#b00000;font-weight:bold}}</style></head><body>{warning}<table><tr>"
            f"<th>model</th>{head}</tr>{''.join(body)}</table>"
            f"<p>SSIM, PSNR, LPIPS: generated vs real held-out frames with a person. Person re-detected: the share of "
            f"those frames in which the pose estimator finds a person in the generated frame. Pose distance: its "
            f"keypoints vs the input poses, over the frames where both have some. Flicker: mean |(g_t - g_t-1) - "
            f"(r_t - r_t-1)| in 0..255. High frequencies: the power of the generated frames at spatial frequencies "
            f"near the pixel grid's (checkerboard, noise) over the real frames'. On the person: the same inside "
            f"the box of each frame's input pose (grown by a tenth), where an exact background cannot hide a noisy "
            f"person. Bold: best among the rows of one target.</p></body></html>\n")
    with atomic_path(path) as tmp:
        Path(tmp).write_text(page)


def write_csv(rows, path):
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["model", *(c for c, *_ in COLUMNS)])
        for name, m in rows:
            w.writerow([name, *(cell(value(m, key), fmt) for _, key, fmt, _ in COLUMNS)])


def run(cfg):
    c = section(cfg, "compare")
    rows = read(list(c["metrics"]), list(c["names"]))
    write_html(rows, c["output"])
    write_csv(rows, c["csv"])
    log.info("wrote %s and %s (%d rows)", c["output"], c["csv"], len(rows))
