"""Keeping only the people chosen (streaming/selection.py, streaming/tracking.py): the selection forms,
the tracker on figures that stay apart, leave and come back, and touch, and the conversion entry
points (convert_video, the command line, batches), bad selections included.

The network is `stubs.ThresholdMatting`: alpha 1 on the bright figures of `media.people_frames`,
so every expected matte is known; documentation/selection.md measures the same on real footage.
"""
import io
import os

import numpy as np
import pytest
import torch
from PIL import Image

import inference
from inference import convert_video, convert_videos
from media import people_frames, write_frames
from streaming import ConversionError, ConversionOptions
from streaming.selection import UNSURE_AFTER, Selection, Selector
from streaming.tracking import Tracker, head_columns
from stubs import ThresholdMatting

SIZE = (160, 96)


@pytest.fixture(autouse=True)
def one_thread(one_thread):
    """One torch thread: the stub is tiny, and on a busy shared machine more threads only spin."""


def alpha_frames(folder) -> np.ndarray:
    """A PNG-sequence alpha output as `[T, H, W]` uint8."""
    return np.stack([np.asarray(Image.open(os.path.join(folder, name))) for name in sorted(os.listdir(folder))
                     if name.endswith('.png')])


def figure(positions, index: int) -> np.ndarray:
    """`[T, H, W]` bool: where figure `index` alone is, frame by frame."""
    alone = [[x if i == index else None for i, x in enumerate(xs)] for xs in positions]
    return people_frames(alone, SIZE).max(axis=3) > 100


def clip(tmp_path, positions, name='clip.mp4'):
    path = tmp_path / name
    write_frames(path, people_frames(positions, SIZE))
    return path


def convert(tmp_path, source, name='pha', **options) -> np.ndarray:
    convert_video(ThresholdMatting(), str(source), output_alpha=str(tmp_path / name), output_type='png_sequence',
                  progress=False, **options)
    return alpha_frames(tmp_path / name)


def assert_kept(alpha, positions, kept: int, dropped: int, frames=None) -> None:
    """Figure `kept` has its full alpha and figure `dropped` none, on every frame (or on `frames`)."""
    frames = range(len(positions)) if frames is None else frames
    keep, drop = figure(positions, kept), figure(positions, dropped)
    for t in frames:
        assert not keep[t].any() or (alpha[t][keep[t]] > 200).mean() > 0.97, f'frame {t}: the kept figure lost alpha'
        assert not drop[t].any() or (alpha[t][drop[t]] > 0).mean() < 0.03, f'frame {t}: the dropped figure kept alpha'


APART = [[40, 120 - t] for t in range(12)]


def test_selection_forms():
    assert Selection.parse('412,230@12') == Selection(412, 230, 412, 230, 12)
    assert Selection.parse(' 1, 2, 30, 40 ') == Selection(1, 2, 30, 40, 0)
    assert str(Selection.parse('1,2,30,40@5')) == '1,2,30,40@5' and str(Selection.parse('7,8')) == '7,8@0'
    for bad, message in (('1,2,3', 'is not X,Y'), ('1,2@-1', 'is not X,Y'), ('a,b', 'is not X,Y'),
                         ('30,40,1,2', 'from its top-left corner')):
        with pytest.raises(ConversionError, match=message):
            Selection.parse(bad)
    options = ConversionOptions(keep='10,20@3', drop=['1,2', Selection(5, 6, 5, 6)])
    assert options.keep == (Selection(10, 20, 10, 20, 3),) and len(options.drop) == 2
    with pytest.raises(ConversionError, match=r"^keep '10' is not X,Y"):
        ConversionOptions(keep=['10'])


def test_a_selection_on_a_later_frame_holds_from_the_first(tmp_path):
    source = clip(tmp_path, APART)
    plain = convert(tmp_path, source, 'plain')
    right = convert(tmp_path, source, 'right', keep=[f'{APART[8][1]},70@8'])
    assert_kept(right, APART, kept=1, dropped=0)  # frames 0..7 too: the first pass found who it was
    assert np.array_equal(right[:, :, 80:], plain[:, :, 80:])
    left = convert(tmp_path, source, 'left', drop=['112,80,159,95@11'])  # a box around the right figure's legs
    assert_kept(left, APART, kept=0, dropped=1)
    both = convert(tmp_path, source, 'both', keep=['40,70', '120,70'])
    assert np.array_equal(both, plain)


