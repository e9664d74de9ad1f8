"""The streaming core of inference: readers -> `Matter` -> writers, one module per job.

    formats     extensions, frame order, codec choice, output checks (ConversionError)
    images      cover-and-crop, compositing
    color       BT.709 Y'CbCr conversion for the codecs
    readers     VideoReader, ImageSequenceReader, open_reader: frames in, as a stream
    writers     VideoWriter, ImageSequenceWriter: frames out, as they come
    audio       the input's audio, copied into video outputs
    background  the composition background (colour, image, looped video)
    threads     reader and writer threads, bounded queues, the CPU's turn-taking
    device      Placement: every device decision
    matter      Matter: the prepared model and its recurrent state; render()
    plan        ConversionPlan: a conversion's options, resolved and checked once
    batch/      many and long videos: folders, resume, segments, scene cuts, Ray (its own package)

See documentation/architecture.md for how a frame flows through them.
"""
from .formats import ConversionError
from .matter import Matter, auto_downsample_ratio, render
from .plan import ConversionPlan
from .readers import Frame, ImageSequenceReader, VideoReader, open_reader
from .writers import ImageSequenceWriter, VideoWriter

__all__ = ['ConversionError', 'ConversionPlan', 'Frame', 'ImageSequenceReader', 'ImageSequenceWriter', 'Matter',
           'VideoReader', 'VideoWriter', 'auto_downsample_ratio', 'open_reader', 'render']
