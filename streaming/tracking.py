"""People followed from frame to frame on the alpha matte: `Tracker` gives each person a lasting id.

It works on a small grid (the frame and its alpha shrunk to `GRID` px on the longer side), with
OpenCV and no learned weights:

- a person is a region of the alpha's core (alpha >= 0.5); every other pixel, soft edges and
  background, belongs to the nearest person (`PeopleMap.owners`), so a mask made of whole people
  never cuts a person's own edge;
- a region that overlaps the previous frame's regions of one person is that person; one that holds
  several people who touch is split between them: their previous regions, carried along the
  optical flow (DIS) and shrunk to what is sure, grow back over the frame's colours (watershed);
- a region that overlaps nobody is a part of someone near it (a head above its body, a hand apart),
  or people coming in: people who touch at first sight are told apart by their heads (the peaks of
  the region's top outline), and each newcomer is compared with the people who left (colour
  histograms) to be given back their id;
- two people who touched and separate are checked against their colours from before they touched,
  and swapped back when the flow swapped them.

Each frame's outcome says which people touched (`PeopleMap.touching`): the selection stage
(`selection.py`) turns that into the warnings and indicators about the frames where it is unsure.
"""
import itertools
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Set, Tuple

import numpy as np
import torch

GRID = 256            # px: the longer side of the grid the people are followed on
CORE = 128            # alpha (0..255) from which a pixel is a person's core
MIN_AREA = 0.002      # share of the grid: smaller cores (specks, a hand apart) join the nearest person
OVERLAP = 0.2         # share of a region (or of a person's last region) that ties the two together
HEAD_PROMINENCE = 0.2  # share of a region's height by which a head rises above the dip beside it
HEAD_WIDTH = 1.0       # a head is as wide as the depth it is measured at, or wider (raised hands are narrower)
HEAD_LEVEL = 0.35      # share of a region's height: heads are no lower than this under the highest (hands are)
SURE_EROSION = 2      # px of the grid shaved off a person's carried region before it grows back
NEAR = 0.05           # share of the grid's longer side: a region this near someone, inside the frame, is theirs
OWN = 0.05            # share of the grid's longer side: alpha this near someone's region is theirs, farther nobody's
YOUNG = 15            # frames during which a newcomer may still be recognised as someone who left
SAME_PERSON = 0.35    # Bhattacharyya distance of colour histograms under which two regions are one person
SWAP_MARGIN = 0.1     # how much better swapped colours must match for a swap back
LOST_KEPT = 32        # people who left whose colours are remembered (the oldest are forgotten)
HISTOGRAM_BINS = (12, 8)  # hue, saturation
APPEARANCE_RATE = 0.1     # weight of a frame's colours in a person's remembered ones


def grid_size(width: int, height: int) -> Tuple[int, int]:
    """The grid `(w, h)` for frames of `width` x `height`: the longer side `GRID` (never upsampled)."""
    scale = min(GRID / max(width, height), 1.0)
    return max(1, round(width * scale)), max(1, round(height * scale))


def _cv2():
    try:
        import cv2  # opencv-python-headless: requirements/selection.txt
    except ImportError as e:
        raise ImportError('following people needs OpenCV: pip install -r requirements/selection.txt') from e
    return cv2


@dataclass
class Person:
    """What is remembered of one person: colours (hue-saturation histogram), when they came, when last seen."""
    id: int
    colors: np.ndarray
    born: int
    seen: int
    before_touching: Optional[np.ndarray] = None  # their colours from before they last touched someone
    touched: Set[int] = field(default_factory=set)  # whom they touched since they were last alone

    def state(self) -> Dict[str, Any]:
        return {'id': self.id, 'colors': torch.from_numpy(self.colors), 'born': self.born, 'seen': self.seen,
                'before_touching': _tensor(self.before_touching), 'touched': sorted(self.touched)}

    @classmethod
    def from_state(cls, state: Dict[str, Any]) -> 'Person':
        return cls(state['id'], state['colors'].numpy(), state['born'], state['seen'],
                   _array(state['before_touching']), set(state['touched']))