def test_a_passer_by_who_leaves_and_comes_back_is_recognised(tmp_path):
    """The right figure walks out of the frame, stays out, and comes back: kept it stays kept,
    dropped it stays dropped."""
    away = [118, 140, 165, 200, None, None, None, None, 165, 140, 120, 120]
    positions = [[40, x] for x in away]
    source = clip(tmp_path, positions)
    assert_kept(convert(tmp_path, source, 'left', keep=['40,70@0']), positions, kept=0, dropped=1)
    assert_kept(convert(tmp_path, source, 'right', keep=['118,70@0']), positions, kept=1, dropped=0,
                frames=[0, 1, 8, 9, 10, 11])
    assert_kept(convert(tmp_path, source, 'late', keep=['40,70@6']), positions, kept=0, dropped=1)


def test_people_who_touch_for_long_are_followed_and_the_frames_named(tmp_path):
    """The figures walk into each other, stay one region for 14 frames, and part: the kept one is
    still kept after, and a warning names the frames where the split was a guess."""
    steps = [0, 8, 16] + [24] * (UNSURE_AFTER + 4) + [16, 8, 0]
    positions = [[40 + s, 120 - s] for s in steps]  # 64 and 96: the bodies touch
    source = clip(tmp_path, positions)
    touching = rf'frames 3-{3 + UNSURE_AFTER + 3}: a kept and a dropped person were one region'
    with pytest.warns(RuntimeWarning, match=touching) as caught:
        alpha = convert(tmp_path, source, keep=['40,70@0'])
    assert len(caught) == 1 and str(source) in str(caught[0].message)
    assert_kept(alpha, positions, kept=0, dropped=1)


def test_people_who_cross_are_told_apart_by_their_colours_when_they_part():
    """One figure walks past the other, in front of it: while they are one region the flow may give
    the kept one's region to the other; once apart, their colours from before put them right."""
    positions = [[x, 160 - x] for x in range(30, 131, 8)]
    frames = torch.from_numpy(people_frames(positions, SIZE)).permute(0, 3, 1, 2) / 255
    alphas = (frames.mean(1, keepdim=True) > 0.5).float()
    selector = Selector(keep=[Selection(30, 70, 30, 70)])
    kept = torch.cat([selector(frames[t:t + 1], alphas[t:t + 1]) for t in range(len(positions))])[:, 0].numpy()
    apart = [t for t, (a, b) in enumerate(positions) if abs(a - b) > 33]  # 0.34 of the height: bodies apart
    assert apart == [0, 1, 2, 3, 4, 9, 10, 11, 12]
    assert_kept((kept * 255).astype(np.uint8), positions, kept=0, dropped=1, frames=apart)


def test_people_who_touch_at_first_sight_are_told_apart_by_their_heads(tmp_path):
    positions = [[64, 96]] * 4
    assert (people_frames(positions[:1], SIZE)[0, 80, 60:100].max(axis=1) > 100).all(), 'the bodies touch'
    source = clip(tmp_path, positions)
    assert_kept(convert(tmp_path, source, keep=['96,30@0']), positions, kept=1, dropped=0)


def test_heads_on_a_region_outline():
    frame = people_frames([[60, 100]], SIZE)[0].max(axis=2) > 100
    heads = head_columns(frame)
    assert len(heads) == 2 and heads[0][0] <= 60 <= heads[0][1] and heads[1][0] <= 100 <= heads[1][1]
    one = people_frames([[60]], SIZE)[0].max(axis=2) > 100
    assert len(head_columns(one)) == 1


def test_bad_selections_fail_before_any_output(tmp_path):
    source = clip(tmp_path, APART)
    for keep, message in (('150,5@0', r'^keep 150,5@0: no person there on frame 0 \(the nearest is \d+ px away\)$'),
                          ('170,5@0', r'^keep 170,5@0: outside the 160x96 frame \(x 0..159, y 0..95\)$'),
                          ('40,70@12', r'^keep 40,70@12: frame 12 is past the end of .*clip.mp4 \(frames 0..11\)$')):
        with pytest.raises(ConversionError, match=message):
            convert_video(ThresholdMatting(), str(source), output_alpha=str(tmp_path / 'pha.mp4'), keep=[keep],
                          progress=False)
        assert not (tmp_path / 'pha.mp4').exists()


def test_command_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(inference, 'model_from_arguments', lambda args, progress: ThresholdMatting())
    source = clip(tmp_path, APART)
    inference.main(['--input-source', str(source), '--output-alpha', str(tmp_path / 'pha'), '--disable-progress',
                    '--drop', '118,70@2', '--keep', '40,70@5', '--keep', '100,40,140,95@0'])
    assert_kept(alpha_frames(tmp_path / 'pha'), APART, kept=0, dropped=1)  # dropping beats keeping
    for flag, message in (('--keep', "argument --keep: '1,2,3' is not X,Y"),):
        with pytest.raises(SystemExit) as exit_:
            inference.main(['--input-source', str(source), '--output-alpha', str(tmp_path / 'bad.mp4'), flag, '1,2,3'])
        assert exit_.value.code == 2 and message in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        inference.main(['--input-source', str(source), '--output-alpha', str(tmp_path / 'bad.mp4'),
                        '--keep', '150,5@3', '--disable-progress'])
    err = capsys.readouterr().err
    assert exit_.value.code == 1 and err == 'inference.py: error: --keep 150,5@3: no person there on frame 3 ' \
                                           f'(the nearest is {err.split("is ")[-1].split(" px")[0]} px away)\n'
    assert not (tmp_path / 'bad.mp4').exists()


