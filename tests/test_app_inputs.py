"""The web app's safety rules without a browser: uploads and media-root choices never reach outside
the job's folder or the media root, zips unpack flat and bounded, jobs age out. (webapp.inputs and
webapp.jobs need only the streaming core, so these run in the test venv.)"""
import io
import os
import time
import zipfile

import numpy as np
import pytest
from PIL import Image

from media import make_video
from streaming import ConversionError, open_reader
from webapp.convert import Request, plan_job
from webapp.inputs import media_choices, resolve_media, take_background, take_upload, unpack_images
from webapp.jobs import Cancelled, Jobs


def png_bytes(value: int) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.full((8, 8, 3), value, np.uint8)).save(buffer, 'png')
    return buffer.getvalue()


def test_zip_members_unpack_flat_inside_the_job(tmp_path):
    archive = tmp_path / 'frames.zip'
    with zipfile.ZipFile(archive, 'w') as zf:
        zf.writestr('../../frame10.png', png_bytes(10))
        zf.writestr('/abs/frame2.png', png_bytes(20))
        zf.writestr('clip/frame1.png', png_bytes(30))
        zf.writestr('clip/.hidden.png', png_bytes(40))
        zf.writestr('clip/readme.txt', 'not an image')
    job = tmp_path / 'job'
    job.mkdir()
    source = take_upload(str(archive), job, 2**20)
    assert sorted(os.listdir(source)) == ['frame1.png', 'frame10.png', 'frame2.png']
    assert not (tmp_path / 'frame10.png').exists() and not os.path.exists('/abs/frame2.png')
    reader = open_reader(source)
    assert [int(frame.image[0, 0, 0]) for frame in reader.frames()] == [30, 20, 10]  # natural order


def test_zip_limits_and_duplicates(tmp_path):
    archive = tmp_path / 'frames.zip'
    with zipfile.ZipFile(archive, 'w', zipfile.ZIP_DEFLATED) as zf:
        zf.writestr('a/frame1.png', png_bytes(1))
        zf.writestr('b/frame1.png', png_bytes(2))
    (tmp_path / 'one').mkdir()
    with pytest.raises(ConversionError, match='two images of one name'):
        unpack_images(str(archive), tmp_path / 'one', 2**20)
    (tmp_path / 'two').mkdir()
    with pytest.raises(ConversionError, match='unpacks to over'):
        unpack_images(str(archive), tmp_path / 'two', 100)


def test_upload_gets_a_fixed_name_and_a_size_limit(tmp_path):
    upload = tmp_path / 'my holiday.MP4'
    upload.write_bytes(b'x' * 100)
    job = tmp_path / 'job'
    job.mkdir()
    assert take_upload(str(upload), job, 1000) == str(job / 'input.mp4')
    odd = tmp_path / 'clip.exe'
    odd.write_bytes(b'x')
    assert take_upload(str(odd), job, 1000) == str(job / 'input')
    with pytest.raises(ConversionError, match=r'the upload is 0.0 MB, over the limit of 0 MB \(--max-upload-mb\)'):
        take_upload(str(upload), job, 10)
    with pytest.raises(ConversionError, match='must be an image or a video'):
        take_background(str(odd), job, 1000)


def test_media_root_choices_stay_inside(tmp_path):
    root = tmp_path / 'media'
    (root / 'sub' / 'seq').mkdir(parents=True)
    (root / 'a.mp4').write_bytes(b'')
    (root / 'sub' / 'b.mov').write_bytes(b'')
    (root / 'sub' / 'notes.txt').write_bytes(b'')
    (root / 'sub' / 'seq' / '0001.png').write_bytes(png_bytes(0))
    (tmp_path / 'secret.mp4').write_bytes(b'')
    os.symlink(tmp_path / 'secret.mp4', root / 'link.mp4')
    assert media_choices(str(root)) == ['a.mp4', 'link.mp4', 'sub/b.mov', 'sub/seq/']
    assert resolve_media(str(root), 'sub/b.mov') == str(root / 'sub' / 'b.mov')
    for outside in ('../secret.mp4', str(tmp_path / 'secret.mp4'), 'link.mp4', 'missing.mp4'):
        with pytest.raises(ConversionError, match='is not in the media folder'):
            resolve_media(str(root), outside)
    with pytest.raises(ConversionError, match='without --media-root'):
        resolve_media(None, 'a.mp4')


def test_jobs_have_unguessable_ids_and_age_out(tmp_path):
    jobs = Jobs(retention_s=60, parent=str(tmp_path))
    first, second = jobs.create(), jobs.create()
    assert first.id != second.id and len(first.id) >= 22  # 128 random bits
    assert first.folder.parent == jobs.root and first.folder.is_dir()
    second.running = True
    assert jobs.clean(now=time.monotonic() + 61) == 1, 'a running job is kept'
    assert not first.folder.exists() and second.folder.exists() and jobs.get(first.id) is None
    assert jobs.cancel(second.id) and not jobs.cancel('nope')
    with pytest.raises(Cancelled):
        second.check_cancelled()
    jobs.remove_all()
    assert not jobs.root.exists() and tmp_path.exists()


def test_plan_keeps_outputs_in_the_job_and_the_duration_limit(tmp_path):
    clip = tmp_path / 'clip.mp4'
    make_video(clip, frames=30)  # 1 s at 30 fps
    job = Jobs(60, str(tmp_path)).create()
    request = Request(str(clip), 'model', None, '#00ff00', 'MP4 (H.264)', ['composition', 'alpha'])
    with pytest.raises(ConversionError, match=r'the input is 1 s long \(30 frames\), over the limit of 0.5 s'):
        plan_job(job, request, max_seconds=0.5)
    plan = plan_job(job, request, max_seconds=2)
    assert plan.outputs == {'composition': str(job.folder / 'out' / 'composition.mp4'),
                            'alpha': str(job.folder / 'out' / 'alpha.mp4')}
    transparent = Request(str(clip), 'model', None, None, 'MP4 (H.264)', ['composition'])
    with pytest.raises(ConversionError, match=r'a transparent video needs \.mov \(ProRes 4444\) or \.webm'):
        plan_job(job, transparent, max_seconds=2)
    assert plan_job(job, Request(str(clip), 'model', None, None, 'ProRes 4444 (.mov)', ['composition']), 2).options.transparent
    with pytest.raises(ConversionError, match='choose at least one output'):
        plan_job(job, Request(str(clip), 'model', None, None, 'VP9 (.webm)', []), 2)
