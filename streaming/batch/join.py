"""Joining a job's parts into its outputs without re-encoding, then renaming them onto their final names.

Video parts are remuxed packet by packet into one file: every part holds the same encoder's
stream with the input's own timestamps, so the packets follow each other as one stream; the
input's audio is copied in once, in sync (`streaming.audio.AudioTrack`). Image-sequence parts are
renamed into one numbered sequence. Both are lossless.
"""
import os
from typing import Dict, List, Optional

import av

from ..audio import AudioTrack
from ..formats import ConversionError, container_options, list_images
from ..readers import open_reader
from .job import BatchOptions, Job
from .outputs import commit, joined_path, remove_work, work_dir
from .parts import load_checkpoint, part_outputs, segment_dir, segment_key
from .segments import Segment


def join_videos(parts: List[str], starts: List[float], output: str, audio_source: Optional[str] = None) -> None:
    """Remux the video stream of each file in `parts`, in order, into `output` (plus `audio_source`'s audio).

    `starts`: each part's first frame time in seconds (what its pts are shifted back to).
    """
    ext = os.path.splitext(output)[1].lower()
    with av.open(parts[0]) as first, av.open(output, 'w', options=container_options(ext)) as container:
        template = first.streams.video[0]
        stream = container.add_stream_from_template(template)
        stream.time_base = template.time_base  # else the muxer picks a coarser one and rounds the pts
        audio = AudioTrack(audio_source, container, ext) if audio_source else None
        last = None
        for part, start in zip(parts, starts):
            with av.open(part) as source:
                video = source.streams.video[0]
                shift = None
                for packet in (packet for packet in source.demux(video) if packet.dts is not None):
                    if shift is None:  # the first packet is the key frame that starts the part
                        shift = round(start / video.time_base) - packet.pts
                    packet.pts, packet.dts = packet.pts + shift, packet.dts + shift
                    if audio is not None:
                        audio.copy_until(float(packet.dts * packet.time_base))
                    last = packet.pts * packet.time_base, packet.duration * packet.time_base
                    packet.stream = stream
                    container.mux(packet)
        if audio is not None:
            audio.copy_until(float(sum(last)) if last else 0.0)
            audio.close()


def join_sequences(parts: List[str], output: str) -> None:
    """Move the images of each folder in `parts`, in order, into folder `output` as one numbered sequence."""
    os.makedirs(output, exist_ok=True)
    names = []
    for part in parts:
        for name in list_images(part):
            names.append(f'{len(names):04d}{os.path.splitext(name)[1]}')
            os.replace(os.path.join(part, name), os.path.join(output, names[-1]))


def finish(job: Job, options: BatchOptions, segments: List[Segment]) -> None:
    """Join the converted segments' parts into each output and rename it onto its final name."""
    parts: Dict[str, List[str]] = {kind: [] for kind in job.outputs}
    starts: List[float] = []
    reader = open_reader(job.input.path)
    for segment in segments:
        folder = segment_dir(job, segment)
        checkpoint = load_checkpoint(folder, segment_key(job, options, segment))
        if checkpoint is None or not checkpoint['done']:
            raise RuntimeError(f'{job.input.path}: segment {segment.index} is not converted')
        for part, (frames, first_pts) in enumerate(checkpoint['parts']):
            if frames:
                starts.append(float(first_pts * reader.time_base))
                for kind, path in part_outputs(job, folder, part).items():
                    parts[kind].append(path)
    if not any(parts.values()):
        raise ConversionError(f'{job.input.path}: no frame could be decoded')
    work = work_dir(job.outputs)
    for kind, final in job.outputs.items():
        joined = joined_path(work, kind, final)
        if os.path.isdir(parts[kind][0]):
            join_sequences(parts[kind], joined)
        else:
            join_videos(parts[kind], starts, joined, job.input.path if reader.has_audio else None)
    for kind, final in job.outputs.items():
        commit(joined_path(work, kind, final), final)
    remove_work(work)
