"""The page: a Convert tab (upload or pick a video, options, a preview frame whose people a click
keeps or drops, progress, cancel, downloads), a Webcam tab (the camera matted live beside the
original, fps and latency, recurrent states, a click on a person keeps only them) and a link to the
in-browser page (webapp/browser.py).

Conversions (and their previews) share one Gradio concurrency group of size 1: jobs from every
tab and user wait in one queue, and the page shows their place in it.
"""
import dataclasses
import re
import time
from dataclasses import dataclass
from typing import Optional

import gradio as gr

from streaming import ConversionError
from streaming.background import GREEN_HEX
from streaming.formats import INPUT_EXTENSIONS

from . import convert, inputs
from .jobs import Cancelled, Jobs
from .models import Models
from .webcam import Session

# documentation/inference.md's guidance: the scaled frame about 256 to 512 px on its long side.
RATIO_HELP = 'auto: long side to 512 px. 1080p: 0.25 portrait, 0.4 full body; 720p: 0.375 / 0.6'
RATIOS = ['auto', '1', '0.6', '0.5', '0.4', '0.375', '0.25', '0.2', '0.125']
BROWSER_PAGE = ('The network can also run in your browser, on your own device (WebGPU or WebAssembly): '
                '[open the in-browser page](/browser/) (exported from these models on the first visit). '
                'Your camera and videos stay on your device; the page is static files that any web host can '
                'serve (`python export.py --format web`).')
CSS = """
#status { min-height: 2.5em; }
#preview img, #matted img, .state-view img { width: 100%; height: 100%; object-fit: contain; }
#webcam-stats { font-variant-numeric: tabular-nums; }
"""


@dataclass
class Settings:
    media_root: Optional[str]
    max_upload_mb: float
    max_seconds: float


def color_spec(value: str) -> str:
    """Gradio's colour ('#rrggbb', or 'rgba(r, g, b, a)' in some versions) as the core's 'r,g,b' or '#rrggbb'."""
    match = re.match(r'rgba?\(([\d.]+),\s*([\d.]+),\s*([\d.]+)', value or '')
    return ','.join(str(round(float(v))) for v in match.groups()) if match else (value or GREEN_HEX)


