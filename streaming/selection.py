"""Keeping only the people the user chooses: `Selection` (a person pointed at on a frame, as
`--keep`/`--drop` take it) and `Selector`, the stage after the network that follows people from
frame to frame (`tracking.Tracker`) and gives alpha 0 to those not kept.

    selector = Selector(keep=[Selection.parse('412,230@0')])
    pha = selector(src, pha)        # frames [T, 3, H, W] and their alpha [T, 1, H, W], on any device
    selector.toggle(x, y)           # a click on the last frame: keep that person (again: no longer)

With anybody kept, everyone else gets alpha 0, people who come in later too; with only people
dropped, they get alpha 0 and everyone else stays. The foreground is left as the network made it.
A selection takes effect from its frame; a conversion makes it hold from the first frame by
finding the people first (`Matter.identify`): the tracker gives the same ids to the same alpha,
so the people found on frame N are followed from frame 0 when the conversion starts over.

When a kept and a dropped person are one region of the matte for `UNSURE_AFTER` frames or more,
the split between them is a guess: `unsure` says so while it lasts, `take_unsure` gives the frame
ranges for a conversion's warning.
"""
import re
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Set, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from .formats import ConversionError
from .tracking import PeopleMap, Tracker, grid_size, nearest

FORMS = 'X,Y[@FRAME] (a point on the person) or X0,Y0,X1,Y1[@FRAME] (a box around them)'
REACH = 0.03          # share of the grid's longer side: a point this near a person (on their soft edge) is on them
UNSURE_AFTER = 10     # frames a kept and a dropped person may be one region before their split is called a guess
_SELECTION = re.compile(r'^\s*(\d+(?:\s*,\s*\d+){1,3})\s*(?:@\s*(\d+))?\s*$')


@dataclass(frozen=True)
class Selection:
    """A person pointed at on frame `frame` (from 0) of the input, in its pixels as the network sees
    them (after any resize): a point (`x0 == x1`, `y0 == y1`) or a box, corners included."""
    x0: int
    y0: int
    x1: int
    y1: int
    frame: int = 0

    @classmethod
    def parse(cls, text: Any) -> 'Selection':
        """`'412,230@0'` (a point), `'380,100,460,400@12'` (a box); the frame defaults to 0."""
        if isinstance(text, Selection):
            return text
        match = _SELECTION.match(str(text))
        numbers = [int(n) for n in match.group(1).split(',')] if match else []
        if len(numbers) not in (2, 4):
            raise ConversionError(f'{text!r} is not {FORMS}')
        x0, y0, x1, y1 = numbers * 2 if len(numbers) == 2 else numbers
        if x1 < x0 or y1 < y0:
            raise ConversionError(f'{text!r}: a box goes from its top-left corner to its bottom-right one')
        return cls(x0, y0, x1, y1, int(match.group(2) or 0))

    @property
    def is_point(self) -> bool:
        return (self.x0, self.y0) == (self.x1, self.y1)

    def __str__(self) -> str:
        corners = (self.x0, self.y0) if self.is_point else (self.x0, self.y0, self.x1, self.y1)
        return f'{",".join(map(str, corners))}@{self.frame}'

    def outside(self, width: int, height: int) -> bool:
        return self.x1 >= width or self.y1 >= height


class NotFound(Exception):
    """A selection (to keep when `keep`, else to drop) that points at nobody on its frame; the message
    says what is there instead."""

    def __init__(self, selection: Selection, keep: bool, reason: str):
        super().__init__(f'{selection}: {reason}')
        self.selection, self.keep = selection, keep