@dataclass
class PeopleMap:
    """One frame's people on the grid: `regions` (person id per core pixel, 0 elsewhere), and who touched whom."""
    regions: np.ndarray                   # [h, w] int32
    touching: List[Set[int]] = field(default_factory=list)  # groups of ids that were one region

    def owners(self) -> np.ndarray:
        """Every grid pixel's person: the nearest region's within `OWN` of the grid, else 0 (nobody)."""
        if not self.regions.any():
            return self.regions
        distances, ids = nearest(self.regions)
        return np.where(distances <= OWN * max(self.regions.shape), ids, 0)


class Tracker:
    """Gives each person in a stream of frames a lasting id (see the module's description).

    `__call__(frame, alpha)` takes the grid's `[h, w, 3]` RGB and `[h, w]` alpha (uint8) and
    returns the frame's `PeopleMap`; `cut()` says the next frame does not follow this one (a
    scene cut, a restart): people are then recognised by their colours alone.
    """

    def __init__(self):
        cv2 = _cv2()
        self.flow = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST)
        self.people: Dict[int, Person] = {}
        self.next_id = 1
        self.frame = -1
        self.previous: Optional[np.ndarray] = None       # the last frame's regions
        self.previous_gray: Optional[np.ndarray] = None

    def cut(self) -> None:
        self.previous = self.previous_gray = None

    def __call__(self, frame: np.ndarray, alpha: np.ndarray) -> PeopleMap:
        cv2 = _cv2()
        self.frame += 1
        gray = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
        hsv = cv2.cvtColor(frame, cv2.COLOR_RGB2HSV)
        if self.previous is not None and self.previous.shape != alpha.shape:
            self.cut()
        count, components, stats, _ = cv2.connectedComponentsWithStats((alpha >= CORE).astype(np.uint8), connectivity=8)
        big = [c for c in range(1, count) if stats[c, cv2.CC_STAT_AREA] >= MIN_AREA * alpha.size]
        carried = self.previous
        owners = self._owners(components, big, carried)
        if carried is not None and any(len(ids) > 1 for ids in owners.values()):
            carried = self._carry(gray)  # people touch: follow their regions along the flow
            owners = self._owners(components, big, carried)
        regions = np.zeros(alpha.shape, np.int32)
        touching: List[Set[int]] = []
        orphans = []
        for c in big:
            component = components == c
            ids = sorted(owners[c])
            if len(ids) == 1:
                regions[component] = ids[0]
            elif ids:
                regions[component] = self._split(frame, component, carried, ids)[component]
                touching.append(set(ids))
            else:
                orphans.append(component)
        if orphans:
            self._place(frame, hsv, regions, orphans, touching, set().union(*owners.values()))
        small = (components > 0) & (regions == 0) & (alpha >= CORE)
        if small.any() and regions.any():  # specks and parts apart: the nearest person's, when near
            distances, ids = nearest(regions)
            near = small & (distances <= NEAR * max(alpha.shape))
            regions[near] = ids[near]
        self._remember(hsv, regions, touching)
        self.previous, self.previous_gray = regions, gray
        return PeopleMap(regions, touching)

    def _place(self, frame: np.ndarray, hsv: np.ndarray, regions: np.ndarray, orphans: List[np.ndarray],
               touching: List[Set[int]], claimed: Set[int]) -> None:
        """Regions that overlap nobody, in clusters of those near one another (a head and its body):
        a part of someone near and bigger (a hand apart), or people coming in, one per head."""
        cv2 = _cv2()
        h, w = regions.shape
        reach = max(1, round(NEAR * max(h, w)))
        loose = np.zeros(regions.shape, np.uint8)
        for component in orphans:
            loose[component] = 1
        count, clusters = cv2.connectedComponents(cv2.dilate(loose, np.ones((reach, reach), np.uint8)))
        parts = sorted(((clusters == c) & (loose > 0) for c in range(1, count)), key=lambda m: -m.sum())
        for cluster in parts:
            if regions.any():
                distances, ids = nearest(regions)
                inside = np.flatnonzero(cluster.ravel())
                closest = inside[distances.ravel()[inside].argmin()]
                id = ids.ravel()[closest]
                if distances.ravel()[closest] <= NEAR * max(h, w) and cluster.sum() < (regions == id).sum():
                    regions[cluster] = id
                    continue
            people = self._heads(frame, cluster)
            arrived = []
            for person in people:
                arrived.append(self._arrive(hsv, person, claimed))
                regions[person] = arrived[-1]
                claimed.add(arrived[-1])
            if len(people) > 1:
                touching.append(set(arrived))

    def _owners(self, components: np.ndarray, big: List[int], carried: Optional[np.ndarray]) -> Dict[int, Set[int]]:
        """The people each big component holds: those whose carried region overlaps it enough."""
        owners: Dict[int, Set[int]] = {c: set() for c in big}
        if carried is None or not carried.any():
            return owners
        span = int(carried.max()) + 1
        sizes = np.bincount(components.ravel())
        overlaps = np.bincount((components.astype(np.int64) * span + carried).ravel(),
                               minlength=len(sizes) * span).reshape(len(sizes), span)
        areas = overlaps.sum(0)
        for c in big:
            for id in np.flatnonzero(overlaps[c, 1:]) + 1:
                if overlaps[c, id] >= OVERLAP * sizes[c] or overlaps[c, id] >= OVERLAP * areas[id]:
                    owners[c].add(int(id))
        return owners

    def _carry(self, gray: np.ndarray) -> np.ndarray:
        """The last frame's regions moved along the optical flow onto this frame."""
        cv2 = _cv2()
        if self.previous_gray is None:
            return self.previous
        flow = self.flow.calc(gray, self.previous_gray, None)  # this frame -> the last one
        h, w = gray.shape
        xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
        return cv2.remap(self.previous.astype(np.float32), xs + flow[..., 0], ys + flow[..., 1],
                         cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT, borderValue=0).astype(np.int32)

    def _split(self, frame: np.ndarray, component: np.ndarray, seeds: np.ndarray, ids: List[int]) -> np.ndarray:
        """`component` shared between people `ids`: each keeps the sure part of its region in `seeds`
        (shrunk by `SURE_EROSION`), and the rest goes to whom the frame's colours join it."""
        cv2 = _cv2()
        kernel = np.ones((2 * SURE_EROSION + 1,) * 2, np.uint8)
        markers = np.zeros(component.shape, np.int32)
        for id in ids:
            sure = cv2.erode(((seeds == id) & component).astype(np.uint8), kernel).astype(bool)
            markers[sure] = id
        return _grow(frame, component, markers)

    def _heads(self, frame: np.ndarray, component: np.ndarray) -> List[np.ndarray]:
        """Newcomers' regions split into one part per head on their top outline (one part when
        there is one head, or none that stands out)."""
        heads = head_columns(component)
        if len(heads) < 2:
            return [component]
        markers = np.zeros(component.shape, np.int32)
        for i, (left, right) in enumerate(heads, 1):
            markers[:, left:right + 1][component[:, left:right + 1]] = i
        grown = _grow(frame, component, markers)
        return [grown == i for i in range(1, len(heads) + 1)]

    def _arrive(self, hsv: np.ndarray, part: np.ndarray, claimed: Set[int]) -> int:
        """The id of a newcomer: someone not in this frame whose colours match, else a new one."""
        colors = histogram(hsv, part)
        match = best_match(colors, [p for p in self.people.values() if p.id not in claimed])
        if match is not None:
            return match.id
        id, self.next_id = self.next_id, self.next_id + 1
        self.people[id] = Person(id, colors, self.frame, self.frame)
        return id

    def _remember(self, hsv: np.ndarray, regions: np.ndarray, touching: List[Set[int]]) -> None:
        """After a frame: swap back people whom the flow swapped while they touched, update who was
        seen and their colours (when alone), recognise young newcomers, forget the oldest who left."""
        together = set().union(*touching) if touching else set()
        present = set(np.unique(regions).tolist()) - {0}
        self._swap_back(hsv, regions, present - together)
        for id in present:
            person = self.people[id]
            if id in together:
                if person.before_touching is None:
                    person.before_touching = person.colors.copy()
                person.touched |= next(group for group in touching if id in group) - {id}
            else:
                person.colors = (1 - APPEARANCE_RATE) * person.colors + APPEARANCE_RATE * histogram(hsv, regions == id)
                person.before_touching, person.touched = None, set()
            person.seen = self.frame
        self._recognise_young(regions, present - together)
        gone = sorted((p for p in self.people.values() if p.seen < self.frame), key=lambda p: p.seen)
        for person in gone[:max(0, len(gone) - LOST_KEPT)]:
            del self.people[person.id]

    def _swap_back(self, hsv: np.ndarray, regions: np.ndarray, alone: Set[int]) -> None:
        """People who touched one another and are all apart again: the ids whose colours from before
        they touched match the regions best, when that beats the flow's ids by `SWAP_MARGIN`."""
        done: Set[int] = set()
        for id in sorted(alone):
            person = self.people[id]
            group = sorted({id} | person.touched)
            if id in done or not set(group) <= alone or len(group) > 4 or \
                    any(self.people[b].before_touching is None for b in group):
                continue
            done |= set(group)
            now = {b: histogram(hsv, regions == b) for b in group}

            def cost(order):
                return sum(distance(self.people[a].before_touching, now[b]) for a, b in zip(group, order))
            best = min(itertools.permutations(group), key=cost)
            if cost(best) + SWAP_MARGIN < cost(group):
                original = regions.copy()
                for a, b in zip(group, best):
                    regions[original == b] = a

    def _recognise_young(self, regions: np.ndarray, alone: Set[int]) -> None:
        """A newcomer of the last `YOUNG` frames whose colours now match someone who left takes their id."""
        present = set(np.unique(regions).tolist())
        for id in sorted(alone):
            person = self.people[id]
            if self.frame - person.born >= YOUNG:
                continue
            gone = [p for p in self.people.values() if p.id not in present and p.born < person.born]
            match = best_match(person.colors, gone)
            if match is not None:
                regions[regions == id] = match.id
                match.colors, match.seen = person.colors, self.frame
                del self.people[id]

    def state(self) -> Dict[str, Any]:
        return {'people': [p.state() for p in self.people.values()], 'next_id': self.next_id, 'frame': self.frame,
                'previous': _tensor(self.previous), 'previous_gray': _tensor(self.previous_gray)}

    def load(self, state: Dict[str, Any]) -> None:
        self.people = {p['id']: Person.from_state(p) for p in state['people']}
        self.next_id, self.frame = state['next_id'], state['frame']
        self.previous, self.previous_gray = _array(state['previous']), _array(state['previous_gray'])