def build(models: Models, jobs: Jobs, settings: Settings) -> gr.Blocks:
    max_bytes = int(settings.max_upload_mb * 2**20)

    def take_source(upload, media, folder) -> str:
        if upload:
            return inputs.take_upload(upload, folder, max_bytes)
        if media:
            return inputs.resolve_media(settings.media_root, media)
        raise ConversionError('upload a video or a zip of images, or pick one from the media folder')

    def start(upload, media, model, ratio, bg_choice, color, bg_image, bg_video, fmt, kinds, picks):
        """Create the job and resolve its plan (fast, unqueued); returns (job id, status)."""
        job = jobs.create()
        try:
            source = take_source(upload, media, job.folder)
            background = color_spec(color) if bg_choice == 'Colour' else None
            if bg_choice in ('Image', 'Video'):
                chosen = bg_image if bg_choice == 'Image' else bg_video
                if not chosen:
                    raise ConversionError(f'upload a background {bg_choice.lower()}, or choose another background')
                background = inputs.take_background(chosen, job.folder, max_bytes)
            request = convert.Request(source, model, None if ratio == 'auto' else float(ratio), background, fmt, kinds,
                                      convert.selections(picks, True), convert.selections(picks, False))
            job.plan = convert.plan_job(job, request, settings.max_seconds, models.options)
            job.model_name = model
        except (ConversionError, OSError) as e:
            return None, f'**Error:** {e}', None, None
        source = job.plan.source
        return job.id, (f'Queued: {len(source)} frames, {source.width}x{source.height}, '
                        f'{float(source.frame_rate):.3g} fps.'), None, None

    def show_frame(upload, media, model, ratio, bg_choice, color, frame, picks, picked):
        """The frame to pick people on, matted with the picks on it (the input taken once per choice of
        input, into a folder of its own); returns (image, picked source, status)."""
        try:
            if picked is None or picked[0] != [upload, media]:
                picked = [[upload, media], take_source(upload, media, jobs.create().folder)]
            options = dataclasses.replace(
                models.options, downsample_ratio=None if ratio == 'auto' else float(ratio),
                background=color_spec(color) if bg_choice == 'Colour' else None,
                keep=convert.selections(picks, True), drop=convert.selections(picks, False))
            image = convert.matte_frame(picked[1], options, models, model, int(frame))
        except (ConversionError, OSError) as e:
            return gr.update(), picked, f'**Error:** {e}'
        return image, picked, convert.picks_text(picks)

    def pick(upload, media, model, ratio, bg_choice, color, frame, picks, picked, mode, evt: gr.SelectData):
        """A click on the preview: the person there kept (or dropped) from the conversion's first frame."""
        chosen = picks + [[int(evt.index[0]), int(evt.index[1]), int(frame), mode == 'Keep']]
        image, picked, text = show_frame(upload, media, model, ratio, bg_choice, color, frame, chosen, picked)
        return image, (picks if text.startswith('**Error') else chosen), picked, text

    def show_preview(job_id):
        job = jobs.get(job_id)
        if job is None or job.cancel_requested.is_set():
            return None
        try:
            return convert.preview(job.plan, models, job.model_name)
        except ConversionError as e:
            raise gr.Error(str(e))

    def run(job_id, progress=gr.Progress()):
        job = jobs.get(job_id)
        if job is None:
            return gr.update(), None
        job.running = True
        total, done = len(job.plan.source), [0]
        progress(0, desc=f'0/{total} frames')

        def report(written: int, total: int, left: float) -> None:
            done[0] = written
            progress(written / total, desc=f'{written}/{total} frames, {left:.0f} s left')
        start = time.monotonic()
        notes = []
        try:
            _, notes = convert.run(job, models, report)
            cancelled = False
        except Cancelled:
            cancelled = True
        except (ConversionError, OSError) as e:
            return f'**Error:** {e}', None
        finally:
            job.running = False
        files = convert.results(job.plan)
        seconds = time.monotonic() - start
        if not cancelled:
            status = f'**Done:** {done[0]} frames in {seconds:.1f} s ({done[0] / seconds:.1f} fps).'
        elif done[0]:
            status = f'**Cancelled** after {done[0]} of {total} frames; the results hold those frames.'
        else:
            status = '**Cancelled** before the first frame.'
        status += ''.join(f'\n\n**Selection unsure:** {note}.' for note in notes)
        return status, files or None

    def cancel(job_id):
        job = jobs.get(job_id)
        if job is None:
            return gr.update()
        job.cancel_requested.set()
        return 'Cancelling…'

    def webcam_pick(session, mode, evt: gr.SelectData):
        """A click on the matted picture: keep (drop) the person there, or no longer."""
        if session is None:
            return gr.update()
        if not models.lock.acquire(timeout=2):
            return 'Busy: a conversion is using the model; click again after it.'
        try:
            return session.toggle(int(evt.index[0]), int(evt.index[1]), mode == 'Keep')
        finally:
            models.lock.release()

    def webcam_frame(frame, session, model, color, picture, kind, show_states):
        if frame is None:
            return None, gr.update(), session, *([gr.update()] * 4)
        if session is None or session.model != model:
            session = Session(models, model)
        if not models.lock.acquire(timeout=0.2):
            return gr.update(), 'Paused: a conversion is using the model.', session, *([gr.update()] * 4)
        try:
            image = session.matte(frame, picture or color_spec(color), kind)
        finally:
            models.lock.release()
        states = session.states() if show_states else [gr.update()] * 4
        return image, session.readout(), session, *states

    with gr.Blocks(title='Robust Video Matting', delete_cache=(60, int(jobs.retention_s))) as app:
        gr.Markdown('# Robust Video Matting\nRemove the background of human video: convert a clip, or matte '
                    'your webcam live. Everything runs on this server; nothing leaves it.')
        with gr.Tab('Convert', id='convert'):
            job_id = gr.State(None)
            picks = gr.State([])     # [x, y, frame, keep] per click on the preview
            picked = gr.State(None)  # [[upload, media], the input taken for the preview]
            with gr.Row():
                with gr.Column(scale=1):
                    upload = gr.File(label='Video, or a zip of images', file_types=list(INPUT_EXTENSIONS) + ['.zip'],
                                     elem_id='upload')
                    media = gr.Dropdown(inputs.media_choices(settings.media_root), value=None,
                                        label="…or a file from the server's media folder",
                                        visible=settings.media_root is not None, elem_id='media')
                    with gr.Row():
                        model = gr.Dropdown(models.names, value=models.names[0], label='Model', elem_id='model')
                        ratio = gr.Dropdown(RATIOS, value='auto', label='Downsample ratio', info=RATIO_HELP,
                                            elem_id='ratio')
                    bg_choice = gr.Radio(['Colour', 'Image', 'Video', 'Transparent'], value='Colour',
                                         label='Background', elem_id='background')
                    color = gr.ColorPicker(GREEN_HEX, label='Background colour', elem_id='color')
                    bg_image = gr.File(label='Background image', file_types=['image'], visible=False)
                    bg_video = gr.File(label='Background video (looped)', file_types=list(INPUT_EXTENSIONS),
                                       visible=False)
                    fmt = gr.Radio(list(convert.FORMATS), value='MP4 (H.264)', label='Format',
                                   info='Transparent needs ProRes 4444, VP9 or PNG', elem_id='format')
                    kinds = gr.CheckboxGroup(list(convert.KINDS), value=['composition'], label='Outputs',
                                             elem_id='outputs')
                    with gr.Row():
                        start_button = gr.Button('Convert', variant='primary', elem_id='convert-button')
                        cancel_button = gr.Button('Cancel', variant='stop', elem_id='cancel-button')
                with gr.Column(scale=1):
                    first = gr.Image(label='Preview: click a person to keep only them (or to drop them)',
                                     interactive=False, format='png', height=300, elem_id='preview')
                    with gr.Row():
                        frame = gr.Number(0, label='Frame to pick people on', minimum=0, precision=0,
                                          elem_id='pick-frame')
                        mode = gr.Radio(['Keep', 'Drop'], value='Keep', label='A click on a person',
                                        elem_id='pick-mode')
                    with gr.Row():
                        show_button = gr.Button('Show the frame', elem_id='show-frame')
                        clear_button = gr.Button('Keep everyone', elem_id='clear-picks')
                    picked_text = gr.Markdown(convert.picks_text([]), elem_id='picks')
                    status = gr.Markdown('Choose a video and press Convert.', elem_id='status')
                    files = gr.File(label='Results', file_count='multiple', interactive=False, elem_id='results')

            bg_choice.change(lambda c: (gr.update(visible=c == 'Colour'), gr.update(visible=c == 'Image'),
                                        gr.update(visible=c == 'Video')),
                             bg_choice, [color, bg_image, bg_video], queue=False)
            framing = [upload, media, model, ratio, bg_choice, color, frame, picks, picked]
            show_button.click(show_frame, framing, [first, picked, picked_text], concurrency_id='model',
                              concurrency_limit=1)
            first.select(pick, framing + [mode], [first, picks, picked, picked_text], concurrency_id='model',
                         concurrency_limit=1)
            clear_button.click(lambda: ([], convert.picks_text([])), None, [picks, picked_text], queue=False)
            for source in (upload, media):  # another input: its own people
                source.change(lambda: ([], None, convert.picks_text([])), None, [picks, picked, picked_text],
                              queue=False)
            started = start_button.click(
                start, [upload, media, model, ratio, bg_choice, color, bg_image, bg_video, fmt, kinds, picks],
                [job_id, status, first, files], queue=False)
            started.then(show_preview, job_id, first, concurrency_id='model', concurrency_limit=1) \
                .then(run, job_id, [status, files], concurrency_id='model', concurrency_limit=1,
                      show_progress_on=status)
            cancel_button.click(cancel, job_id, status, queue=False)

        with gr.Tab('Webcam', id='webcam'):
            session = gr.State(None)
            with gr.Row():
                with gr.Column():
                    camera = gr.Image(sources=['webcam'], streaming=True, label='Camera', height=360, elem_id='camera',
                                      webcam_options=gr.WebcamOptions(mirror=False))  # as the matted side shows it
                with gr.Column():
                    matted = gr.Image(label='Matted', interactive=False, height=360, format='jpeg', elem_id='matted')
            with gr.Row():
                cam_model = gr.Dropdown(models.names, value=models.names[0], label='Model')
                cam_color = gr.ColorPicker(GREEN_HEX, label='Background colour')
                cam_picture = gr.Image(type='filepath', sources=['upload'], label='…or a background image',
                                       height=120, elem_id='webcam-background')
                cam_kind = gr.Radio(list(convert.KINDS), value='composition', label='Show')
                cam_mode = gr.Radio(['Keep', 'Drop'], value='Keep', label='A click on a person', elem_id='webcam-pick')
                show_states = gr.Checkbox(False, label='Show the recurrent states', elem_id='show-states')
            stats = gr.Markdown('Start the camera (the button under it).', elem_id='webcam-stats')
            picked_person = gr.Markdown('Click a person in the matted picture to keep only them.',
                                        elem_id='webcam-picks')
            with gr.Row(visible=False) as state_row:
                state_views = [gr.Image(label=f'r{i} (first 3 channels)', interactive=False, height=180,
                                        elem_id=f'state-r{i}', elem_classes='state-view') for i in range(1, 5)]
            show_states.change(lambda s: gr.update(visible=s), show_states, state_row, queue=False)
            matted.select(webcam_pick, [session, cam_mode], picked_person, queue=False)
            camera.stream(webcam_frame, [camera, session, cam_model, cam_color, cam_picture, cam_kind, show_states],
                          [matted, stats, session, *state_views], stream_every=0.1, concurrency_limit=4,
                          concurrency_id='webcam', show_progress='hidden')

        with gr.Tab('In your browser', id='browser'):
            gr.Markdown(BROWSER_PAGE, elem_id='browser-page')
    return app
