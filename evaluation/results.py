"""Evaluation results: per frame, per clip, per dataset and overall, and the files they are written to.

Averages skip NaN values (an `fgr_*` value is NaN for a frame with no foreground pixel). A clip's
value is the mean over its frames; a dataset's and the overall value are the mean over all their
frames (with equal-length clips, as in the published test sets, this is also the mean of the clip
means, the number the original workbook showed).
"""
import csv
import json
import math
from dataclasses import dataclass
from itertools import groupby
from pathlib import Path
from typing import Dict, Iterable, List, Sequence, Tuple

from openpyxl import Workbook

ALL = 'all'


@dataclass(frozen=True)
class FrameResult:
    """The metric values of one frame: `values[metric]`, in the order the metrics were asked for."""
    dataset: str
    clip: str
    frame: str
    values: Dict[str, float]


def mean(values: Iterable[float]) -> float:
    """Mean of the values that are not NaN; NaN if there is none."""
    kept = [v for v in values if not math.isnan(v)]
    return sum(kept) / len(kept) if kept else math.nan


def _cell(value):
    """A value for a file: a NaN becomes empty (None), which averages in spreadsheets skip."""
    return None if isinstance(value, float) and math.isnan(value) else value


@dataclass(frozen=True)
class Results:
    metrics: Tuple[str, ...]
    frames: List[FrameResult]

    def clips(self) -> List[Tuple[str, str, List[FrameResult]]]:
        """`(dataset, clip, frames)` in evaluation order."""
        return [(dataset, clip, list(rows)) for (dataset, clip), rows
                in groupby(self.frames, key=lambda r: (r.dataset, r.clip))]

    def means(self, rows: Sequence[FrameResult]) -> Dict[str, float]:
        return {metric: mean(r.values[metric] for r in rows) for metric in self.metrics}

    def summary(self) -> Dict[str, Dict[str, float]]:
        """`{scope: {'clips': n, 'frames': n, metric: mean}}` for each dataset and for 'all'."""
        scopes = {dataset: list(rows) for dataset, rows in groupby(self.frames, key=lambda r: r.dataset)}
        scopes[ALL] = self.frames
        return {scope: {'clips': len({(r.dataset, r.clip) for r in rows}), 'frames': len(rows), **self.means(rows)}
                for scope, rows in scopes.items()}

    def table(self) -> str:
        """The summary as a fixed-width text table, one row per dataset and one for all."""
        header = ['dataset', 'clips', 'frames', *self.metrics]
        rows = [[scope, str(s['clips']), str(s['frames']), *(f'{s[m]:.4f}' for m in self.metrics)]
                for scope, s in self.summary().items()]
        widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
        lines = [[cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths))]
                 for row in [header, *rows]]
        return '\n'.join('  '.join(line) for line in lines)

    def write(self, prefix: Path) -> List[Path]:
        """Write PREFIX.xlsx, PREFIX.json, PREFIX_clips.csv and PREFIX_frames.csv; return their paths."""
        paths = [prefix.with_name(prefix.name + suffix)
                 for suffix in ('.xlsx', '.json', '_clips.csv', '_frames.csv')]
        for path, writer in zip(paths, (self.write_xlsx, self.write_json, self.write_clips_csv, self.write_frames_csv)):
            writer(path)
        return paths

    def write_xlsx(self, path: Path) -> None:
        """Sheets: 'summary' (per dataset and all), 'clips' (clip means), and one per metric laid out as
        the original's: a row per clip with its mean and its per-frame values, under a row 'all' with
        the overall mean and the mean over clips of each frame index."""
        book = Workbook()
        summary = book.active
        summary.title = 'summary'
        summary.append(['dataset', 'clips', 'frames', *self.metrics])
        for scope, values in self.summary().items():
            summary.append([scope, *map(_cell, values.values())])
        clips_sheet = book.create_sheet('clips')
        clips_sheet.append(['dataset', 'clip', 'frames', *self.metrics])
        clips = self.clips()
        for dataset, clip, rows in clips:
            clips_sheet.append([dataset, clip, len(rows), *map(_cell, self.means(rows).values())])
        length = max(len(rows) for _, _, rows in clips)
        for metric in self.metrics:
            sheet = book.create_sheet(metric)
            sheet.append(['dataset', 'clip', 'mean', *range(length)])
            by_index = [mean(rows[t].values[metric] for _, _, rows in clips if t < len(rows)) for t in range(length)]
            sheet.append([ALL, None, _cell(mean(r.values[metric] for r in self.frames)), *map(_cell, by_index)])
            for dataset, clip, rows in clips:
                values = [r.values[metric] for r in rows]
                sheet.append([dataset, clip, _cell(mean(values)), *map(_cell, values)])
        book.save(path)

    def write_json(self, path: Path) -> None:
        """`{'metrics', 'summary', 'clips': [{'dataset', 'clip', 'mean', 'frames': {name: values}}]}`, NaN as null."""
        def clean(values):
            return {key: _cell(value) for key, value in values.items()}
        document = {
            'metrics': list(self.metrics),
            'summary': {scope: clean(values) for scope, values in self.summary().items()},
            'clips': [{'dataset': dataset, 'clip': clip, 'mean': clean(self.means(rows)),
                       'frames': {r.frame: clean(r.values) for r in rows}}
                      for dataset, clip, rows in self.clips()],
        }
        path.write_text(json.dumps(document, indent=1, allow_nan=False))

    def write_clips_csv(self, path: Path) -> None:
        _write_csv(path, ['dataset', 'clip', 'frames', *self.metrics],
                   ([dataset, clip, len(rows), *self.means(rows).values()] for dataset, clip, rows in self.clips()))

    def write_frames_csv(self, path: Path) -> None:
        _write_csv(path, ['dataset', 'clip', 'frame', *self.metrics],
                   ([r.dataset, r.clip, r.frame, *r.values.values()] for r in self.frames))


def _write_csv(path: Path, header: List[str], rows: Iterable[list]) -> None:
    with open(path, 'w', newline='') as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(map(_cell, row) for row in rows)