def _tensor(array: Optional[np.ndarray]) -> Optional[torch.Tensor]:
    """An array as a tensor, for snapshots that `torch.load(weights_only=True)` reads back."""
    return None if array is None else torch.from_numpy(array.copy())


def _array(tensor: Optional[torch.Tensor]) -> Optional[np.ndarray]:
    return None if tensor is None else tensor.numpy()


def nearest(regions: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """For every pixel, the distance to the nearest non-zero pixel of `regions` and that pixel's value."""
    cv2 = _cv2()
    distances, index = cv2.distanceTransformWithLabels((regions == 0).astype(np.uint8), cv2.DIST_L2, 3,
                                                       labelType=cv2.DIST_LABEL_PIXEL)
    seeds = regions.ravel()[np.flatnonzero(regions.ravel())]  # in the scan order that numbers them
    return distances, seeds[index - 1]


def histogram(hsv: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The hue-saturation histogram of the pixels in `mask`, summing to 1."""
    cv2 = _cv2()
    counts = cv2.calcHist([hsv], [0, 1], mask.astype(np.uint8), list(HISTOGRAM_BINS), [0, 180, 0, 256]).ravel()
    return counts / max(counts.sum(), 1.0)


def distance(a: np.ndarray, b: np.ndarray) -> float:
    """Bhattacharyya distance of two histograms: 0 for the same colours, 1 for disjoint ones."""
    return float(np.sqrt(max(0.0, 1.0 - np.sqrt(a * b).sum())))


def best_match(colors: np.ndarray, candidates: List[Person]) -> Optional[Person]:
    """The candidate whose colours are nearest, if nearer than `SAME_PERSON`."""
    scored = sorted(((distance(colors, p.colors), p.id, p) for p in candidates), key=lambda s: s[:2])
    return scored[0][2] if scored and scored[0][0] < SAME_PERSON else None


def head_columns(component: np.ndarray) -> List[Tuple[int, int]]:
    """The heads on a region's top outline, left to right, as column ranges: peaks of the outline
    that rise `HEAD_PROMINENCE` of the region's height above the dips beside them and are at least
    `HEAD_WIDTH` times as wide as the depth below the peak they are measured at (half the rise, at
    most a quarter of the height), and no lower than `HEAD_LEVEL` of the height under the highest."""
    h, w = component.shape
    rows = np.flatnonzero(component.any(1))
    height = rows[-1] - rows[0] + 1
    top = np.where(component.any(0), component.argmax(0), h).astype(np.float32)
    top = np.convolve(np.pad(top, 2, mode='edge'), np.ones(5) / 5, mode='valid')  # pixel noise is no peak
    heads = []
    x = 0
    while x < w:
        end = x
        while end + 1 < w and top[end + 1] == top[x]:
            end += 1
        peak = top[x]
        if peak < h and (x == 0 or top[x - 1] > peak) and (end == w - 1 or top[end + 1] > peak):
            rise = min(_dip(top[x - 1::-1] if x else top[:0], peak, h), _dip(top[end + 1:], peak, h))
            if rise >= HEAD_PROMINENCE * height:
                depth = min(rise / 2, height / 4)
                left, right = x, end
                while left > 0 and top[left - 1] <= peak + depth:
                    left -= 1
                while right < w - 1 and top[right + 1] <= peak + depth:
                    right += 1
                if right - left + 1 >= HEAD_WIDTH * depth:
                    heads.append((left, right, peak))
        x = end + 1
    highest = min((peak for _, _, peak in heads), default=0)
    return [(left, right) for left, right, peak in heads if peak <= highest + HEAD_LEVEL * height]


def _dip(side: np.ndarray, peak: float, bottom: float) -> float:
    """How far the outline falls from `peak` along `side` before it rises above the peak (or ends)."""
    higher = np.flatnonzero(side < peak)
    stretch = side[:higher[0]] if len(higher) else side
    lowest = stretch.max() if len(stretch) else peak
    return float((lowest if len(higher) else max(lowest, bottom)) - peak)


def _grow(frame: np.ndarray, component: np.ndarray, markers: np.ndarray) -> np.ndarray:
    """`markers` (ids, 0 unknown) grown over `component` along the frame's colours (watershed);
    what they cannot reach goes to the nearest marker."""
    cv2 = _cv2()
    outside = int(markers.max()) + 1
    flooded = np.where(component, markers, outside).astype(np.int32)
    cv2.watershed(np.ascontiguousarray(frame[..., ::-1]), flooded)
    flooded[(flooded == outside) | (flooded < 0)] = 0
    flooded[~component] = 0
    if (component & (flooded == 0)).any() and flooded.any():
        flooded = np.where(component, nearest(flooded)[1], 0)
    return flooded