class Selector:
    """The selection stage (see the module's description): follows people while anybody is kept,
    dropped or waited for, and multiplies the alpha by the mask of the people kept.

    `strict`: a selection that finds nobody on its frame raises `NotFound` (a conversion's first
    pass); otherwise it waits for someone to be there on a later frame (live).
    """

    def __init__(self, keep: Sequence[Selection] = (), drop: Sequence[Selection] = ()):
        self.requests: List[Tuple[Selection, bool]] = [(s, True) for s in keep] + [(s, False) for s in drop]
        self.strict = False
        self.reset()

    def reset(self) -> None:
        """A new clip: nobody followed or chosen; the selections wait for their frames again."""
        self.tracker: Optional[Tracker] = None
        self.kept: Set[int] = set()
        self.dropped: Set[int] = set()
        self.waiting = list(self.requests)
        self.expected: Dict[Tuple[Selection, bool], int] = {}
        self._restart()

    def _restart(self) -> None:
        self.frame = -1                                         # the last frame's index in the clip
        self.people: Optional[PeopleMap] = None                 # the last frame's, while following
        self.latest: Optional[Tensor] = None                    # the last frame and alpha, while following nobody
        self.size: Optional[Tuple[int, int]] = None
        self.touch_start: Optional[int] = None                  # first frame of the kept and dropped touching
        self.ranges: List[Tuple[int, int]] = []                 # long touches not yet taken
        self.reported = -1                                      # frames up to here are in taken ranges
        self.mismatches: List[str] = []

    @property
    def active(self) -> bool:
        return bool(self.kept or self.dropped or self.waiting)

    @property
    def unsure(self) -> bool:
        """Whether a kept and a dropped person have been one region for `UNSURE_AFTER` frames, now."""
        return self.touch_start is not None and self.frame - self.touch_start + 1 >= UNSURE_AFTER

    def cut(self) -> None:
        """The next frame does not follow the last (a scene cut, a restart): people are recognised by colour."""
        if self.tracker is not None:
            self.tracker.cut()

    # -- finding the people the selections point at ------------------------------------------

    def identified(self) -> None:
        """After a first pass over the selections' frames: every selection found (else `NotFound`);
        start over from the first frame, knowing whom to keep, and check each selection again on its
        frame (`take_unsure` tells when the second pass found someone else)."""
        if self.waiting:
            selection, keep = self.waiting[0]
            raise NotFound(selection, keep, f'the input ended before frame {selection.frame}')
        self.tracker = None
        self._restart()

    def toggle(self, x: int, y: int, keep: bool = True) -> Optional[int]:
        """The person at `(x, y)` of the last frame: kept (dropped when `keep` is False) from the next
        frame on, or no longer if they were. Returns their id, or None when nobody is there."""
        if self.people is None:  # nobody was followed: start with the last frame
            if self.latest is None:
                return None
            frames, alphas = self._grid(self.latest)
            self.tracker = Tracker()
            self.people = self.tracker(frames[0], alphas[0])
        id = self._locate(Selection(x, y, x, y, self.frame))
        if id is None:
            return None
        chosen, other = (self.kept, self.dropped) if keep else (self.dropped, self.kept)
        chosen.symmetric_difference_update({id})
        other.discard(id)
        if not self.active:
            self.tracker = self.people = None
        return id

    def _locate(self, selection: Selection) -> Optional[int]:
        """The person `selection` points at on the last frame's map: a point on or near a region (its
        soft edge), or a box: the person with the most of their region in it. None: nobody."""
        regions = self.people.regions
        h, w = regions.shape
        sx, sy = w / self.size[0], h / self.size[1]
        x0, y0 = min(int(selection.x0 * sx), w - 1), min(int(selection.y0 * sy), h - 1)
        x1, y1 = min(int(selection.x1 * sx), w - 1), min(int(selection.y1 * sy), h - 1)
        if selection.is_point:
            if regions[y0, x0]:
                return int(regions[y0, x0])
            if not regions.any():
                return None
            distances, ids = nearest(regions)
            return int(ids[y0, x0]) if distances[y0, x0] <= REACH * max(h, w) else None
        inside = np.bincount(regions[y0:y1 + 1, x0:x1 + 1].ravel(), minlength=int(regions.max()) + 1)
        inside[0] = 0
        if not inside.any():
            return None
        return int(inside.argmax())

    def _nobody(self, selection: Selection) -> str:
        regions = self.people.regions
        if not regions.any():
            return f'nobody is in frame {selection.frame}'
        distances, _ = nearest(regions)
        h, w = regions.shape
        x, y = min(int(selection.x0 * w / self.size[0]), w - 1), min(int(selection.y0 * h / self.size[1]), h - 1)
        away = distances[y, x] * self.size[0] / w
        return f'no person there on frame {selection.frame} (the nearest is {away:.0f} px away)'

    def _find(self) -> None:
        """The selections of this frame: who they point at, once (or checked again after a first pass)."""
        for request in [r for r in self.waiting if r[0].frame <= self.frame]:
            selection, keep = request
            id = self._locate(selection)
            if id is None:
                if self.strict:
                    raise NotFound(selection, keep, self._nobody(selection))
                continue  # live: wait for someone to be there
            self.waiting.remove(request)
            (self.kept if keep else self.dropped).add(id)
            self.expected[request] = id
        for (selection, keep), id in self.expected.items():
            if selection.frame == self.frame and not self.strict and self._locate(selection) != id:
                self.mismatches.append(f'{"keep" if keep else "drop"} {selection}: the person there on frame '
                                       f'{selection.frame} is not the one the first pass found')

    # -- the stage -----------------------------------------------------------------------------

    @torch.no_grad()
    def __call__(self, src: Tensor, pha: Tensor) -> Tensor:
        """The alpha `[T, 1, H, W]` of frames `src` `[T, 3, H, W]` (0..1) with everyone not kept at 0."""
        size = (src.shape[-1], src.shape[-2])
        if self.size is not None and size != self.size:
            self.cut()
        self.size = size
        if not self.active:  # nothing to do but keep the last frame (on the grid) for a click
            self.frame += len(src)
            self.latest, self.tracker, self.people = self._shrink(src[-1:], pha[-1:]), None, None
            return pha
        masks = []
        for frame, alpha in zip(*self._grid(self._shrink(src, pha))):
            self.frame += 1
            self.tracker = self.tracker or Tracker()
            self.people = self.tracker(frame, alpha)
            self._find()
            masks.append(self._mask())
        self.latest = None
        if all(mask is None for mask in masks):
            return pha
        ones = np.ones(masks[0].shape if masks[0] is not None else self.people.regions.shape, np.float32)
        mask = torch.from_numpy(np.stack([ones if m is None else m for m in masks])[:, None]).to(pha.device, pha.dtype)
        return pha * F.interpolate(mask, size=pha.shape[-2:], mode='bilinear', align_corners=False)

    def _shrink(self, src: Tensor, pha: Tensor) -> Tensor:
        """Frames and alphas `[T, 4, h, w]` on the tracker's grid (on their device)."""
        gw, gh = grid_size(*self.size)
        return F.interpolate(torch.cat([src, pha], 1).float(), size=(gh, gw), mode='bilinear', align_corners=False)

    @staticmethod
    def _grid(small: Tensor) -> Tuple[np.ndarray, np.ndarray]:
        """What `_shrink` made as frames `[T, h, w, 3]` and alphas `[T, h, w]`, uint8 on the host."""
        small = small.mul(255).round_().clamp_(0, 255).byte().permute(0, 2, 3, 1).cpu().numpy()
        return np.ascontiguousarray(small[..., :3]), np.ascontiguousarray(small[..., 3])

    def _keeps(self, id: int) -> bool:
        return id in self.kept and id not in self.dropped if self.kept else id not in self.dropped

    def _mask(self) -> Optional[np.ndarray]:
        """The grid's mask of the people kept (every pixel goes with its nearest person); notes when
        a kept and a dropped person touch."""
        if not (self.kept or self.dropped):
            return None
        owners = self.people.owners()
        keeps = {id: self._keeps(id) for id in np.unique(owners).tolist()}
        mixed = any(len({self._keeps(id) for id in group}) > 1 for group in self.people.touching)
        if mixed and self.touch_start is None:
            self.touch_start = self.frame
        elif not mixed and self.touch_start is not None:
            if self.frame - self.touch_start >= UNSURE_AFTER:
                self.ranges.append((max(self.touch_start, self.reported + 1), self.frame - 1))
            self.touch_start = None
        lookup = np.zeros(int(owners.max()) + 1, np.float32)
        for id, keep in keeps.items():
            lookup[id] = keep
        return lookup[owners]

    def take_unsure(self) -> List[str]:
        """What a conversion should warn about since the last call: the frame ranges where a kept and a
        dropped person were one region for long (the one still going, up to the last frame), and
        selections that a second pass found on someone else."""
        ranges, self.ranges = self.ranges, []
        if self.unsure:
            ranges.append((max(self.touch_start, self.reported + 1), self.frame))
        self.reported = self.frame
        notes = [f'frames {a}-{b}: a kept and a dropped person were one region of the matte for {b - a + 1} frames; '
                 f'which of them each part of it belongs to is a guess there' for a, b in ranges if b >= a]
        notes, self.mismatches = notes + self.mismatches, []
        return notes

    # -- snapshots -----------------------------------------------------------------------------

    def snapshot(self) -> Dict[str, Any]:
        """What `restore` needs to go on exactly here (tensors and plain values only)."""
        return {'tracker': None if self.tracker is None else self.tracker.state(), 'kept': sorted(self.kept),
                'dropped': sorted(self.dropped), 'waiting': [self.requests.index(r) for r in self.waiting],
                'expected': [[self.requests.index(r), id] for r, id in self.expected.items()],
                'frame': self.frame, 'touch_start': self.touch_start, 'reported': self.reported,
                'size': self.size}

    def restore(self, snapshot: Dict[str, Any]) -> None:
        self._restart()
        self.tracker = None
        if snapshot['tracker'] is not None:
            self.tracker = Tracker()
            self.tracker.load(snapshot['tracker'])
        self.kept, self.dropped = set(snapshot['kept']), set(snapshot['dropped'])
        self.waiting = [self.requests[i] for i in snapshot['waiting']]
        self.expected = {self.requests[i]: id for i, id in snapshot['expected']}
        self.frame, self.touch_start, self.reported = snapshot['frame'], snapshot['touch_start'], snapshot['reported']
        self.size = None if snapshot['size'] is None else tuple(snapshot['size'])