def test_batches_keep_the_people_chosen_in_every_input_and_refuse_segments(tmp_path):
    folder = tmp_path / 'in'
    folder.mkdir()
    clip(folder, APART, 'a.mp4')
    swapped = [[right, left] for left, right in APART]
    clip(folder, swapped, 'b.mp4')  # the point is on the other figure there
    report = convert_videos(ThresholdMatting(), str(folder), str(tmp_path / 'out'), output_alpha='pha',
                            keep=['40,70@3'], checkpoint_seconds=0, progress=False)
    assert [o.status for o in report.outcomes] == ['converted', 'converted']
    assert_kept(alpha_frames(tmp_path / 'out' / 'a' / 'pha'), APART, kept=0, dropped=1)
    assert_kept(alpha_frames(tmp_path / 'out' / 'b' / 'pha'), swapped, kept=1, dropped=0)
    with pytest.raises(ConversionError, match='^segment_seconds and keep/drop: '):
        convert_videos(ThresholdMatting(), str(folder), str(tmp_path / 'seg'), output_alpha='pha', keep=['40,70'],
                       segment_seconds=0.2, progress=False)


def test_a_matter_snapshot_carries_the_people_followed():
    """A conversion resumed from a checkpoint (Matter.snapshot, saved as the batch saves it) goes on
    exactly as the uninterrupted one: the tracker's state travels with the recurrent states."""
    frames = torch.from_numpy(people_frames([[40, 120 - 4 * t] for t in range(10)], SIZE)).permute(0, 3, 1, 2) / 255
    alphas = (frames.mean(1, keepdim=True) > 0.5).float()
    whole, first = Selector(keep=[Selection(40, 70, 40, 70)]), Selector(keep=[Selection(40, 70, 40, 70)])
    expected = torch.cat([whole(frames[t:t + 1], alphas[t:t + 1]) for t in range(10)])
    for t in range(5):
        first(frames[t:t + 1], alphas[t:t + 1])
    resumed = Selector(keep=[Selection(40, 70, 40, 70)])
    buffer = io.BytesIO()
    torch.save(first.snapshot(), buffer)
    buffer.seek(0)
    resumed.restore(torch.load(buffer, weights_only=True))
    rest = torch.cat([resumed(frames[t:t + 1], alphas[t:t + 1]) for t in range(5, 10)])
    assert torch.equal(rest, expected[5:])


def test_a_click_keeps_a_person_and_a_second_click_lets_them_go():
    positions = [[40, 120]] * 6
    frames = torch.from_numpy(people_frames(positions, SIZE)).permute(0, 3, 1, 2) / 255
    alphas = (frames.mean(1, keepdim=True) > 0.5).float()
    selector = Selector()
    assert torch.equal(selector(frames[:1], alphas[:1]), alphas[:1])
    assert selector.toggle(5, 5) is None  # the background
    assert selector.toggle(120, 70) is not None
    kept = selector(frames[1:2], alphas[1:2])
    assert kept[0, 0, :, 100:].sum() == alphas[1, 0, :, 100:].sum() and kept[0, 0, :, :80].sum() == 0
    selector.toggle(120, 70)
    assert torch.equal(selector(frames[2:3], alphas[2:3]), alphas[2:3])
    assert selector.tracker is None, 'nobody chosen: nobody followed'
    selector.toggle(40, 70, keep=False)
    dropped = selector(frames[3:4], alphas[3:4])
    assert dropped[0, 0, :, :80].sum() == 0 and dropped[0, 0, :, 100:].sum() == alphas[3, 0, :, 100:].sum()


def test_tracker_ids_are_the_same_for_the_same_alpha():
    """What makes a selection on a later frame hold from the first: a second run gives the same ids."""
    positions = [[40 + t, 120 - 2 * t] for t in range(8)]
    frames = people_frames(positions, SIZE)
    alphas = (frames.mean(axis=3) > 128).astype(np.uint8) * 255
    runs = []
    for _ in range(2):
        tracker = Tracker()
        runs.append([tracker(frame, alpha).regions for frame, alpha in zip(frames, alphas)])
    assert all(np.array_equal(a, b) for a, b in zip(*runs))
    assert sorted(np.unique(runs[0][-1]).tolist()) == [0, 1, 2]
