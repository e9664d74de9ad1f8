"""Audio: the input's first audio track, copied into a video output in sync with its frames."""
from typing import Optional

import av

# Containers that can hold each audio codec as it is; other codecs are re-encoded.
_AUDIO_CODECS = {
    '.mp4': {'aac', 'mp3', 'opus', 'alac', 'flac', 'ac3', 'eac3'},
    '.m4v': {'aac', 'mp3', 'alac', 'ac3', 'eac3'},
    '.mov': {'aac', 'mp3', 'alac', 'ac3', 'eac3', 'pcm_s16le', 'pcm_s24le', 'pcm_f32le'},
    '.avi': {'mp3', 'ac3', 'pcm_s16le'},
    '.webm': {'opus', 'vorbis'},
}


class AudioTrack:
    """The first audio stream of a source file, copied into an output as its video is written.

    Packets are copied as they are when the output container can hold their codec (else re-encoded
    to AAC, or Opus for .webm), with their timestamps, so the audio stays in sync with video pts
    that are the source's own.
    """

    def __init__(self, source: str, output: av.container.OutputContainer, ext: str):
        self.input = av.open(source)
        in_stream = self.input.streams.audio[0]
        codec = in_stream.codec_context.name
        if codec in _AUDIO_CODECS.get(ext, {codec}):
            self.stream, self.transcode = output.add_stream_from_template(in_stream), False
        else:
            encoder = 'libopus' if ext == '.webm' else 'aac'
            rate = 48000 if encoder == 'libopus' else in_stream.codec_context.sample_rate
            self.stream, self.transcode = output.add_stream(encoder, rate=rate), True
            self.stream.layout = in_stream.codec_context.layout
        self.output = output
        self.packets = self.input.demux(in_stream)
        self.pending: Optional[av.Packet] = None

    def copy_until(self, seconds: float) -> None:
        """Write the audio that starts before `seconds` (on the source's clock)."""
        while True:
            packet = self.pending or next(self.packets, None)
            self.pending = None
            if packet is None or packet.size == 0:
                return
            when = packet.pts if packet.pts is not None else packet.dts
            if when is not None and when * packet.time_base >= seconds:
                self.pending = packet
                return
            if self.transcode:
                for frame in packet.decode():
                    self.output.mux(self.stream.encode(frame))
            else:
                packet.stream = self.stream
                self.output.mux(packet)

    def close(self) -> None:
        if self.transcode:
            self.output.mux(self.stream.encode(None))
        self.input.close()
