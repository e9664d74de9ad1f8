"""The streaming core of inference: readers -> `Matter` -> writers, one module per job.

    formats     extensions, frame order, codec choice, output checks (ConversionError)
    options     ConversionOptions: what a conversion is, every option and its default, once
    images      cover-and-crop, compositing
    color       BT.709 Y'CbCr conversion for the codecs; decoded samples to the network's floats
    readers     VideoReader, ImageSequenceReader, open_reader: frames in, as a stream
    writers     VideoWriter: frames out to a video file, as they come
    sequence_writer  ImageSequenceWriter: frames out as numbered, marked images
    audio       the input's audio, copied into video outputs
    background  the composition background (colour, image, looped video)
    threads     reader and writer threads, bounded queues, the CPU's turn-taking
    device      Placement: every device decision
    matter      Matter: the prepared model and its recurrent state; render()
    selection   Selection (--keep/--drop) and Selector: the people not kept get alpha 0
    tracking    Tracker: people followed from frame to frame on the matte, with lasting ids
    scenes      hard cuts, and SceneCutMatter, which resets at them
    plan        ConversionPlan: a conversion's options resolved against its input, once
    conversion  convert (the loop), make_matter, convert_video (the original API)
    batch/      many and long videos: folders, resume, segments, Ray (its own package)
    live/       live sources and sinks around a Matter (its own package)

See documentation/architecture.md for how a frame flows through them.
"""
from .conversion import convert, convert_video, make_matter
from .formats import ConversionError
from .matter import Matter, auto_downsample_ratio, render
from .options import ConversionOptions
from .plan import ConversionPlan
from .selection import Selection
from .readers import Frame, ImageSequenceReader, VideoReader, open_reader
from .sequence_writer import ImageSequenceWriter
from .writers import VideoWriter

__all__ = ['ConversionError', 'ConversionOptions', 'ConversionPlan', 'Frame', 'ImageSequenceReader',
           'ImageSequenceWriter', 'Matter', 'Selection', 'VideoReader', 'VideoWriter', 'auto_downsample_ratio',
           'convert', 'convert_video', 'make_matter', 'open_reader', 'render']
