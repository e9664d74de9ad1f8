"""The original RVM API's readers and writers, importable from here as before.

The code lives in the `streaming` package (one module per job, see documentation/architecture.md):

    from inference_utils import VideoReader, VideoWriter, ImageSequenceReader, ImageSequenceWriter

    reader = VideoReader('input.mp4', transform=ToTensor())      # a Dataset of frames
    writer = VideoWriter('output.mp4', frame_rate=reader.frame_rate)
    for src in DataLoader(reader, batch_size=4):                 # [T, 3, H, W] in 0..1
        writer.write(src)                                        # [T, C, H, W] in 0..1
    writer.close()
"""
from streaming.readers import ImageSequenceReader, VideoReader
from streaming.sequence_writer import ImageSequenceWriter
from streaming.writers import VideoWriter

__all__ = ['VideoReader', 'VideoWriter', 'ImageSequenceReader', 'ImageSequenceWriter']
