"""Augmentation, frame samplers, and every dataset reading the synthetic data written in its format."""
import json
import random

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.transforms import functional as F

from dataset import augmentation
from dataset.augmentation import (
    AffineParams, ImageMatteAugmentation, MotionAugmentation, Step, VideoMatteTrainAugmentation, motion_affine,
    random_motion_affine_params,
)
from dataset.background import RandomBackground
from dataset.coco import CocoPanopticDataset, CocoPanopticTrainAugmentation
from dataset.imagematte import ImageMatteDataset
from dataset.samplers import TrainFrameSampler, ValidFrameSampler
from dataset.spd import SuperviselyPersonDataset
from dataset.synthetic import generate
from dataset.videomatte import VideoMatteDataset
from dataset.youtubevis import YouTubeVISAugmentation, YouTubeVISDataset, decode_rle, encode_rle
from train_config import check_data_paths, load_data_paths


def _smooth_pattern(h, w, seed):
    """A uint8 `[h, w]` pattern with gradients and edges, so misalignment shows."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w] / max(h, w)
    img = 0.5 + 0.25 * np.sin(2 * np.pi * (x * rng.uniform(1, 3) + y * rng.uniform(1, 3)))
    img[h // 4:h // 2, w // 3:2 * w // 3] = 1.0
    return (img * 255).astype(np.uint8)


def _clips(T=3, h=40, w=48, seed=0):
    """fgr whose three channels all equal pha, and an unrelated background."""
    phas = [Image.fromarray(_smooth_pattern(h, w, seed)) for _ in range(T)]
    fgrs = [Image.merge('RGB', [pha] * 3) for pha in phas]
    bgrs = [Image.fromarray(np.full((h + 8, w + 8, 3), 100, np.uint8))] * T
    return fgrs, phas, bgrs


def test_motion_augmentation_keeps_fgr_and_pha_aligned():
    # Every geometric effect, sharpening, blur, grayscale and pause on; colour effects that touch
    # only the foreground RGB (noise, jitter) off, so fgr must equal pha channel by channel.
    aug = MotionAugmentation(size=(32, 32), prob_fgr_affine=1, prob_bgr_affine=2, prob_noise=0,
                             prob_color_jitter=0, prob_grayscale=1, prob_sharpness=1, prob_blur=3,
                             prob_hflip=1, prob_pause=1)
    moved = 0
    for seed in range(6):
        random.seed(seed)
        torch.manual_seed(seed)
        fgr, pha, bgr = aug(*_clips(seed=seed))
        assert fgr.shape == (3, 3, 32, 32) and pha.shape == (3, 1, 32, 32) and bgr.shape == (3, 3, 32, 32)
        for c in range(3):
            torch.testing.assert_close(fgr[:, c], pha[:, 0], atol=1e-4, rtol=0)  # grayscale weights round
        moved += not torch.allclose(pha[0], pha[-1])
    assert moved > 0, 'the motion affine never moved the clip: the alignment check tested nothing'


def test_motion_affine_moves_clips_alike_along_an_easing_curve():
    random.seed(1)
    torch.manual_seed(1)
    params = random_motion_affine_params(5, [48, 40])
    assert len(params) == 5 and all(isinstance(p, AffineParams) for p in params)
    assert abs(params[0].translate[0]) <= 0.1 * 48 + 1e-6 and abs(params[0].angle) <= 10

    clip = torch.rand(5, 3, 40, 48)
    a, b = clip.clone(), clip.clone()
    random.seed(2)
    torch.manual_seed(2)
    a_out, b_out = motion_affine(a, b)
    torch.testing.assert_close(a_out, b_out)
    assert not torch.equal(a_out, clip)


def test_single_frame_clips_are_supported():
    random.seed(0)
    params = random_motion_affine_params(1, [16, 16])
    assert len(params) == 1
    fgr, pha, bgr = VideoMatteTrainAugmentation((16, 16))(*_clips(T=1, h=20, w=20))
    assert fgr.shape == (1, 3, 16, 16)


def test_step_easing_is_a_sudden_change():
    step = Step()
    assert [step(x) for x in (0, 0.49, 0.5, 1)] == [0, 0, 1, 1]


def test_color_jitter_applies_saturation_not_brightness(monkeypatch):
    # The published code passed the brightness factors to adjust_saturation. Draw zero brightness,
    # contrast and hue changes and a saturation change of +0.5: only saturation may change.
    monkeypatch.setattr(torch, 'randn', lambda *size, **kw: torch.tensor([0., 0., 0., 0., 5., 5., 0., 0.]))
    clip = torch.rand(3, 3, 8, 8)
    out = MotionAugmentation._motion_color_jitter(clip.clone())
    torch.testing.assert_close(out, F.adjust_saturation(clip, 1.5))
    assert not torch.allclose(out, clip, atol=1e-3)


def test_random_easing_fn_covers_the_published_curves():
    random.seed(0)
    names = {type(augmentation.random_easing_fn()).__name__ for _ in range(2000)}
    assert {'LinearInOut', 'Step', 'ElasticEaseInOut', 'BounceEaseOut'} <= names
    assert len(names) == len(augmentation.EASING_FUNCTIONS) + 2


# ---------------------------------------------------------------------------------- samplers


def test_train_frame_sampler_speed_shift_and_reverse():
    random.seed(0)
    seen_reversed = seen_forward = False
    for _ in range(100):
        frames = TrainFrameSampler()(6)
        forward = frames if frames[0] <= frames[-1] else frames[::-1]
        seen_reversed |= frames[0] > frames[-1]
        seen_forward |= frames[0] < frames[-1]
        shift = forward[0]
        assert 0 <= shift < 6
        steps = {b - a for a, b in zip(forward, forward[1:])}
        assert steps <= {0, 1, 2, 3, 4, 5}
    assert seen_forward and seen_reversed
    random.seed(1)
    frames = TrainFrameSampler(speed=[2])(4)
    forward = sorted(frames)
    assert forward == [forward[0] + 2 * i for i in range(4)]


def test_valid_frame_sampler_is_consecutive():
    assert ValidFrameSampler()(4) == [0, 1, 2, 3]


# --------------------------------------------------------------------------- run-length masks


def test_decode_uncompressed_rle_is_column_major():
    mask = decode_rle({'size': [2, 3], 'counts': [1, 2, 3]})
    # Column-major: (0,0)=0, then (1,0)=1, (0,1)=1, then the rest 0.
    np.testing.assert_array_equal(mask, [[0, 255, 0], [255, 0, 0]])


def test_decode_compressed_rle_hand_encoded():
    # counts [5, 5, 10, 2]: '5' '5' ':' (10 + 48), then 2 - 5 = -3 stored as the difference to the count
    # two before: 5-bit group 0b11101 = 29 with the sign bit 0x10 set and no continuation: chr(29 + 48) = 'M'.
    mask = decode_rle({'size': [2, 11], 'counts': '55:M'})
    expected = np.repeat([0, 255, 0, 255], [5, 5, 10, 2]).astype(np.uint8).reshape(11, 2).T
    np.testing.assert_array_equal(mask, expected)
    # counts [1, 1, 1, 40]: 40 - 1 = 39 needs two groups: 7 | 0x20 -> 'W', then 1 -> '1'.
    assert decode_rle({'size': [43, 1], 'counts': '111W1'}).reshape(-1).tolist() == [0, 255, 0] + [255] * 40
    assert decode_rle({'size': [43, 1], 'counts': b'111W1'}).sum() == 41 * 255


@pytest.mark.parametrize('compressed', [False, True])
def test_rle_round_trip(compressed):
    rng = np.random.default_rng(0)
    for shape in [(7, 5), (40, 33)]:
        mask = rng.random(shape) < 0.3
        mask[0, 0] = True                       # starts with foreground: counts begin with 0
        rle = encode_rle(mask, compressed)
        assert isinstance(rle['counts'], str if compressed else list)
        np.testing.assert_array_equal(decode_rle(rle) > 0, mask)


def test_decode_rle_rejects_a_size_mismatch():
    with pytest.raises(ValueError, match='2x2'):
        decode_rle({'size': [2, 2], 'counts': [1, 2]})


# ------------------------------------------------------------------------------ COCO panoptic


def test_coco_panoptic_mask_takes_person_backpack_and_tie(tmp_path):
    # Segment ids past 65535 use all three PNG channels: id = R + 256 G + 256^2 B.
    ids = np.array([[0, 70000, 70000, 5],
                    [300, 300, 9, 5],
                    [300, 12, 12, 0]])
    rgb = np.stack([ids % 256, ids // 256 % 256, ids // 65536], -1).astype(np.uint8)
    (tmp_path / 'ann').mkdir()
    (tmp_path / 'img').mkdir()
    Image.fromarray(rgb).save(tmp_path / 'ann' / 'a.png')
    Image.fromarray(np.zeros((3, 4, 3), np.uint8)).save(tmp_path / 'img' / 'a.jpg')
    segments = [{'id': 70000, 'category_id': 1}, {'id': 300, 'category_id': 27}, {'id': 9, 'category_id': 32},
                {'id': 5, 'category_id': 3}, {'id': 12, 'category_id': 1}]
    annotations = [{'file_name': 'a.png', 'segments_info': segments},
                   {'file_name': 'b.png', 'segments_info': [{'id': 1, 'category_id': 3}]}]   # no person: skipped
    (tmp_path / 'ann.json').write_text(json.dumps({'annotations': annotations}))

    dataset = CocoPanopticDataset(str(tmp_path / 'img'), str(tmp_path / 'ann'), str(tmp_path / 'ann.json'))
    assert len(dataset) == 1
    img, seg = dataset[0]
    assert img.mode == 'RGB' and img.size == (4, 3)
    np.testing.assert_array_equal(np.asarray(seg), [[0, 255, 255, 0], [255, 255, 255, 0], [255, 255, 255, 0]])


# ------------------------------------------------------------------- the synthetic data set


@pytest.fixture(scope='module')
def synthetic_root(tmp_path_factory):
    root = tmp_path_factory.mktemp('synthetic')
    generate(str(root), clips=2, frames=5, size=48, seed=0, progress=False)
    return str(root)


@pytest.fixture(scope='module')
def paths(synthetic_root):
    paths = load_data_paths(synthetic_root)
    check_data_paths(paths, paths.keys())
    return paths


def test_synthetic_generation_refuses_to_overwrite(synthetic_root):
    with pytest.raises(FileExistsError, match='nothing was overwritten'):
        generate(synthetic_root, clips=2, frames=5, size=48)


def _videomatte(paths, name, transform=None, seq_length=3):
    cls = VideoMatteDataset if name == 'videomatte' else ImageMatteDataset
    return cls(paths[name]['train'], paths['background_images']['train'], paths['background_videos']['train'],
               size=48, seq_length=seq_length, seq_sampler=ValidFrameSampler(), transform=transform)


def test_videomatte_reads_the_synthetic_clips(paths):
    dataset = _videomatte(paths, 'videomatte')
    assert len(dataset) == 2 * 2                # 2 clips of 5 frames, one item per 3 frames
    fgrs, phas, bgrs = dataset[1]               # clip 0 from frame 3: frames 3, 4 and (wrapped) 0
    assert len(fgrs) == len(phas) == len(bgrs) == 3
    on_disk = [np.asarray(Image.open(f'{paths["videomatte"]["train"]}/pha/0000/{t:05d}.jpg')) for t in (3, 4, 0)]
    for pha, expected in zip(phas, on_disk):
        np.testing.assert_array_equal(np.asarray(pha), expected)
    alpha = np.asarray(phas[0]) / 255
    assert (alpha > 0.98).mean() > 0.05 and (alpha < 0.02).mean() > 0.3
    assert ((alpha > 0.05) & (alpha < 0.95)).mean() > 0.005   # soft, hair-like edges

    random.seed(0)
    fgr, pha, bgr = _videomatte(paths, 'videomatte', VideoMatteTrainAugmentation((32, 32)))[0]
    assert fgr.shape == (3, 3, 32, 32) and pha.shape == (3, 1, 32, 32) and bgr.shape == (3, 3, 32, 32)
    assert -1e-5 <= pha.min() and pha.max() <= 1 + 1e-5    # bilinear resampling, up to rounding


def test_clips_and_frames_are_listed_in_natural_order(tmp_path, paths):
    # clip2 before clip10, frame2 before frame10; a file that is not an image is not a frame.
    root = tmp_path / 'videomatte'
    image = Image.new('RGB', (8, 8))
    for kind in ('fgr', 'pha'):
        for clip in ('clip10', 'clip2'):
            (root / kind / clip).mkdir(parents=True)
            for name in ('frame10.png', 'frame2.png', 'frame1.png'):
                image.save(root / kind / clip / name)
            (root / kind / clip / 'notes.txt').write_text('not a frame')
    dataset = VideoMatteDataset(str(root), paths['background_images']['train'], paths['background_videos']['train'],
                                size=8, seq_length=3, seq_sampler=ValidFrameSampler())
    assert dataset.clips == ['clip2', 'clip10']
    assert dataset.frames == [['frame1.png', 'frame2.png', 'frame10.png']] * 2


def test_imagematte_reads_the_synthetic_images(paths):
    dataset = _videomatte(paths, 'imagematte', seq_length=2)
    assert len(dataset) == max(4, 4 + 2)        # backgrounds: 4 images + 2 videos
    fgrs, phas, bgrs = dataset[5]
    assert fgrs[0] is fgrs[1] and phas[0].mode == 'L' and len(bgrs) == 2
    fgr, pha, bgr = _videomatte(paths, 'imagematte', ImageMatteAugmentation((32, 32)), seq_length=2)[0]
    assert fgr.shape == (2, 3, 32, 32) and pha.shape == (2, 1, 32, 32)


def test_background_video_frames_follow_the_sampler(paths):
    random.seed(3)
    background = RandomBackground(paths['background_images']['train'], paths['background_videos']['train'],
                                  size=48, seq_length=3, seq_sampler=ValidFrameSampler())
    frames = background.random_video()
    assert len(frames) == 3 and len({np.asarray(f).tobytes() for f in frames}) == 3   # a panning camera
    image = background.random_image()
    assert image[0] is image[2]


def test_missing_data_is_reported_with_its_path(tmp_path, paths):
    with pytest.raises(FileNotFoundError, match=str(tmp_path / 'nowhere')):
        RandomBackground(str(tmp_path / 'nowhere'), paths['background_videos']['train'], 48, 2, ValidFrameSampler())
    broken = load_data_paths(str(tmp_path))
    with pytest.raises(FileNotFoundError, match='videomatte.train'):
        check_data_paths(broken, ['videomatte'])


def test_coco_panoptic_reads_the_synthetic_set(paths):
    coco = paths['coco_panoptic']
    dataset = CocoPanopticDataset(coco['imgdir'], coco['anndir'], coco['annfile'])
    annotations = json.load(open(coco['annfile']))['annotations']
    assert len(dataset) == sum(any(s['category_id'] == 1 for s in a['segments_info']) for a in annotations)
    img, seg = dataset[0]
    seg = np.asarray(seg)
    assert set(np.unique(seg)) == {0, 255} and img.size == (seg.shape[1], seg.shape[0])
    img, seg = CocoPanopticDataset(coco['imgdir'], coco['anndir'], coco['annfile'],
                                   CocoPanopticTrainAugmentation((32, 32)))[1]
    assert img.shape == (3, 32, 32) and seg.shape == (1, 32, 32)
    assert set(seg.unique().tolist()) <= {0.0, 1.0}             # nearest sampling keeps masks binary


def test_supervisely_reads_the_synthetic_set(paths):
    dataset = SuperviselyPersonDataset(paths['spd']['imgdir'], paths['spd']['segdir'])
    assert len(dataset) == 4
    img, seg = dataset[2]
    assert img.mode == 'RGB' and seg.mode == 'L' and np.asarray(seg).max() == 255


def test_youtubevis_reads_the_synthetic_set(paths):
    ytvis = paths['youtubevis']
    data = json.load(open(ytvis['annfile']))
    kinds = {type(s['counts']).__name__ for a in data['annotations'] for s in a['segmentations'] if s}
    assert kinds == {'list', 'str'}                             # both RLE forms are exercised
    assert any(s is None for a in data['annotations'] for s in a['segmentations'])

    dataset = YouTubeVISDataset(ytvis['videodir'], ytvis['annfile'], size=48, seq_length=3,
                                seq_sampler=ValidFrameSampler())
    assert len(dataset) == 2 * 5                                # the video without a person is left out
    imgs, segs = dataset[4]                                     # frames 4, 0, 1 of the first video
    assert len(imgs) == 3 and imgs[0].mode == 'RGB' and segs[0].mode == 'L'
    person = [a for a in data['annotations'] if a['video_id'] == 1]
    expected = np.zeros_like(np.asarray(segs[0]))
    for a in person:
        if a['segmentations'][4] is not None:
            expected |= decode_rle(a['segmentations'][4])
    np.testing.assert_array_equal(np.asarray(segs[0]), expected)
    assert expected.max() == 255

    imgs, segs = YouTubeVISDataset(ytvis['videodir'], ytvis['annfile'], 48, 3, ValidFrameSampler(),
                                   YouTubeVISAugmentation((32, 32)))[0]
    assert imgs.shape == (3, 3, 32, 32) and segs.shape == (3, 1, 32, 32)


def test_data_config_file_overrides_entries(tmp_path, monkeypatch):
    config = tmp_path / 'paths.json'
    config.write_text(json.dumps({'videomatte': {'train': 'vm/train'}, 'spd': {'imgdir': '/abs/img'}}))
    monkeypatch.setenv('RVM_DATA_ROOT', '/data')
    monkeypatch.setenv('RVM_DATA_CONFIG', str(config))
    paths = load_data_paths()
    assert paths['videomatte']['train'] == str(tmp_path / 'vm' / 'train')
    assert paths['spd']['imgdir'] == '/abs/img'
    assert paths['videomatte']['valid'] == '/data/VideoMatte240K_JPEG_SD/valid'
    config.write_text(json.dumps({'videomate': {'train': 'x'}}))
    with pytest.raises(ValueError, match="unknown entry 'videomate'"):
        load_data_paths()
